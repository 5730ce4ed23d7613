"""Mel-cepstra from WORLD's spectral envelope, and dynamic time warping between two performances.

- :func:`mel_cepstrum`: SPTK's ``sp2mc`` without pysptk (which imports ``pkg_resources`` and fails here): the
  real cepstrum of the log power spectrum (``c0`` halved) warped by ``freqt`` with the all-pass constant of
  :func:`mcep_alpha` (0.466 at 24 kHz). :func:`world_mcep` runs it on CheapTrick envelopes.
- :func:`dtw`: the cheapest monotonic path between two feature sequences (steps (1,1), (1,0), (0,1), equal
  weights, optional Sakoe-Chiba band), in numpy, anti-diagonal by anti-diagonal (librosa's DTW needs a
  ~45 s numba compilation on first use).
- :func:`mcd_db`: mel-cepstral distortion ``10 / ln 10 * sqrt(2 * sum_{d>=1} (mc_d - mc'_d)^2)`` per frame pair.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from vocalsynth.audio.config import AudioConfig

MCEP_ORDER = 34
ACTIVE_RANGE_DB = 40.0  # a frame is active when its energy is within this of the loudest frame's
MCD_SCALE = 10.0 / math.log(10.0) * math.sqrt(2.0)


# ---- mel-cepstrum ------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=16)
def mcep_alpha(sample_rate: int) -> float:
    """All-pass constant whose frequency warping best fits the mel scale ``log(1 + f / 1 kHz)`` up to the
    Nyquist frequency (RMS over 1000 points, 0.001 steps), as pysptk's ``mcepalpha``: 0.41 at 16 kHz,
    0.455 at 22.05 kHz, 0.466 at 24 kHz, 0.554 at 48 kHz."""
    n = 1000
    mel = np.log1p(np.arange(n) * (sample_rate / 2000.0) / n)
    mel /= mel[-1]
    omega = np.arange(n) * np.pi / n
    best, best_d = 0.0, math.inf
    for alpha in np.arange(0.0, 1.0, 0.001):
        with np.errstate(divide="ignore", invalid="ignore"):
            warped = np.arctan((1 - alpha**2) * np.sin(omega) / ((1 + alpha**2) * np.cos(omega) - 2 * alpha))
        warped = np.where(warped < 0, warped + np.pi, warped)
        warped = warped / warped[-1]
        d = float(np.sqrt(np.mean((mel - warped) ** 2)))
        if d < best_d:
            best, best_d = float(alpha), d
    return round(best, 3)


@functools.lru_cache(maxsize=8)
def _freqt_matrix(n_in: int, order: int, alpha: float) -> np.ndarray:
    """``freqt`` is linear: the ``(n_in, order + 1)`` matrix mapping a cepstrum to its warped version."""
    c = np.eye(n_in)
    g = np.zeros((n_in, order + 1))
    beta = 1 - alpha * alpha
    for i in range(n_in - 1, -1, -1):  # SPTK freqt recursion, run on all basis vectors at once
        d = g.copy()
        g[:, 0] = c[:, i] + alpha * d[:, 0]
        if order >= 1:
            g[:, 1] = beta * d[:, 0] + alpha * d[:, 1]
        for j in range(2, order + 1):
            g[:, j] = d[:, j - 1] + alpha * (d[:, j] - g[:, j - 1])
    return g


def mel_cepstrum(power_spectrum: np.ndarray, order: int = MCEP_ORDER, alpha: float = 0.466) -> np.ndarray:
    """``(T, fft // 2 + 1)`` power spectra (e.g. CheapTrick) -> ``(T, order + 1)`` mel-cepstra (SPTK sp2mc)."""
    c = np.fft.irfft(np.log(np.maximum(power_spectrum, 1e-30)), axis=1)
    c[:, 0] /= 2.0
    n_in = power_spectrum.shape[1]  # the causal half of the cepstrum, as sp2mc keeps
    return c[:, :n_in] @ _freqt_matrix(n_in, order, float(alpha))


def world_mcep(
    samples: np.ndarray, config: AudioConfig, f0_hz: np.ndarray, order: int = MCEP_ORDER
) -> np.ndarray:
    """``(T, order + 1)`` mel-cepstra of CheapTrick's envelope of mono ``samples`` analysed with ``f0_hz``
    ``(T,)`` (Hz on the config's frame grid, 0 where unvoiced)."""
    import pyworld

    from vocalsynth.audio.world import frame_times
    from vocalsynth.models.vocoder.world import fft_size

    x = np.ascontiguousarray(samples, dtype=np.float64)
    f0 = np.ascontiguousarray(f0_hz, dtype=np.float64)
    sp = pyworld.cheaptrick(
        x,
        f0,
        frame_times(f0.size, config),
        config.sample_rate,
        f0_floor=config.f0_min,
        fft_size=fft_size(config),
    )
    return mel_cepstrum(sp, order, mcep_alpha(config.sample_rate))


def active_frames(samples: np.ndarray, config: AudioConfig, n_frames: int | None = None) -> np.ndarray:
    """``(T,)`` bool: frames whose energy is within ``ACTIVE_RANGE_DB`` of the loudest frame's."""
    from vocalsynth.audio.mel import frame_energy_db

    e = frame_energy_db(np.asarray(samples, dtype=np.float32), config).numpy()
    if n_frames is not None:
        e = e[:n_frames]
    return e > e.max() - ACTIVE_RANGE_DB


def mcd_db(mc_a: np.ndarray, mc_b: np.ndarray) -> np.ndarray:
    """Per-frame MCD in dB of two ``(T, order + 1)`` mel-cepstra paired frame by frame (``c0`` left out)."""
    diff = np.asarray(mc_a)[:, 1:] - np.asarray(mc_b)[:, 1:]
    return MCD_SCALE * np.sqrt(np.sum(diff**2, axis=1))


# ---- dynamic time warping ----------------------------------------------------------------------------------
@dataclass
class WarpPath:
    """A monotonic alignment of sequence ``a`` (length ``n_a``) with ``b``: index pairs ``(a[k], b[k])`` from
    ``(0, 0)`` to ``(n_a - 1, n_b - 1)``; ``cost`` is the summed local distance along it."""

    a: np.ndarray
    b: np.ndarray
    cost: float

    def __len__(self) -> int:
        return int(self.a.size)

    def map_a_to_b(self, index_a: np.ndarray | float) -> np.ndarray:
        """Fractional ``a`` indices -> ``b`` indices: the mean ``b`` matched to each ``a`` frame, interpolated."""
        n_a = int(self.a.max()) + 1
        mean_b = np.bincount(self.a, weights=self.b, minlength=n_a) / np.maximum(
            np.bincount(self.a, minlength=n_a), 1
        )
        return np.interp(np.asarray(index_a, dtype=np.float64), np.arange(n_a), mean_b)


def dtw(a: np.ndarray, b: np.ndarray, band: float | None = None) -> WarpPath:
    """Euclidean DTW of ``a`` ``(N, D)`` and ``b`` ``(M, D)`` with steps (1,1), (1,0), (0,1).

    ``band``: Sakoe-Chiba radius as a share of the longer sequence around the straight diagonal (None: no
    limit). Memory is ``O(N * M)``: about 9 bytes per cell, so 3000 x 3000 frames (30 s at 10 ms) take ~80 MB.
    """
    a = np.asarray(a, dtype=np.float32)
    b = np.asarray(b, dtype=np.float32)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or not len(a) or not len(b):
        raise ValueError(f"dtw needs (N, D) and (M, D) arrays with N, M > 0, got {a.shape} and {b.shape}")
    n, m = len(a), len(b)
    # pairwise distances from the squared norms, in float32 to halve the memory
    cost = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    cost = np.sqrt(np.maximum(cost, 0.0))
    if band is not None:
        radius = max(int(math.ceil(band * max(n, m))), abs(n - m) + 1)
        i = np.arange(n)[:, None] * ((m - 1) / max(n - 1, 1))
        cost[np.abs(np.arange(m)[None, :] - i) > radius] = np.inf
    acc = np.full((n, m), np.inf, dtype=np.float32)
    step = np.zeros((n, m), dtype=np.int8)  # 0 diagonal, 1 from (i-1, j), 2 from (i, j-1)
    acc[0, 0] = cost[0, 0]
    for d in range(1, n + m - 1):
        i = np.arange(max(0, d - m + 1), min(n - 1, d) + 1)
        j = d - i
        diag = np.where((i > 0) & (j > 0), acc[np.maximum(i - 1, 0), np.maximum(j - 1, 0)], np.inf)
        up = np.where(i > 0, acc[np.maximum(i - 1, 0), j], np.inf)
        left = np.where(j > 0, acc[i, np.maximum(j - 1, 0)], np.inf)
        choices = np.stack([diag, up, left])
        k = np.argmin(choices, axis=0)
        acc[i, j] = cost[i, j] + choices[k, np.arange(k.size)]
        step[i, j] = k
    if not np.isfinite(acc[-1, -1]):
        raise ValueError("no warping path inside the band; widen it")
    path = [(n - 1, m - 1)]
    i, j = n - 1, m - 1
    while i > 0 or j > 0:
        k = step[i, j]
        if k == 0:
            i, j = i - 1, j - 1
        elif k == 1:
            i -= 1
        else:
            j -= 1
        path.append((i, j))
    pa, pb = np.array(path[::-1]).T
    return WarpPath(pa.astype(np.int64), pb.astype(np.int64), float(acc[-1, -1]))
