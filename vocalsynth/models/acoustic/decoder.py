"""Mel decoder: frame states conditioned on F0, energy, breathiness and singer -> log-mel ``(B, n_mels, T)``."""

from __future__ import annotations

import math

import torch
from torch import nn

from vocalsynth.models.acoustic.layers import ConvStack
from vocalsynth.models.acoustic.variance import energy_features

# a gain of g dB moves every log-mel (natural log of magnitude) bin by g * DB_TO_LOG
DB_TO_LOG = math.log(10.0) / 20.0


class MelDecoder(nn.Module):
    """ConvNeXt stack from frame states to log-mel.

    ``h`` ``(B, C, T)``, ``f0`` ``(B, 2, T)`` (:func:`~vocalsynth.models.acoustic.variance.f0_features`),
    ``energy_db`` ``(B, T)``, ``aperiodicity`` ``(B, bands, T)``, ``ph_pos`` ``(B, T)``, ``singer_id``
    ``(B,)``, ``mask`` ``(B, T)`` -> ``(B, n_mels, T)``.

    The frame energy enters twice: as conditioning, and as an explicit gain ``energy_db * ln(10) / 20``
    added to every bin, so the network learns the spectral shape relative to the loudness and a loudness
    change (the ``dynamics`` control) moves the whole mel by exactly that many dB.
    """

    def __init__(
        self,
        in_channels: int,
        n_mels: int,
        n_bands: int,
        n_singers: int,
        channels: int = 192,
        layers: int = 4,
        kernel: int = 7,
        dilations: tuple[int, ...] = (1, 2),
        expansion: int = 2,
        dropout: float = 0.0,
    ):
        super().__init__()
        self.inp = nn.Conv1d(in_channels, channels, 1)
        self.cond = nn.Conv1d(2 + 1 + n_bands + 1, channels, 1)
        self.singer = nn.Embedding(max(n_singers, 1), channels)
        nn.init.normal_(self.singer.weight, std=0.02)
        self.stack = ConvStack(channels, layers, kernel, dilations, expansion, dropout)
        self.out = nn.Conv1d(channels, n_mels, 1)

    def forward(
        self,
        h: torch.Tensor,
        f0: torch.Tensor,
        energy_db: torch.Tensor,
        aperiodicity: torch.Tensor,
        ph_pos: torch.Tensor,
        singer_id: torch.Tensor,
        mask: torch.Tensor,
    ) -> torch.Tensor:
        cond = torch.cat([f0, energy_features(energy_db), aperiodicity * 2 - 1, ph_pos[:, None]], dim=1)
        x = self.inp(h) + self.cond(cond)
        x = self.stack(x, mask, self.singer(singer_id)[:, :, None])
        return self.out(x) + energy_db[:, None, :] * DB_TO_LOG
