"""Spectral helpers shared by the vocoders: log-mel -> smooth linear magnitude envelope on STFT bins."""

from __future__ import annotations

import functools

import numpy as np
import torch

from vocalsynth.audio.config import AudioConfig
from vocalsynth.audio.mel import mel_filterbank


@functools.lru_cache(maxsize=8)
def _envelope_matrix(config: AudioConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """``(W, log_band_width)``: ``W`` is ``(n_bins, n_mels)`` linear interpolation between band centres.

    A flat magnitude spectrum of value ``c`` gives mel band ``b`` the value ``c * sum_k M[b, k]``, so
    ``mel_b - log(sum_k M[b, k])`` is the band's mean magnitude in log; interpolating those means at the band
    centroids across the STFT bins gives a positive, smooth envelope that is exact for a flat spectrum.
    This is the "pseudo-inverse, smoothed" of the filterbank without the negative ripple of ``pinv``.
    """
    basis = mel_filterbank(config).double().numpy()  # (n_mels, n_bins)
    n_bins = basis.shape[1]
    freqs = np.arange(n_bins) * config.sample_rate / config.n_fft
    width = basis.sum(axis=1)
    # a band narrower than a bin can come out empty; give it its neighbours' width rather than log(0)
    width = np.where(width > 0, width, np.maximum(width.max() * 1e-6, 1e-12))
    centres = (basis * freqs).sum(axis=1) / np.maximum(basis.sum(axis=1), 1e-12)
    order = np.argsort(centres)
    centres = centres[order]
    w = np.zeros((n_bins, basis.shape[0]))
    for k, f in enumerate(freqs):
        j = int(np.searchsorted(centres, f))
        if j == 0:
            w[k, order[0]] = 1.0
        elif j >= len(centres):
            w[k, order[-1]] = 1.0
        else:
            t = (f - centres[j - 1]) / max(centres[j] - centres[j - 1], 1e-9)
            w[k, order[j - 1]] = 1.0 - t
            w[k, order[j]] = t
    return torch.from_numpy(w).float(), torch.from_numpy(np.log(width)).float()


def mel_to_log_envelope(mel: torch.Tensor, config: AudioConfig) -> torch.Tensor:
    """Natural-log linear magnitude envelope ``(..., n_fft // 2 + 1, T)`` of a log-mel ``(..., n_mels, T)``.

    The mel is the :func:`vocalsynth.audio.log_mel` convention (log of filterbank @ |STFT|), so the result
    is in the same units as ``log |STFT|``: for a stationary flat spectrum it reproduces it exactly; for
    a harmonic sound it is the mean magnitude across each band (harmonic peaks and the gaps between them).
    """
    w, log_width = _envelope_matrix(config)
    w = w.to(device=mel.device, dtype=mel.dtype)
    band = mel - log_width.to(device=mel.device, dtype=mel.dtype)[:, None]
    return torch.matmul(w, band)


def envelope_matrix(config: AudioConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """The cached ``(W (n_bins, n_mels), log_band_width (n_mels,))`` behind :func:`mel_to_log_envelope`."""
    return _envelope_matrix(config)
