"""`PhonemeSequence`: the seam between the text frontend and the acoustic model (phonemes, notes, timing).

Serialisable (`to_dict` / `to_json` / `from_json`) and printable as a note/phoneme table (`table`).
"""

from __future__ import annotations

import json
import math
import unicodedata
from dataclasses import asdict, dataclass, field, fields

from vocalsynth.score.errors import ScoreError
from vocalsynth.score.model import pitch_name
from vocalsynth.text import inventory

FORMAT_VERSION = 1

ONSET = "onset"  # consonants before the note's first nucleus: sung before the beat
NUCLEUS = "nucleus"  # a vowel (or ja/N, ja/cl, SP, AP) carrying the note or part of it
INNER = "inner"  # a consonant between two nuclei on the same note
CODA = "coda"  # consonants after the last nucleus: they end the note
ROLES = (ONSET, NUCLEUS, INNER, CODA)


@dataclass
class Phoneme:
    """One timed phoneme.

    ``note_index`` indexes ``score.notes`` (None for a rest the frontend inserted in a gap);
    ``position`` is the phoneme's index within its note's group; ``role`` one of `ROLES`.
    ``start``/``duration`` are the rule-based timing in seconds (onsets start before their note).
    ``tone`` is the Mandarin tone (1-4, 5 neutral) where known, else None.
    """

    symbol: str
    language: str | None
    note_index: int | None
    note_pitch: int | None
    note_duration: float
    position: int
    role: str
    slur: bool
    start: float
    duration: float
    tone: int | None = None

    @property
    def end(self) -> float:
        return self.start + self.duration

    @property
    def kind(self) -> str:
        return inventory.kind(self.symbol)


@dataclass
class NoteInfo:
    """What the table and the acoustic model need to know of a score note."""

    index: int
    start: float
    duration: float
    pitch: int | None
    lyric: str = ""
    slur: bool = False
    where: str = ""


@dataclass
class PhonemeSequence:
    """The phonemes of a score in time order, covering the song from ``-pre_roll`` to its end, no gaps."""

    phonemes: list[Phoneme]
    notes: list[NoteInfo] = field(default_factory=list)
    language: str = "en"
    pre_roll: float = 0.0
    warnings: list[str] = field(default_factory=list)
    source: str = "<score>"

    def __len__(self) -> int:
        return len(self.phonemes)

    def __iter__(self):
        return iter(self.phonemes)

    @property
    def symbols(self) -> list[str]:
        return [p.symbol for p in self.phonemes]

    @property
    def durations(self) -> list[float]:
        return [p.duration for p in self.phonemes]

    @property
    def duration(self) -> float:
        """Seconds from the first phoneme's start (``-pre_roll``) to the last one's end."""
        return self.phonemes[-1].end - self.phonemes[0].start if self.phonemes else 0.0

    def for_note(self, index: int) -> list[Phoneme]:
        """The phonemes sung for ``score.notes[index]`` (its onset included, though it starts earlier)."""
        return [p for p in self.phonemes if p.note_index == index]

    # --- serialisation ---------------------------------------------------------------------------

    def to_dict(self) -> dict:
        return {
            "format": "vocalsynth.PhonemeSequence",
            "version": FORMAT_VERSION,
            "source": self.source,
            "language": self.language,
            "pre_roll": self.pre_roll,
            "warnings": list(self.warnings),
            "notes": [asdict(n) for n in self.notes],
            "phonemes": [asdict(p) for p in self.phonemes],
        }

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=indent)

    @classmethod
    def from_dict(cls, data: dict, *, source: str = "<json>") -> PhonemeSequence:
        """Rebuild from `to_dict` output; `ScoreError` names the entry that is malformed."""
        if not isinstance(data, dict) or not isinstance(data.get("phonemes"), list):
            raise ScoreError("not a PhonemeSequence: no 'phonemes' list", source=source)
        if data.get("version", FORMAT_VERSION) > FORMAT_VERSION:
            raise ScoreError(
                f"PhonemeSequence version {data['version']} is newer than this reader", source=source
            )
        phonemes = [_build(Phoneme, p, source, f"phoneme {i}") for i, p in enumerate(data["phonemes"])]
        for i, p in enumerate(phonemes):
            if p.symbol not in inventory.INVENTORY:
                raise ScoreError(f"unknown phoneme {p.symbol!r}", source=source, where=f"phoneme {i}")
            if not (math.isfinite(p.start) and math.isfinite(p.duration) and p.duration >= 0):
                raise ScoreError(
                    "start/duration must be finite and duration >= 0", source=source, where=f"phoneme {i}"
                )
        notes = [_build(NoteInfo, n, source, f"note {i}") for i, n in enumerate(data.get("notes", []))]
        return cls(
            phonemes=phonemes,
            notes=notes,
            language=str(data.get("language", "en")),
            pre_roll=float(data.get("pre_roll", 0.0)),
            warnings=[str(w) for w in data.get("warnings", [])],
            source=str(data.get("source", source)),
        )

    @classmethod
    def from_json(cls, text: str | bytes, *, source: str = "<json>") -> PhonemeSequence:
        try:
            data = json.loads(text)
        except (ValueError, UnicodeDecodeError) as e:
            raise ScoreError(f"not JSON ({e})", source=source) from e
        return cls.from_dict(data, source=source)

    # --- the note/phoneme table ------------------------------------------------------------------

    def table(self, *, tags: bool = True) -> str:
        """The note/phoneme table as text: one row per note (index, time, pitch, lyric, phonemes).

        Each phoneme reads ``symbol start+duration`` in seconds and milliseconds
        (``en/t 0.460+40``); ``~`` marks a slur/held note; ``tags=False`` drops the ``ja/`` prefixes.
        """
        notes = {n.index: n for n in self.notes}
        rows: list[tuple[str, str, str, str, str]] = []
        group: list[Phoneme] = []

        def flush() -> None:
            if not group:
                return
            idx = group[0].note_index
            n = notes.get(idx) if idx is not None else None
            start = n.start if n else group[0].start
            pitch = pitch_name(n.pitch if n else None) + (" ~" if any(p.slur for p in group) else "")
            lyric = n.lyric if n else ""
            cells = "  ".join(
                f"{p.symbol if tags else p.symbol.split('/', 1)[-1]} {p.start:.3f}+{p.duration * 1000:.0f}"
                for p in group
            )
            rows.append((str(idx) if idx is not None else "-", f"{start:.3f}", pitch, lyric, cells))

        for p in self.phonemes:
            if group and p.note_index != group[-1].note_index:
                flush()
                group = []
            group.append(p)
        flush()
        head = ("note", "time", "pitch", "lyric", "phonemes (start s + duration ms)")
        widths = [max(_width(r[k]) for r in [head, *rows]) for k in range(4)]
        lines = []
        for r in [head, *rows]:
            cells = [_pad(r[k], widths[k], right=k < 2) for k in range(4)]
            lines.append("  ".join([*cells, r[4]]).rstrip())
        if self.pre_roll > 0:
            lines.append(f"pre-roll: {self.pre_roll:.3f} s before the score's time 0")
        return "\n".join(lines)


def _width(text: str) -> int:
    # kana and hanzi take two columns in a terminal
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _pad(text: str, width: int, *, right: bool) -> str:
    fill = " " * (width - _width(text))
    return fill + text if right else text + fill


def _build(cls, data, source: str, where: str):
    if not isinstance(data, dict):
        raise ScoreError(f"expected an object, got {type(data).__name__}", source=source, where=where)
    names = {f.name for f in fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ScoreError(f"unknown field(s) {sorted(unknown)}", source=source, where=where)
    try:
        return cls(**data)
    except TypeError as e:
        raise ScoreError(f"malformed entry ({e})", source=source, where=where) from e
