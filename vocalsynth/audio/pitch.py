"""Pitch units used across the project: Hz <-> MIDI note numbers <-> cents, and the log-F0 training curve.

Pure numpy (no torch, no pyworld), so score readers and metrics can import it cheaply.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

A4_HZ = 440.0
A4_MIDI = 69.0


def _out(result: np.ndarray, like: ArrayLike) -> float | np.ndarray:
    return float(result) if np.ndim(like) == 0 else result


def hz_to_midi(hz: ArrayLike) -> float | np.ndarray:
    """Fractional MIDI note number (A4 = 440 Hz = 69). Zero or negative Hz (unvoiced) gives NaN."""
    f = np.asarray(hz, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        midi = np.where(f > 0, A4_MIDI + 12.0 * np.log2(np.where(f > 0, f, 1.0) / A4_HZ), np.nan)
    return _out(midi, hz)


def midi_to_hz(midi: ArrayLike) -> float | np.ndarray:
    """Frequency in Hz of a (fractional) MIDI note number."""
    m = np.asarray(midi, dtype=np.float64)
    return _out(A4_HZ * np.power(2.0, (m - A4_MIDI) / 12.0), midi)


def cents(a_hz: ArrayLike, b_hz: ArrayLike) -> float | np.ndarray:
    """How far ``a_hz`` is above ``b_hz`` in cents (1200 * log2(a / b)); NaN where either is not positive."""
    a = np.asarray(a_hz, dtype=np.float64)
    b = np.asarray(b_hz, dtype=np.float64)
    ok = (a > 0) & (b > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        c = np.where(ok, 1200.0 * np.log2(np.where(ok, a, 1.0) / np.where(ok, b, 1.0)), np.nan)
    return float(c) if np.ndim(a_hz) == 0 and np.ndim(b_hz) == 0 else c


def interpolate_log_f0(
    f0_hz: ArrayLike, vuv: ArrayLike | None = None, *, fill_hz: float = 100.0
) -> np.ndarray:
    """Continuous natural-log F0 for training targets, shape ``(T,)`` float32.

    Unvoiced frames (``vuv == 0``, or ``f0_hz <= 0`` when ``vuv`` is None) are filled by linear
    interpolation of log-F0 between the voiced neighbours and held flat before the first and after
    the last voiced frame. With no voiced frame at all every value is ``log(fill_hz)``.
    Losses should still weight these filled frames by the V/UV mask.
    """
    f0 = np.asarray(f0_hz, dtype=np.float64).reshape(-1)
    voiced = f0 > 0 if vuv is None else (np.asarray(vuv).reshape(-1) > 0.5) & (f0 > 0)
    if not voiced.any():
        return np.full(f0.shape, np.log(fill_hz), dtype=np.float32)
    idx = np.arange(f0.size)
    return np.interp(idx, idx[voiced], np.log(f0[voiced])).astype(np.float32)
