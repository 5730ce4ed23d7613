"""F0, voicing and band aperiodicity (breathiness) with WORLD (pyworld), on the mel's frame grid.

Frame ``i`` is analysed at time ``i * hop_length / sample_rate``, the centre of mel frame ``i``.
Voicing comes from D4C, as WORLD's author recommends: Harvest deliberately gives an F0 to almost every
frame (mmorise/World#35, #105), and D4C marks a frame unvoiced by setting its aperiodicity to 1.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pyworld

from vocalsynth.audio.config import AudioConfig
from vocalsynth.audio.errors import AudioError

F0Method = Literal["harvest", "dio"]
F0_METHODS = ("harvest", "dio")


def _check_samples(samples: np.ndarray) -> np.ndarray:
    x = np.asarray(samples)
    if x.ndim != 1 or x.size == 0:
        raise AudioError(f"expected mono audio of shape (n,) with n > 0, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise AudioError(
            "audio contains NaN or infinite samples",
            where=f"sample {int(np.argwhere(~np.isfinite(x))[0][0])}",
        )
    # pyworld wants C-contiguous float64
    return np.ascontiguousarray(x, dtype=np.float64)


def _fit(values: np.ndarray, n_frames: int) -> np.ndarray:
    """Trim or edge-pad WORLD's frame axis to the mel's frame count (they differ by float rounding only)."""
    if values.shape[0] == n_frames:
        return values
    if abs(values.shape[0] - n_frames) > 2:
        raise RuntimeError(f"WORLD returned {values.shape[0]} frames where {n_frames} were expected")
    if values.shape[0] > n_frames:
        return values[:n_frames]
    pad = [(0, n_frames - values.shape[0])] + [(0, 0)] * (values.ndim - 1)
    return np.pad(values, pad, mode="edge")


def frame_times(n_frames: int, config: AudioConfig) -> np.ndarray:
    """Centre of each frame in seconds, ``(T,)`` float64."""
    return np.arange(n_frames, dtype=np.float64) * config.hop_length / config.sample_rate


def raw_f0(samples: np.ndarray, config: AudioConfig, method: F0Method = "harvest") -> np.ndarray:
    """F0 in Hz per frame from Harvest (accurate, slow) or DIO + StoneMask (fast), ``(T,)`` float64.

    Zero marks frames the tracker itself found unvoiced; no D4C voicing check yet (see :func:`analyze`).
    """
    x = _check_samples(samples)
    n_frames = config.n_frames(x.size)
    fs = config.sample_rate
    kw = dict(f0_floor=config.f0_min, f0_ceil=config.f0_max, frame_period=config.frame_period_ms)
    if method == "harvest":
        f0, _ = pyworld.harvest(x, fs, **kw)
        f0 = _fit(f0, n_frames)
    elif method == "dio":
        f0, _ = pyworld.dio(x, fs, **kw)
        f0 = pyworld.stonemask(x, _fit(f0, n_frames), frame_times(n_frames, config), fs)
    else:
        raise AudioError(f"unknown F0 method {method!r}; choose one of {', '.join(F0_METHODS)}")
    # StoneMask refinement can step outside the search range; such values are not trustworthy.
    f0 = np.where((f0 >= config.f0_min) & (f0 <= config.f0_max), f0, 0.0)
    return f0


def aperiodicity_band_edges(config: AudioConfig) -> np.ndarray:
    """``n_aperiodicity_bands + 1`` edges in Hz, evenly spaced on the mel scale from 0 to ``fmax``."""
    # the Slaney mel scale as librosa.mel_frequencies(htk=False) uses, written out to avoid importing librosa
    f_sp, min_log_hz, logstep = 200.0 / 3, 1000.0, np.log(6.4) / 27.0
    min_log_mel = min_log_hz / f_sp

    def to_mel(hz: float) -> float:
        return hz / f_sp if hz < min_log_hz else min_log_mel + np.log(hz / min_log_hz) / logstep

    mels = np.linspace(0.0, to_mel(config.fmax), config.n_aperiodicity_bands + 1)
    return np.where(mels < min_log_mel, mels * f_sp, min_log_hz * np.exp(logstep * (mels - min_log_mel)))


def band_aperiodicity(aperiodicity: np.ndarray, config: AudioConfig) -> np.ndarray:
    """Average WORLD aperiodicity ``(T, fft_size // 2 + 1)`` into bands -> ``(n_aperiodicity_bands, T)``.

    Values are linear power ratios in [0, 1]: near 0 is a clean harmonic band, 1 is noise (unvoiced frames
    are all 1). Higher values in voiced frames mean a breathier voice.
    """
    n_bins = aperiodicity.shape[1]
    freqs = np.arange(n_bins) * (config.sample_rate / (2 * (n_bins - 1)))
    edges = aperiodicity_band_edges(config)
    out = np.empty((len(edges) - 1, aperiodicity.shape[0]), dtype=np.float32)
    for b in range(len(edges) - 1):
        lo, hi = edges[b], edges[b + 1]
        # half-open bands, the last one closed so the Nyquist bin counts
        in_band = (freqs >= lo) & ((freqs < hi) if b < len(edges) - 2 else (freqs <= hi))
        if not in_band.any():  # a band narrower than one bin: take the nearest bin
            in_band = np.abs(freqs - (lo + hi) / 2) == np.abs(freqs - (lo + hi) / 2).min()
        out[b] = aperiodicity[:, in_band].mean(axis=1)
    return out


def analyze(
    samples: np.ndarray, config: AudioConfig, method: F0Method = "harvest"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """F0, voicing and band aperiodicity in one pass.

    Returns ``f0_hz`` ``(T,)`` float32 (0 where unvoiced), ``vuv`` ``(T,)`` float32 (1 voiced, 0 not) and
    ``aperiodicity`` ``(n_aperiodicity_bands, T)`` float32, with ``T = len(samples) // hop_length + 1``.
    """
    x = _check_samples(samples)
    f0 = raw_f0(x, config, method)
    times = frame_times(f0.size, config)
    fft_size = pyworld.get_cheaptrick_fft_size(config.sample_rate, config.f0_min)
    ap = pyworld.d4c(x, f0, times, config.sample_rate, fft_size=fft_size)
    # D4C pins the 0 Hz aperiodicity of a voiced frame to -60 dB (0.001) and sets every bin of a frame it
    # judges unvoiced to ~1, so bin 0 is the voicing decision.
    voiced = (f0 > 0) & (ap[:, 0] < 0.5)
    f0 = np.where(voiced, f0, 0.0)
    return f0.astype(np.float32), voiced.astype(np.float32), band_aperiodicity(ap, config)


def extract_f0(
    samples: np.ndarray, config: AudioConfig, method: F0Method = "harvest"
) -> tuple[np.ndarray, np.ndarray]:
    """``(f0_hz, vuv)``, each ``(T,)`` float32, with D4C's voicing decision applied (see :func:`analyze`)."""
    f0, vuv, _ = analyze(samples, config, method)
    return f0, vuv
