"""Training that survives what goes wrong: checkpoints written atomically (write + rename, never half a file),
loaded with ``weights_only=True``; a full disk stops the run with a message and the last checkpoint intact;
non-finite losses skip their step, and a run that keeps producing them stops without overwriting its last
checkpoint; ``kill -9`` at a random step, then ``--ckpt_path last``, repeats only the steps after the last
checkpoint and loses none.

The acoustic entry trains a tiny model on a tiny generated corpus (tests/test_acoustic.py's), in-process for
the quick tests and as a subprocess (``python -m vocalsynth.train.acoustic``) for the kill and full-disk runs.
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from test_acoustic import write_corpus

pytest.importorskip("lightning")
from lightning.pytorch.callbacks import Callback  # noqa: E402

from vocalsynth.train.checkpoint_io import (  # noqa: E402
    AtomicCheckpointIO,
    CheckpointWriteError,
    is_disk_full,
    write_atomic,
)
from vocalsynth.train.guard import NonFiniteGuard, TrainingDiverged  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TINY_NET = {
    "encoder_channels": 32,
    "encoder_layers": 1,
    "encoder_hidden": 64,
    "variance_channels": 16,
    "decoder_channels": 32,
    "decoder_layers": 1,
}


class StepLog(Callback):
    """Appends ``global_step`` after every training batch to the file named by $VOCALSYNTH_STEP_LOG,
    flushed at once, so a run killed with SIGKILL leaves the list of steps it finished."""

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        with open(os.environ["VOCALSYNTH_STEP_LOG"], "a", encoding="utf-8") as f:
            f.write(f"{trainer.global_step}\n")


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    from vocalsynth.data.preprocess import Source, preprocess

    base = tmp_path_factory.mktemp("reliability_corpus")
    names = ["alto_1", "alto_2", "alto_3", "alto_4"]
    source = Source("diffsinger", write_corpus(base / "alto", names, 0), licence="CC0-1.0", language="ja")
    preprocess([source], base / "prep", workers=1, f0_method="dio", progress=False, store_audio=False)
    return base / "prep"


def callbacks_yaml(folder: Path, every: int, step_log: bool = False) -> Path:
    """A config that checkpoints and exports every ``every`` steps (and logs each step, for the kill test)."""
    path = folder / "callbacks.yaml"
    path.write_text(
        textwrap.dedent(
            f"""\
            trainer:
              callbacks:
                - class_path: vocalsynth.train.acoustic.StepCheckpoint
                  init_args:
                    every_n_train_steps: {every}
                - class_path: vocalsynth.train.acoustic.ExitCheckpoint
                - class_path: vocalsynth.train.acoustic.ExportModel
                  init_args:
                    every_n_train_steps: {every}
            """
        )
        + ("    - class_path: test_train_reliability.StepLog\n" if step_log else "")
    )
    return path


def train_args(data: Path, root: Path, every: int, max_steps: int, *extra: str, step_log: bool = False):
    args = [
        "--config", str(ROOT / "configs" / "acoustic" / "small.yaml"),
        "--config", str(callbacks_yaml(root.parent, every, step_log)),
        "--data.init_args.data_dir", str(data),
        "--data.init_args.batch_size", "1",
        "--data.init_args.max_batch_frames", "null",
        "--data.init_args.val_batch_size", "1",
        "--data.init_args.val_items", "1",
        "--model.init_args.n_render", "0",
        "--model.init_args.warmup_steps", "10",
        "--trainer.default_root_dir", str(root),
        "--trainer.max_steps", str(max_steps),
        "--trainer.val_check_interval", "1000",
        "--trainer.log_every_n_steps", "1",
        "--trainer.enable_progress_bar", "false",
        "--trainer.enable_model_summary", "false",
        *extra,
    ]  # fmt: skip
    for key, value in TINY_NET.items():
        args += [f"--model.init_args.net.{key}", str(value)]
    return args


def corrupt(data: Path, which: slice) -> None:
    """Damage cached items the way a bad disk or a bug would: their mel becomes NaN."""
    for path in sorted((data / "items").rglob("*.npz"))[which]:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        arrays["mel"] = np.full_like(arrays["mel"], np.nan)
        np.savez(path, **arrays)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def step_of(checkpoint: Path) -> int:
    return int(torch.load(checkpoint, map_location="cpu", weights_only=True)["global_step"])


def weights_finite(checkpoint: Path) -> bool:
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)["state_dict"]
    return all(bool(torch.isfinite(v).all()) for v in state.values() if v.is_floating_point())


# --- atomic checkpoint files ----------------------------------------------------------------------------------


def test_write_atomic_replaces_whole_files_and_clears_leftovers(tmp_path):
    target = tmp_path / "checkpoints" / "last.ckpt"
    write_atomic(target, b"old")
    stale = target.parent / ".last.ckpt.abc123.part"  # what a run killed mid-write leaves
    stale.write_bytes(b"half")
    write_atomic(target, b"new" * 1000)
    assert target.read_bytes() == b"new" * 1000
    assert sorted(p.name for p in target.parent.iterdir()) == ["last.ckpt"]
    assert target.stat().st_mode & 0o777 == 0o666 & ~_umask()


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_checkpoint_io_saves_and_loads_plain_checkpoints(tmp_path):
    io = AtomicCheckpointIO()
    path = tmp_path / "last.ckpt"
    io.save_checkpoint({"state_dict": {"w": torch.arange(4.0)}, "global_step": 7}, path)
    loaded = io.load_checkpoint(path)
    assert loaded["global_step"] == 7 and torch.equal(loaded["state_dict"]["w"], torch.arange(4.0))
    with pytest.raises(FileNotFoundError):
        io.load_checkpoint(tmp_path / "missing.ckpt")


DISK_FULL_SCRIPT = """
import resource, sys, torch
from vocalsynth.train.checkpoint_io import AtomicCheckpointIO, CheckpointWriteError
io, path = AtomicCheckpointIO(), sys.argv[1]
io.save_checkpoint({"w": torch.zeros(1000), "global_step": 1}, path)
resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000))  # the next file may not grow past 20 kB
try:
    io.save_checkpoint({"w": torch.zeros(100000), "global_step": 2}, path)
except CheckpointWriteError as e:
    print(e)
    sys.exit(3)
"""


def test_a_full_disk_leaves_the_previous_checkpoint_whole(tmp_path):
    # a real failed write: the kernel refuses to grow the file past RLIMIT_FSIZE (EFBIG), as it does with
    # ENOSPC on a full disk; Python ignores SIGXFSZ, so the write returns the error
    path = tmp_path / "last.ckpt"
    done = subprocess.run(
        [sys.executable, "-c", DISK_FULL_SCRIPT, str(path)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 3, done.stderr[-2000:]
    message = done.stdout
    assert "can't write the checkpoint" in message and "file-size limit" in message
    assert " free there, the checkpoint needs 0.4 MB" in message and "--ckpt_path last" in message
    assert torch.load(path, weights_only=True)["global_step"] == 1  # the old checkpoint, whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]  # no temporary file left


def test_disk_full_errors_are_recognised_through_their_causes():
    import errno

    assert is_disk_full(OSError(errno.ENOSPC, "No space left on device"))
    wrapped = RuntimeError("export failed")
    wrapped.__cause__ = OSError(errno.EDQUOT, "Disk quota exceeded")
    assert is_disk_full(wrapped) and is_disk_full(CheckpointWriteError("x"))
    assert not is_disk_full(OSError(errno.EACCES, "Permission denied")) and not is_disk_full(ValueError())


# --- the guard ------------------------------------------------------------------------------------------------


def test_guard_skips_non_finite_losses_and_stops_after_too_many_in_a_row(caplog):
    guard = NonFiniteGuard(max_consecutive=3)
    good = {"loss": torch.tensor(1.0), "mel": torch.tensor(0.5)}
    bad = {"loss": torch.tensor(float("nan")), "mel": torch.tensor(float("inf"))}
    with caplog.at_level(logging.WARNING, logger="vocalsynth.train.guard"):
        assert guard.losses_ok(good, 0)
        assert not guard.losses_ok(bad, 1) and not guard.losses_ok(bad, 2)
        assert guard.losses_ok(good, 3)  # a good step resets the run of bad ones
        assert not guard.losses_ok(bad, 4) and not guard.losses_ok(bad, 5)
        with pytest.raises(
            TrainingDiverged, match="stopped at step 6: 3 steps in a row had a non-finite loss"
        ):
            guard.losses_ok(bad, 6)
    assert guard.skipped == 5
    assert "step 1: non-finite loss (loss=nan, mel=inf); step skipped (1 in a row" in caplog.text
    # every process skips together when one of them has a bad loss
    assert not NonFiniteGuard().losses_ok(good, 0, agree=lambda bad: True)


def test_guard_drops_non_finite_gradients_so_the_optimizer_leaves_the_weights():
    layer = torch.nn.Linear(3, 1)
    before = [p.detach().clone() for p in layer.parameters()]
    optimizer = torch.optim.AdamW(layer.parameters(), lr=0.1)
    layer(torch.tensor([[1.0, float("inf"), 0.0]])).sum().backward()
    guard = NonFiniteGuard()
    assert not guard.gradients_ok(layer.parameters(), step=0) and guard.skipped == 1
    optimizer.step()
    assert all(torch.equal(a, b) for a, b in zip(before, layer.parameters(), strict=True))


# --- training runs ---------------------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:LightningCLI's args parameter")
def test_a_damaged_item_skips_its_steps_and_training_goes_on(corpus, tmp_path, caplog):
    from vocalsynth.train.acoustic import train_main

    data = tmp_path / "prep"
    shutil.copytree(corpus, data)
    corrupt(data, slice(0, 1))  # one item of four: NaN losses whenever it is drawn
    root = tmp_path / "run"
    with caplog.at_level(logging.WARNING, logger="vocalsynth.train.guard"):
        assert train_main(train_args(data, root, every=5, max_steps=12)) == 0
    skipped = [r.getMessage() for r in caplog.records if "step skipped" in r.getMessage()]
    assert skipped and all("non-finite loss" in m for m in skipped)
    last = root / "checkpoints" / "last.ckpt"
    assert step_of(last) == 12 and weights_finite(last)


@pytest.mark.filterwarnings("ignore:LightningCLI's args parameter")
def test_repeated_non_finite_losses_stop_the_run_and_keep_the_last_checkpoint(corpus, tmp_path, capsys):
    from vocalsynth.train.acoustic import train_main

    data = tmp_path / "prep"
    shutil.copytree(corpus, data)
    root = tmp_path / "run"
    assert train_main(train_args(data, root, every=4, max_steps=4)) == 0
    last, export = root / "checkpoints" / "last.ckpt", root / "export" / "model.safetensors"
    kept = (sha(last), sha(export))
    corrupt(data, slice(None))  # every item now gives a NaN loss
    capsys.readouterr()
    args = train_args(data, root, 4, 20, "--ckpt_path", "last", "--model.init_args.max_nonfinite_steps", "3")
    assert train_main(args) == 1
    err = capsys.readouterr().err
    assert "error: training stopped at step 6: 3 steps in a row had a non-finite loss" in err
    assert (sha(last), sha(export)) == kept and step_of(last) == 4


# --- kill -9 and a full disk, as a user runs it ----------------------------------------------------------------


def _popen(args: list[str], step_log: Path, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "tests"), "VOCALSYNTH_STEP_LOG": str(step_log)}
    return subprocess.Popen(
        [sys.executable, "-m", "vocalsynth.train.acoustic", *args, "--threads", "1"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def _steps(step_log: Path) -> list[int]:
    return [int(x) for x in step_log.read_text().split()] if step_log.is_file() else []


def _wait_until(proc: subprocess.Popen, ready, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.01)
    raise AssertionError(f"never got there (exit status {proc.poll()}): {proc.stderr.read()[-3000:]}")


@pytest.mark.slow
def test_kill_9_then_resume_loses_and_repeats_no_step_beyond_the_last_checkpoint(corpus, tmp_path):
    every, total = 10, 40
    kill_at = random.Random(os.environ.get("VOCALSYNTH_KILL_SEED")).randint(every + 1, 2 * every - 1)
    root, log = tmp_path / "run", tmp_path / "steps.txt"
    args = train_args(corpus, root, every, total, step_log=True)
    last = root / "checkpoints" / "last.ckpt"

    first = _popen(args, log)
    _wait_until(first, lambda: last.is_file() and _steps(log) and _steps(log)[-1] >= kill_at)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=60)
    done_before = _steps(log)
    saved = step_of(last)  # the checkpoint on disk is whole (it loads) and is the last one written
    assert first.returncode == -signal.SIGKILL and saved == every * (done_before[-1] // every)
    assert done_before == list(range(1, done_before[-1] + 1))

    log.unlink()
    second = _popen([*args, "--ckpt_path", "last"], log)
    assert second.wait(timeout=600) == 0, second.stderr.read()[-3000:]
    after = _steps(log)
    # the resumed run starts right after the checkpoint: the steps after it are redone once, none is lost
    assert after == list(range(saved + 1, total + 1))
    assert step_of(last) == total
    print(f"killed at step {done_before[-1]} (target {kill_at}); last checkpoint at step {saved}; resumed run "
          f"did steps {after[0]}-{after[-1]}; {done_before[-1] - saved} step(s) redone, none lost")  # fmt: skip


@pytest.mark.slow
def test_a_disk_that_fills_up_mid_run_stops_it_with_a_message_and_a_whole_checkpoint(corpus, tmp_path):
    every = 5
    root, log = tmp_path / "run", tmp_path / "steps.txt"
    last = root / "checkpoints" / "last.ckpt"
    proc = _popen(train_args(corpus, root, every, 200, step_log=True), log)
    _wait_until(proc, last.is_file)
    size = last.stat().st_size
    # from now on no file may grow past half a checkpoint: the next checkpoint can't be written
    resource.prlimit(proc.pid, resource.RLIMIT_FSIZE, (size // 2, size // 2))
    assert proc.wait(timeout=600) == 1
    err = proc.stderr.read()
    assert "error: can't write the checkpoint" in err and "last.ckpt" in err and "--ckpt_path last" in err
    assert "Traceback" not in err
    assert step_of(last) == every and weights_finite(last)  # the checkpoint before the failure, whole
    assert not [p.name for p in last.parent.iterdir() if p.name.endswith(".part")]
    print(
        f"checkpoint of step {every} kept whole ({size} bytes); the run said: {err.strip().splitlines()[-1]}"
    )


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_vocoder_training_skips_unreadable_audio_and_stops_when_it_diverges(tmp_path, capsys):
    import soundfile as sf
    from test_vocoder import SR, glide_f0, voice

    from vocalsynth.train.vocoder import train_main

    data = tmp_path / "data"
    data.mkdir()
    for i in range(2):
        sf.write(data / f"s{i}.wav", voice(glide_f0(150, 200 + 40 * i, 300)), SR)
    (data / "broken.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(200))
    cache = tmp_path / "cache"

    def args(root: Path, steps: int) -> list[str]:
        return [
            "--config", str(ROOT / "configs" / "vocoder" / "small.yaml"),
            "--trainer.default_root_dir", str(root),
            "--trainer.max_steps", str(steps),
            "--trainer.limit_val_batches", "0",
            "--checkpoint.every_n_train_steps", "2",
            "--model.init_args.vocoder.init_args.dim", "32",
            "--model.init_args.vocoder.init_args.intermediate_dim", "64",
            "--model.init_args.max_nonfinite_steps", "3",
            "--data.init_args.paths", f"[{data}]",
            "--data.init_args.cache_dir", str(cache),
            "--data.init_args.f0_method", "dio",
            "--data.init_args.steps_per_epoch", "10",
        ]  # fmt: skip

    with pytest.warns(UserWarning, match=r"vocoder data: skipped .*broken.wav"):
        assert (
            train_main(args(tmp_path / "first", 2)) == 0
        )  # the unreadable file is left out, the run goes on
    for path in cache.glob("*.npz"):  # damage the feature cache: every mel becomes NaN
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        np.savez(path, **{**arrays, "mel": np.full_like(arrays["mel"], np.nan)})
    root = tmp_path / "second"
    assert train_main(args(root, 30)) == 1
    err = capsys.readouterr().err
    assert "error: training stopped at step 2: 3 steps in a row had a non-finite loss" in err
    # the checkpoint of step 2 (before the third bad step) holds the untouched weights, none of them NaN
    last = root / "checkpoints" / "last.ckpt"
    assert step_of(last) == 2 and weights_finite(last)
