"""`AudioConfig`: the one audio configuration every feature cache and checkpoint carries, and its checks."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from vocalsynth.audio.errors import AudioError

# Fields that decide what a mel frame means: an acoustic model and a vocoder must agree on these.
MEL_FIELDS = ("sample_rate", "hop_length", "win_length", "n_fft", "n_mels", "fmin", "fmax")


class AudioConfigMismatch(AudioError):
    """Two parts (a checkpoint and a vocoder, a cache and a config...) were made with different audio settings.

    ``differences`` maps each differing field to ``(value in the first, value in the second)``.
    """

    def __init__(self, differences: dict[str, tuple[Any, Any]], what_self: str, what_other: str):
        self.differences = differences
        self.what_self = what_self
        self.what_other = what_other
        details = "; ".join(
            f"{what_self} has {k} {a} but {what_other} has {b}" for k, (a, b) in differences.items()
        )
        super().__init__(f"audio configurations differ: {details}")


@dataclass(frozen=True)
class AudioConfig:
    """Sample rate, STFT/mel layout and F0 search range shared by features, acoustic models and vocoders.

    Defaults, and why:

    - ``sample_rate=24000``: PJS is recorded at 24 kHz; NIT-SONG070 (48 kHz) and vocadito (44.1 kHz) are
      resampled down. 24 kHz keeps the voice up to 12 kHz (breath and sibilants included) at half the
      samples of 48 kHz, which matters for vocoder training on a 2-core CPU.
    - ``hop_length=240`` (10 ms): exactly 100 frames a second, so score seconds, DiffSinger
      ``f0_timestep`` (0.01) and WORLD's ``frame_period`` (10.0 ms) map onto frames without drift.
      240 = 5*4*4*3 factors cleanly into vocoder upsampling stages.
    - ``n_fft=win_length=1024`` (42.7 ms, bins 23.4 Hz apart): resolves the harmonics of a 65 Hz bass.
    - ``n_mels=80``, ``fmin=40``, ``fmax=12000``: the usual HiFi-GAN/Vocos resolution; below 1 kHz the
      80 bands are ~42 Hz apart, fine enough for sung harmonics, and 80 outputs keep the acoustic model
      small. ``fmax`` is the Nyquist frequency, so nothing the file holds is thrown away.
    - ``f0_min=65``, ``f0_max=1100`` Hz (C2 to C#6): a bass's low notes to a soprano's high C.
      A lower floor makes WORLD Harvest slower and prone to octave-down errors.
    - ``n_aperiodicity_bands=4``: D4C aperiodicity averaged in 4 mel-spaced bands up to ``fmax``
      (0-850, 850-2070, 2070-4980, 4980-12000 Hz at the defaults) as the breathiness curves.

    Frames follow ``torch.stft(center=True)``: frame ``i`` is centred on sample ``i * hop_length`` and a
    signal of ``n`` samples has ``n // hop_length + 1`` frames (:meth:`n_frames`).
    """

    sample_rate: int = 24000
    hop_length: int = 240
    win_length: int = 1024
    n_fft: int = 1024
    n_mels: int = 80
    fmin: float = 40.0
    fmax: float = 12000.0
    f0_min: float = 65.0
    f0_max: float = 1100.0
    n_aperiodicity_bands: int = 4

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.type == "int":
                if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                    raise AudioError(
                        f"{f.name} must be a positive integer, got {value!r}", source="AudioConfig"
                    )
            else:
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                    raise AudioError(f"{f.name} must be a finite number, got {value!r}", source="AudioConfig")
                object.__setattr__(self, f.name, float(value))
        nyquist = self.sample_rate / 2
        problems = []
        if self.win_length > self.n_fft:
            problems.append(f"win_length {self.win_length} is longer than n_fft {self.n_fft}")
        if self.hop_length > self.win_length:
            problems.append(f"hop_length {self.hop_length} is longer than win_length {self.win_length}")
        if not 0 <= self.fmin < self.fmax:
            problems.append(f"need 0 <= fmin < fmax, got fmin {self.fmin} and fmax {self.fmax}")
        if self.fmax > nyquist:
            problems.append(
                f"fmax {self.fmax} is above the Nyquist frequency {nyquist} (sample_rate {self.sample_rate})"
            )
        if not 0 < self.f0_min < self.f0_max:
            problems.append(f"need 0 < f0_min < f0_max, got f0_min {self.f0_min} and f0_max {self.f0_max}")
        if self.f0_max >= nyquist:
            problems.append(f"f0_max {self.f0_max} is not below the Nyquist frequency {nyquist}")
        if problems:
            raise AudioError("; ".join(problems), source="AudioConfig")

    @property
    def frame_period_ms(self) -> float:
        """Milliseconds between frames (WORLD's ``frame_period``)."""
        return 1000.0 * self.hop_length / self.sample_rate

    @property
    def frames_per_second(self) -> float:
        return self.sample_rate / self.hop_length

    def n_frames(self, n_samples: int) -> int:
        """Frames for a signal of ``n_samples`` samples: ``n_samples // hop_length + 1`` (centred frames)."""
        return int(n_samples) // self.hop_length + 1

    def to_dict(self) -> dict[str, int | float]:
        """Plain ``{field: value}`` for YAML, JSON, checkpoints and feature caches."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str | None = None) -> AudioConfig:
        """Build from :meth:`to_dict` output. Unknown keys are an error; missing keys take the defaults.

        ``source`` (e.g. the checkpoint path) goes into error messages.
        """
        where = source or "audio config"
        if not isinstance(data, Mapping):
            raise AudioError(f"expected a mapping of audio settings, got {type(data).__name__}", source=where)
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise AudioError(
                f"unknown audio setting(s) {', '.join(map(str, unknown))}; known: {', '.join(known)}",
                source=where,
            )
        values: dict[str, Any] = {}
        for key, value in data.items():
            # YAML and JSON may hand back 24000.0 for an int field; accept it only when it is whole.
            if known[key].type == "int" and isinstance(value, float) and value.is_integer():
                value = int(value)
            values[key] = value
        try:
            return cls(**values)
        except AudioError as e:
            raise AudioError(e.detail, source=where) from None

    def check_compatible(
        self,
        other: AudioConfig,
        *,
        what_self: str = "this configuration",
        what_other: str = "the other configuration",
        fields: Iterable[str] | None = None,
    ) -> None:
        """Raise :class:`AudioConfigMismatch` naming every differing field, both values and both sources.

        ``fields`` limits the comparison, e.g. :data:`MEL_FIELDS` between an acoustic model and a vocoder
        (the F0 search range does not change what a mel frame means).
        """
        names = tuple(fields) if fields is not None else tuple(f.name for f in dataclasses.fields(self))
        unknown = [n for n in names if not hasattr(self, n)]
        if unknown:
            raise ValueError(f"not AudioConfig fields: {', '.join(unknown)}")
        differences = {}
        for name in names:
            a, b = getattr(self, name), getattr(other, name)
            if not math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9):
                differences[name] = (a, b)
        if differences:
            raise AudioConfigMismatch(differences, what_self, what_other)
