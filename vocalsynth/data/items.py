"""`CorpusItem`: what every corpus adapter produces — one recording with its notes and phonemes.

Times are seconds from the start of the recording. Phoneme symbols use the project's inventory
(`ja/a`, `en/ae`, `zh/ang`, untagged `SP` rest and `AP` breath; see docs/phonemes.md).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class NoteLabel:
    pitch: int | None  # MIDI note number; None for a rest
    start: float
    end: float
    slur: bool = False  # continues the previous note's syllable


@dataclass
class PhoneLabel:
    symbol: str
    start: float
    end: float
    note_index: int  # index into the item's notes


@dataclass
class CorpusItem:
    """One recording. ``aligned`` says whether the timings come from the recording itself
    (hand labels or our aligner) or only from the score (e.g. PJS' MIDI durations), in which case
    the aligner must place them before training."""

    id: str
    corpus: str
    audio_path: str
    language: str
    singer: str
    licence: str
    notes: list[NoteLabel] = field(default_factory=list)
    phonemes: list[PhoneLabel] = field(default_factory=list)
    aligned: bool = False

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> CorpusItem:
        d = dict(d)
        d["notes"] = [NoteLabel(**n) for n in d.get("notes", [])]
        d["phonemes"] = [PhoneLabel(**p) for p in d.get("phonemes", [])]
        return cls(**d)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> CorpusItem:
        return cls.from_dict(json.loads(text))

    @property
    def name(self) -> str:
        return Path(self.audio_path).stem
