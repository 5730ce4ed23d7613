"""`Frames`: the acoustic model's output and the seam to the vocoder (mel + F0 per 10 ms frame, with the
phoneme timing that produced them)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vocalsynth.audio.config import AudioConfig


@dataclass
class Frames:
    """Frame-level features of one rendered phrase or song, numpy float32 on ``T`` frames.

    - ``mel``: ``(n_mels, T)`` natural-log mel magnitude (the :mod:`vocalsynth.audio.mel` convention).
    - ``f0_hz``: ``(T,)`` F0 in Hz, 0 where unvoiced; ``vuv``: ``(T,)`` 1.0 voiced / 0.0 unvoiced.
    - ``energy_db``: ``(T,)`` frame RMS in dBFS; ``aperiodicity``: ``(bands, T)`` in [0, 1] (breathiness).
    - ``ph_symbols``, ``ph_start``, ``ph_frames``: ``(N,)`` each phoneme's symbol, first frame and frame
      count as placed by the duration model (``ph_frames.sum() == T``).
    - ``pre_roll``: seconds sung before the score's time 0 (onset consonants of the first note);
      frame ``i`` is centred at score time ``frame_offset + i * hop_length / sample_rate``, with
      ``frame_offset == -pre_roll``.
    - ``audio_config``: the model's `AudioConfig`; a vocoder must agree with it
      (``vocoder.check_compatible(frames.audio_config)``).

    A vocoder takes ``mel_batch()`` ``(1, n_mels, T)`` and ``f0_batch()`` ``(1, T)`` and returns
    ``T * hop_length`` samples, sample 0 at score time ``frame_offset``.
    """

    mel: np.ndarray
    f0_hz: np.ndarray
    vuv: np.ndarray
    energy_db: np.ndarray
    aperiodicity: np.ndarray
    ph_symbols: list[str]
    ph_start: np.ndarray
    ph_frames: np.ndarray
    pre_roll: float
    audio_config: AudioConfig
    source: str = "<sequence>"
    notes: list[tuple[int | None, int, int, float]] = field(default_factory=list)
    """(note index, first frame, end frame, MIDI pitch or 0 for a rest) of each note span."""

    def __post_init__(self) -> None:
        t = self.n_frames
        if self.mel.ndim != 2 or self.mel.shape[0] != self.audio_config.n_mels:
            raise ValueError(f"mel must be ({self.audio_config.n_mels}, T), got {self.mel.shape}")
        for name in ("f0_hz", "vuv", "energy_db"):
            if getattr(self, name).shape != (t,):
                raise ValueError(f"{name} must be ({t},), got {getattr(self, name).shape}")
        if self.aperiodicity.shape[-1] != t:
            raise ValueError(f"aperiodicity must have {t} frames, got {self.aperiodicity.shape}")
        if not len(self.ph_symbols) == len(self.ph_start) == len(self.ph_frames):
            raise ValueError("ph_symbols, ph_start and ph_frames must have one entry per phoneme")

    @property
    def n_frames(self) -> int:
        return int(self.mel.shape[-1])

    @property
    def frame_offset(self) -> float:
        """Score time (seconds) of frame 0: ``-pre_roll``."""
        return -self.pre_roll

    @property
    def seconds(self) -> float:
        return self.n_frames / self.audio_config.frames_per_second

    def times(self) -> np.ndarray:
        """``(T,)`` score time (seconds) of each frame centre."""
        return self.frame_offset + np.arange(self.n_frames) / self.audio_config.frames_per_second

    def mel_batch(self):
        """``(1, n_mels, T)`` float32 torch tensor for a vocoder."""
        import torch

        return torch.from_numpy(np.ascontiguousarray(self.mel, dtype=np.float32))[None]

    def f0_batch(self):
        """``(1, T)`` float32 torch tensor (Hz, 0 unvoiced) for a vocoder."""
        import torch

        return torch.from_numpy(np.ascontiguousarray(self.f0_hz, dtype=np.float32))[None]
