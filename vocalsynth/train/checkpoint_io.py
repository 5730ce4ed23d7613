"""Checkpoint files that are never left half-written, and that load without unpickling code.

`AtomicCheckpointIO` (a Lightning ``CheckpointIO``, installed by both training entries) writes the
``torch.save`` bytes to a temporary file beside the target, flushes and fsyncs it, renames it over the
target and fsyncs the folder: after a crash, ``kill -9`` or power cut the target is the old checkpoint or
the new one, whole. (Lightning's own writer renames from the system temp folder, which is a copy, not a
rename, when that folder is on another disk.) A write that fails because the disk is full, a quota or a
file-size limit is reached removes its temporary file and raises `CheckpointWriteError`, which says how much
space there is and how much the checkpoint needs; the previous checkpoint is untouched.

Loading is ``torch.load(weights_only=True)`` whatever the caller asks: tensors and plain values only, so a
tampered checkpoint can't run code (every checkpoint vocalsynth writes holds nothing else).
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

# errors that mean "no room for this file", as opposed to a bug or a permission problem
DISK_FULL = {
    errno.ENOSPC: "no space left on the disk",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.EFBIG: "the file would exceed the file-size limit (ulimit -f)",
}


class CheckpointWriteError(RuntimeError):
    """A checkpoint could not be written for want of space; the previous checkpoint is intact."""


def is_disk_full(error: BaseException) -> bool:
    """Whether ``error`` (or what caused it) is an `OSError` meaning the disk or a size limit is full."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, CheckpointWriteError) or (
            isinstance(error, OSError) and error.errno in DISK_FULL
        ):
            return True
        error = error.__cause__ or error.__context__
    return False


def _size(n: float) -> str:
    return f"{n / 2**20:.1f} MB" if n < 2**30 else f"{n / 2**30:.2f} GB"


def _fsync_folder(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not every filesystem lets a folder be opened and synced
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_atomic(path: str | os.PathLike, data: bytes | memoryview) -> None:
    """Write ``data`` to ``path`` through a synced temporary file renamed over it (see the module docstring).

    Leftover temporary files of this target from a killed run are removed first. Raises
    `CheckpointWriteError` when the disk (or a quota or size limit) is full.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(f".{path.name}.*.part"):
        with contextlib.suppress(OSError):
            stale.unlink()
    tmp: str | None = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0o022)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600 files; a checkpoint is shared like any file
        os.replace(tmp, path)
        tmp = None
        _fsync_folder(path.parent)
    except OSError as e:
        if e.errno not in DISK_FULL:
            raise
        free = shutil.disk_usage(path.parent).free
        raise CheckpointWriteError(
            f"can't write the checkpoint {path}: {DISK_FULL[e.errno]} ({_size(free)} free there, the "
            f"checkpoint needs {_size(len(data))}). Nothing was written over the previous checkpoint: "
            "free some space (or raise the limit) and resume with --ckpt_path last"
        ) from e
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning checkpoint IO: atomic, synced writes (`write_atomic`) and ``weights_only=True`` loads."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options")
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        write_atomic(path, buffer.getbuffer())

    def load_checkpoint(self, path: Any, map_location: Any = None, weights_only: bool | None = None) -> dict:
        if not os.path.isfile(path):
            raise FileNotFoundError(f"Checkpoint file not found: {path}")
        location = map_location if map_location is not None else (lambda storage, loc: storage)
        return torch.load(path, map_location=location, weights_only=True)


def install(trainer: Any) -> None:
    """Give ``trainer`` an `AtomicCheckpointIO` unless its config chose another checkpoint IO."""
    strategy = trainer.strategy
    if type(strategy.checkpoint_io) is TorchCheckpointIO:
        strategy.checkpoint_io = AtomicCheckpointIO()
