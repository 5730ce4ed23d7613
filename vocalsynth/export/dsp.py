"""Signal pieces written for ONNX export: an STFT/ISTFT as convolutions, the 24 -> 44.1 kHz polyphase
resampler, a fixed noise table and an unvoiced-frame fill without ``cummax`` (which ONNX lacks).

Each matches its torch counterpart (``torch.stft``/``torch.istft``, ``source.fill_unvoiced``) to float
rounding; ``tests/test_export_openutau.py`` checks that.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

NOISE_SECONDS = 5.5  # length of the excitation noise table; longer phrases repeat it
NOISE_SEED = 20


def noise_table(sample_rate: int, seed: int = NOISE_SEED) -> torch.Tensor:
    """``(L,)`` float32 white Gaussian noise, the same for every export of a voice (seeded)."""
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(int(NOISE_SECONDS * sample_rate), generator=gen)


def tiled_noise(table: torch.Tensor, n: torch.Tensor | int) -> torch.Tensor:
    """The first ``n`` samples of ``table`` repeated: ``(n,)``."""
    idx = torch.arange(n, device=table.device) % table.shape[0]
    return table[idx]


def fill_unvoiced(f0_hz: torch.Tensor) -> torch.Tensor:
    """:func:`vocalsynth.models.vocoder.source.fill_unvoiced` for one row ``(1, T)``, without ``cummax``:
    each unvoiced frame holds the last voiced value before it (the first voiced value before the first;
    0 when none is voiced)."""
    f = f0_hz[0]
    voiced = f > 0
    count = torch.cumsum(voiced.long(), 0)  # voiced frames up to and including t
    pos = torch.nonzero(voiced).flatten()  # (V,) indices of the voiced frames
    # a zero in front keeps the gather valid when no frame is voiced (every frame then reads f[0] == 0)
    pos = torch.cat([pos[:1], pos, torch.zeros(1, dtype=pos.dtype, device=pos.device)])
    last = pos[count]  # before the first voiced frame count is 0 -> pos[0], the first voiced frame
    return f[last].clamp(min=0)[None]


class ConvSTFT(nn.Module):
    """``torch.stft(center=True, reflect)`` with a Hann window as one strided convolution.

    ``(B, N)`` -> real and imaginary parts, each ``(B, n_fft // 2 + 1, N // hop + 1)``.
    """

    def __init__(self, n_fft: int, hop: int, window: torch.Tensor):
        super().__init__()
        self.n_fft, self.hop = n_fft, hop
        n = torch.arange(n_fft, dtype=torch.float64)
        k = torch.arange(n_fft // 2 + 1, dtype=torch.float64)
        angle = 2 * math.pi * k[:, None] * n[None, :] / n_fft
        w = _padded_window(window, n_fft).double()
        weight = torch.cat([torch.cos(angle) * w, -torch.sin(angle) * w])[:, None, :]
        self.register_buffer("weight", weight.float(), persistent=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pad = self.n_fft // 2
        x = F.pad(x[:, None, :], (pad, pad), mode="reflect")
        spec = F.conv1d(x, self.weight, stride=self.hop)
        bins = self.n_fft // 2 + 1
        return spec[:, :bins], spec[:, bins:]


class ConvISTFT(nn.Module):
    """``torch.istft(center=True, length=...)`` with a Hann window as one transposed convolution
    (inverse real DFT of each frame, windowed, overlap-added, divided by the summed squared window)."""

    def __init__(self, n_fft: int, hop: int, window: torch.Tensor):
        super().__init__()
        self.n_fft, self.hop = n_fft, hop
        bins = n_fft // 2 + 1
        n = torch.arange(n_fft, dtype=torch.float64)
        k = torch.arange(bins, dtype=torch.float64)
        angle = 2 * math.pi * k[:, None] * n[None, :] / n_fft
        scale = torch.full((bins, 1), 2.0 / n_fft, dtype=torch.float64)
        scale[0] = 1.0 / n_fft
        if n_fft % 2 == 0:
            scale[-1] = 1.0 / n_fft
        w = _padded_window(window, n_fft).double()
        sin = torch.sin(angle)
        sin[0] = 0.0  # irfft ignores the imaginary part of the DC and Nyquist bins
        if n_fft % 2 == 0:
            sin[-1] = 0.0
        weight = torch.cat([scale * torch.cos(angle) * w, -scale * sin * w])[:, None, :]
        self.register_buffer("weight", weight.float(), persistent=False)
        self.register_buffer("wsq", (w**2).float()[None, None, :], persistent=False)

    def forward(self, real: torch.Tensor, imag: torch.Tensor, length: torch.Tensor | int) -> torch.Tensor:
        frames = F.conv_transpose1d(torch.cat([real, imag], dim=1), self.weight, stride=self.hop)
        ones = torch.ones_like(real[:1, :1])
        env = F.conv_transpose1d(ones, self.wsq, stride=self.hop)
        y = frames / torch.where(env > 1e-11, env, torch.ones_like(env))
        pad = self.n_fft // 2
        return y[:, 0, pad : pad + length]


def _padded_window(window: torch.Tensor, n_fft: int) -> torch.Tensor:
    left = (n_fft - window.shape[0]) // 2
    return F.pad(window, (left, n_fft - window.shape[0] - left))


class PolyphaseResampler(nn.Module):
    """Resample by ``up / down`` (e.g. 147 / 80 for 24 -> 44.1 kHz) as one strided convolution with ``up``
    output channels, one per phase of a Kaiser-windowed sinc low-pass (cut at ``rolloff`` of the lower
    Nyquist frequency, ``half_width`` zero crossings each side). ``(B, N)`` -> ``(B, N * up // down)`` for
    ``N`` a multiple of ``down``."""

    def __init__(self, up: int, down: int, half_width: int = 16, rolloff: float = 0.95, beta: float = 8.0):
        super().__init__()
        g = math.gcd(up, down)
        self.up, self.down = up // g, down // g
        cutoff = rolloff * min(1.0, self.up / self.down)  # in cycles per input sample * 2
        width = int(math.ceil(half_width / cutoff))  # input samples each side
        self.width = width
        taps = np.arange(-width, self.down + width)  # input offsets i: x[down * q + i]
        phases = np.arange(self.up) * self.down / self.up  # fractional input position of each output phase
        tau = phases[:, None] - taps[None, :]
        window = np.where(
            np.abs(tau) < width,
            np.i0(beta * np.sqrt(np.clip(1 - (tau / width) ** 2, 0, 1))) / np.i0(beta),
            0.0,
        )
        h = cutoff * np.sinc(cutoff * tau) * window
        self.register_buffer("weight", torch.from_numpy(h[:, None, :].copy()).float(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # out[p, q] = sum_i h_p[i] x[down*q + i], i in [-width, down + width): conv1d correlates, and input
        # sample i sits at i + width in the padded signal, so the taps go in increasing i order
        y = F.conv1d(
            F.pad(x[:, None, :], (self.width, self.width + self.down)), self.weight, stride=self.down
        )
        n_out = x.shape[-1] // self.down
        y = y[:, :, :n_out]
        return y.transpose(1, 2).reshape(x.shape[0], -1)
