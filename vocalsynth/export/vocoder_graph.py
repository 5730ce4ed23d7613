"""Our source-filter vocoder as OpenUtau's DiffSinger vocoder: ``mel`` ``(1, T, n_mels + 1)`` (the acoustic
graph's log-mel plus its voicing row) and ``f0`` ``(1, T)`` Hz -> ``waveform`` ``(1, T * 441)`` at 44.1 kHz.

The same computation as `SourceFilterVocoder.forward` with the STFTs as convolutions, the noise excitation
from a fixed table (`dsp.noise_table`) and, after it, a polyphase resampler to 44.1 kHz inside the graph:
OpenUtau plays a DiffSinger vocoder's output as 44.1 kHz without resampling.
"""

from __future__ import annotations

import torch
from torch import nn

from vocalsynth.audio.mel import LOG_CLAMP
from vocalsynth.export.dsp import (
    ConvISTFT,
    ConvSTFT,
    PolyphaseResampler,
    fill_unvoiced,
    noise_table,
    tiled_noise,
)
from vocalsynth.models.vocoder.generator import SourceFilterVocoder
from vocalsynth.models.vocoder.source import upsample_frames

OUT_RATE = 44100


class VocoderGraph(nn.Module):
    """See the module docstring. ``forward_native`` stops before the resampler (the vocoder's own rate)."""

    def __init__(self, vocoder: SourceFilterVocoder):
        super().__init__()
        if not isinstance(vocoder, SourceFilterVocoder):
            raise TypeError(f"only the neural source-filter vocoder exports, not {type(vocoder).__name__}")
        cfg = vocoder.audio_config
        if (OUT_RATE * cfg.hop_length) % cfg.sample_rate:
            raise ValueError(
                f"hop {cfg.hop_length} at {cfg.sample_rate} Hz is not a whole number of samples at {OUT_RATE} Hz"
            )
        self.vocoder = vocoder.eval()
        self.n_mels = cfg.n_mels
        self.hop = cfg.hop_length
        self.stft = ConvSTFT(cfg.n_fft, cfg.hop_length, vocoder.window)
        self.istft = ConvISTFT(cfg.n_fft, cfg.hop_length, vocoder.window)
        self.resample = PolyphaseResampler(OUT_RATE, cfg.sample_rate)
        self.register_buffer("noise", noise_table(cfg.sample_rate), persistent=False)

    def excitation_noise(self, n_frames: int) -> torch.Tensor:
        """The ``(1, n_frames * hop)`` noise the graph uses (for the reference run of the torch vocoder)."""
        return tiled_noise(self.noise, n_frames * self.hop)[None]

    def split(self, mel: torch.Tensor, f0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(1, T, n_mels + 1)``, ``(1, T)`` -> log-mel ``(1, n_mels, T)`` and F0 with 0 where unvoiced."""
        log_mel = mel[:, :, : self.n_mels].transpose(1, 2)
        voiced = mel[:, :, self.n_mels] > 0.5
        return log_mel, torch.where(voiced, f0, torch.zeros_like(f0))

    def forward_native(self, mel: torch.Tensor, f0: torch.Tensor) -> torch.Tensor:
        v = self.vocoder
        mel, f0_hz = self.split(mel, f0)
        n = mel.shape[-1] * self.hop
        filled = fill_unvoiced(f0_hz)
        pulses = _harmonic(v, filled, f0_hz)
        voicing = upsample_frames((f0_hz > 0).float(), self.hop)
        noise = tiled_noise(self.noise, n)[None]
        hr, hi = self.stft(pulses)
        nr, ni = self.stft(noise)

        def pad_frame(x: torch.Tensor) -> torch.Tensor:
            return torch.cat([x, x[..., -1:]], dim=-1)

        env = pad_frame(v.log_envelope(mel))
        dh, dn = (pad_frame(d) for d in v.corrections(mel, f0_hz))
        vf = v._frame_voicing(voicing)[:, None]
        log_noise = torch.log((1 - vf) + vf * v.noise_gain)
        gain_h = vf * torch.exp(env - self._measured(hr, hi) + dh)
        gain_n = torch.exp(env - self._measured(nr, ni) + log_noise + dn)
        real = gain_h * hr + gain_n * nr
        imag = gain_h * hi + gain_n * ni
        return self.istft(real, imag, n)

    def _measured(self, real: torch.Tensor, imag: torch.Tensor) -> torch.Tensor:
        v = self.vocoder
        mag = torch.sqrt(real * real + imag * imag)
        return v.log_envelope(torch.log(torch.clamp(torch.matmul(v.mel_basis, mag), min=LOG_CLAMP)))

    def forward(self, mel: torch.Tensor, f0: torch.Tensor) -> torch.Tensor:
        return self.resample(self.forward_native(mel, f0))


def _harmonic(vocoder: SourceFilterVocoder, filled: torch.Tensor, f0_hz: torch.Tensor) -> torch.Tensor:
    """`HarmonicNoiseSource.harmonic` on an already filled F0 (its own fill uses cummax)."""
    import math

    src = vocoder.source
    f = upsample_frames(filled.double(), src.hop_length)
    cycles = torch.cumsum(f / src.sample_rate, dim=-1)
    cycles = cycles - f[:, :1] / src.sample_rate
    cycles = (cycles - torch.floor(cycles)).float()
    f0 = filled.float()
    k_real = upsample_frames(
        torch.where(f0 > 0, src.max_hz / f0.clamp(min=1e-3), torch.zeros_like(f0)), src.hop_length
    )
    k = torch.floor(k_real)
    top = k_real - k

    def cycle(x: torch.Tensor) -> torch.Tensor:
        return (2 * math.pi) * (x - torch.floor(x))

    s = torch.sin(math.pi * cycles)
    small = s < 1e-4
    dirichlet = torch.sin(cycle((k + 0.5) * cycles)) / (2 * torch.where(small, torch.ones_like(s), s)) - 0.5
    pulses = torch.where(small, k, dirichlet)
    return pulses + top * torch.cos(cycle((k + 1) * cycles))
