"""`SourceFilterVocoder`: harmonic + noise excitation shaped by per-frame filters in the STFT domain.

A ConvNeXt stack over mel frames predicts log-gain corrections for two filters (one for the pulse train,
one for the noise); the filters start as a prior read off the mel itself, so even an untrained model
renders the input mel's envelope on the excitation's harmonics, and the pitch is always the input F0's.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from vocalsynth.audio.config import AudioConfig
from vocalsynth.audio.mel import LOG_CLAMP, mel_filterbank
from vocalsynth.models.vocoder.base import Vocoder
from vocalsynth.models.vocoder.source import HarmonicNoiseSource, upsample_frames
from vocalsynth.models.vocoder.spectral import envelope_matrix

F0_REF_HZ = 200.0


class ConvNeXtBlock(nn.Module):
    """Depthwise conv -> LayerNorm -> pointwise MLP, residual with layer scale (as in Vocos). ``(B, C, T)``."""

    def __init__(self, dim: int, intermediate_dim: int, kernel_size: int, layer_scale: float):
        super().__init__()
        self.dwconv = nn.Conv1d(dim, dim, kernel_size, padding=kernel_size // 2, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, intermediate_dim)
        self.pwconv2 = nn.Linear(intermediate_dim, dim)
        self.gamma = nn.Parameter(torch.full((dim,), layer_scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dwconv(x).transpose(1, 2)
        y = self.pwconv2(F.gelu(self.pwconv1(self.norm(y))))
        return x + (self.gamma * y).transpose(1, 2)


class SourceFilterVocoder(Vocoder):
    """Neural source-filter vocoder: ``(mel (B, n_mels, T), f0_hz (B, T)) -> audio (B, T * hop)``.

    Output STFT (``n_fft``, ``hop_length``, Hann ``win_length`` of the AudioConfig) per frame ``t`` and bin ``k``::

        Y = v_t * exp(E_t - Eh_t + dh_t) * STFT(pulses) + exp(E_t - En_t + log g_t + dn_t) * STFT(noise)

    ``E`` is the log magnitude envelope of the input mel (:mod:`.spectral`); ``Eh``/``En`` the same
    envelope measured on the excitation itself (so the prior filter maps the excitation's band levels
    onto the mel's, whatever the F0); ``v`` the window-weighted voicing; ``g`` the prior noise level
    (``noise_db`` below the voice in voiced frames, 0 dB in unvoiced ones); ``dh``/``dn`` the network's
    log-gain corrections, zero at initialisation and bounded by ``max_log_gain``. Unvoiced frames get
    noise only: ``v`` gates the harmonic branch and the network can't undo that.
    """

    kind = "source_filter"

    def __init__(
        self,
        audio_config: AudioConfig | dict[str, Any] | None = None,
        dim: int = 160,
        intermediate_dim: int = 480,
        num_layers: int = 6,
        kernel_size: int = 7,
        noise_db: float = -20.0,
        max_log_gain: float = 6.0,
    ):
        super().__init__(audio_config)
        cfg = self.audio_config
        self.hparams_dict = dict(
            dim=dim,
            intermediate_dim=intermediate_dim,
            num_layers=num_layers,
            kernel_size=kernel_size,
            noise_db=noise_db,
            max_log_gain=max_log_gain,
        )
        self.n_bins = cfg.n_fft // 2 + 1
        self.noise_gain = 10 ** (noise_db / 20)
        self.max_log_gain = max_log_gain
        self.source = HarmonicNoiseSource(cfg.sample_rate, cfg.hop_length, max_hz=cfg.fmax * 0.98)

        self.embed = nn.Conv1d(cfg.n_mels + 2, dim, kernel_size, padding=kernel_size // 2)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.blocks = nn.ModuleList(
            [ConvNeXtBlock(dim, intermediate_dim, kernel_size, 1.0 / num_layers) for _ in range(num_layers)]
        )
        self.final_norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, 2 * self.n_bins)
        # zero corrections at start: the untrained model is the prior filter (see the class docstring)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

        env_w, log_width = envelope_matrix(cfg)
        # derived from the AudioConfig, so not saved: checkpoints hold only learned weights
        self.register_buffer("window", torch.hann_window(cfg.win_length), persistent=False)
        self.register_buffer("mel_basis", mel_filterbank(cfg).clone(), persistent=False)
        self.register_buffer("env_w", env_w, persistent=False)
        self.register_buffer("log_width", log_width, persistent=False)

    # ---- pieces ----------------------------------------------------------------------------------------
    def _stft(self, x: torch.Tensor) -> torch.Tensor:
        cfg = self.audio_config
        # reflect padding needs more samples than the pad (as in vocalsynth.audio.mel); tiny inputs get zeros
        pad_mode = "reflect" if x.shape[-1] > cfg.n_fft // 2 else "constant"
        return torch.stft(
            x,
            cfg.n_fft,
            cfg.hop_length,
            cfg.win_length,
            self.window,
            center=True,
            pad_mode=pad_mode,
            return_complex=True,
        )

    def log_envelope(self, mel: torch.Tensor) -> torch.Tensor:
        """``(B, n_mels, T)`` log-mel -> ``(B, n_bins, T)`` log magnitude envelope."""
        return torch.matmul(self.env_w, mel - self.log_width[:, None])

    def _measured_log_envelope(self, spec: torch.Tensor) -> torch.Tensor:
        mel = torch.log(torch.clamp(torch.matmul(self.mel_basis, spec.abs()), min=LOG_CLAMP))
        return self.log_envelope(mel)

    def _frame_voicing(self, voicing: torch.Tensor) -> torch.Tensor:
        """Sample voicing ``(B, N)`` -> ``(B, N // hop + 1)``: its Hann-weighted mean around each STFT frame."""
        cfg = self.audio_config
        w = self.window / self.window.sum()
        pad = cfg.win_length // 2
        # edge values held (F.pad's replicate mode refuses pads longer than the input)
        v = torch.cat([voicing[:, :1].expand(-1, pad), voicing, voicing[:, -1:].expand(-1, pad)], dim=1)
        return F.conv1d(v[:, None], w.view(1, 1, -1), stride=cfg.hop_length)[:, 0]

    def corrections(self, mel: torch.Tensor, f0_hz: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The network: ``(B, n_bins, T)`` log-gain corrections for the harmonic and noise filters."""
        voiced = (f0_hz > 0).float()
        log_f0 = torch.log(f0_hz.clamp(min=1.0) / F0_REF_HZ) * voiced
        x = self.embed(torch.cat([mel, log_f0[:, None], voiced[:, None]], dim=1))
        x = self.norm(x.transpose(1, 2)).transpose(1, 2)
        for block in self.blocks:
            x = block(x)
        out = self.head(self.final_norm(x.transpose(1, 2))).transpose(1, 2)
        out = self.max_log_gain * torch.tanh(out / self.max_log_gain)
        return out[:, : self.n_bins], out[:, self.n_bins :]

    # ---- forward ---------------------------------------------------------------------------------------
    def forward(
        self, mel: torch.Tensor, f0_hz: torch.Tensor, noise: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``mel`` ``(B, n_mels, T)``, ``f0_hz`` ``(B, T)`` -> audio ``(B, T * hop)``.

        ``noise`` ``(B, T * hop)`` replaces the random noise excitation (for reproducible output).
        """
        self.check_inputs(mel, f0_hz)
        mel = mel.float()
        f0_hz = f0_hz.float()
        n = mel.shape[-1] * self.audio_config.hop_length
        pulses = self.source.harmonic(f0_hz)
        voicing = upsample_frames((f0_hz > 0).float(), self.audio_config.hop_length)
        if noise is None:
            noise = torch.randn_like(pulses)
        spec_h = self._stft(pulses)
        spec_n = self._stft(noise)  # (B, n_bins, T + 1): frame T is centred on the sample after the end

        def pad_frame(x: torch.Tensor) -> torch.Tensor:
            return torch.cat([x, x[..., -1:]], dim=-1)

        env = pad_frame(self.log_envelope(mel))
        dh, dn = (pad_frame(d) for d in self.corrections(mel, f0_hz))
        v = self._frame_voicing(voicing)[:, None]
        log_noise = torch.log((1 - v) + v * self.noise_gain)
        gain_h = v * torch.exp(env - self._measured_log_envelope(spec_h) + dh)
        gain_n = torch.exp(env - self._measured_log_envelope(spec_n) + log_noise + dn)
        spec = gain_h * spec_h + gain_n * spec_n
        cfg = self.audio_config
        return torch.istft(
            spec, cfg.n_fft, cfg.hop_length, cfg.win_length, self.window, center=True, length=n
        )


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
