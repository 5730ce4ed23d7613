"""A voice's singing range, as its card states it, and the octave shift that fits a melody into it.

Used by the demo ("Fit the melody to the voice's range") and by `vocalsynth eval --scores`.
"""

from __future__ import annotations

import re
import statistics

from vocalsynth.score import Score
from vocalsynth.voices.card import VoiceCard

MAX_OCTAVES = 3  # the key fit tries shifts of -3..+3 octaves
_NOTE_NAME = r"([A-Ga-g])([#b]?)(-?\d)"
# a range stated in a card's description, e.g. "pitch range, A#2-G4"
_RANGE_IN_TEXT = re.compile(r"range\D{0,40}?" + _NOTE_NAME + r"\s*(?:-|–|to)\s*" + _NOTE_NAME)
_STEPS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}


def parse_pitch_name(text: str) -> int:
    """'A#2' -> 46 (scientific pitch, C4 = 60)."""
    m = re.fullmatch(_NOTE_NAME, text.strip())
    if m is None:
        raise ValueError(f"not a pitch name: {text!r}")
    letter, accidental, octave = m.groups()
    return 12 * (int(octave) + 1) + _STEPS[letter.upper()] + {"#": 1, "b": -1, "": 0}[accidental]


def voice_range(card: VoiceCard) -> tuple[int, int] | None:
    """The MIDI range the voice sings, as its card states it: a ``range`` field (``"A#2-G4"`` or
    ``[46, 67]``), else a range written in its description ("pitch range, A#2-G4"); None if it says none."""
    value = card.extra.get("range")
    try:
        if isinstance(value, str):
            lo, hi = re.split(r"\s*(?:-|–|to)\s*(?=[A-Ga-g])", value.strip(), maxsplit=1)
            found = parse_pitch_name(lo), parse_pitch_name(hi)
        elif isinstance(value, (list, tuple)) and len(value) == 2:
            found = tuple(v if isinstance(v, int) else parse_pitch_name(str(v)) for v in value)
        else:
            m = _RANGE_IN_TEXT.search(card.description or "")
            if m is None:
                return None
            found = parse_pitch_name("".join(m.groups()[:3])), parse_pitch_name("".join(m.groups()[3:]))
    except ValueError:
        return None
    lo, hi = found
    return (lo, hi) if 0 <= lo < hi <= 127 else None


def suggest_key_shift(score: Score, voice_range: tuple[int, int] | None) -> int:
    """The shift by whole octaves (so the tune keeps its key) that puts the most notes of the melody inside
    ``voice_range`` (MIDI low, high): the smallest such shift, then the one that centres the melody's median
    best. A melody already in range stays; 0 when the voice's range is unknown."""
    if voice_range is None:
        return 0
    lo, hi = voice_range
    pitches = [n.pitch for n in score.sung_notes]
    if not pitches:
        return 0
    middle, median = (lo + hi) / 2, statistics.median(pitches)

    def cost(octaves: int) -> tuple[int, int, float]:
        shift = 12 * octaves
        outside = sum(1 for p in pitches if not lo <= p + shift <= hi)
        return outside, abs(octaves), abs(median + shift - middle)

    return 12 * min(range(-MAX_OCTAVES, MAX_OCTAVES + 1), key=cost)
