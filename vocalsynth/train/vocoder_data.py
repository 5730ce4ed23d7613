"""Audio-segment data for vocoder training: folders/lists of audio files -> random (audio, mel, F0) crops.

Features are computed once per file (``load_audio``, ``log_mel``, ``extract_f0``) and cached as ``.npz``
in ``cache_dir`` (keyed by path, size, mtime, AudioConfig and F0 method), so a restarted run starts at once.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vocalsynth.audio.config import AudioConfig
from vocalsynth.audio.errors import AudioError
from vocalsynth.audio.io import load_audio
from vocalsynth.audio.mel import log_mel
from vocalsynth.audio.world import F0_METHODS, extract_f0

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".aif", ".aiff")
CACHE_FORMAT = 1
# a frame counts as "active" (worth training on) when its mel energy is within this many dB of the file's peak
ACTIVE_RANGE_DB = 50.0


@dataclass
class Clip:
    """One file's training material: ``audio`` ``(n,)``, ``mel`` ``(n_mels, T)``, ``f0_hz`` ``(T,)`` (0 unvoiced)."""

    path: str
    audio: np.ndarray
    mel: np.ndarray
    f0_hz: np.ndarray

    @property
    def n_frames(self) -> int:
        return int(self.mel.shape[1])

    def active_frames(self) -> np.ndarray:
        """Indices of frames whose log-mel energy is within :data:`ACTIVE_RANGE_DB` of the loudest frame."""
        level = np.log(np.exp(self.mel).sum(axis=0) + 1e-12) * (20 / np.log(10))
        return np.flatnonzero(level > level.max() - ACTIVE_RANGE_DB)


def find_audio_files(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Audio files named by ``paths`` (files, or folders searched recursively), sorted, without duplicates.

    A path that does not exist is an :class:`AudioError` naming it, so a config typo fails at once.
    """
    found: dict[Path, None] = {}
    for p in paths:
        path = Path(p)
        if path.is_dir():
            for f in sorted(path.rglob("*")):
                if f.is_file() and f.suffix.lower() in AUDIO_EXTENSIONS:
                    found[f.resolve()] = None
        elif path.is_file():
            found[path.resolve()] = None
        else:
            raise AudioError("no such file or folder (listed in data paths)", source=str(path))
    return sorted(found)


def matches_any(path: Path, patterns: Sequence[str]) -> bool:
    """True when ``path``'s file name or full path matches one of the glob ``patterns``."""
    return any(fnmatch.fnmatch(path.name, pat) or fnmatch.fnmatch(str(path), pat) for pat in patterns)


def _cache_key(path: Path, config: AudioConfig, f0_method: str) -> str:
    st = path.stat()
    blob = json.dumps(
        [CACHE_FORMAT, str(path), st.st_size, st.st_mtime_ns, config.to_dict(), f0_method], sort_keys=True
    )
    return hashlib.sha1(blob.encode()).hexdigest()[:20]


def compute_clip(path: str | os.PathLike, config: AudioConfig, f0_method: str = "harvest") -> Clip:
    """Load ``path`` at the config's rate and analyse it (log-mel, WORLD F0 with D4C voicing)."""
    audio = load_audio(path, config)
    mel = log_mel(audio, config).numpy()
    f0_hz, _ = extract_f0(audio, config, f0_method)  # type: ignore[arg-type]
    return Clip(str(path), audio, mel.astype(np.float32), f0_hz.astype(np.float32))


def load_clip(
    path: str | os.PathLike, config: AudioConfig, f0_method: str = "harvest", cache_dir: str | None = None
) -> Clip:
    """:func:`compute_clip`, read from / written to ``cache_dir`` when given (atomic writes)."""
    if f0_method not in F0_METHODS:
        raise ValueError(f"f0_method must be one of {', '.join(F0_METHODS)}, got {f0_method!r}")
    path = Path(path)
    if cache_dir is None:
        return compute_clip(path, config, f0_method)
    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    file = cache / f"{path.stem}-{_cache_key(path, config, f0_method)}.npz"
    if file.exists():
        try:
            with np.load(file, allow_pickle=False) as z:
                return Clip(str(path), z["audio"], z["mel"], z["f0_hz"])
        except Exception:  # a damaged cache file (a full disk, a crash of another writer): compute it again
            pass
    clip = compute_clip(path, config, f0_method)
    fd, tmp = tempfile.mkstemp(prefix=file.name, suffix=".part.npz", dir=cache)
    os.close(fd)
    try:
        np.savez(tmp, audio=clip.audio, mel=clip.mel, f0_hz=clip.f0_hz)
        os.replace(tmp, file)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return clip


class RandomSegments(torch.utils.data.Dataset):
    """``length`` random crops of ``segment_frames`` frames: ``{"audio": (F*hop,), "mel": (n_mels, F), "f0_hz": (F,)}``.

    Crops start on frames with sound (see :meth:`Clip.active_frames`), except a ``silence_fraction`` of them
    drawn anywhere, so the model also learns to stay silent. Files are drawn in proportion to their length.
    """

    def __init__(
        self,
        clips: Sequence[Clip],
        hop_length: int,
        segment_frames: int,
        length: int,
        silence_fraction: float = 0.1,
        seed: int = 0,
    ):
        self.clips = [c for c in clips if c.n_frames - 1 > segment_frames]
        if not self.clips:
            raise ValueError(f"no training file is longer than segment_frames={segment_frames} frames")
        self.hop = hop_length
        self.frames = segment_frames
        self.length = length
        self.silence_fraction = silence_fraction
        self.seed = seed
        self.calls = 0
        # valid start frames keep the crop's audio inside the file: start + frames <= n_frames - 1
        self.starts_any = [np.arange(c.n_frames - 1 - segment_frames) for c in self.clips]
        self.starts_active = []
        for c, any_ in zip(self.clips, self.starts_any, strict=True):
            # a crop is "active" if its centre frame is active
            active = c.active_frames() - segment_frames // 2
            active = active[(active >= 0) & (active < any_.size)]
            self.starts_active.append(active if active.size else any_)
        weights = np.array([s.size for s in self.starts_any], dtype=np.float64)
        self.weights = weights / weights.sum()

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        # torch's seeded generator gives each worker and each epoch a different, reproducible stream
        rng = np.random.default_rng([self.seed, index, int(torch.randint(0, 2**31 - 1, ()).item())])
        i = int(rng.choice(len(self.clips), p=self.weights))
        starts = self.starts_any[i] if rng.random() < self.silence_fraction else self.starts_active[i]
        s = int(starts[rng.integers(starts.size)])
        return segment(self.clips[i], s, self.frames, self.hop)


def segment(clip: Clip, start: int, frames: int, hop: int) -> dict[str, torch.Tensor]:
    """Frames ``[start, start + frames)`` and the samples they are centred on, ``[start*hop, (start+frames)*hop)``."""
    return {
        "audio": torch.from_numpy(np.ascontiguousarray(clip.audio[start * hop : (start + frames) * hop])),
        "mel": torch.from_numpy(np.ascontiguousarray(clip.mel[:, start : start + frames])),
        "f0_hz": torch.from_numpy(np.ascontiguousarray(clip.f0_hz[start : start + frames])),
    }


class FixedSegments(torch.utils.data.Dataset):
    """Deterministic validation crops: up to ``per_clip`` evenly spaced active crops of each held-out file."""

    def __init__(self, clips: Sequence[Clip], hop_length: int, segment_frames: int, per_clip: int = 4):
        self.items: list[dict[str, torch.Tensor]] = []
        for c in clips:
            last = c.n_frames - 1 - segment_frames
            if last <= 0:
                continue
            active = c.active_frames()
            active = active[(active >= 0) & (active < last)]
            pool = active if active.size else np.arange(last)
            for s in pool[np.linspace(0, pool.size - 1, per_clip).round().astype(int)]:
                self.items.append(segment(c, int(s), segment_frames, hop_length))

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return self.items[index]
