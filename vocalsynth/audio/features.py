"""`Features` and `extract_features`: the frame-aligned targets the acoustic model and vocoder train on."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from vocalsynth.audio.config import AudioConfig
from vocalsynth.audio.errors import AudioError
from vocalsynth.audio.mel import log_mel_and_energy
from vocalsynth.audio.pitch import interpolate_log_f0
from vocalsynth.audio.world import F0Method, analyze


@dataclass
class Features:
    """Frame-level features of one clip, all numpy float32 on the same ``T = n_samples // hop_length + 1`` frames.

    - ``mel``: ``(n_mels, T)`` natural-log mel magnitude (see :mod:`vocalsynth.audio.mel`).
    - ``f0_hz``: ``(T,)`` F0 in Hz, 0 where unvoiced.
    - ``vuv``: ``(T,)`` 1.0 voiced, 0.0 unvoiced.
    - ``log_f0``: ``(T,)`` natural-log F0 interpolated through unvoiced frames (training target).
    - ``energy``: ``(T,)`` frame RMS in dBFS, floor -100.
    - ``aperiodicity``: ``(n_aperiodicity_bands, T)`` WORLD D4C band aperiodicity in [0, 1] (breathiness).
    """

    mel: np.ndarray
    f0_hz: np.ndarray
    vuv: np.ndarray
    log_f0: np.ndarray
    energy: np.ndarray
    aperiodicity: np.ndarray

    def __post_init__(self) -> None:
        n = self.mel.shape[-1]
        for f in fields(self):
            value = getattr(self, f.name)
            if value.shape[-1] != n:
                raise ValueError(f"Features.{f.name} has {value.shape[-1]} frames but mel has {n}")

    @property
    def n_frames(self) -> int:
        return int(self.mel.shape[-1])

    def as_arrays(self) -> dict[str, np.ndarray]:
        """``{name: array}``, e.g. for ``np.savez`` in a feature cache."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def extract_features(samples: np.ndarray, config: AudioConfig, f0_method: F0Method = "harvest") -> Features:
    """All training features of mono ``(n,)`` audio already at ``config.sample_rate`` (see :func:`load_audio`).

    ``f0_method``: ``'harvest'`` (accurate, slow) or ``'dio'`` (DIO + StoneMask, fast fallback).
    """
    x = np.asarray(samples)
    if x.ndim != 1 or x.size == 0:
        raise AudioError(f"expected mono audio of shape (n,) with n > 0, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise AudioError("audio contains NaN or infinite samples")
    mel, energy = log_mel_and_energy(x, config)
    f0_hz, vuv, aperiodicity = analyze(x, config, f0_method)
    return Features(
        mel=mel.numpy(),
        f0_hz=f0_hz,
        vuv=vuv,
        log_f0=interpolate_log_f0(f0_hz, vuv),
        energy=energy.numpy(),
        aperiodicity=aperiodicity,
    )
