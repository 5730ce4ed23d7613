"""Duration model: per-phoneme log-durations, and the length regulator that expands phonemes to frames.

The predictor's durations are only relative inside a note: inference renormalises them so that each note
span keeps its score length exactly (:func:`vocalsynth.models.acoustic.context.place_in_spans`).
"""

from __future__ import annotations

import torch
from torch import nn

from vocalsynth.models.acoustic.layers import ConvStack


class DurationPredictor(nn.Module):
    """``(B, C, N)`` phoneme states -> ``(B, N)`` predicted ``log(1 + frames)``."""

    def __init__(
        self, in_channels: int, channels: int = 128, layers: int = 2, kernel: int = 3, dropout: float = 0.1
    ):
        super().__init__()
        self.inp = nn.Conv1d(in_channels, channels, 1)
        self.stack = ConvStack(channels, layers, kernel, dropout=dropout)
        self.out = nn.Conv1d(channels, 1, 1)
        nn.init.constant_(self.out.bias, 2.5)  # ~11 frames: a typical phoneme, so training starts near it

    def forward(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self.stack(self.inp(h), mask)
        return self.out(x).squeeze(1) * mask.to(h.dtype)


def log_duration_target(ph_dur: torch.Tensor) -> torch.Tensor:
    """The training target of :class:`DurationPredictor`: ``log(1 + frames)``."""
    return torch.log1p(ph_dur.float())


def predicted_frames(log_dur: torch.Tensor) -> torch.Tensor:
    """Predicted (fractional) frames from ``log(1 + frames)``, at least half a frame (a weight, never zero)."""
    return (torch.expm1(log_dur)).clamp(min=0.5)


def length_regulate(
    h: torch.Tensor, ph_dur: torch.Tensor, n_frames: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Repeat each phoneme's state for its frames.

    ``h`` ``(B, C, N)``, ``ph_dur`` ``(B, N)`` integer frames (0 on padding), ``n_frames`` ``T``.
    Returns ``(B, C, T)`` states (zero past the last phoneme), ``ph_index`` ``(B, T)`` (-1 past the last
    phoneme) and ``ph_pos`` ``(B, T)``: how far through its phoneme each frame is, in [0, 1).
    """
    b, c, n = h.shape
    dur = ph_dur.long().clamp(min=0)
    ends = dur.cumsum(-1)
    t = torch.arange(n_frames, device=h.device).expand(b, n_frames).contiguous()
    idx = torch.searchsorted(ends, t, right=True)  # (B, T) in [0, N]; N past the end
    valid = idx < n
    safe = idx.clamp(max=max(n - 1, 0))
    padded = torch.cat([h, h.new_zeros(b, c, 1)], dim=-1)
    out = padded.gather(
        2, torch.where(valid, idx, torch.full_like(idx, n))[:, None, :].expand(b, c, n_frames)
    )
    if n == 0:
        zeros = h.new_zeros(b, n_frames)
        return out, torch.full_like(t, -1), zeros
    starts = (ends - dur).gather(1, safe)
    lengths = dur.gather(1, safe).clamp(min=1)
    pos = ((t - starts).float() / lengths.float()) * valid.float()
    return out, torch.where(valid, idx, torch.full_like(idx, -1)), pos
