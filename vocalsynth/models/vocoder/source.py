"""Excitation for source-filter vocoders: a band-limited harmonic pulse train that follows frame F0 exactly,
and Gaussian noise; frame F0 is upsampled to samples and the phase accumulated by cumulative sum."""

from __future__ import annotations

import math

import torch
from torch import nn


def fill_unvoiced(f0_hz: torch.Tensor) -> torch.Tensor:
    """``(B, T)`` F0 with each unvoiced (``<= 0``) frame holding the nearest earlier voiced value
    (the first voiced value before the first voiced frame; 0 where a row has none).

    Holding the pitch keeps the oscillator from gliding down to 0 Hz across a voiced/unvoiced boundary
    while its amplitude fades; the unvoiced stretch itself is silenced by the voicing mask.
    """
    voiced = f0_hz > 0
    t = torch.arange(f0_hz.shape[-1], device=f0_hz.device).expand_as(f0_hz)
    last = torch.where(voiced, t, torch.zeros_like(t)).cummax(dim=-1).values
    held = f0_hz.gather(-1, last)
    # before the first voiced frame `last` is 0, which may be unvoiced: use the first voiced value instead
    first = torch.where(voiced, t, torch.full_like(t, f0_hz.shape[-1] - 1)).min(dim=-1, keepdim=True).values
    lead = f0_hz.gather(-1, first).expand_as(f0_hz)
    before_first = t < first
    return torch.where(before_first, lead, held).clamp(min=0)


def upsample_frames(x: torch.Tensor, hop_length: int) -> torch.Tensor:
    """``(B, T)`` frame values -> ``(B, T * hop)`` samples, linear between frame centres.

    Frame ``i`` is centred on sample ``i * hop``, the :func:`vocalsynth.audio.log_mel` convention; the last
    frame's value is held over its final hop.
    """
    nxt = torch.cat([x[:, 1:], x[:, -1:]], dim=1)
    ramp = torch.arange(hop_length, device=x.device, dtype=x.dtype) / hop_length
    return (x[:, :, None] * (1 - ramp) + nxt[:, :, None] * ramp).reshape(x.shape[0], -1)


class HarmonicNoiseSource(nn.Module):
    """F0 -> ``(harmonic, noise, voicing)``, each ``(B, T * hop)``.

    ``harmonic`` is ``sum_{k=1}^{K} cos(k * phi)`` with every harmonic of amplitude 1 below ``max_hz``
    (a band-limited pulse train, closed-form Dirichlet kernel, so the cost does not grow with the
    number of harmonics); the harmonic just above the limit fades in with the fraction of ``max_hz / f0``
    so a glide adds harmonics smoothly. ``phi = 2 pi * cumsum(f0 / sr)`` is accumulated in float64, so
    the pitch follows F0 exactly -- vibrato and notes outside the analysis range included. Unvoiced
    frames (F0 0) give no harmonic excitation; the voicing mask is linear between frame centres.
    ``noise`` is white Gaussian (unit variance) everywhere; the filters decide where it is heard.
    """

    def __init__(self, sample_rate: int, hop_length: int, max_hz: float | None = None):
        super().__init__()
        self.sample_rate = sample_rate
        self.hop_length = hop_length
        self.max_hz = float(max_hz) if max_hz is not None else 0.5 * sample_rate * 0.95

    def phase(self, f0_hz: torch.Tensor, initial_phase: torch.Tensor | None = None) -> torch.Tensor:
        """Phase in cycles, wrapped to ``[0, 1)``, ``(B, T * hop)`` float32, from frame F0 ``(B, T)``.

        The running sum is float64 (float32 would drift by cents over a minute); it is wrapped before the
        cast, so the float32 result is exact to ~1e-7 of a cycle.
        """
        f = upsample_frames(fill_unvoiced(f0_hz.double()), self.hop_length)
        cycles = torch.cumsum(f / self.sample_rate, dim=-1)
        # start the first sample at phase 0 (a cosine peak) rather than one sample in
        cycles = cycles - f[:, :1] / self.sample_rate
        if initial_phase is not None:
            cycles = cycles + initial_phase.double()[:, None]
        return (cycles - torch.floor(cycles)).float()

    def harmonic(self, f0_hz: torch.Tensor, initial_phase: torch.Tensor | None = None) -> torch.Tensor:
        """The pulse train ``(B, T * hop)``, float32, before the voicing mask."""
        cycles = self.phase(f0_hz, initial_phase)
        # the number of harmonics only changes between frames: compute it per frame, then upsample
        f0 = fill_unvoiced(f0_hz.float())
        k_real = upsample_frames(
            torch.where(f0 > 0, self.max_hz / f0.clamp(min=1e-3), torch.zeros_like(f0)), self.hop_length
        )
        k = torch.floor(k_real)
        top = k_real - k

        # sin/cos of arguments reduced to one cycle first: large arguments take libm's slow path
        def cycle(x: torch.Tensor) -> torch.Tensor:
            return (2 * math.pi) * (x - torch.floor(x))

        s = torch.sin(math.pi * cycles)  # sin(phi / 2), phi / 2 in [0, pi)
        small = s < 1e-4
        # sum_{k=1}^{K} cos(k phi) = sin((K + 1/2) phi) / (2 sin(phi / 2)) - 1/2, which tends to K at phi = 0
        dirichlet = (
            torch.sin(cycle((k + 0.5) * cycles)) / (2 * torch.where(small, torch.ones_like(s), s)) - 0.5
        )
        pulses = torch.where(small, k, dirichlet)
        return pulses + top * torch.cos(cycle((k + 1) * cycles))

    def forward(
        self,
        f0_hz: torch.Tensor,
        noise: torch.Tensor | None = None,
        initial_phase: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``f0_hz`` ``(B, T)`` -> ``(harmonic * voicing, noise, voicing)``, each ``(B, T * hop)``."""
        if f0_hz.ndim != 2:
            raise ValueError(f"f0_hz must be (B, T), got shape {tuple(f0_hz.shape)}")
        voicing = upsample_frames((f0_hz > 0).float(), self.hop_length)
        harmonic = self.harmonic(f0_hz, initial_phase) * voicing
        if noise is None:
            noise = torch.randn(harmonic.shape, device=harmonic.device, dtype=harmonic.dtype)
        return harmonic, noise, voicing
