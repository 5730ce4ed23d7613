"""Phoneme encoder: phoneme ids with their note (pitch, duration, slur), role, language and singer -> hidden
states ``(B, C, N)``, one per phoneme."""

from __future__ import annotations

import torch
from torch import nn

from vocalsynth.models.acoustic.context import N_ROLES
from vocalsynth.models.acoustic.layers import FFTBlock, sinusoidal

# note pitch is fed as (pitch - PITCH_CENTER) / 12: octaves around middle C
PITCH_CENTER = 60.0


class PhonemeEncoder(nn.Module):
    """Embeds each phoneme with its musical context and runs ``layers`` FFT blocks over the phrase.

    Inputs (``N`` phonemes): ``ph_ids`` ``(B, N)`` long (0 = padding), ``ph_role`` ``(B, N)`` long,
    ``ph_note_pitch`` ``(B, N)`` MIDI (0 = rest), ``ph_note_dur`` ``(B, N)`` seconds, ``ph_slur`` ``(B, N)``
    bool, ``ph_language`` ``(B, N)`` long, ``singer_id`` ``(B,)`` long, ``ph_mask`` ``(B, N)`` bool.
    Output ``(B, channels, N)``, zero on padding.
    """

    def __init__(
        self,
        n_phonemes: int,
        n_singers: int,
        n_languages: int,
        channels: int = 192,
        layers: int = 4,
        heads: int = 2,
        hidden: int = 512,
        kernel: int = 3,
        dropout: float = 0.1,
    ):
        super().__init__()
        self.channels = channels
        self.phoneme = nn.Embedding(n_phonemes + 1, channels, padding_idx=0)
        self.role = nn.Embedding(N_ROLES, channels, padding_idx=0)
        self.slur = nn.Embedding(2, channels)
        self.language = nn.Embedding(max(n_languages, 1), channels)
        self.singer = nn.Embedding(max(n_singers, 1), channels)
        # [octaves from C4, is-rest, log note seconds]: continuous, so unseen pitches still make sense
        self.note = nn.Linear(3, channels)
        nn.init.normal_(self.phoneme.weight, std=channels**-0.5)
        self.blocks = nn.ModuleList(FFTBlock(channels, heads, hidden, kernel, dropout) for _ in range(layers))

    def forward(
        self,
        ph_ids: torch.Tensor,
        ph_role: torch.Tensor,
        ph_note_pitch: torch.Tensor,
        ph_note_dur: torch.Tensor,
        ph_slur: torch.Tensor,
        ph_language: torch.Tensor,
        singer_id: torch.Tensor,
        ph_mask: torch.Tensor,
    ) -> torch.Tensor:
        rest = (ph_note_pitch <= 0).float()
        pitch = torch.where(rest > 0, torch.zeros_like(ph_note_pitch), (ph_note_pitch - PITCH_CENTER) / 12.0)
        note = torch.stack([pitch, rest, torch.log(ph_note_dur.clamp(min=0.0) + 0.05)], dim=-1)
        x = (
            self.phoneme(ph_ids)
            + self.role(ph_role)
            + self.slur(ph_slur.long())
            + self.language(ph_language)
            + self.singer(singer_id)[:, None, :]
            + self.note(note)
        )
        x = x.transpose(1, 2) + sinusoidal(x.shape[1], self.channels, x.device)[None] * 0.1
        x = x * ph_mask[:, None, :].to(x.dtype)
        for block in self.blocks:
            x = block(x, ph_mask)
        return x
