"""Score conformance of a rendering: did each written note come out at its pitch and on its beat?

The pitch is measured on the rendered audio (not read off the model's own F0 curve), as the median over the
steady middle of each note: by default with the score-informed tracker of :mod:`vocalsynth.audio.note_f0`
(each note's F0 searched only near its written pitch: a few per cent of the render's time), or with a WORLD
tracker over the whole song (``method="harvest"`` or ``"dio"``). Onsets come from the phoneme timeline the model
placed.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from vocalsynth.audio.config import AudioConfig
from vocalsynth.audio.pitch import cents, midi_to_hz
from vocalsynth.score.model import Note, pitch_name

TOLERANCE_CENTS = 50.0
EDGE = 0.2  # share of a note skipped at each end: the glide in and out is not the note's pitch
MIN_VOICED = 0.5  # a note whose middle is voiced in fewer frames than this came out unvoiced
METHODS = ("nccf", "dio", "harvest")  # the score-informed tracker (default), then WORLD's


@dataclass
class NoteConformance:
    """One sung note: written pitch (after key shift), the median F0 sung over its middle and the deviation
    in cents (NaN when unvoiced), the voiced share of its middle, and its onset deviation in milliseconds
    (None when the phoneme timeline has no phoneme for it)."""

    index: int
    where: str
    target_midi: float
    sung_hz: float
    cents: float
    voiced: float
    onset_ms: float | None

    @property
    def unvoiced(self) -> bool:
        return self.voiced < MIN_VOICED or not math.isfinite(self.cents)


@dataclass
class ConformanceReport:
    """Per-note pitch and onset deviations of a rendering from its score; ``str(report)`` is one line."""

    notes: list[NoteConformance] = field(default_factory=list)
    tolerance_cents: float = TOLERANCE_CENTS
    method: str = "nccf"

    @property
    def n_notes(self) -> int:
        return len(self.notes)

    @property
    def unvoiced(self) -> list[int]:
        """Song indices of the notes that came out unvoiced."""
        return [n.index for n in self.notes if n.unvoiced]

    @property
    def within(self) -> int:
        """Notes sung within ``tolerance_cents`` of their written pitch (unvoiced notes are not)."""
        return sum(1 for n in self.notes if not n.unvoiced and abs(n.cents) <= self.tolerance_cents)

    @property
    def within_fraction(self) -> float:
        """Share of all sung notes within tolerance (NaN for a score with no notes)."""
        return self.within / self.n_notes if self.notes else math.nan

    @property
    def median_abs_cents(self) -> float:
        values = [abs(n.cents) for n in self.notes if not n.unvoiced]
        return float(np.median(values)) if values else math.nan

    @property
    def onset_mean_abs_ms(self) -> float:
        values = [abs(n.onset_ms) for n in self.notes if n.onset_ms is not None]
        return float(np.mean(values)) if values else math.nan

    @property
    def onset_max_abs_ms(self) -> float:
        values = [abs(n.onset_ms) for n in self.notes if n.onset_ms is not None]
        return float(np.max(values)) if values else math.nan

    def to_dict(self) -> dict:
        def clean(v):
            return None if isinstance(v, float) and not math.isfinite(v) else v

        return {
            "tolerance_cents": self.tolerance_cents,
            "method": self.method,
            "n_notes": self.n_notes,
            "within": self.within,
            "within_fraction": clean(self.within_fraction),
            "median_abs_cents": clean(self.median_abs_cents),
            "onset_mean_abs_ms": clean(self.onset_mean_abs_ms),
            "onset_max_abs_ms": clean(self.onset_max_abs_ms),
            "unvoiced": self.unvoiced,
            "notes": [{k: clean(v) for k, v in asdict(n).items()} for n in self.notes],
        }

    def __str__(self) -> str:
        if not self.notes:
            return "conformance: no sung notes"
        unvoiced = self.unvoiced
        listed = ", ".join(str(i) for i in unvoiced[:5]) + (", ..." if len(unvoiced) > 5 else "")
        text = (
            f"pitch: {100 * self.within_fraction:.0f}% of {self.n_notes} notes within "
            f"{self.tolerance_cents:g} cents (median |dev| {_fmt(self.median_abs_cents, 'c')})"
        )
        text += f", {len(unvoiced)} unvoiced" + (f" (notes {listed})" if unvoiced else "")
        text += f"; onsets: mean |dev| {_fmt(self.onset_mean_abs_ms, ' ms')}, max {_fmt(self.onset_max_abs_ms, ' ms')}"
        return text


def _fmt(value: float, unit: str) -> str:
    return f"{value:.0f}{unit}" if math.isfinite(value) else "n/a"


def measure(
    samples: np.ndarray,
    config: AudioConfig,
    notes: list[tuple[int, Note]],
    *,
    pre_roll: float,
    key_shift: float = 0.0,
    onsets: dict[int, float] | None = None,
    method: str = "nccf",
    tolerance_cents: float = TOLERANCE_CENTS,
    f0_track: tuple[np.ndarray, np.ndarray] | None = None,
) -> ConformanceReport:
    """Measure ``samples`` (mono, ``samples[round(pre_roll * sr)]`` at song time 0) against ``notes``
    (``(song index, Note)`` of the sung notes, times in song seconds).

    ``onsets`` maps a note index to the song time the rendering started the note's first nucleus (the
    phoneme timeline); ``method``: ``"nccf"`` (each note's middle searched within ±600 c of its written pitch,
    after the key shift: fast; a note sung more than 600 c off reads as unvoiced or at the search's edge) or a
    WORLD tracker over the whole song (``"dio"``: fast, ``"harvest"``: slow, steadier; both search every pitch).
    ``f0_track``: ``(f0_hz, vuv)`` already measured on the config's frame grid by another tracker (e.g. the
    independent judge of :mod:`vocalsynth.eval.pitch_judge`); ``method`` then only names it in the report.
    """
    if f0_track is None and method not in METHODS:
        raise ValueError(f"conformance method must be one of {', '.join(METHODS)}, got {method!r}")
    report = ConformanceReport(tolerance_cents=tolerance_cents, method=method)
    if not notes or samples.size == 0:
        return report
    fps = config.frames_per_second
    spans = [_middle(note, pre_roll, fps) for _, note in notes]
    if f0_track is not None:
        f0, vuv = (np.asarray(v, dtype=np.float64) for v in f0_track)
        tracks = [_frames(f0, vuv, i0, i1) for i0, i1 in spans]
    elif method == "nccf":
        from vocalsynth.audio.note_f0 import Stretch, track_near

        stretches = [
            Stretch(i0 / fps, (i1 - 1) / fps, float(midi_to_hz(float(n.pitch) + key_shift)))
            for (i0, i1), (_, n) in zip(spans, notes, strict=True)
        ]
        tracks = track_near(samples, config.sample_rate, stretches, frame_period=1.0 / fps)
    else:
        f0, vuv = _world_track(samples, config, notes, key_shift, method)
        tracks = [_frames(f0, vuv, i0, i1) for i0, i1 in spans]
    for (index, note), (seg_f0, seg_vuv) in zip(notes, tracks, strict=True):
        target = float(note.pitch) + key_shift
        voiced = seg_f0[(seg_vuv > 0.5) & (seg_f0 > 0)]
        share = float(voiced.size / seg_f0.size) if seg_f0.size else 0.0
        sung = float(np.median(voiced)) if voiced.size else math.nan
        dev = float(cents(sung, midi_to_hz(target))) if voiced.size else math.nan
        onset = None
        if onsets is not None and index in onsets:
            onset = 1000.0 * (onsets[index] - note.start)
        report.notes.append(
            NoteConformance(
                index=index,
                where=note.where or f"note {index + 1} ({pitch_name(note.pitch)})",
                target_midi=target,
                sung_hz=sung,
                cents=dev,
                voiced=share,
                onset_ms=onset,
            )
        )
    return report


def _middle(note: Note, pre_roll: float, fps: float) -> tuple[int, int]:
    """Frame range ``[i0, i1)`` of a note's steady middle (its centre frame for a note of a few frames)."""
    a = note.start + EDGE * note.duration + pre_roll
    b = note.end - EDGE * note.duration + pre_roll
    i0, i1 = int(math.ceil(a * fps)), int(math.floor(b * fps)) + 1
    if i1 <= i0:
        c = int(round((a + b) / 2 * fps))
        i0, i1 = c, c + 1
    return max(i0, 0), max(i1, max(i0, 0) + 1)


def _frames(f0: np.ndarray, vuv: np.ndarray, i0: int, i1: int) -> tuple[np.ndarray, np.ndarray]:
    return f0[i0 : min(i1, f0.size)], vuv[i0 : min(i1, f0.size)]


def _world_track(
    samples: np.ndarray, config: AudioConfig, notes: list[tuple[int, Note]], key_shift: float, method: str
) -> tuple[np.ndarray, np.ndarray]:
    """WORLD F0 and V/UV of the whole song, its search range widened by the key shift so a shifted tune is
    still found."""
    import dataclasses

    from vocalsynth.audio.world import analyze

    lo = min(config.f0_min, midi_to_hz(min(n.pitch for _, n in notes) + key_shift - 2))
    hi = max(config.f0_max, midi_to_hz(max(n.pitch for _, n in notes) + key_shift + 2))
    track_config = config
    if lo < config.f0_min or hi > config.f0_max:
        track_config = dataclasses.replace(
            config, f0_min=max(lo, 30.0), f0_max=min(hi, config.sample_rate / 2 - 1)
        )
    f0, vuv, _ = analyze(np.asarray(samples, dtype=np.float64), track_config, method)  # type: ignore[arg-type]
    return f0, vuv
