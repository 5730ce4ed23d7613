"""Pitch model: F0 as the written note + a learned smooth deviation (portamento, overshoot, preparation) +
an explicit vibrato (depth and rate curves, a sine added on top), and voicing.

Units: semitones (MIDI numbers) inside the model; 100 cents a semitone. The vibrato is separate so that a
control can scale or remove it (``vibrato_depth = 0`` leaves exactly note + deviation).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from vocalsynth.models.acoustic.context import N_NOTE_CONTEXT
from vocalsynth.models.acoustic.encoder import PITCH_CENTER
from vocalsynth.models.acoustic.layers import ConvStack

A4_MIDI, A4_HZ = 69.0, 440.0
SMOOTH_CUTOFF_HZ = 3.0  # below: the deviation curve; above (to ~10 Hz): vibrato
SMOOTH_TAPS = 101  # 1 s windowed sinc at 100 frames/s: the 5-7 Hz vibrato band is >40 dB down
VIBRATO_MIN_HZ, VIBRATO_MAX_HZ = 3.0, 9.0
VIBRATO_PRESENT = 0.15  # semitones of depth from which a frame's vibrato rate counts in the loss
N_NOTE_FEATURES = 2 + N_NOTE_CONTEXT + 1  # base pitch, rest flag, note context, phoneme position


def midi_from_log_f0(log_f0: torch.Tensor) -> torch.Tensor:
    """Natural-log F0 in Hz -> fractional MIDI number."""
    return A4_MIDI + 12.0 * (log_f0 - math.log(A4_HZ)) / math.log(2.0)


def midi_to_hz(midi: torch.Tensor) -> torch.Tensor:
    return A4_HZ * torch.pow(2.0, (midi - A4_MIDI) / 12.0)


def fill_rests(note_pitch: torch.Tensor, default: float = PITCH_CENTER) -> torch.Tensor:
    """``(B, T)`` note pitch with rests (<= 0) holding the previous note (the next one before the first note);
    ``default`` where an item has no note at all. The base the deviation is measured from."""
    b, t = note_pitch.shape
    valid = note_pitch > 0
    ar = torch.arange(t, device=note_pitch.device).expand(b, t)
    last = torch.where(valid, ar, torch.full_like(ar, -1)).cummax(dim=1).values
    nxt = torch.where(valid, ar, torch.full_like(ar, t)).flip(1).cummin(dim=1).values.flip(1)
    pick = torch.where(last >= 0, last, nxt)
    filled = note_pitch.gather(1, pick.clamp(max=t - 1))
    return torch.where(pick < t, filled, torch.full_like(filled, default))


@functools.lru_cache(maxsize=4)
def _lowpass_kernel(cutoff: float, taps: int) -> torch.Tensor:
    n = torch.arange(taps, dtype=torch.float64) - (taps - 1) / 2
    h = 2 * cutoff * torch.sinc(2 * cutoff * n) * torch.hann_window(taps, periodic=False, dtype=torch.float64)
    return (h / h.sum()).float()


def lowpass(
    x: torch.Tensor, fps: float, cutoff_hz: float = SMOOTH_CUTOFF_HZ, taps: int = SMOOTH_TAPS
) -> torch.Tensor:
    """Zero-phase low-pass of ``(B, T)`` curves (windowed sinc, edges held)."""
    kernel = _lowpass_kernel(cutoff_hz / fps, taps).to(x.device, x.dtype)
    pad = taps // 2
    y = F.pad(x[:, None, :], (pad, pad), mode="replicate")
    return F.conv1d(y, kernel[None, None, :]).squeeze(1)


def _hold_last(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Padding frames take each item's last real value, so filters don't see the padding."""
    lengths = mask.long().sum(-1).clamp(min=1)
    last = x.gather(1, (lengths - 1)[:, None])
    return torch.where(mask, x, last)


@dataclass
class VibratoTargets:
    """Training targets from a sung F0 curve, all ``(B, T)`` in semitones (rate in Hz)."""

    smooth: torch.Tensor  # the low-passed curve the deviation learns
    depth: torch.Tensor  # vibrato amplitude (peak, semitones)
    rate: torch.Tensor  # vibrato frequency, Hz, clipped to [VIBRATO_MIN_HZ, VIBRATO_MAX_HZ]


def vibrato_targets(midi: torch.Tensor, mask: torch.Tensor, fps: float) -> VibratoTargets:
    """Split a continuous MIDI curve ``(B, T)`` into smooth part and vibrato depth/rate.

    Depth is the residual's envelope ``sqrt(2 * lowpass(r^2))``; rate comes from the ratio of the mean
    square of the residual's frame difference to its own: for ``A sin(w n)`` that ratio is ``4 sin^2(w/2)``.
    """
    x = _hold_last(midi, mask)
    smooth = lowpass(x, fps)
    r = x - smooth
    power = lowpass(r.square(), fps).clamp(min=1e-8)
    depth = torch.sqrt(2 * power)
    diff = F.pad(r[:, 1:] - r[:, :-1], (1, 0))
    ratio = (lowpass(diff.square(), fps) / power).clamp(0.0, 4.0)
    omega = 2 * torch.asin(torch.sqrt(ratio) / 2)
    rate = (omega * fps / (2 * math.pi)).clamp(VIBRATO_MIN_HZ, VIBRATO_MAX_HZ)
    return VibratoTargets(smooth=smooth, depth=depth, rate=rate)


def vibrato(depth: torch.Tensor, rate: torch.Tensor, fps: float) -> torch.Tensor:
    """``depth * sin(phase)`` with ``phase`` the running integral of ``rate``: ``(B, T)`` semitones."""
    phase = 2 * math.pi * torch.cumsum(rate / fps, dim=-1)
    return depth * torch.sin(phase)


CORRECTION_SMOOTH_FRAMES = 7  # Hann window over which a note's pitch correction fades in and out (70 ms)
# the part of a note whose median is its held pitch (synthesis.conformance.EDGE skips the same ends)
HELD_PART = (0.2, 0.8)


def note_offsets(
    midi: torch.Tensor, note_pitch: torch.Tensor, note_ctx: torch.Tensor, voiced: torch.Tensor
) -> torch.Tensor:
    """``(B, T)``: each frame's note's held pitch minus the written pitch, in semitones (0 on rests and on
    notes without a voiced frame in their held part). The held pitch is the median of ``midi`` over the
    voiced frames of the note's middle (``HELD_PART`` of it, by ``note_ctx``'s fraction-gone row)."""
    frac = note_ctx[:, 2]
    new = torch.ones_like(note_pitch, dtype=torch.bool)
    new[:, 1:] = (frac[:, 1:] < frac[:, :-1]) | (note_pitch[:, 1:] != note_pitch[:, :-1])
    segment = new.long().cumsum(dim=1)
    held = (frac >= HELD_PART[0]) & (frac <= HELD_PART[1]) & (voiced > 0) & (note_pitch > 0)
    out = torch.zeros_like(midi)
    for b in range(midi.shape[0]):
        for s in torch.unique(segment[b][held[b]]).tolist():
            frames = held[b] & (segment[b] == s)
            offset = (midi[b][frames] - note_pitch[b][frames]).median()
            out[b][segment[b] == s] = offset
    return out


def correct_pitch(
    midi: torch.Tensor,
    note_pitch: torch.Tensor,
    note_ctx: torch.Tensor,
    voiced: torch.Tensor,
    amount: float,
) -> torch.Tensor:
    """Move each note's held pitch ``amount`` (0..1) of the way onto the written pitch: the singer's
    intonation (a learned habit of singing some notes flat or sharp) goes, the shape of the curve stays --
    portamento, overshoot and preparation move with their note. The per-note shifts fade into each other
    over ``CORRECTION_SMOOTH_FRAMES``, so no step is added to the curve."""
    if amount == 0:
        return midi
    offsets = note_offsets(midi, note_pitch, note_ctx, voiced)
    window = torch.hann_window(CORRECTION_SMOOTH_FRAMES + 2, periodic=False, dtype=midi.dtype)[1:-1]
    window = (window / window.sum()).to(midi.device)
    pad = CORRECTION_SMOOTH_FRAMES // 2
    smooth = F.conv1d(F.pad(offsets[:, None], (pad, pad), mode="replicate"), window[None, None]).squeeze(1)
    return midi - amount * smooth


@dataclass
class PitchOutput:
    """What the pitch model predicts, all ``(B, T)``."""

    base: torch.Tensor  # note pitch with rests filled (MIDI)
    deviation: torch.Tensor  # semitones from the base
    vuv_logit: torch.Tensor
    vibrato_depth: torch.Tensor  # semitones, >= 0
    vibrato_rate: torch.Tensor  # Hz

    @property
    def smooth(self) -> torch.Tensor:
        """Base + deviation: the F0 curve without vibrato (MIDI)."""
        return self.base + self.deviation


class PitchPredictor(nn.Module):
    """Frame states + note context -> :class:`PitchOutput`.

    ``h`` ``(B, C, T)`` expanded phoneme states, ``note_pitch`` ``(B, T)`` MIDI (0 for rests),
    ``note_ctx`` ``(B, N_NOTE_CONTEXT, T)``, ``ph_pos`` ``(B, T)``, ``mask`` ``(B, T)``. Dilated ConvNeXt blocks give a
    receptive field of about half a second: enough to see a note change coming (preparation) and going
    (overshoot).
    """

    def __init__(
        self,
        in_channels: int,
        channels: int = 128,
        layers: int = 3,
        kernel: int = 7,
        dilations: tuple[int, ...] = (1, 2, 4),
        dropout: float = 0.0,
    ):
        super().__init__()
        self.inp = nn.Conv1d(in_channels, channels, 1)
        self.note = nn.Conv1d(N_NOTE_FEATURES, channels, 1)
        self.stack = ConvStack(channels, layers, kernel, dilations, dropout=dropout)
        self.out = nn.Conv1d(channels, 4, 1)
        with torch.no_grad():
            self.out.weight.mul_(0.1)
            self.out.bias.copy_(torch.tensor([0.0, 1.0, -3.0, 0.0]))  # on the note, voiced, little vibrato

    def forward(
        self,
        h: torch.Tensor,
        note_pitch: torch.Tensor,
        note_ctx: torch.Tensor,
        ph_pos: torch.Tensor,
        mask: torch.Tensor,
    ) -> PitchOutput:
        base = fill_rests(note_pitch)
        rest = (note_pitch <= 0).to(h.dtype)
        features = torch.cat(
            [((base - PITCH_CENTER) / 12.0)[:, None], rest[:, None], note_ctx, ph_pos[:, None]], dim=1
        )
        x = self.stack(self.inp(h) + self.note(features), mask)
        out = self.out(x)
        return PitchOutput(
            base=base,
            deviation=out[:, 0],
            vuv_logit=out[:, 1],
            vibrato_depth=F.softplus(out[:, 2]),
            vibrato_rate=VIBRATO_MIN_HZ + (VIBRATO_MAX_HZ - VIBRATO_MIN_HZ) * torch.sigmoid(out[:, 3]),
        )
