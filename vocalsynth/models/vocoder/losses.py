"""Vocoder losses: multi-resolution STFT (spectral convergence + log magnitude), log-mel L1, and the
least-squares GAN and feature-matching losses for optional adversarial fine-tuning."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from vocalsynth.audio.config import AudioConfig
from vocalsynth.audio.mel import MelSpectrogram

# (n_fft, hop) per resolution at 24 kHz: 10.7 to 85 ms windows, each hop a quarter window
DEFAULT_RESOLUTIONS: tuple[tuple[int, int], ...] = ((256, 64), (512, 128), (1024, 256), (2048, 512))
_MAG_FLOOR = 1e-5


class STFTMagnitude(nn.Module):
    """``(B, N)`` audio -> ``(B, n_fft // 2 + 1, frames)`` STFT magnitude (Hann window of ``n_fft``)."""

    def __init__(self, n_fft: int, hop_length: int):
        super().__init__()
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spec = torch.stft(
            x, self.n_fft, self.hop_length, window=self.window, center=True, return_complex=True
        )
        # the epsilon keeps the gradient finite on digital silence
        return torch.sqrt(spec.real.square() + spec.imag.square() + 1e-9)


class MultiResolutionSTFTLoss(nn.Module):
    """Mean over resolutions of spectral convergence ``||S - S'||_F / ||S||_F`` and log-magnitude L1.

    ``forward(y_hat, y)`` with ``(B, N)`` audio returns ``(spectral_convergence, log_magnitude)``.
    """

    def __init__(self, resolutions: Sequence[Sequence[int]] = DEFAULT_RESOLUTIONS):
        super().__init__()
        self.stfts = nn.ModuleList([STFTMagnitude(int(n), int(h)) for n, h in resolutions])

    def forward(self, y_hat: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        sc = y_hat.new_zeros(())
        mag = y_hat.new_zeros(())
        for stft in self.stfts:
            s_hat, s = stft(y_hat), stft(y)
            sc = sc + torch.linalg.norm(s - s_hat) / torch.linalg.norm(s).clamp(min=1e-6)
            mag = mag + F.l1_loss(torch.log(s_hat.clamp(min=_MAG_FLOOR)), torch.log(s.clamp(min=_MAG_FLOOR)))
        n = len(self.stfts)
        return sc / n, mag / n

    def distance(self, y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Spectral convergence + log-magnitude L1, one number (the metric the benchmark reports)."""
        sc, mag = self(y_hat, y)
        return sc + mag


class MelLoss(nn.Module):
    """L1 between log-mels (the :class:`vocalsynth.audio.MelSpectrogram` of the AudioConfig) of ``(B, N)`` audio."""

    def __init__(self, audio_config: AudioConfig):
        super().__init__()
        self.mel = MelSpectrogram(audio_config)

    def forward(self, y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.l1_loss(self.mel(y_hat), self.mel(y))


def discriminator_loss(real: Sequence[torch.Tensor], fake: Sequence[torch.Tensor]) -> torch.Tensor:
    """Least-squares GAN loss for the discriminators: real scores towards 1, generated towards 0."""
    loss = real[0].new_zeros(())
    for r, f in zip(real, fake, strict=True):
        loss = loss + torch.mean((1 - r) ** 2) + torch.mean(f**2)
    return loss / len(real)


def generator_adversarial_loss(fake: Sequence[torch.Tensor]) -> torch.Tensor:
    """Least-squares GAN loss for the generator: its scores towards 1."""
    return sum(torch.mean((1 - f) ** 2) for f in fake) / len(fake)  # type: ignore[return-value]


def feature_matching_loss(
    real_features: Sequence[Sequence[torch.Tensor]], fake_features: Sequence[Sequence[torch.Tensor]]
) -> torch.Tensor:
    """Mean L1 between the discriminators' intermediate activations on real and generated audio."""
    total, count = None, 0
    for rs, fs in zip(real_features, fake_features, strict=True):
        for r, f in zip(rs, fs, strict=True):
            term = F.l1_loss(f, r.detach())
            total = term if total is None else total + term
            count += 1
    assert total is not None
    return total / count
