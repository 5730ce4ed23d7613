"""Log-mel spectrogram and frame energy in torch (batch-capable, differentiable), from one STFT convention.

Convention: ``torch.stft`` with a periodic Hann window of ``win_length``, ``center=True`` (reflect padding;
zero padding for inputs no longer than ``n_fft // 2``), so ``n`` samples give ``n // hop_length + 1``
frames and frame ``i`` is centred on sample ``i * hop_length``. The mel is
``log(clamp(mel_basis @ |STFT|, min=1e-5))`` (natural log of magnitude, not power), with librosa's
Slaney-style filterbank between ``fmin`` and ``fmax`` -- the HiFi-GAN/Vocos convention.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from vocalsynth.audio.config import AudioConfig
from vocalsynth.audio.errors import AudioError

LOG_CLAMP = 1e-5
ENERGY_FLOOR_DB = -100.0
# Keeps sqrt differentiable at exact zeros (digital silence) so losses don't produce NaN gradients.
_MAG_EPS = 1e-9


@functools.lru_cache(maxsize=16)
def _mel_basis(sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> torch.Tensor:
    # Imported here: librosa.filters pulls in numba, ~2 s on a small CPU, and only this needs it.
    from librosa.filters import mel

    basis = mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
    return torch.from_numpy(np.ascontiguousarray(basis, dtype=np.float32))


def mel_filterbank(config: AudioConfig) -> torch.Tensor:
    """The ``(n_mels, n_fft // 2 + 1)`` mel filterbank, computed once per setting and cached (don't modify it)."""
    return _mel_basis(config.sample_rate, config.n_fft, config.n_mels, config.fmin, config.fmax)


def _as_tensor(samples: torch.Tensor | np.ndarray) -> torch.Tensor:
    if isinstance(samples, torch.Tensor):
        return samples.float()
    return torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32))


def stft_power(
    samples: torch.Tensor | np.ndarray, config: AudioConfig, window: torch.Tensor | None = None
) -> torch.Tensor:
    """``|STFT|^2`` of ``(..., T)`` audio, shape ``(..., n_fft // 2 + 1, T // hop_length + 1)``."""
    x = _as_tensor(samples)
    if x.ndim == 0 or x.shape[-1] == 0:
        raise AudioError(f"need audio of shape (..., T) with T > 0, got {tuple(x.shape)}")
    lead, n = x.shape[:-1], x.shape[-1]
    if window is None:
        window = torch.hann_window(config.win_length, device=x.device)
    # reflect padding needs more samples than the pad; tiny inputs (< 22 ms) fall back to zeros.
    pad_mode = "reflect" if n > config.n_fft // 2 else "constant"
    spec = torch.stft(
        x.reshape(-1, n),
        n_fft=config.n_fft,
        hop_length=config.hop_length,
        win_length=config.win_length,
        window=window.to(device=x.device, dtype=x.dtype),
        center=True,
        pad_mode=pad_mode,
        return_complex=True,
    )
    power = spec.real.square() + spec.imag.square()
    return power.reshape(*lead, *power.shape[-2:])


def _log_mel_from_power(power: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    magnitude = torch.sqrt(power + _MAG_EPS)
    mel = torch.matmul(basis.to(device=power.device, dtype=power.dtype), magnitude)
    return torch.log(torch.clamp(mel, min=LOG_CLAMP))


def _energy_from_power(power: torch.Tensor, window: torch.Tensor, n_fft: int) -> torch.Tensor:
    # Parseval over the one-sided spectrum: sum_n (w x)^2 = (|X_0|^2 + 2 sum |X_k|^2 + |X_N/2|^2) / N.
    # Dividing by sum(w^2) gives the window-weighted mean square, i.e. RMS^2 of the frame.
    weights = torch.full((power.shape[-2], 1), 2.0, device=power.device, dtype=power.dtype)
    weights[0] = 1.0
    if n_fft % 2 == 0:
        weights[-1] = 1.0
    mean_square = (power * weights).sum(dim=-2) / (n_fft * window.square().sum())
    return 10.0 * torch.log10(torch.clamp(mean_square, min=10 ** (ENERGY_FLOOR_DB / 10)))


def log_mel(samples: torch.Tensor | np.ndarray, config: AudioConfig) -> torch.Tensor:
    """Log-mel of ``(..., T)`` audio -> ``(..., n_mels, T // hop_length + 1)`` float32 tensor."""
    x = _as_tensor(samples)
    return _log_mel_from_power(stft_power(x, config), mel_filterbank(config))


def frame_energy_db(samples: torch.Tensor | np.ndarray, config: AudioConfig) -> torch.Tensor:
    """Frame RMS in dBFS (Hann-weighted, floor -100 dB) of ``(..., T)`` audio -> ``(..., frames)``.

    A full-scale sine reads -3.01 dB; the frames are the mel's frames.
    """
    x = _as_tensor(samples)
    window = torch.hann_window(config.win_length, device=x.device)
    return _energy_from_power(stft_power(x, config, window), window, config.n_fft)


def log_mel_and_energy(
    samples: torch.Tensor | np.ndarray, config: AudioConfig
) -> tuple[torch.Tensor, torch.Tensor]:
    """Both :func:`log_mel` and :func:`frame_energy_db` from one STFT."""
    x = _as_tensor(samples)
    window = torch.hann_window(config.win_length, device=x.device)
    power = stft_power(x, config, window)
    return _log_mel_from_power(power, mel_filterbank(config)), _energy_from_power(power, window, config.n_fft)


class MelSpectrogram(torch.nn.Module):
    """Log-mel as a module (for losses and on-GPU feature extraction): ``(..., T) -> (..., n_mels, frames)``.

    The window and filterbank are non-persistent buffers: they follow ``.to(device)`` but stay out of
    ``state_dict``, so checkpoints hold only the :class:`AudioConfig` that rebuilds them.
    """

    def __init__(self, config: AudioConfig):
        super().__init__()
        self.config = config
        self.register_buffer("window", torch.hann_window(config.win_length), persistent=False)
        self.register_buffer("mel_basis", mel_filterbank(config).clone(), persistent=False)

    def forward(self, samples: torch.Tensor) -> torch.Tensor:
        return _log_mel_from_power(stft_power(samples, self.config, self.window), self.mel_basis)
