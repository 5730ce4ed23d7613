"""Acoustic-model training: the dataset view (phrase crops with note context), `AcousticDataModule`,
`AcousticTask` (losses, validation renders and metrics), checkpoint callbacks that make a killed run
resumable, and the LightningCLI entry `train_main` (``vocalsynth train acoustic --config ...``).

    vocalsynth train acoustic --config configs/acoustic/small.yaml \\
        --data.data_dir DATA --trainer.default_root_dir RUN            # start
    ... the same command plus --ckpt_path last                         # resume after a kill

A run folder holds ``checkpoints/`` (``last.ckpt``: every N steps, at the end, and when stopped by Ctrl-C,
SIGTERM or an error), ``logs/version_*/`` (CSV, TensorBoard, ``renders/*.png``) and ``export/``: the
model as safetensors + config.json with ``training_report.json`` (steps, energy, data licences), written
every N steps and when training stops.

Checkpoints are written atomically and load with ``weights_only=True`` (:mod:`vocalsynth.train.checkpoint_io`):
a ``kill -9`` resumes from the last whole checkpoint, and a full disk stops the run with a message, the last
checkpoint intact (exit status 1). A step whose loss or gradient is not finite is skipped and reported; after
``max_nonfinite_steps`` such steps in a row the run stops (exit status 1) without overwriting the last
checkpoint or export (:mod:`vocalsynth.train.guard`).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import platform
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.cli import LightningCLI
from lightning.pytorch.utilities import rank_zero_only

from vocalsynth.data.corpora import CorpusError
from vocalsynth.data.dataset import FRAME_PADDING, PHONEME_KEYS, BucketBatchSampler, FeatureDataset, collate
from vocalsynth.models.acoustic.context import item_context, place_in_spans
from vocalsynth.models.acoustic.controls import Controls
from vocalsynth.models.acoustic.duration import predicted_frames
from vocalsynth.models.acoustic.loss import LossWeights, acoustic_losses, duration_error_ms, f0_metrics
from vocalsynth.models.acoustic.model import AcousticConfig, AcousticModel, AcousticModelError
from vocalsynth.train import checkpoint_io
from vocalsynth.train.checkpoint_io import CheckpointWriteError, is_disk_full
from vocalsynth.train.energy import RunRecord, energy_tracker, inherited_training, write_report
from vocalsynth.train.guard import NonFiniteGuard, TrainingDiverged

TRAIN_PARTS = ("all", "refiner")
# validation measures the model as it learned: no render-time pitch correction
AS_LEARNED = Controls(pitch_correction=0.0)

# phoneme-level keys this module adds to FeatureDataset items, with their padding
EXTRA_PHONEME_KEYS = {"ph_role": 0, "ph_note_dur": 0.0, "ph_span": 0}


# --- data ---------------------------------------------------------------------------------------------------


class AcousticDataset(FeatureDataset):
    """`FeatureDataset` items with phoneme labels, plus the note context the acoustic model reads
    (``ph_role``, ``ph_note_dur``, ``ph_span`` ``(N,)`` and ``note_ctx`` ``(5, T)``), cropped to phrases.

    Items longer than ``max_frames`` are cut to a window of whole phonemes (at most ``max_frames``
    frames; a single longer phoneme, e.g. a long rest, is cut short): a random window each time when
    ``random_crop``, else a fixed one per item. ``aligned_only`` drops items whose timings come from
    the score only (unaligned), which would teach the duration model the score's timing errors.
    """

    def __init__(
        self,
        out_dir: str | Path,
        split: str = "train",
        *,
        max_frames: int = 400,
        random_crop: bool = True,
        aligned_only: bool = True,
        preload: bool = True,
        **kwargs: Any,
    ):
        super().__init__(out_dir, split, require_phonemes=True, preload=False, **kwargs)
        if aligned_only:
            self.entries = [e for e in self.entries if e.get("aligned", False)]
        self.max_frames = int(max_frames)
        self.random_crop = random_crop
        self.fps = self.config.frames_per_second
        self._items: dict[int, dict[str, Any]] | None = {} if preload else None
        self._context: dict[int, dict[str, np.ndarray]] = {}

    @property
    def lengths(self) -> list[int]:
        return [min(e["n_frames"], self.max_frames) for e in self.entries]

    def _phoneme_labels(self, item: dict, source: str) -> dict[str, np.ndarray]:
        labels = super()._phoneme_labels(item, source)
        labels["item"] = item  # kept for the note context, which needs the frame count
        return labels

    def full_item(self, i: int) -> dict[str, Any]:
        """Item ``i`` uncropped, with the note context."""
        if self._items is not None and i in self._items:
            return self._items[i]
        out = super().__getitem__(i)
        if i not in self._context:
            self._context[i] = item_context(self._labels[i]["item"], out["mel"].shape[-1], self.fps)
        ctx = self._context[i]
        out["ph_role"] = torch.from_numpy(ctx["ph_role"])
        out["ph_note_dur"] = torch.from_numpy(ctx["ph_note_dur"])
        out["ph_span"] = torch.from_numpy(ctx["ph_span"])
        out["note_ctx"] = torch.from_numpy(ctx["note_ctx"])
        if self._items is not None:
            self._items[i] = out
        return out

    def __getitem__(self, i: int) -> dict[str, Any]:
        item = self.full_item(i)
        # torch's generator: seeded by seed_everything and per DataLoader worker, so crops are reproducible
        seed = int(torch.randint(0, 2**31 - 1, ()).item()) if self.random_crop else i
        rng = np.random.default_rng(seed)
        return crop_item(item, self.max_frames, rng)


def crop_item(item: dict[str, Any], max_frames: int, rng: np.random.Generator) -> dict[str, Any]:
    """A window of whole phonemes of at most ``max_frames`` frames (a copy; ``item`` is left as it is)."""
    dur = item["ph_dur"].numpy()
    n_frames = item["mel"].shape[-1]
    labelled = int(dur.sum())
    if n_frames <= max_frames and labelled >= n_frames:
        return item
    ends = np.cumsum(dur)
    starts = ends - dur
    usable = np.flatnonzero(dur > 0)
    k0 = int(rng.choice(usable)) if usable.size else 0
    a = int(starts[k0])
    fits = np.flatnonzero(ends <= a + max_frames)
    k1 = int(fits.max()) if fits.size and fits.max() >= k0 else k0
    b = min(int(ends[k1]), a + max_frames, n_frames)
    out = dict(item)
    for key in [*FRAME_PADDING, "note_ctx"]:
        out[key] = item[key][..., a:b]
    for key in [*PHONEME_KEYS, *EXTRA_PHONEME_KEYS]:
        out[key] = item[key][k0 : k1 + 1].clone()
    out["ph_dur"][-1] = b - int(starts[k1])
    out["ph_span"] = out["ph_span"] - out["ph_span"][0]
    return out


def _pad(tensors: list[torch.Tensor], value: float) -> torch.Tensor:
    longest = max(max(t.shape[-1] for t in tensors), 1)
    out = torch.full((len(tensors), *tensors[0].shape[:-1], longest), value, dtype=tensors[0].dtype)
    for b, t in enumerate(tensors):
        out[b, ..., : t.shape[-1]] = t
    return out


def acoustic_collate(batch: list[dict[str, Any]]) -> dict[str, Any]:
    """`vocalsynth.data.dataset.collate` plus this module's keys: ``ph_role``, ``ph_note_dur``, ``ph_span``
    ``(B, N)`` and ``note_ctx`` ``(B, 5, T)``."""
    out = collate(batch)
    for key, value in EXTRA_PHONEME_KEYS.items():
        out[key] = _pad([b[key] for b in batch], value)
    out["note_ctx"] = _pad([b["note_ctx"] for b in batch], 0.0)
    return out


def item_batch(dataset: AcousticDataset, index: int, model: AcousticModel) -> dict[str, Any]:
    """Item ``index`` of ``dataset`` whole (uncropped) as a batch of one for ``model``: its singer id looked up
    by name in the model's table (a model may list its singers otherwise than the data's manifest)."""
    batch = acoustic_collate([dataset.full_item(index)])
    batch["singer_id"] = torch.tensor([model.singer_index(dataset.entries[index].get("singer"))])
    return batch


class ShardedBatches(torch.utils.data.Sampler[list[int]]):
    """Rank ``rank`` of ``world`` takes every ``world``-th batch of ``batches``, all ranks the same number
    (DDP needs equal step counts): the tail is dropped in training, padded by repetition otherwise."""

    def __init__(self, batches: BucketBatchSampler, rank: int, world: int, pad: bool = False):
        self.batches, self.rank, self.world, self.pad = batches, rank, world, pad

    def set_epoch(self, epoch: int) -> None:
        self.batches.set_epoch(epoch)

    def _mine(self) -> list[list[int]]:
        # the wrapped sampler's batches of one epoch (same seed on every rank, so the same list)
        all_batches = list(iter(self.batches))
        if self.pad and all_batches and len(all_batches) % self.world:
            all_batches += all_batches[: self.world - len(all_batches) % self.world]
        per_rank = len(all_batches) // self.world
        return all_batches[self.rank :: self.world][:per_rank]

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self._mine())

    def __len__(self) -> int:
        n = len(self.batches)
        return -(-n // self.world) if self.pad else n // self.world


class AcousticDataModule(pl.LightningDataModule):
    """Training and validation phrases from a preprocessed folder (``vocalsynth preprocess --out DIR``).

    ``batch_size`` items per batch, or with ``max_batch_frames`` as many similar-length items as fit that
    many padded frames; ``max_frames``: longest phrase crop. When the manifest holds no validation items
    (tiny corpora), the first ``val_items`` training items stand in. ``tables`` (phonemes, singers,
    languages, AudioConfig) is linked into the model by the CLI, so the model is sized from the data.
    """

    def __init__(
        self,
        data_dir: str,
        batch_size: int | None = 16,
        max_batch_frames: int | None = None,
        max_frames: int = 400,
        val_batch_size: int = 8,
        val_items: int = 8,
        corpora: list[str] | None = None,
        aligned_only: bool = True,
        preload: bool = True,
        num_workers: int = 0,
        seed: int = 0,
    ):
        super().__init__()
        self.data_dir = Path(data_dir)
        manifest_path = self.data_dir / "manifest.json"
        try:
            self.manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise CorpusError(
                f"not a preprocessed dataset ({e}); run `vocalsynth preprocess --out {data_dir}` first",
                source=str(manifest_path),
            ) from None
        self.batch_size, self.max_batch_frames, self.max_frames = batch_size, max_batch_frames, max_frames
        self.val_batch_size, self.val_items = val_batch_size, val_items
        self.corpora, self.aligned_only, self.preload = corpora, aligned_only, preload
        self.num_workers, self.seed = num_workers, seed
        self.train_set: AcousticDataset | None = None
        self.val_set: AcousticDataset | None = None

    @property
    def tables(self) -> dict[str, Any]:
        """What sizes the model: ``phonemes``, ``singers``, ``languages`` and ``audio_config`` (a dict)."""
        return {
            "phonemes": list(self.manifest["phonemes"]),
            "singers": list(self.manifest["singers"]),
            "languages": list(self.manifest["languages"]),
            "audio_config": dict(self.manifest["audio_config"]),
        }

    def data_summary(self) -> dict[str, Any]:
        """Corpora used for training with their licence, minutes and items (for the training report)."""
        entries = self.train_set.entries if self.train_set is not None else []
        corpora: dict[str, dict[str, Any]] = {}
        for e in entries:
            c = corpora.setdefault(
                e["corpus"],
                {
                    "licence": self.manifest["corpora"].get(e["corpus"], {}).get("licence"),
                    "items": 0,
                    "minutes": 0.0,
                },
            )
            c["items"] += 1
            c["minutes"] = round(c["minutes"] + e["seconds"] / 60, 3)
        return {
            "manifest": str((self.data_dir / "manifest.json").resolve()),
            "corpora": corpora,
            "licences": sorted({str(c["licence"]) for c in corpora.values()}),
            "singers": self.tables["singers"],
            "languages": self.tables["languages"],
        }

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        common = {"max_frames": self.max_frames, "aligned_only": self.aligned_only, "corpora": self.corpora}
        self.train_set = AcousticDataset(self.data_dir, "train", preload=self.preload, **common)
        if len(self.train_set) == 0:
            raise CorpusError(
                "no training items with aligned phonemes (check the manifest's 'aligned' flags, "
                "or set data.aligned_only false)",
                source=str(self.data_dir / "manifest.json"),
            )
        val = AcousticDataset(
            self.data_dir,
            "validation",
            random_crop=False,
            preload=self.preload,
            phoneme_table=self.train_set.phoneme_table,
            **common,
        )
        if len(val) == 0:
            val = AcousticDataset(self.data_dir, "train", random_crop=False, preload=self.preload, **common)
            val.entries = val.entries[: self.val_items]
        self.val_set = val

    def _rank_world(self) -> tuple[int, int]:
        trainer = self.trainer
        return (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)

    def _loader(
        self, dataset: AcousticDataset, sampler: torch.utils.data.Sampler
    ) -> torch.utils.data.DataLoader:
        return torch.utils.data.DataLoader(
            dataset,
            batch_sampler=sampler,
            collate_fn=acoustic_collate,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> torch.utils.data.DataLoader:
        assert self.train_set is not None
        rank, world = self._rank_world()
        batches = BucketBatchSampler(
            self.train_set.lengths,
            self.batch_size if self.max_batch_frames is None else None,
            max_frames=self.max_batch_frames,
            shuffle=True,
            seed=self.seed,
        )
        return self._loader(self.train_set, ShardedBatches(batches, rank, world))

    def val_dataloader(self) -> torch.utils.data.DataLoader:
        assert self.val_set is not None
        rank, world = self._rank_world()
        batches = BucketBatchSampler(self.val_set.lengths, self.val_batch_size, shuffle=False)
        return self._loader(self.val_set, ShardedBatches(batches, rank, world, pad=True))


def lr_factor(step: int, warmup: int, total: int = -1, anneal: int = 0) -> float:
    """The learning-rate multiplier after ``step`` optimizer steps: linear warm-up over ``warmup`` steps,
    inverse-square-root decay after it, and with ``anneal > 0`` a straight line from there to zero over the
    last ``anneal`` steps before ``total`` (a short cool-down at the end of training settles the weights
    into the loss's valley instead of leaving them where a still-large rate last threw them)."""
    warmup = max(int(warmup), 1)

    def base(n: int) -> float:
        n = n + 1
        return min(n / warmup, math.sqrt(warmup / n))

    if anneal <= 0 or step < total - anneal:
        return base(step)
    start = total - anneal
    return base(start) * max(total - step, 0) / anneal


# --- the LightningModule ----------------------------------------------------------------------------------


class AcousticTask(pl.LightningModule):
    """Trains :class:`AcousticModel` with teacher forcing (aligned durations, sung F0/energy/aperiodicity).

    ``net``: the model's hyper-parameters; ``tables``: phonemes/singers/languages/audio_config, linked from
    the data module by the CLI. AdamW with a linear warm-up over ``warmup_steps`` and inverse-square-root
    decay after it; ``anneal_steps > 0`` then takes the rate linearly to zero over the last ``anneal_steps``
    of ``trainer.max_steps`` (see :func:`lr_factor`). ``own_variance_share``: the share of training items
    whose decoder reads the variance predictor's own (detached) energy and breathiness instead of the
    recording's, as it will at render time; the rest keep teaching it to follow those inputs (the dynamics
    and breathiness controls).

    Validation logs ``val/mel_l1`` (teacher-forced), ``val/mel_l1_predicted`` (predicted
    F0/energy/breathiness, aligned durations), ``val/f0_rmse_cents``, ``val/vuv_error`` (%) and
    ``val/duration_error_ms`` (predicted durations placed inside the aligned notes), and renders the
    first ``n_render`` phrases as PNG (mel and F0 against the notes, aligned vs predicted durations).
    A step with a non-finite loss or gradient changes no weight and is reported; ``max_nonfinite_steps`` of
    them in a row stop training with `TrainingDiverged`.

    A model with a mel refiner (``net.refiner_channels > 0``) adds its flow-matching loss (weight
    ``refiner_weight``) on the decoder's detached teacher-forced mel. ``init_from``: an exported acoustic
    model folder whose weights start this one (a refiner it lacks starts fresh; singers it lacks start as
    the export singer ``new_singers_from`` maps them to, see :func:`start_from`); ``train_part``: ``"all"``,
    or ``"refiner"`` to keep everything else frozen (in eval mode, no dropout) and train the refiner on top
    of a finished model -- ``init_from`` is then required. Validation then also logs ``val/refiner`` and
    ``val/mel_l1_refined`` (predicted F0/energy/breathiness, refined).
    """

    def __init__(
        self,
        net: AcousticConfig | None = None,
        tables: dict[str, Any] | None = None,
        lr: float = 1e-3,
        weight_decay: float = 0.01,
        warmup_steps: int = 1000,
        loss_weights: LossWeights | None = None,
        n_render: int = 3,
        max_nonfinite_steps: int = 10,
        init_from: str | None = None,
        new_singers_from: dict[str, str] | None = None,
        train_part: str = "all",
        refiner_weight: float = 1.0,
        anneal_steps: int = 0,
        own_variance_share: float = 0.0,
    ):
        super().__init__()
        if anneal_steps < 0:
            raise ValueError(f"anneal_steps must be >= 0, got {anneal_steps}")
        if not 0.0 <= own_variance_share <= 1.0:
            raise ValueError(f"own_variance_share must be in [0, 1], got {own_variance_share}")
        if train_part not in TRAIN_PARTS:
            raise ValueError(f"train_part must be one of {', '.join(TRAIN_PARTS)}, got {train_part!r}")
        if tables is None:
            raise ValueError(
                "AcousticTask needs the data's tables (phonemes, singers, languages, audio_config)"
            )
        net = net if isinstance(net, AcousticConfig) else AcousticConfig.from_dict(net)
        weights = (
            loss_weights if isinstance(loss_weights, LossWeights) else LossWeights(**(loss_weights or {}))
        )
        # plain values only: checkpoints then load with torch.load(weights_only=True)
        self.save_hyperparameters(
            {
                "net": asdict(net),
                "tables": dict(tables),
                "lr": lr,
                "weight_decay": weight_decay,
                "warmup_steps": warmup_steps,
                "loss_weights": asdict(weights),
                "n_render": n_render,
                "init_from": init_from,
                "new_singers_from": dict(new_singers_from or {}),
                "train_part": train_part,
                "refiner_weight": refiner_weight,
                "anneal_steps": anneal_steps,
                "own_variance_share": own_variance_share,
            }
        )
        self.net = AcousticModel(
            tables["phonemes"], tables["singers"], tables["languages"], tables.get("audio_config"), net
        )
        self.train_part, self.refiner_weight = train_part, refiner_weight
        if train_part == "refiner":
            if self.net.refiner is None:
                raise ValueError(
                    "train_part 'refiner' needs a model with a refiner (net.refiner_channels > 0)"
                )
            if not init_from:
                raise ValueError(
                    "train_part 'refiner' needs init_from: the exported acoustic model folder to refine"
                )
        if init_from:
            start_from(self.net, init_from, new_singers_from)
        if train_part == "refiner":
            for name, p in self.net.named_parameters():
                p.requires_grad_(name.startswith("refiner."))
        self.loss_weights = weights
        self.lr, self.weight_decay, self.warmup_steps, self.n_render = (
            lr,
            weight_decay,
            warmup_steps,
            n_render,
        )

        self.anneal_steps, self.own_variance_share = anneal_steps, own_variance_share
        self.start_step = 0  # global step when this fit started (after a resume: the checkpoint's)
        self.guard = NonFiniteGuard(max_nonfinite_steps)
        self._skip_step = False  # this step's loss was not finite: the optimizer must change nothing

    @property
    def fps(self) -> float:
        return self.net.fps

    def on_train_start(self) -> None:
        self.start_step = int(self.global_step)

    def configure_optimizers(self) -> dict[str, Any]:
        opt = torch.optim.AdamW(
            [p for p in self.net.parameters() if p.requires_grad],
            lr=self.lr,
            betas=(0.9, 0.98),
            weight_decay=self.weight_decay,
        )
        total = int(self.trainer.max_steps) if self._trainer is not None else -1
        if self.anneal_steps and not 0 < self.anneal_steps <= total:
            raise ValueError(
                f"anneal_steps ({self.anneal_steps}) needs trainer.max_steps at least as large "
                f"(got {total}): the rate reaches zero at max_steps"
            )
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, functools.partial(lr_factor, warmup=self.warmup_steps, total=total, anneal=self.anneal_steps)
        )
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    def _losses(self, batch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        """The training losses of this task's part (``loss``: their weighted sum)."""
        if self.train_part == "refiner":
            self.net.eval()  # the frozen model without dropout: the coarse mel a render will give
            self.net.refiner.train(self.training)
            with torch.no_grad():
                out = self.net(batch)
            refiner = self.net.refiner.loss(out["mel"], batch["mel"], out["frame_states"], batch["mask"])
            return {"loss": refiner, "refiner": refiner.detach()}
        own = None
        if self.training and self.own_variance_share > 0:
            own = torch.rand(batch["mask"].shape[0]) < self.own_variance_share
        out = self.net(batch, own)
        losses = acoustic_losses(out, batch, self.fps, self.loss_weights)
        if self.net.refiner is not None:
            refiner = self.net.refiner.loss(
                out["mel"].detach(), batch["mel"], out["frame_states"].detach(), batch["mask"]
            )
            losses["loss"] = losses["loss"] + self.refiner_weight * refiner
            losses["refiner"] = refiner.detach()
        return losses

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        losses = self._losses(batch)
        size = int(batch["mask"].shape[0])
        self._skip_step = not self.guard.losses_ok(losses, int(self.global_step), self._agree())
        if self._skip_step:
            self.log("train/skipped_steps", float(self.guard.skipped), batch_size=size)
            # a zero loss over every weight: the backward pass (and DDP's gradient exchange) runs as usual,
            # and on_before_optimizer_step drops the gradients, so no weight moves
            return sum(p.sum() for p in self.net.parameters() if p.requires_grad) * 0.0
        self.log("train/loss", losses["loss"], prog_bar=True, batch_size=size)
        self.log_dict(
            {f"train/{k}": v for k, v in losses.items() if k != "loss"}, batch_size=size, prog_bar=False
        )
        return losses["loss"]

    def _agree(self):
        """With several processes (DDP): a decision 'any process had a bad loss' they all share."""
        if self._trainer is None or self.trainer.world_size == 1:
            return None
        return lambda bad: self.trainer.strategy.reduce_boolean_decision(bad, all=False)

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        # before gradient clipping: a NaN gradient would make the clipped norm, and then every weight, NaN
        if self._skip_step:
            for p in self.net.parameters():
                p.grad = None  # AdamW leaves a parameter without a gradient alone (no decay, no moments)
            self._skip_step = False
        elif not self.guard.gradients_ok(self.net.parameters(), int(self.global_step)):
            self.log("train/skipped_steps", float(self.guard.skipped))

    def place_predicted(self, log_dur: torch.Tensor, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Predicted durations renormalised inside each item's aligned note spans: ``(B, N)`` frames."""
        out = torch.zeros_like(batch["ph_dur"])
        weights = predicted_frames(log_dur).detach().float().cpu().numpy()
        for b, n in enumerate(batch["ph_lengths"].tolist()):
            span = batch["ph_span"][b, :n].cpu().numpy()
            ref = batch["ph_dur"][b, :n].cpu().numpy()
            span_frames = np.bincount(span, weights=ref, minlength=int(span.max(initial=0)) + 1).astype(
                np.int64
            )
            out[b, :n] = torch.from_numpy(place_in_spans(weights[b, :n], span, span_frames))
        return out

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        size = int(batch["mask"].shape[0])
        out = self.net(batch)
        losses = acoustic_losses(out, batch, self.fps, self.loss_weights)
        logged = {f"val/{k}": v for k, v in losses.items()}
        logged["val/mel_l1"] = losses["mel"]
        h, log_dur = self.net.encode(batch)
        args = (batch["note_pitch"], batch["note_ctx"], batch["mask"], batch["singer_id"])
        mask = batch["mask"]
        m = mask[:, None, :].float().expand_as(out["mel"])
        if self.net.refiner is not None:
            g = torch.Generator(device="cpu").manual_seed(batch_idx)  # the same draws at every validation
            logged["val/refiner"] = self.net.refiner.loss(
                out["mel"], batch["mel"], out["frame_states"], mask, generator=g
            )
            refined = self.net.generate(h, batch["ph_dur"], *args, controls=AS_LEARNED)["mel"]
            logged["val/mel_l1_refined"] = ((refined - batch["mel"]).abs() * m).sum() / m.sum().clamp(min=1)
        plain = dataclasses.replace(AS_LEARNED, refine_steps=0)
        gen = self.net.generate(h, batch["ph_dur"], *args, controls=plain)
        logged.update(
            {
                f"val/{k}": v
                for k, v in f0_metrics(gen["f0_hz"], gen["vuv"], batch["f0_hz"], batch["vuv"], mask).items()
            }
        )
        logged["val/mel_l1_predicted"] = ((gen["mel"] - batch["mel"]).abs() * m).sum() / m.sum().clamp(min=1)
        placed = self.place_predicted(log_dur, batch)
        logged["val/duration_error_ms"] = duration_error_ms(
            placed, batch["ph_dur"], batch["ph_mask"], self.fps
        )
        self.log_dict(logged, batch_size=size, sync_dist=True)
        if batch_idx == 0 and self.n_render > 0 and self.trainer.is_global_zero:
            gen_pred = self.net.generate(h, placed, *args, controls=plain)
            self._render(batch, gen, gen_pred, placed)

    # --- validation pictures ----------------------------------------------------------------------------

    def setup(self, stage: str) -> None:
        # resolved here, on every rank: Trainer.log_dir is a collective under DDP, so rank 0 alone can't ask
        # for it while rendering
        try:
            base = self.trainer.log_dir
        except Exception:  # a logger without a folder
            base = None
        self.render_dir = Path(base or self.trainer.default_root_dir) / "renders"

    def _render(
        self, batch: Mapping[str, Any], gen: Mapping[str, Any], gen_pred: Mapping[str, Any], placed
    ) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        folder = getattr(self, "render_dir", None) or Path(self.trainer.default_root_dir) / "renders"
        folder.mkdir(parents=True, exist_ok=True)
        step = int(self.global_step)
        for b in range(min(self.n_render, int(batch["mask"].shape[0]))):
            t = int(batch["lengths"][b])
            n = int(batch["ph_lengths"][b])
            fig, axes = plt.subplots(4, 1, figsize=(10, 10), sharex=True)
            mels = [
                (batch["mel"][b, :, :t], "recorded"),
                (gen["mel"][b, :, :t], "predicted (aligned durations)"),
                (gen_pred["mel"][b, :, :t], "predicted (predicted durations)"),
            ]
            for ax, (mel, title) in zip(axes[:3], mels, strict=True):
                ax.imshow(
                    mel.detach().float().cpu().numpy(), origin="lower", aspect="auto", vmin=-11.5, vmax=2
                )
                ax.set_title(title, fontsize=9)
                ax.set_ylabel("mel band")
            for ax, dur, colour in ((axes[1], batch["ph_dur"], "w"), (axes[2], placed, "w")):
                for x in np.cumsum(dur[b, :n].cpu().numpy())[:-1]:
                    ax.axvline(x, color=colour, lw=0.4, alpha=0.6)
            ax = axes[3]
            frames = np.arange(t)
            notes = batch["note_pitch"][b, :t].cpu().numpy()
            ax.step(
                frames, np.where(notes > 0, notes, np.nan), where="post", color="0.6", lw=3, label="notes"
            )
            for curve, label in (
                (batch["f0_hz"][b, :t], "recorded"),
                (gen["f0_hz"][b, :t], "predicted (aligned durations)"),
                (gen_pred["f0_hz"][b, :t], "predicted (predicted durations)"),
            ):
                hz = curve.detach().float().cpu().numpy()
                with np.errstate(divide="ignore", invalid="ignore"):
                    midi = np.where(hz > 0, 69 + 12 * np.log2(hz / 440.0), np.nan)
                ax.plot(frames, midi, lw=1, label=label)
            ax.set_ylabel("MIDI pitch")
            ax.set_xlabel(f"frame ({1000 / self.fps:.0f} ms)")
            ax.legend(fontsize=7, loc="upper right")
            name = str(batch["ids"][b]).replace("/", "_")
            fig.suptitle(f"{batch['ids'][b]} — step {step}", fontsize=10)
            fig.tight_layout()
            fig.savefig(folder / f"step{step:07d}_{b}_{name}.png", dpi=80)
            for logger in self.loggers:
                experiment = getattr(logger, "experiment", None)
                if hasattr(experiment, "add_figure"):
                    experiment.add_figure(f"render/{b}", fig, step)
            plt.close(fig)


SINGER_TABLES = ("encoder.singer.weight", "decoder.singer.weight")


def start_from(
    net: AcousticModel, folder: str | os.PathLike, new_singers_from: dict[str, str] | None = None
) -> None:
    """Copy an exported model's weights (``folder``) into ``net``: every weight must match but the refiner's,
    which ``net`` may have and the export lack. Language tables and mel settings must agree.

    ``net`` may know singers the export lacks (the data added singers, e.g. register-shifted ones): each
    export singer's embeddings go to its row by name, and a new singer's start as a copy of the export
    singer ``new_singers_from`` names for it (else the mean of the export's singers). Every export singer
    must still be in ``net``'s table."""
    src = AcousticModel.load(folder, audio_config=net.audio_config, phonemes=net.phonemes)
    lost = [s for s in src.singers if s not in net.singers]
    if lost or src.languages != net.languages:
        raise AcousticModelError(
            "singer or language table differs from this data's; the model's ids would mean others "
            f"(singers missing from the data: {', '.join(lost) or 'none'}; languages {src.languages} vs "
            f"{net.languages})",
            source=str(folder),
        )
    new_singers_from = dict(new_singers_from or {})
    unknown = {k: v for k, v in new_singers_from.items() if k not in net.singers or v not in src.singers}
    if unknown:
        raise AcousticModelError(
            f"new_singers_from {unknown}: each key must be a singer of the data ({', '.join(net.singers)}) "
            f"and each value one of the exported model's ({', '.join(src.singers)})",
            source=str(folder),
        )
    state = src.state_dict()
    if list(src.singers) != list(net.singers):
        for key in SINGER_TABLES:
            old = state[key]
            rows = []
            for singer in net.singers:
                if singer in src.singers:
                    rows.append(old[src.singers.index(singer)])
                elif singer in new_singers_from:
                    rows.append(old[src.singers.index(new_singers_from[singer])])
                else:
                    rows.append(old[: len(src.singers)].mean(0))
            state[key] = torch.stack(rows)
    missing, unexpected = net.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.startswith("refiner.")]
    if missing or unexpected:
        raise AcousticModelError(
            f"weights don't fit this model (missing {missing[:3]}, unexpected {unexpected[:3]})",
            source=str(folder),
        )


# --- checkpoints --------------------------------------------------------------------------------------------


def checkpoint_dir(trainer: pl.Trainer) -> str:
    """``<default_root_dir>/checkpoints``: fixed, so ``--ckpt_path last`` finds it across logger versions."""
    return os.path.join(trainer.default_root_dir, "checkpoints")


class StepCheckpoint(ModelCheckpoint):
    """`ModelCheckpoint` overwriting ``last.ckpt`` every ``every_n_train_steps`` steps and when training ends;
    keeps no other files unless ``save_top_k``. ``dirpath`` None: the CLI sets
    ``<default_root_dir>/checkpoints`` (a fixed folder, so ``--ckpt_path last`` finds it)."""

    def __init__(
        self,
        dirpath: str | None = None,
        every_n_train_steps: int = 500,
        save_top_k: int = 0,
        save_last: bool = True,
        enable_version_counter: bool = False,
        **kwargs: Any,
    ):
        # explicit parameters: LightningCLI passes every ModelCheckpoint default, so setdefault would not do
        super().__init__(
            dirpath=dirpath,
            every_n_train_steps=every_n_train_steps,
            save_top_k=save_top_k,
            save_last=save_last,
            enable_version_counter=enable_version_counter,
            **kwargs,
        )

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Lightning skips its end-of-training save once any last.ckpt was written: a run stopped by max_steps
        # or max_time between two periodic saves would lose the steps since the last one when resumed
        if trainer.fast_dev_run or self._last_global_step_saved == trainer.global_step:
            return super().on_train_end(trainer, pl_module)
        self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))


class ExitCheckpoint(Callback):
    """Writes ``last.ckpt`` (beside `StepCheckpoint`'s) when training stops on an exception, Ctrl-C or SIGTERM
    (``kill PID``), so a killed run resumes where it was with ``--ckpt_path last``.
    ``dirpath`` defaults to ``<default_root_dir>/checkpoints``."""

    def __init__(self, dirpath: str | None = None, filename: str = "last"):
        self.dirpath, self.filename = dirpath, filename

    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        if trainer.fast_dev_run or trainer.sanity_checking or trainer.global_step == 0:
            return
        if isinstance(exception, TrainingDiverged) or is_disk_full(exception):
            return  # keep the last good checkpoint; there is no room for another one anyway
        folder = self.dirpath or checkpoint_dir(trainer)
        try:
            os.makedirs(folder, exist_ok=True)
            trainer.save_checkpoint(os.path.join(folder, f"{self.filename}.ckpt"), weights_only=False)
        except Exception as e:
            # the run is already failing: report, and let the first error be the one raised
            print(f"warning: no checkpoint written on exit: {e}", file=sys.stderr)


# --- the command line ---------------------------------------------------------------------------------------


class AcousticCLI(LightningCLI):
    """LightningCLI with the data's tables linked into the model and a few run options:
    ``--ckpt_path`` (``last`` resumes), ``--threads`` (torch threads; 0 keeps torch's default),
    ``--export_dir`` (default ``<default_root_dir>/export``) and ``--energy_country`` (ISO 3166 alpha-3
    code for codecarbon's offline tracker; null turns energy tracking off). ``trainer.logger: true``
    means CSV + TensorBoard under ``<default_root_dir>/logs``.
    """

    def add_arguments_to_parser(self, parser) -> None:
        parser.link_arguments("data.tables", "model.init_args.tables", apply_on="instantiate")
        parser.add_argument("--ckpt_path", type=str | None, default=None, help="checkpoint to resume; 'last'")
        parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
        parser.add_argument(
            "--export_dir", type=str | None, default=None, help="where the trained model goes"
        )
        parser.add_argument(
            "--energy_country",
            type=str | None,
            default=None,
            help="ISO alpha-3 country for codecarbon; null: off",
        )

    def before_instantiate_classes(self) -> None:
        threads = int(self.config.get("threads") or 0)
        if threads > 0:
            torch.set_num_threads(threads)

    def instantiate_trainer(self, **kwargs: Any) -> pl.Trainer:
        trainer_config = self.config_init.get("trainer", {})
        if trainer_config.get("logger") in (None, True) and "logger" not in kwargs:
            from lightning.pytorch.loggers import CSVLogger

            root = trainer_config.get("default_root_dir") or os.getcwd()
            csv = CSVLogger(root, name="logs")
            loggers: list[Any] = [csv]
            try:
                from lightning.pytorch.loggers import TensorBoardLogger

                # the same version folder for both, so one run's files stay together
                loggers.append(
                    TensorBoardLogger(root, name="logs", version=csv.version, default_hp_metric=False)
                )
            except ModuleNotFoundError:  # tensorboard not installed: CSV only
                pass
            kwargs["logger"] = loggers
        trainer = super().instantiate_trainer(**kwargs)
        checkpoint_io.install(trainer)
        for callback in trainer.callbacks:
            # resolved now, not in setup(): fit looks for 'last' before callbacks are set up
            if isinstance(callback, StepCheckpoint) and callback.dirpath is None:
                callback.dirpath = os.path.realpath(checkpoint_dir(trainer))
        return trainer


def export(
    task: AcousticTask,
    datamodule: AcousticDataModule,
    trainer: pl.Trainer,
    folder: Path,
    run: dict[str, Any],
) -> Path:
    """Save the model (safetensors + config.json) to ``folder`` with ``training_report.json`` beside it.

    The report's ``runs`` lists every run segment (a resumed training adds one; ``run`` replaces the entry
    with its ``id``) and the totals sum them: steps, wall time, energy (kWh) and emissions, plus the data
    used with its licences, the hardware and the hyper-parameters: what a voice card needs.
    """
    report = write_report(
        folder,
        "acoustic",
        run,
        {
            "steps": int(trainer.global_step),
            "epochs": int(trainer.current_epoch),
            "parameters": task.net.n_parameters(),
            "data": datamodule.data_summary(),
            "hardware": {
                "platform": platform.platform(),
                "processor": platform.processor() or platform.machine(),
                "accelerator": type(trainer.accelerator).__name__,
                "devices": trainer.world_size,
                "torch_threads": torch.get_num_threads(),
            },
            "hyper_parameters": dict(task.hparams),
        },
        inherited=inherited_training(Path(task.hparams["init_from"]))
        if task.hparams.get("init_from")
        else None,
    )
    extra = {"training": {k: report[k] for k in ("steps", "epochs", "wall_seconds", "energy_kwh")}}
    extra["training"]["data_licences"] = report["data"]["licences"]
    task.net.save(folder, extra=extra)
    return folder


class ExportModel(Callback):
    """Exports the model (and the training report so far) every ``every_n_train_steps`` steps, from rank 0,
    so a long run always has a loadable, documented model in ``dirpath`` (default: the CLI's
    ``export_dir``, ``<default_root_dir>/export``). The final export happens when training stops."""

    def __init__(self, every_n_train_steps: int = 500, dirpath: str | None = None):
        self.every_n_train_steps, self.dirpath = every_n_train_steps, dirpath
        self.record: RunRecord | None = None
        self._last = -1

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any) -> None:
        step = trainer.global_step
        if (
            trainer.fast_dev_run
            or not trainer.is_global_zero  # no collective here: rank 0 writes alone
            or self.every_n_train_steps < 1
            or step % self.every_n_train_steps
            or step == self._last
        ):
            return
        self._last = step
        record = self.record or RunRecord()
        folder = Path(self.dirpath or Path(trainer.default_root_dir) / "export")
        export(
            pl_module,
            trainer.datamodule,
            trainer,
            folder,
            record.as_dict(pl_module.start_step, trainer.global_step, "running"),
        )


def train_main(argv: Sequence[str] | None = None) -> int:
    """``vocalsynth train acoustic``: parse the config (LightningCLI), fit, export. Returns 0 on success,
    1 when training stopped on repeated non-finite losses or a full disk (the message says which)."""
    cli = AcousticCLI(
        AcousticTask,
        AcousticDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        run=False,
        args=list(argv) if argv is not None else None,
        save_config_kwargs={"overwrite": True},
        parser_kwargs={"prog": "vocalsynth train acoustic", "description": __doc__.split("\n\n")[0]},
    )
    trainer, task, data = cli.trainer, cli.model, cli.datamodule
    root = Path(trainer.default_root_dir)
    export_dir = Path(cli.config.get("export_dir") or root / "export")
    is_zero = rank_zero_only.rank == 0
    country = cli.config.get("energy_country")
    tracker = energy_tracker(country, root / "energy", "vocalsynth-acoustic") if is_zero else None
    record = RunRecord(tracker, country, cli.config.get("ckpt_path"), root / "energy")
    for callback in trainer.callbacks:
        if isinstance(callback, ExportModel):
            callback.record = record
            callback.dirpath = callback.dirpath or str(export_dir)
    status = "interrupted"
    failure: str | None = None
    if tracker is not None:
        tracker.start()
    try:
        trainer.fit(task, datamodule=data, ckpt_path=cli.config.get("ckpt_path"))
        status = "finished" if not trainer.interrupted else "interrupted"
    except TrainingDiverged as e:
        status, failure = "diverged", str(e)
    except Exception as e:
        if not is_disk_full(e):
            raise
        status, failure = (
            "disk full",
            str(e) if isinstance(e, CheckpointWriteError) else f"the disk is full: {e}",
        )
    finally:
        run = record.as_dict(task.start_step, trainer.global_step, status, final=True)
        # a diverged run keeps its last good export; a full disk has no room for another
        if is_zero and trainer.global_step > 0 and failure is None:
            export(task, data, trainer, export_dir, run)
    if failure is not None:
        print(f"error: {failure}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    # through the package module, so the classes the YAML names are the ones this entry builds
    from vocalsynth.train.acoustic import train_main as _train_main

    sys.exit(_train_main())
