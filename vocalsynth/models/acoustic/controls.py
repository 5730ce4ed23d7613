"""`Controls`: what a user can change at inference (key, vibrato, breathiness, tension, gender, dynamics,
per-note pitch curves and durations), their checks, and the mel/aperiodicity edits some of them make.

Tempo is not here: it is a score-level change (scale the `Score`'s tempo map before phonemizing), so the
frontend re-times consonants for the new note lengths instead of stretching them.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from vocalsynth.audio.config import AudioConfig
from vocalsynth.score.errors import ScoreError

# how far each control may go (beyond this the model is far outside anything it learned)
LIMITS: dict[str, tuple[float, float]] = {
    "key_shift": (-24.0, 24.0),
    "vibrato_depth": (0.0, 5.0),
    "vibrato_rate": (0.25, 4.0),
    "breathiness": (-3.0, 3.0),
    "tension": (-3.0, 3.0),
    "gender": (-2.0, 2.0),
    "dynamics": (-40.0, 20.0),
    "pitch_correction": (0.0, 1.0),
}
VIBRATO_RATE_HZ = (1.0, 15.0)
MAX_REFINE_STEPS = 32
BREATHINESS_LOGIT = 3.0  # aperiodicity logit shift per unit of `breathiness`
TENSION_DB_PER_OCTAVE = 3.0  # spectral tilt per unit of `tension`, pivoting at TILT_PIVOT_HZ
TILT_PIVOT_HZ = 1000.0
GENDER_SEMITONES = 3.0  # formant shift per unit of `gender`


@dataclass
class Controls:
    """Inference controls; the defaults change nothing but ``pitch_correction``, which halves the singer's
    intonation offsets by default (see there).

    - ``key_shift``: semitones; the output F0 moves by exactly ``100 * key_shift`` cents and the mel is
      rendered for the shifted F0.
    - ``vibrato_depth``: multiplier of the learned vibrato depth (0 removes vibrato, 2 doubles it).
    - ``vibrato_rate``: multiplier of the learned vibrato rate; ``vibrato_rate_hz`` fixes it instead.
    - ``vibrato_delay``: seconds from each note's start over which vibrato fades in (on top of the learned
      onset); None keeps the learned onset only.
    - ``breathiness``: shifts the aperiodicity (breath noise) conditioning of voiced frames; +1 is breathier
      (logit +3), -1 cleaner.
    - ``tension``: spectral tilt, +1 = +3 dB per octave above 1 kHz (brighter, pressed), -1 darker.
    - ``gender``: formant shift by warping the mel's frequency axis, +1 = formants 3 semitones up
      (smaller, more feminine vocal tract), -1 down.
    - ``dynamics``: energy offset in dB (the mel level follows it).
    - ``pitch_correction``: 0 sings each note at the pitch the model learned from its singer (who sings
      some notes a little flat or sharp), 1 moves every note's held pitch onto the written pitch, keeping
      the curve's shape (portamento, overshoot, vibrato). Default 0.5: the default voice's singer holds some
      notes 60-120 cents flat, which a score-follower should not copy whole; on outside scores 0.5 and 1
      put the same share of notes within 50 cents, and 0.5 stays closer to the singer (docs/quality.md).
    - ``refine_steps``: Euler steps of the mel refiner (models that have one); 0 skips it, None uses the
      model's default. More steps cost time linearly.
    - ``note_pitch_curves``: ``{note_index: cents}``; the F0 of that note follows this curve (cents from
      the written pitch, spread evenly over the note; one value = flat) instead of the model's deviation
      and vibrato. ``key_shift`` still applies.
    - ``note_durations``: ``{note_index: seconds}``; that note lasts this long and everything after it
      moves. Indices are ``score.notes`` indices (``Phoneme.note_index``).
    """

    key_shift: float = 0.0
    vibrato_depth: float = 1.0
    vibrato_rate: float = 1.0
    vibrato_rate_hz: float | None = None
    vibrato_delay: float | None = None
    breathiness: float = 0.0
    tension: float = 0.0
    gender: float = 0.0
    dynamics: float = 0.0
    pitch_correction: float = 0.5
    refine_steps: int | None = None
    note_pitch_curves: dict[int, Sequence[float]] = field(default_factory=dict)
    note_durations: dict[int, float] = field(default_factory=dict)

    def validate(self, note_indices: set[int] | None = None) -> Controls:
        """Raise `ScoreError` (source 'controls', where the field) for a value out of range or a note that
        isn't in the sequence (``note_indices``); returns self."""
        for name, (lo, hi) in LIMITS.items():
            value = getattr(self, name)
            if not _number(value) or not lo <= value <= hi:
                raise ScoreError(
                    f"must be a number from {lo:g} to {hi:g}, got {value!r}", source="controls", where=name
                )
        if self.vibrato_rate_hz is not None:
            lo, hi = VIBRATO_RATE_HZ
            if not _number(self.vibrato_rate_hz) or not lo <= self.vibrato_rate_hz <= hi:
                raise ScoreError(
                    f"must be None or {lo:g} to {hi:g} Hz, got {self.vibrato_rate_hz!r}",
                    source="controls",
                    where="vibrato_rate_hz",
                )
        if self.refine_steps is not None and (
            not isinstance(self.refine_steps, int)
            or isinstance(self.refine_steps, bool)
            or not 0 <= self.refine_steps <= MAX_REFINE_STEPS
        ):
            raise ScoreError(
                f"must be None or a whole number from 0 to {MAX_REFINE_STEPS}, got {self.refine_steps!r}",
                source="controls",
                where="refine_steps",
            )
        if self.vibrato_delay is not None and (
            not _number(self.vibrato_delay) or not 0 <= self.vibrato_delay <= 10
        ):
            raise ScoreError(
                f"must be None or 0 to 10 seconds, got {self.vibrato_delay!r}",
                source="controls",
                where="vibrato_delay",
            )
        for name, table in (
            ("note_pitch_curves", self.note_pitch_curves),
            ("note_durations", self.note_durations),
        ):
            if not isinstance(table, Mapping):
                raise ScoreError("must map note indices to values", source="controls", where=name)
            for key, value in table.items():
                where = f"{name}[{key!r}]"
                if not isinstance(key, int) or isinstance(key, bool):
                    raise ScoreError("note index must be an integer", source="controls", where=where)
                if note_indices is not None and key not in note_indices:
                    raise ScoreError("no such note in this phoneme sequence", source="controls", where=where)
                if name == "note_durations":
                    if not _number(value) or not 0.01 <= value <= 60:
                        raise ScoreError(
                            f"must be 0.01 to 60 seconds, got {value!r}", source="controls", where=where
                        )
                else:
                    values = (
                        list(value) if isinstance(value, Sequence) and not isinstance(value, str) else None
                    )
                    if not values or not all(_number(v) and abs(v) <= 2400 for v in values):
                        raise ScoreError(
                            "must be a non-empty list of cents within +-2400", source="controls", where=where
                        )
        return self


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# --- the edits ----------------------------------------------------------------------------------------------


def mel_center_frequencies(config: AudioConfig) -> np.ndarray:
    """Centre frequency (Hz) of each mel band of ``config`` (Slaney mel scale, as librosa's filterbank)."""

    def hz_to_mel(f: np.ndarray) -> np.ndarray:
        f = np.asarray(f, dtype=np.float64)
        return np.where(
            f < 1000.0, f * 3.0 / 200.0, 15.0 + 27.0 * np.log(np.maximum(f, 1e-9) / 1000.0) / math.log(6.4)
        )

    def mel_to_hz(m: np.ndarray) -> np.ndarray:
        return np.where(m < 15.0, m * 200.0 / 3.0, 1000.0 * np.exp((m - 15.0) * math.log(6.4) / 27.0))

    mels = np.linspace(hz_to_mel(config.fmin), hz_to_mel(config.fmax), config.n_mels + 2)
    return mel_to_hz(mels)[1:-1]


@functools.lru_cache(maxsize=16)
def _warp_matrix(config: AudioConfig, factor: float) -> torch.Tensor:
    centers = mel_center_frequencies(config)
    # band b of the output takes what the input had at frequency f_b / factor (linear in band index)
    src = np.interp(centers / factor, centers, np.arange(config.n_mels, dtype=np.float64))
    lo = np.floor(src).astype(int)
    hi = np.minimum(lo + 1, config.n_mels - 1)
    frac = src - lo
    w = np.zeros((config.n_mels, config.n_mels), dtype=np.float32)
    w[np.arange(config.n_mels), lo] += 1 - frac
    w[np.arange(config.n_mels), hi] += frac
    return torch.from_numpy(w)


def formant_shift(
    mel: torch.Tensor, config: AudioConfig, gender: float, f0_hz: torch.Tensor | None = None
) -> torch.Tensor:
    """Move the formants of ``(..., n_mels, T)`` log-mel by ``GENDER_SEMITONES * gender`` and nothing else.

    With ``f0_hz`` (``(..., T)``, 0 where unvoiced), only the spectral envelope is warped: each voiced frame
    splits into an envelope (the mel's cepstrum liftered below the ripple its harmonics make, which depends on
    F0) and the harmonic fine structure, which stays where it was. Warping the harmonics too would move the
    pitch a neural vocoder hears in the mel (+384 c at ``gender=1.5`` on C4-C5 before this split). Unvoiced
    frames, and every frame without ``f0_hz``, are warped whole."""
    if gender == 0:
        return mel
    w = _warp_matrix(config, float(2.0 ** (GENDER_SEMITONES * gender / 12.0))).to(mel.device, mel.dtype)
    if f0_hz is None:
        return torch.matmul(w, mel)
    env = spectral_envelope(mel, config, f0_hz)
    return torch.matmul(w, env) + (mel - env)


ENVELOPE_SHARE = 0.5  # share of the harmonics' cepstral index the envelope keeps below it


@functools.lru_cache(maxsize=4)
def _dct_basis(n: int) -> torch.Tensor:
    """Orthonormal DCT-II matrix ``(n, n)``: row k is cepstral index k."""
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    basis = np.cos(np.pi * k * (2 * i + 1) / (2 * n)) * np.sqrt(2.0 / n)
    basis[0] /= np.sqrt(2.0)
    return torch.from_numpy(basis.astype(np.float32))


def spectral_envelope(mel: torch.Tensor, config: AudioConfig, f0_hz: torch.Tensor) -> torch.Tensor:
    """The envelope of ``(..., n_mels, T)`` log-mel: per voiced frame, its cepstrum over the mel bands kept
    below ``ENVELOPE_SHARE`` of the index at which harmonics ``f0_hz`` apart ripple across the narrow low bands
    (a 262 Hz voice ripples every ~6 bands, so about the first 13 indices stay); unvoiced frames are their own
    envelope."""
    n = config.n_mels
    centers = mel_center_frequencies(config)
    band_hz = float(centers[1] - centers[0])  # the narrowest bands, at the bottom: where harmonics resolve
    basis = _dct_basis(n).to(mel.device, mel.dtype)
    f0 = f0_hz.to(mel.dtype)
    period_bands = (f0 / band_hz).clamp(min=1e-3)  # ripple period in bands
    cutoff = (ENVELOPE_SHARE * 2 * n / period_bands).clamp(min=3, max=n)  # cepstral indices kept
    k = torch.arange(n, device=mel.device, dtype=mel.dtype)
    keep = (k[:, None] < cutoff.unsqueeze(-2)).to(mel.dtype)  # (..., n, T)
    keep = torch.where((f0 > 0).unsqueeze(-2), keep, torch.ones_like(keep))
    cep = torch.matmul(basis, mel)
    return torch.matmul(basis.T, cep * keep)


def spectral_tilt(mel: torch.Tensor, config: AudioConfig, tension: float) -> torch.Tensor:
    """Add ``TENSION_DB_PER_OCTAVE * tension`` dB per octave (pivot 1 kHz) to ``(..., n_mels, T)`` log-mel."""
    if tension == 0:
        return mel
    octaves = np.log2(np.maximum(mel_center_frequencies(config), 1.0) / TILT_PIVOT_HZ)
    gain = torch.as_tensor(octaves * TENSION_DB_PER_OCTAVE * tension * math.log(10) / 20, dtype=mel.dtype)
    return mel + gain.to(mel.device)[:, None]


def shift_breathiness(aperiodicity: torch.Tensor, vuv: torch.Tensor, breathiness: float) -> torch.Tensor:
    """Move voiced frames' ``(B, bands, T)`` aperiodicity by ``BREATHINESS_LOGIT * breathiness`` in logit units."""
    if breathiness == 0:
        return aperiodicity
    a = aperiodicity.clamp(1e-4, 1 - 1e-4)
    shifted = torch.sigmoid(torch.log(a / (1 - a)) + BREATHINESS_LOGIT * breathiness)
    return torch.where(vuv[:, None, :] > 0.5, shifted, aperiodicity)


def curve_frames(cents: Sequence[float], n: int) -> np.ndarray:
    """A per-note cents curve spread evenly over ``n`` frames (linear interpolation), in semitones."""
    values = np.asarray(list(cents), dtype=np.float64) / 100.0
    if n <= 0:
        return np.zeros(0)
    if values.size == 1:
        return np.full(n, values[0])
    return np.interp(np.linspace(0, values.size - 1, n), np.arange(values.size), values)
