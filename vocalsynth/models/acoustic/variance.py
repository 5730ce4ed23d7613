"""Energy and breathiness model: frame states + F0 -> loudness (dB) and band aperiodicity (breathiness)."""

from __future__ import annotations

import torch
from torch import nn

from vocalsynth.models.acoustic.context import N_NOTE_CONTEXT
from vocalsynth.models.acoustic.encoder import PITCH_CENTER
from vocalsynth.models.acoustic.layers import ConvStack

# energy in dBFS is modelled as ENERGY_CENTER + ENERGY_SCALE * output
ENERGY_CENTER, ENERGY_SCALE = -40.0, 20.0


def f0_features(midi: torch.Tensor, vuv: torch.Tensor) -> torch.Tensor:
    """``(B, 2, T)`` conditioning from F0: octaves from C4 (0 where unvoiced) and the voicing flag."""
    v = (vuv > 0.5).to(midi.dtype)
    return torch.stack([(midi - PITCH_CENTER) / 12.0 * v, v], dim=1)


def energy_features(energy_db: torch.Tensor) -> torch.Tensor:
    """``(B, T)`` dBFS -> the normalised ``(B, 1, T)`` the networks read."""
    return ((energy_db - ENERGY_CENTER) / ENERGY_SCALE)[:, None]


class VariancePredictor(nn.Module):
    """``h`` ``(B, C, T)``, ``f0`` ``(B, 2, T)`` (:func:`f0_features`), ``note_ctx`` ``(B, N_NOTE_CONTEXT, T)``, ``mask``
    -> ``energy_db`` ``(B, T)`` and ``aperiodicity`` ``(B, bands, T)`` in [0, 1] (1 = noise)."""

    def __init__(self, in_channels: int, n_bands: int, channels: int = 128, layers: int = 2, kernel: int = 7):
        super().__init__()
        self.n_bands = n_bands
        self.inp = nn.Conv1d(in_channels, channels, 1)
        self.cond = nn.Conv1d(2 + N_NOTE_CONTEXT, channels, 1)
        self.stack = ConvStack(channels, layers, kernel, dilations=(1, 2))
        self.out = nn.Conv1d(channels, 1 + n_bands, 1)
        with torch.no_grad():
            self.out.weight.mul_(0.1)
            self.out.bias.zero_()
            self.out.bias[0] = 0.5  # -30 dBFS: a sung frame rather than silence

    def forward(
        self, h: torch.Tensor, f0: torch.Tensor, note_ctx: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.stack(self.inp(h) + self.cond(torch.cat([f0, note_ctx], dim=1)), mask)
        out = self.out(x)
        return ENERGY_CENTER + ENERGY_SCALE * out[:, 0], torch.sigmoid(out[:, 1:])
