"""A score-informed F0 tracker: the F0 of a stretch of audio where its pitch is expected, searched only near it.

Where the pitch should be is known (a written note), so there is no octave to guess and no whole-song search:
each stretch is read on a signal decimated just enough for its highest expected pitch, and in each 10 ms frame
the normalized cross-correlation (NCCF, as in RAPT) is searched only over the lags within ``search_cents`` of
the expected F0. A frame is voiced where the best NCCF reaches ``threshold`` and the frame is not silent. It
measures the audio (not a model's F0 curve) at a small fraction of WORLD Harvest's cost; the conformance report
checks it against Harvest (``vocalsynth.synthesis.conformance``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

SEARCH_CENTS = 600.0  # half an octave each way: a sub- or super-octave (±1200 c) can never be picked
THRESHOLD = 0.5  # NCCF a voiced frame reaches (a periodic frame is near 1, noise near 0)
SILENCE_DB = -50.0  # a frame this far below the loudest frame is silent, whatever its NCCF
OCTAVE_MARGIN = 0.05  # NCCF a multiple of the period may lose and still be taken as the period
MIN_LAG = 20  # samples per period at the highest pitch searched, for sub-cent parabolic refinement


@dataclass
class Stretch:
    """Where to look: ``start``/``end`` in seconds of the signal and the ``expected_hz`` there."""

    start: float
    end: float
    expected_hz: float


def decimation_rate(sample_rate: int, highest_hz: float) -> int:
    """The lowest rate (a multiple of 1 kHz, at least 4 kHz) that keeps ``MIN_LAG`` samples in a period of
    ``highest_hz``; ``sample_rate`` itself where that saves less than a quarter (resampling would cost more than
    it saves)."""
    wanted = max(int(math.ceil(MIN_LAG * highest_hz / 1000.0)) * 1000, 4000)
    return int(sample_rate if wanted > 0.75 * sample_rate else wanted)


def track_near(
    samples: np.ndarray,
    sample_rate: int,
    stretches: Sequence[Stretch],
    *,
    frame_period: float = 0.01,
    search_cents: float = SEARCH_CENTS,
    threshold: float = THRESHOLD,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Track F0 in each stretch of ``samples`` (mono) near its expected pitch.

    Returns, per stretch, ``(f0_hz, voiced)``: one value per frame centred every ``frame_period`` seconds
    from the stretch's start through its end (at least one frame, the centre, for a stretch shorter than a
    frame); ``f0_hz`` is 0 where ``voiced`` is False.
    """
    x = np.asarray(samples, dtype=np.float64).reshape(-1)
    if not stretches:
        return []
    for s in stretches:
        if not (s.expected_hz > 0 and math.isfinite(s.expected_hz)):
            raise ValueError(f"expected_hz must be a positive frequency, got {s.expected_hz!r}")
    ratio = 2.0 ** (search_cents / 1200.0)
    rate = decimation_rate(sample_rate, max(s.expected_hz for s in stretches) * ratio)
    if rate < sample_rate:
        import soxr

        x = soxr.resample(x, sample_rate, rate, quality="HQ")
    peak = _frame_peak_energy(x, rate)
    floor = peak * 10.0 ** (SILENCE_DB / 10.0)
    # frames that run past either end of the signal read zeros: pad once for the longest frame searched
    pad = 3 * (int(math.ceil(rate / (min(s.expected_hz for s in stretches) / ratio))) + 1)
    padded = np.concatenate([np.zeros(pad), x, np.zeros(pad)])
    return [_track_stretch(padded, pad, rate, s, frame_period, ratio, threshold, floor) for s in stretches]


def _frame_peak_energy(x: np.ndarray, rate: int) -> float:
    """Mean-square energy of the loudest 20 ms block: the reference the silence floor is set from."""
    n = max(1, int(0.02 * rate))
    usable = (x.size // n) * n
    if usable == 0:
        return float(np.mean(x**2)) if x.size else 0.0
    return float(np.max(np.mean(x[:usable].reshape(-1, n) ** 2, axis=1)))


def _track_stretch(
    padded: np.ndarray,
    pad: int,
    rate: int,
    s: Stretch,
    frame_period: float,
    ratio: float,
    threshold: float,
    floor: float,
) -> tuple[np.ndarray, np.ndarray]:
    lag_min = max(2, int(math.floor(rate / (s.expected_hz * ratio))))
    lag_max = int(math.ceil(rate / (s.expected_hz / ratio))) + 1
    window = 2 * lag_max  # two of the longest periods searched
    reach = 2 * lag_max + 2  # lags read: the band, and twice it for the octave check
    if s.end - s.start < frame_period:
        centres = np.array([(s.start + s.end) / 2])
    else:
        centres = np.arange(s.start, s.end + 1e-9, frame_period)
    starts = np.round(centres * rate).astype(np.int64) - window // 2
    span = window + reach
    idx = starts[:, None] + pad + np.arange(span)[None, :]  # frames as rows of one block
    idx = np.clip(idx, 0, padded.size - 1)
    block = padded[idx]
    block = block - block[:, :window].mean(axis=1, keepdims=True)
    head = block[:, :window]
    n_fft = 1 << int(math.ceil(math.log2(span + window)))
    corr = np.fft.irfft(np.conj(np.fft.rfft(head, n_fft)) * np.fft.rfft(block, n_fft), n_fft)[:, :reach]
    sq = np.concatenate([np.zeros((block.shape[0], 1)), np.cumsum(block**2, axis=1)], axis=1)
    lags = np.arange(reach)
    e0 = sq[:, window]
    e_lag = sq[:, np.minimum(lags + window, span)] - sq[:, np.minimum(lags, span)]
    with np.errstate(divide="ignore", invalid="ignore"):
        nccf = corr / np.sqrt(np.maximum(e0[:, None] * e_lag, 1e-30))
    band = nccf[:, lag_min : lag_max + 1]
    best = np.argmax(band, axis=1)
    value = band[np.arange(band.shape[0]), best]
    lag = (best + lag_min).astype(np.float64)
    # parabolic refinement on the NCCF around the best lag
    rows = np.arange(nccf.shape[0])
    li = (best + lag_min).clip(1, lag_max)
    a, b, c = nccf[rows, li - 1], nccf[rows, li], nccf[rows, li + 1]
    denom = a - 2 * b + c
    with np.errstate(divide="ignore", invalid="ignore"):
        shift = np.where(np.abs(denom) > 1e-12, 0.5 * (a - c) / denom, 0.0)
    lag = np.where(np.abs(shift) < 1, li + shift, lag)
    lag, value = _true_period(nccf, lag, value)
    voiced = (value >= threshold) & (e0 / window >= floor)
    f0 = np.where(voiced, rate / lag, 0.0)
    return f0, voiced


def _true_period(nccf: np.ndarray, lag: np.ndarray, value: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Guard the narrow search against a voice sung an octave or more above the note, which is periodic at a
    fraction of the lag found (a voice an octave below usually reads as unvoiced: its odd harmonics cancel the
    correlation at the note's period; the report counts it a failure either way). Among ``lag / 3``, ``lag / 2``,
    ``lag`` and ``2 * lag``, the shortest whose NCCF comes within ``OCTAVE_MARGIN`` of the best is the period
    (the usual rule of pitch trackers: a true period's multiples correlate about as well as it does)."""
    rows = np.arange(nccf.shape[0])
    top = nccf.shape[1] - 2

    def at(lags: np.ndarray) -> np.ndarray:  # the best NCCF within a sample of each lag
        centre = np.clip(np.round(lags).astype(np.int64), 1, top)
        return np.max(np.stack([nccf[rows, centre + d] for d in (-1, 0, 1)]), axis=0)

    factors = (1 / 3, 1 / 2, 1.0)
    values = np.stack([value if f == 1.0 else at(lag * f) for f in factors])
    ok = np.stack([(lag * f >= 2) for f in factors])
    values = np.where(ok, values, -np.inf)
    best = values.max(axis=0)
    chosen = np.argmax(values >= best - OCTAVE_MARGIN, axis=0)  # the first (shortest lag) that qualifies
    scale = np.array(factors)[chosen]
    return lag * scale, values[chosen, rows]
