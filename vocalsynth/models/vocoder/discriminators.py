"""Small discriminators for optional adversarial fine-tuning: multi-period (HiFi-GAN MPD) and
multi-resolution spectrogram (UnivNet/Vocos MRD), with narrow channels so a CPU step stays affordable."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

Scores = list[torch.Tensor]
Features = list[list[torch.Tensor]]


class PeriodDiscriminator(nn.Module):
    """Audio ``(B, N)`` folded into ``(B, 1, N / p, p)`` and scored by 2-D convs along time (HiFi-GAN)."""

    def __init__(self, period: int, channels: Sequence[int] = (16, 32, 64, 128)):
        super().__init__()
        self.period = period
        layers, c_in = [], 1
        for c in channels:
            layers.append(weight_norm(nn.Conv2d(c_in, c, (5, 1), (3, 1), padding=(2, 0))))
            c_in = c
        layers.append(weight_norm(nn.Conv2d(c_in, c_in, (5, 1), 1, padding=(2, 0))))
        self.convs = nn.ModuleList(layers)
        self.out = weight_norm(nn.Conv2d(c_in, 1, (3, 1), 1, padding=(1, 0)))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        b, n = x.shape
        if n % self.period:
            x = F.pad(x, (0, self.period - n % self.period), mode="reflect")
        x = x.view(b, 1, -1, self.period)
        features = []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), 0.1)
            features.append(x)
        x = self.out(x)
        features.append(x)
        return x.flatten(1), features


class ResolutionDiscriminator(nn.Module):
    """Log-magnitude STFT ``(B, 1, frames, bins)`` of ``(B, N)`` audio scored by 2-D convs (UnivNet MRD)."""

    def __init__(self, n_fft: int, hop_length: int, channels: int = 16):
        super().__init__()
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        self.convs = nn.ModuleList(
            [
                weight_norm(nn.Conv2d(1, channels, (3, 9), padding=(1, 4))),
                weight_norm(nn.Conv2d(channels, channels, (3, 9), stride=(1, 2), padding=(1, 4))),
                weight_norm(nn.Conv2d(channels, channels, (3, 9), stride=(1, 2), padding=(1, 4))),
                weight_norm(nn.Conv2d(channels, channels, (3, 3), padding=(1, 1))),
            ]
        )
        self.out = weight_norm(nn.Conv2d(channels, 1, (3, 3), padding=(1, 1)))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        spec = torch.stft(
            x, self.n_fft, self.hop_length, window=self.window, center=True, return_complex=True
        )
        mag = torch.log(torch.sqrt(spec.real.square() + spec.imag.square() + 1e-9).clamp(min=1e-5))
        h = mag.transpose(1, 2)[:, None]
        features = []
        for conv in self.convs:
            h = F.leaky_relu(conv(h), 0.1)
            features.append(h)
        h = self.out(h)
        features.append(h)
        return h.flatten(1), features


class Discriminators(nn.Module):
    """MPD (``periods``) + MRD (``resolutions``); ``forward(audio (B, N)) -> (scores, features)`` per sub-discriminator."""

    def __init__(
        self,
        periods: Sequence[int] = (2, 3, 5, 7, 11),
        resolutions: Sequence[Sequence[int]] = ((512, 128), (1024, 256), (2048, 512)),
        mpd_channels: Sequence[int] = (16, 32, 64, 128),
        mrd_channels: int = 16,
    ):
        super().__init__()
        self.discriminators = nn.ModuleList(
            [PeriodDiscriminator(p, mpd_channels) for p in periods]
            + [ResolutionDiscriminator(int(n), int(h), mrd_channels) for n, h in resolutions]
        )

    def forward(self, x: torch.Tensor) -> tuple[Scores, Features]:
        scores, features = [], []
        for d in self.discriminators:
            s, f = d(x)
            scores.append(s)
            features.append(f)
        return scores, features
