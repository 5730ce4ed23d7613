"""Building blocks shared by the acoustic model's parts: masked conv/attention blocks on ``(B, C, L)`` tensors."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


def sequence_mask(lengths: torch.Tensor, max_len: int | None = None) -> torch.Tensor:
    """``(B,)`` lengths -> ``(B, L)`` bool mask, True on real positions."""
    n = int(max_len if max_len is not None else lengths.max().clamp(min=1))
    return torch.arange(n, device=lengths.device)[None, :] < lengths[:, None]


def sinusoidal(length: int, channels: int, device: torch.device | None = None) -> torch.Tensor:
    """``(channels, length)`` sinusoidal position table (Transformer convention)."""
    pos = torch.arange(length, device=device, dtype=torch.float32)[None, :]
    half = channels // 2
    freq = torch.exp(-math.log(10000.0) * torch.arange(half, device=device, dtype=torch.float32) / half)
    angles = freq[:, None] * pos
    table = torch.cat([torch.sin(angles), torch.cos(angles)], dim=0)
    if channels % 2:
        table = F.pad(table, (0, 0, 0, 1))
    return table


class ChannelNorm(nn.Module):
    """LayerNorm over the channel axis of ``(B, C, L)``."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm = nn.LayerNorm(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.transpose(1, 2)).transpose(1, 2)


class ConvNeXtBlock(nn.Module):
    """Depthwise conv (kernel ``kernel``, dilation ``dilation``) -> norm -> pointwise MLP, residual.

    ``(B, C, L) -> (B, C, L)``; padded positions are zeroed before the depthwise conv so they never leak
    into real frames. Cheap on a CPU: the depthwise conv costs ``C * kernel`` per frame, the MLP ``2 * C * H``.
    An optional ``(B, C, 1)`` or ``(B, C, L)`` ``cond`` is added before the MLP (singer, global style).
    """

    def __init__(self, channels: int, hidden: int, kernel: int = 7, dilation: int = 1, dropout: float = 0.0):
        super().__init__()
        self.dwconv = nn.Conv1d(
            channels,
            channels,
            kernel,
            padding=dilation * (kernel - 1) // 2,
            dilation=dilation,
            groups=channels,
        )
        self.norm = ChannelNorm(channels)
        self.pw1 = nn.Conv1d(channels, hidden, 1)
        self.pw2 = nn.Conv1d(hidden, channels, 1)
        self.dropout = nn.Dropout(dropout)
        # small residual branches at start: deep stacks begin close to the identity (ConvNeXt's layer scale)
        self.scale = nn.Parameter(torch.full((channels, 1), 0.1))

    def forward(self, x: torch.Tensor, mask: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        m = mask[:, None, :].to(x.dtype)
        y = self.norm(self.dwconv(x * m))
        if cond is not None:
            y = y + cond
        y = self.pw2(self.dropout(F.gelu(self.pw1(y))))
        return (x + self.scale * y) * m


class FFTBlock(nn.Module):
    """FastSpeech's feed-forward Transformer block on ``(B, C, N)``: self-attention, then a conv FFN.

    Pre-norm; attention ignores padded positions (``mask`` False).
    """

    def __init__(self, channels: int, heads: int, hidden: int, kernel: int = 3, dropout: float = 0.1):
        super().__init__()
        self.norm1 = nn.LayerNorm(channels)
        self.attn = nn.MultiheadAttention(channels, heads, dropout=dropout, batch_first=True)
        self.norm2 = nn.LayerNorm(channels)
        self.conv1 = nn.Conv1d(channels, hidden, kernel, padding=kernel // 2)
        self.conv2 = nn.Conv1d(hidden, channels, 1)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        m = mask[:, None, :].to(x.dtype)
        h = self.norm1(x.transpose(1, 2))
        a, _ = self.attn(h, h, h, key_padding_mask=~mask, need_weights=False)
        x = x + self.dropout(a).transpose(1, 2)
        h = self.norm2(x.transpose(1, 2)).transpose(1, 2) * m
        h = self.conv2(self.dropout(F.gelu(self.conv1(h))))
        return (x + self.dropout(h)) * m


class ConvStack(nn.Module):
    """``layers`` ConvNeXt blocks with dilations cycling through ``dilations``: ``(B, C, L) -> (B, C, L)``."""

    def __init__(
        self,
        channels: int,
        layers: int,
        kernel: int = 7,
        dilations: tuple[int, ...] = (1,),
        expansion: int = 2,
        dropout: float = 0.0,
    ):
        super().__init__()
        self.blocks = nn.ModuleList(
            ConvNeXtBlock(channels, channels * expansion, kernel, dilations[i % len(dilations)], dropout)
            for i in range(layers)
        )
        self.norm = ChannelNorm(channels)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        for block in self.blocks:
            x = block(x, mask, cond)
        return self.norm(x) * mask[:, None, :].to(x.dtype)
