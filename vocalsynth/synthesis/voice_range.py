"""A voice's singing range, as its card states it: the octave shift that fits a melody into it, and the
installed voice whose range fits a melody best (what `sing`, the API and the demo use when no voice is named).

Used by the demo ("Fit the melody to the voice's range"), by `vocalsynth eval --scores` and by `vocalsynth sing`.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

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


@dataclass(frozen=True)
class VoiceChoice:
    """Which installed voice :func:`pick_voice` chose for a melody, and why (``reason``, one line)."""

    name: str
    range: tuple[int, int] | None
    inside: float  # share of the melody's sung notes inside the chosen voice's range, 0..1
    reason: str


def _share_inside(pitches: list[int], rng: tuple[int, int]) -> float:
    lo, hi = rng
    return sum(lo <= p <= hi for p in pitches) / len(pitches)


def pick_voice(
    score: Score, voices: Sequence[tuple[str, VoiceCard]], default: str = "default"
) -> VoiceChoice:
    """The voice (of ``(name, card)`` pairs, e.g. the installed ones) whose stated range holds the most of the
    melody's sung notes at written pitch; ties go to the one whose range centre is nearest the melody's
    median, then to ``default``. Voices whose card states no range are only chosen when none states one.
    Raises ValueError when ``voices`` is empty."""
    if not voices:
        raise ValueError("no voices to choose from")
    from vocalsynth.score import pitch_name

    pitches = [n.pitch for n in score.sung_notes]
    ranged = [(name, voice_range(card)) for name, card in voices]
    ranged = [(name, rng) for name, rng in ranged if rng is not None]
    names = [name for name, _ in voices]
    if not pitches or not ranged:
        name = default if default in names else names[0]
        why = "the score has no sung notes" if not pitches else "no voice's card states a range"
        return VoiceChoice(name, None, 0.0, f"voice {name}: {why}")
    median = statistics.median(pitches)

    def cost(entry: tuple[str, tuple[int, int]]) -> tuple[float, float, bool]:
        name, rng = entry
        return -_share_inside(pitches, rng), abs(median - (rng[0] + rng[1]) / 2), name != default

    ranked = sorted(ranged, key=cost)
    name, rng = ranked[0]
    share = _share_inside(pitches, rng)

    def span(r: tuple[int, int]) -> str:
        return f"{pitch_name(r[0])}–{pitch_name(r[1])}"

    others = ", ".join(f"{n} {span(r)} {100 * _share_inside(pitches, r):.0f} %" for n, r in ranked[1:])
    reason = (
        f"voice {name}: its range {span(rng)} holds {100 * share:.0f} % of the melody's notes "
        f"({span((min(pitches), max(pitches)))}, median {pitch_name(round(median))})"
        + (f"; {others}" if others else "")
    )
    return VoiceChoice(name, rng, share, reason)


def pick_installed_voice(score: Score, voices_dir: str | None = None) -> VoiceChoice:
    """:func:`pick_voice` among the installed voices whose cards read (`vocalsynth.voices.list_voices`).
    Raises `VoiceError` when none is installed."""
    from vocalsynth.voices import DEFAULT_VOICE, list_voices, no_voices_message
    from vocalsynth.voices.card import VoiceError

    voices = [(v.name, v.card) for v in list_voices(voices_dir) if v.card is not None]
    if not voices:
        raise VoiceError(no_voices_message(voices_dir))
    return pick_voice(score, voices, DEFAULT_VOICE)
