"""Training losses and validation metrics of the acoustic model (teacher-forced outputs vs aligned data)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch.nn import functional as F

from vocalsynth.models.acoustic.duration import log_duration_target
from vocalsynth.models.acoustic.pitch import VIBRATO_PRESENT, PitchOutput, midi_from_log_f0, vibrato_targets
from vocalsynth.models.acoustic.variance import ENERGY_SCALE


@dataclass
class LossWeights:
    """Weight of each term in the total loss."""

    mel: float = 1.0
    duration: float = 1.0
    pitch: float = 1.0
    vibrato: float = 0.5
    vuv: float = 0.5
    energy: float = 0.5
    aperiodicity: float = 0.5


def _masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    mask = mask.to(x.dtype)
    while mask.ndim < x.ndim:
        mask = mask.unsqueeze(1)
    mask = mask.expand_as(x)
    return (x * mask).sum() / mask.sum().clamp(min=1.0)


def acoustic_losses(
    out: Mapping[str, Any], batch: Mapping[str, torch.Tensor], fps: float, weights: LossWeights | None = None
) -> dict[str, torch.Tensor]:
    """All loss terms of a teacher-forced :meth:`AcousticModel.forward` output, plus ``loss`` (weighted sum).

    - ``mel``: L1 on log-mel over real frames.
    - ``duration``: MSE of ``log(1 + frames)`` over real phonemes.
    - ``pitch``: L1 in semitones between note + deviation and the low-passed sung F0, voiced frames only
      (``pitch_cents`` reports it in cents).
    - ``vibrato``: L1 of vibrato depth (semitones, voiced frames) + L1 of rate / 10 (Hz, where the sung
      vibrato is deeper than 15 cents).
    - ``vuv``: binary cross-entropy of voicing; ``energy``: L1 in units of 20 dB; ``aperiodicity``: L1.
    """
    w = weights or LossWeights()
    mask = batch["mask"]
    voiced = mask & (batch["vuv"] > 0.5)
    pitch: PitchOutput = out["pitch"]
    target = vibrato_targets(midi_from_log_f0(batch["log_f0"]), mask, fps)
    losses = {
        "mel": _masked_mean((out["mel"] - batch["mel"]).abs(), mask),
        "duration": _masked_mean(
            (out["log_dur"] - log_duration_target(batch["ph_dur"])).square(), batch["ph_mask"]
        ),
        "pitch": _masked_mean((pitch.smooth - target.smooth).abs(), voiced),
        "vuv": _masked_mean(
            F.binary_cross_entropy_with_logits(pitch.vuv_logit, batch["vuv"].float(), reduction="none"), mask
        ),
        "energy": _masked_mean((out["energy_db"] - batch["energy"]).abs() / ENERGY_SCALE, mask),
        "aperiodicity": _masked_mean((out["aperiodicity"] - batch["aperiodicity"]).abs(), mask),
    }
    depth = _masked_mean((pitch.vibrato_depth - target.depth).abs(), voiced)
    rate = _masked_mean(
        (pitch.vibrato_rate - target.rate).abs() / 10.0, voiced & (target.depth > VIBRATO_PRESENT)
    )
    losses["vibrato"] = depth + rate
    losses["loss"] = sum(getattr(w, k) * v for k, v in losses.items())
    losses["pitch_cents"] = losses["pitch"].detach() * 100.0
    return losses


def f0_metrics(
    f0_hz: torch.Tensor, vuv: torch.Tensor, ref_f0_hz: torch.Tensor, ref_vuv: torch.Tensor, mask: torch.Tensor
) -> dict[str, torch.Tensor]:
    """``f0_rmse_cents`` over frames voiced in both (0 when none) and ``vuv_error`` (% of real frames)."""
    both = mask & (vuv > 0.5) & (ref_vuv > 0.5) & (f0_hz > 0) & (ref_f0_hz > 0)
    cents = 1200.0 * torch.log2(f0_hz.clamp(min=1e-3) / ref_f0_hz.clamp(min=1e-3))
    rmse = torch.sqrt(_masked_mean(cents.square(), both)) if both.any() else f0_hz.new_zeros(())
    vuv_error = 100.0 * _masked_mean(((vuv > 0.5) != (ref_vuv > 0.5)).float(), mask)
    return {"f0_rmse_cents": rmse, "vuv_error": vuv_error}


def duration_error_ms(
    ph_dur: torch.Tensor, ref_ph_dur: torch.Tensor, ph_mask: torch.Tensor, fps: float
) -> torch.Tensor:
    """Mean absolute phoneme duration error in milliseconds over real phonemes."""
    return _masked_mean((ph_dur.float() - ref_ph_dur.float()).abs(), ph_mask) * 1000.0 / fps
