"""Loudness: ITU-R BS.1770-4 integrated loudness (K-weighting, 400 ms blocks, absolute -70 LUFS and relative
-10 LU gates), written out with scipy, and normalisation to a target. The learned judges here (DNSMOS, and
PESTO's voicing confidence) read absolute level, so every signal meets them at the same loudness."""

from __future__ import annotations

import math

import numpy as np

from vocalsynth.errors import InputError

TARGET_LUFS = -23.0  # EBU R 128


class LoudnessError(InputError):
    """Audio whose loudness can't be measured or normalised (silent)."""


def _k_weighting(fs: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """BS.1770's two K-weighting biquads designed for any rate (libebur128's analog prototypes); at 48 kHz they
    reproduce the standard's coefficients."""
    out = []
    # the high-frequency shelf (+4 dB above ~1.7 kHz)
    k = math.tan(math.pi * 1681.974450955533 / fs)
    q, vh = 0.7071752369554196, 10 ** (3.999843853973347 / 20)
    vb = vh**0.4996667741545416
    a0 = 1 + k / q + k * k
    b = np.array([(vh + vb * k / q + k * k), 2 * (k * k - vh), (vh - vb * k / q + k * k)]) / a0
    a = np.array([a0, 2 * (k * k - 1), 1 - k / q + k * k]) / a0
    out.append((b, a))
    # the RLB high-pass (~38 Hz)
    k = math.tan(math.pi * 38.13547087602444 / fs)
    q = 0.5003270373238773
    a0 = 1 + k / q + k * k
    out.append((np.array([1.0, -2.0, 1.0]), np.array([a0, 2 * (k * k - 1), 1 - k / q + k * k]) / a0))
    return out


def integrated_loudness(samples: np.ndarray, sample_rate: int) -> float:
    """BS.1770-4 integrated loudness of mono audio in LUFS; ``-inf`` when every block is below -70 LUFS."""
    from scipy.signal import lfilter

    x = np.asarray(samples, dtype=np.float64)
    for b, a in _k_weighting(int(sample_rate)):
        x = lfilter(b, a, x)
    block, hop = int(0.4 * sample_rate), int(0.1 * sample_rate)
    if x.size < block:
        x = np.pad(x, (0, block - x.size))
    starts = np.arange(0, x.size - block + 1, hop)
    z = np.array([np.mean(x[s : s + block] ** 2) for s in starts])
    with np.errstate(divide="ignore"):
        lufs = -0.691 + 10 * np.log10(z)
    kept = z[lufs > -70.0]
    if kept.size == 0:
        return -math.inf
    relative = -0.691 + 10 * np.log10(kept.mean()) - 10.0
    kept = z[(lufs > -70.0) & (lufs > relative)]
    return float(-0.691 + 10 * np.log10(kept.mean()))


def normalise_loudness(samples: np.ndarray, sample_rate: int, target_lufs: float = TARGET_LUFS) -> np.ndarray:
    """``samples`` scaled to ``target_lufs`` (BS.1770), then down to a 0.99 peak if the gain would clip."""
    x = np.asarray(samples, dtype=np.float64)
    loudness = integrated_loudness(x, sample_rate)
    if not math.isfinite(loudness):
        raise LoudnessError("the audio is silent (below -70 LUFS): nothing to normalise")
    y = x * 10 ** ((target_lufs - loudness) / 20)
    peak = float(np.abs(y).max())
    return (y * (0.99 / peak) if peak > 0.99 else y).astype(np.float32)
