"""Vocoder training: `VocoderTask` (LightningModule), `VocoderDataModule` (random audio segments) and
`train_main`, the LightningCLI entry behind ``vocalsynth train vocoder --config configs/vocoder/small.yaml``.

Losses: multi-resolution STFT + mel L1, plus (``adversarial: true``, from ``adversarial_start_step``)
LSGAN + feature matching against small MPD/MRD discriminators. fp32 (bf16 is slower on CPU).
Every checkpoint also exports the generator as a vocoder folder (``<default_root_dir>/vocoder``).
Checkpoints are written atomically and load with ``weights_only=True`` (:mod:`vocalsynth.train.checkpoint_io`);
a step with a non-finite loss or gradient is skipped and reported, and ``max_nonfinite_steps`` of them in a
row stop the run (:mod:`vocalsynth.train.guard`), as does a full disk: exit status 1 and a message, the last
checkpoint intact.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import pickle
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn

from vocalsynth.audio.config import MEL_FIELDS, AudioConfig
from vocalsynth.audio.errors import AudioError
from vocalsynth.models.vocoder.base import Vocoder
from vocalsynth.models.vocoder.discriminators import Discriminators
from vocalsynth.models.vocoder.generator import SourceFilterVocoder
from vocalsynth.models.vocoder.losses import (
    DEFAULT_RESOLUTIONS,
    MelLoss,
    MultiResolutionSTFTLoss,
    discriminator_loss,
    feature_matching_loss,
    generator_adversarial_loss,
)
from vocalsynth.train import checkpoint_io
from vocalsynth.train.checkpoint_io import CheckpointWriteError, is_disk_full
from vocalsynth.train.energy import (
    RunRecord,
    energy_tracker,
    inherited_training,
    read_report,
    write_report,
)
from vocalsynth.train.guard import NonFiniteGuard, TrainingDiverged
from vocalsynth.train.vocoder_data import (
    FixedSegments,
    RandomSegments,
    find_audio_files,
    load_clip,
    matches_any,
)


class VocoderDataModule(L.LightningDataModule):
    """Random segments of the audio files under ``paths`` (folders searched recursively, or files).

    Files whose name or path matches a glob in ``held_out`` (e.g. ``pjs09[1-5]_*``) are kept out of
    training and give the validation crops. ``steps_per_epoch`` batches make an "epoch" (segments are
    drawn at random, so an epoch is only a logging unit). Features are cached in ``cache_dir``.

    ``gta_acoustic`` (an exported acoustic model) with ``gta_data`` (the preprocessed folder it trained on):
    training clips of its training songs take its ground-truth-aligned mels instead of their own
    (:mod:`vocalsynth.train.gta`), and clips of its validation songs are left out of training.
    """

    def __init__(
        self,
        paths: list[str],
        held_out: list[str] | None = None,
        audio_config: AudioConfig | None = None,
        segment_frames: int = 64,
        batch_size: int = 8,
        steps_per_epoch: int = 1000,
        val_segment_frames: int = 200,
        val_segments_per_file: int = 4,
        f0_method: str = "harvest",
        cache_dir: str | None = None,
        silence_fraction: float = 0.1,
        num_workers: int = 0,
        seed: int = 0,
        gta_acoustic: str | None = None,
        gta_data: str | None = None,
    ):
        super().__init__()
        if (gta_acoustic is None) != (gta_data is None):
            raise ValueError("gta_acoustic and gta_data go together: the model and the folder it trained on")
        self.gta_acoustic, self.gta_data = gta_acoustic, gta_data
        self.paths = list(paths)
        self.held_out = list(held_out or [])
        self.audio_config = audio_config or AudioConfig()
        self.segment_frames = segment_frames
        self.batch_size = batch_size
        self.steps_per_epoch = steps_per_epoch
        self.val_segment_frames = val_segment_frames
        self.val_segments_per_file = val_segments_per_file
        self.f0_method = f0_method
        self.cache_dir = cache_dir
        self.silence_fraction = silence_fraction
        self.num_workers = num_workers
        self.seed = seed
        self.train_set: RandomSegments | None = None
        self.val_set: FixedSegments | None = None

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        files = find_audio_files(self.paths)
        train_files = [f for f in files if not matches_any(f, self.held_out)]
        val_files = [f for f in files if matches_any(f, self.held_out)]
        if not train_files:
            raise ValueError(f"no training audio in {self.paths} (after holding out {self.held_out})")
        t0 = time.monotonic()
        train_clips, val_clips, skipped = [], [], []
        for i, f in enumerate(train_files + val_files):
            try:
                clip = load_clip(f, self.audio_config, self.f0_method, self.cache_dir)
            except AudioError as e:  # one unreadable file is reported and left out, not the end of the run
                skipped.append(str(e))
                rank_zero_warn(f"vocoder data: skipped {e}")
            else:
                (train_clips if i < len(train_files) else val_clips).append(clip)
            if (i + 1) % 10 == 0 or i + 1 == len(files):
                rank_zero_info(
                    f"vocoder data: analysed {i + 1}/{len(files)} files ({time.monotonic() - t0:.0f} s)"
                )
        if self.gta_acoustic is not None:
            train_clips = self._with_gta(train_clips)
        if not train_clips:
            raise ValueError(f"no readable training audio in {self.paths}: " + "; ".join(skipped[:3]))
        hop = self.audio_config.hop_length
        self.train_set = RandomSegments(
            train_clips,
            hop,
            self.segment_frames,
            self.steps_per_epoch * self.batch_size,
            self.silence_fraction,
            self.seed,
        )
        self.val_set = FixedSegments(val_clips, hop, self.val_segment_frames, self.val_segments_per_file)
        seconds = sum(c.audio.size for c in train_clips) / self.audio_config.sample_rate
        rank_zero_info(
            f"vocoder data: {len(train_clips)} training files ({seconds / 60:.1f} min), "
            f"{len(val_clips)} held out ({len(self.val_set)} validation crops), {len(skipped)} unreadable skipped"
        )

    def _with_gta(self, clips: list) -> list:
        """``clips`` with the acoustic model's GTA mels where it has them, less its validation songs."""
        from vocalsynth.train.gta import gta_mels, with_gta_mel

        assert self.gta_acoustic is not None and self.gta_data is not None
        mels, held = gta_mels(self.gta_acoustic, self.gta_data)
        out, swapped = [], 0
        for clip in clips:
            stem = Path(clip.path).stem
            if stem in held:
                continue
            if stem in mels:
                clip = dataclasses.replace(clip, mel=with_gta_mel(clip.mel, mels[stem]))
                swapped += 1
            out.append(clip)
        rank_zero_info(
            f"vocoder data: {swapped} clips take {self.gta_acoustic}'s GTA mels, "
            f"{len(clips) - len(out)} of its validation songs left out"
        )
        if not swapped:
            raise ValueError(f"no training file matches a song of {self.gta_data}: nothing to fine-tune on")
        return out

    def train_dataloader(self) -> torch.utils.data.DataLoader:
        assert self.train_set is not None
        return torch.utils.data.DataLoader(
            self.train_set,
            batch_size=self.batch_size,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            drop_last=True,
        )

    def val_dataloader(self) -> torch.utils.data.DataLoader | list:
        if self.val_set is None or len(self.val_set) == 0:
            return []
        return torch.utils.data.DataLoader(self.val_set, batch_size=self.batch_size, num_workers=0)


class VocoderTask(L.LightningModule):
    """Trains a :class:`~vocalsynth.models.vocoder.base.Vocoder` on ``{"audio", "mel", "f0_hz"}`` batches.

    Loss = ``stft_weight * (spectral convergence + log magnitude) + mel_weight * mel L1``; with
    ``adversarial``, after ``adversarial_start_step`` steps also ``adv_weight * LSGAN +
    feature_matching_weight * feature matching`` against :class:`Discriminators`. ``init_from`` starts
    the generator from a vocoder folder or a Lightning checkpoint of this task (e.g. to fine-tune
    adversarially). Optimisation is manual so the generator and discriminators alternate in one step.
    A step with a non-finite loss or gradient changes no weight and is reported; ``max_nonfinite_steps`` of
    them in a row stop training with `TrainingDiverged`.
    """

    def __init__(
        self,
        vocoder: Vocoder,
        learning_rate: float = 1e-3,
        min_learning_rate: float = 1e-5,
        warmup_steps: int = 200,
        decay_steps: int = 20000,
        weight_decay: float = 0.0,
        grad_clip: float = 5.0,
        stft_weight: float = 1.0,
        mel_weight: float = 1.0,
        stft_resolutions: Sequence[Sequence[int]] = DEFAULT_RESOLUTIONS,
        adversarial: bool = False,
        adversarial_start_step: int = 0,
        adv_weight: float = 1.0,
        feature_matching_weight: float = 2.0,
        disc_learning_rate: float = 2e-4,
        discriminators: Discriminators | None = None,
        init_from: str | None = None,
        export_dir: str | None = None,
        max_nonfinite_steps: int = 10,
    ):
        super().__init__()
        self.save_hyperparameters(ignore=["vocoder", "discriminators"])
        # one process (the configs train on one device); the generator's and discriminators' losses apart
        self.guard = NonFiniteGuard(max_nonfinite_steps)
        self.disc_guard = NonFiniteGuard(max_nonfinite_steps)
        self.automatic_optimization = False
        self.vocoder = vocoder
        self.stft_loss = MultiResolutionSTFTLoss(stft_resolutions)
        self.mel_loss = MelLoss(vocoder.audio_config)
        self.discriminators = (discriminators or Discriminators()) if adversarial else None
        if init_from:
            load_generator_weights(self.vocoder, init_from)

    # ---- pieces ----------------------------------------------------------------------------------------
    def spectral_losses(self, y_hat: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        sc, mag = self.stft_loss(y_hat, y)
        mel = self.mel_loss(y_hat, y)
        total = self.hparams.stft_weight * (sc + mag) + self.hparams.mel_weight * mel
        return {"loss": total, "stft_sc": sc, "stft_mag": mag, "mel_l1": mel}

    def adversarial_active(self) -> bool:
        return self.discriminators is not None and self.global_step >= self.hparams.adversarial_start_step

    def _lr_factor(self, step: int) -> float:
        """Linear warm-up, then cosine decay to ``min_learning_rate`` over ``decay_steps``."""
        hp = self.hparams
        if step < hp.warmup_steps:
            return (step + 1) / hp.warmup_steps
        t = min(1.0, (step - hp.warmup_steps) / max(1, hp.decay_steps - hp.warmup_steps))
        floor = hp.min_learning_rate / hp.learning_rate
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * t))

    def configure_optimizers(self):
        hp = self.hparams
        opt_g = torch.optim.AdamW(
            self.vocoder.parameters(), lr=hp.learning_rate, betas=(0.8, 0.99), weight_decay=hp.weight_decay
        )
        sched_g = torch.optim.lr_scheduler.LambdaLR(opt_g, self._lr_factor)
        if self.discriminators is None:
            return [opt_g], [sched_g]
        opt_d = torch.optim.AdamW(
            self.discriminators.parameters(), lr=hp.disc_learning_rate, betas=(0.8, 0.99)
        )
        sched_d = torch.optim.lr_scheduler.LambdaLR(opt_d, lambda s: 1.0)
        return [opt_g, opt_d], [sched_g, sched_d]

    def on_fit_start(self) -> None:
        dm = getattr(self.trainer, "datamodule", None)
        cfg = getattr(dm, "audio_config", None)
        if cfg is not None:
            self.vocoder.audio_config.check_compatible(
                cfg,
                what_self="the vocoder (model.init_args.vocoder)",
                what_other="the data (data.init_args.audio_config)",
                fields=MEL_FIELDS,
            )

    # ---- steps -----------------------------------------------------------------------------------------
    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        opts = self.optimizers()
        scheds = self.lr_schedulers()
        opts = opts if isinstance(opts, list) else [opts]
        scheds = scheds if isinstance(scheds, list) else [scheds]
        y = batch["audio"]
        y_hat = self.vocoder(batch["mel"], batch["f0_hz"])
        adversarial = self.adversarial_active()
        step = int(self.global_step)

        if adversarial:
            assert self.discriminators is not None
            opt_d = opts[1]
            real, _ = self.discriminators(y)
            fake, _ = self.discriminators(y_hat.detach())
            loss_d = discriminator_loss(real, fake)
            opt_d.zero_grad(set_to_none=True)
            if self.disc_guard.losses_ok({"disc": loss_d}, step):
                self.manual_backward(loss_d)
                self.clip_gradients(
                    opt_d, gradient_clip_val=self.hparams.grad_clip, gradient_clip_algorithm="norm"
                )
                if self.disc_guard.gradients_ok(self.discriminators.parameters(), step):
                    # the unwrapped optimizer: Lightning counts every wrapped step() in global_step, and
                    # max_steps, checkpoint intervals and adversarial_start_step should count batches
                    opt_d.optimizer.step()
                self.log("train/disc", loss_d)
            scheds[1].step()

        losses = self.spectral_losses(y_hat, y)
        loss = losses["loss"]
        if adversarial:
            assert self.discriminators is not None
            _, real_feats = self.discriminators(y)
            fake, fake_feats = self.discriminators(y_hat)
            adv = generator_adversarial_loss(fake)
            fm = feature_matching_loss(real_feats, fake_feats)
            loss = loss + self.hparams.adv_weight * adv + self.hparams.feature_matching_weight * fm
            self.log("train/adv", adv)
            self.log("train/feature_matching", fm)

        opt_g = opts[0]
        opt_g.zero_grad(set_to_none=True)
        if self.guard.losses_ok(
            {"loss": loss, **{k: losses[k] for k in ("stft_sc", "stft_mag", "mel_l1")}}, step
        ):
            self.manual_backward(loss)
            self.clip_gradients(
                opt_g, gradient_clip_val=self.hparams.grad_clip, gradient_clip_algorithm="norm"
            )
            self.guard.gradients_ok(self.vocoder.parameters(), step)  # drops non-finite gradients
            self.log("train/loss", loss, prog_bar=True)
            for k in ("stft_sc", "stft_mag", "mel_l1"):
                self.log(f"train/{k}", losses[k], prog_bar=k == "mel_l1")
        if self.guard.skipped or self.disc_guard.skipped:
            self.log("train/skipped_steps", float(self.guard.skipped + self.disc_guard.skipped))
        opt_g.step()  # always: the step keeps its number; without gradients AdamW changes no weight
        scheds[0].step()
        self.log("lr", scheds[0].get_last_lr()[0])
        return loss

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        # fixed noise so validation numbers move only when the model does
        gen = torch.Generator(device="cpu").manual_seed(1234 + batch_idx)
        noise = torch.randn(batch["audio"].shape, generator=gen).to(batch["audio"].device)
        y_hat = (
            self.vocoder(batch["mel"], batch["f0_hz"], noise=noise)
            if isinstance(self.vocoder, SourceFilterVocoder)
            else self.vocoder(batch["mel"], batch["f0_hz"])
        )
        losses = self.spectral_losses(y_hat, batch["audio"])
        bs = batch["audio"].shape[0]
        self.log("val/loss", losses["loss"], prog_bar=True, batch_size=bs)
        self.log("val/mel_l1", losses["mel_l1"], batch_size=bs)
        self.log("val/stft", losses["stft_sc"] + losses["stft_mag"], batch_size=bs)

    # ---- export ----------------------------------------------------------------------------------------
    def export_path(self) -> Path:
        if self.hparams.export_dir:
            return Path(self.hparams.export_dir)
        root = self.trainer.default_root_dir if self._trainer is not None else "."
        return Path(root) / "vocoder"

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        metrics = {k: float(v) for k, v in self.trainer.callback_metrics.items() if k.startswith("val/")}
        self.vocoder.save(
            self.export_path(), extra={"global_step": int(self.global_step), "metrics": metrics}
        )


def load_generator_weights(vocoder: Vocoder, path: str) -> None:
    """Copy weights into ``vocoder`` from a vocoder folder (safetensors) or a ``VocoderTask`` checkpoint."""
    p = Path(path)
    if p.is_dir() or p.name == "config.json":
        other = Vocoder.from_pretrained(p, audio_config=vocoder.audio_config)
        vocoder.load_state_dict(other.state_dict(), strict=True)
        return
    try:
        ckpt = torch.load(p, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError) as e:
        raise ValueError(
            f"{path}: refused: not a plain checkpoint of tensors ({type(e).__name__}: {str(e)[:200]}); "
            "a checkpoint that needs code to load is never unpickled"
        ) from None
    state = {
        k[len("vocoder.") :]: v for k, v in ckpt.get("state_dict", {}).items() if k.startswith("vocoder.")
    }
    if not state:
        raise ValueError(f"{path}: no 'vocoder.*' weights in this checkpoint")
    vocoder.load_state_dict(state, strict=True)


def _inherited(init_from: str | None) -> dict[str, Any] | None:
    """What the vocoder folder ``init_from`` cost to train (its report; for a folder from before vocoders
    wrote one, its steps from ``config.json``), counted in a fine-tune's report. None for a checkpoint."""
    if not init_from or not Path(init_from).is_dir():
        return None
    base = inherited_training(Path(init_from))
    if base["steps"] is None:
        extra = read_report(Path(init_from) / "config.json").get("extra") or {}
        base["steps"] = extra.get("global_step")
    return base


# ---- command line ----------------------------------------------------------------------------------------
def _checkpoint_class():
    from lightning.pytorch.callbacks import ModelCheckpoint

    class StepCheckpoint(ModelCheckpoint):
        """ModelCheckpoint that also saves when training ends between two ``every_n_train_steps`` saves
        (e.g. at ``max_steps`` or ``max_time``): Lightning's own end-of-training save is skipped once any
        ``last.ckpt`` was written, which would lose the steps since."""

        def on_train_end(self, trainer, pl_module) -> None:
            if trainer.fast_dev_run or self._last_global_step_saved == trainer.global_step:
                return super().on_train_end(trainer, pl_module)
            candidates = self._monitor_candidates(trainer)
            self._save_checkpoint(trainer, self.format_checkpoint_name(candidates))
            self._save_last_checkpoint(trainer, candidates)

        def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
            if isinstance(exception, TrainingDiverged) or is_disk_full(exception):
                return  # keep the last good checkpoint; there is no room for another one anyway
            try:
                super().on_exception(trainer, pl_module, exception)
            except Exception as e:
                # the run is already failing: report, and let the first error be the one raised
                print(f"warning: no checkpoint written on exit: {e}", file=sys.stderr)

    return StepCheckpoint


class TrainingReport(L.Callback):
    """Writes ``training_report.json`` beside the exported vocoder at every checkpoint and when training
    ends: this run segment's steps, wall time and energy (codecarbon, when ``country`` is set) merged with
    the earlier segments of the same training, so a voice card can state what the vocoder cost."""

    def __init__(self, country: str | None = None, resumed_from: str | None = None):
        self.country, self.resumed_from = country, resumed_from
        self.record: RunRecord | None = None
        self.first_step = 0

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero or self.record is not None:
            return
        energy_dir = Path(trainer.default_root_dir) / "energy"
        tracker = energy_tracker(self.country, energy_dir, "vocalsynth-vocoder")
        if tracker is not None:
            tracker.start()
        self.record = RunRecord(tracker, self.country, self.resumed_from, energy_dir)
        self.first_step = int(trainer.global_step)

    def write(
        self, trainer: L.Trainer, pl_module: L.LightningModule, status: str, final: bool = False
    ) -> None:
        if self.record is None or not trainer.is_global_zero or trainer.fast_dev_run:
            return
        dm = getattr(trainer, "datamodule", None)
        write_report(
            Path(pl_module.export_path()),
            "vocoder",
            self.record.as_dict(self.first_step, trainer.global_step, status, final=final),
            {
                "steps": int(trainer.global_step),
                "parameters": sum(p.numel() for p in pl_module.vocoder.parameters()),
                "data": {
                    "paths": list(getattr(dm, "paths", [])),
                    "held_out": list(getattr(dm, "held_out", [])),
                },
                "hyper_parameters": dict(pl_module.hparams),
            },
            inherited=_inherited(pl_module.hparams.get("init_from")),
        )

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
        self.write(trainer, pl_module, "running")

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.write(trainer, pl_module, "interrupted" if trainer.interrupted else "finished", final=True)

    def on_exception(
        self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException
    ) -> None:
        self.write(trainer, pl_module, f"stopped: {type(exception).__name__}", final=True)


def _cli_class():
    from lightning.pytorch.cli import LightningCLI
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

    class VocalsynthCLI(LightningCLI):
        """LightningCLI plus ``--num_threads``, a ModelCheckpoint under ``<default_root_dir>/checkpoints``
        (the latest every N steps, ``last.ckpt``, on exceptions) and CSV + TensorBoard logs under the same root."""

        def add_arguments_to_parser(self, parser) -> None:
            parser.add_argument("--num_threads", type=int | None, default=None, help="torch.set_num_threads")
            parser.add_argument(
                "--energy_country",
                type=str | None,
                default=None,
                help="ISO alpha-3 country for codecarbon's offline energy estimate; null: off",
            )
            parser.add_lightning_class_args(_checkpoint_class(), "checkpoint")
            parser.set_defaults(
                {
                    "checkpoint.save_last": True,
                    "checkpoint.every_n_train_steps": 500,
                    "checkpoint.save_top_k": 1,
                    "checkpoint.save_on_exception": True,
                    # overwrite last.ckpt after a resume instead of writing last-v1.ckpt beside it
                    "checkpoint.enable_version_counter": False,
                    "checkpoint.filename": "step{step:07d}",
                    "checkpoint.auto_insert_metric_name": False,
                }
            )
            parser.link_arguments(
                "trainer.default_root_dir",
                "checkpoint.dirpath",
                compute_fn=lambda root: str(Path(root or ".") / "checkpoints"),
            )

        def before_instantiate_classes(self) -> None:
            cfg = self.config.get(str(self.subcommand), self.config)
            n = cfg.get("num_threads")
            if n:
                torch.set_num_threads(int(n))

        def instantiate_trainer(self, **kwargs: Any):
            trainer_cfg = self._get(self.config_init, "trainer", default={})
            if trainer_cfg.get("logger") in (None, True):
                root = trainer_cfg.get("default_root_dir") or "."
                csv = CSVLogger(root, name="logs")
                loggers: list = [csv]
                if importlib.util.find_spec("tensorboard") or importlib.util.find_spec("tensorboardX"):
                    # one version folder for both, so a run's metrics.csv and TensorBoard events sit together
                    loggers.append(TensorBoardLogger(root, name="logs", version=csv.version))
                kwargs["logger"] = loggers
            trainer = super().instantiate_trainer(**kwargs)
            checkpoint_io.install(trainer)
            cfg = self.config.get(str(self.subcommand), self.config)
            trainer.callbacks.append(TrainingReport(cfg.get("energy_country"), cfg.get("ckpt_path")))
            return trainer

    return VocalsynthCLI


def train_main(argv: list[str] | None = None) -> int:
    """``vocalsynth train vocoder ARGS``: ``--config configs/vocoder/small.yaml [--ckpt_path last]`` and any
    LightningCLI override (``--trainer.max_steps 2000``, ``--data.init_args.batch_size 4`` ...).

    Runs ``fit`` unless ``argv`` starts with another LightningCLI subcommand (``validate``...). Returns 0,
    or 1 when training stopped on repeated non-finite losses or a full disk (the message says which).
    """
    args = list(argv or [])
    if not args or args[0] not in ("fit", "validate", "test", "predict"):
        args = ["fit", *args]
    try:
        cli = _cli_class()(args=args, save_config_kwargs={"overwrite": True}, seed_everything_default=0)
    except TrainingDiverged as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except Exception as e:
        if not is_disk_full(e):
            raise
        print(
            f"error: {e if isinstance(e, CheckpointWriteError) else f'the disk is full: {e}'}",
            file=sys.stderr,
        )
        return 1
    del cli
    return 0


if __name__ == "__main__":
    sys.exit(train_main(sys.argv[1:]))


__all__ = ["VocoderDataModule", "VocoderTask", "load_generator_weights", "train_main"]
