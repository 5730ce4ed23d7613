"""Checks every score must pass before it is sung, with errors that say what and where."""

from __future__ import annotations

import math

from vocalsynth.score.errors import ScoreError
from vocalsynth.score.model import Note, Score

MAX_SECONDS = 3600.0
MAX_NOTES = 100_000
OVERLAP_TOLERANCE = 1e-4  # seconds; rounding in tick/second conversions


def _place(i: int, n: Note) -> str:
    return n.where or f"note {i + 1}"


def validate(score: Score, *, require_lyrics: bool = True) -> Score:
    """Raise `ScoreError` for a score that can't be sung; return it unchanged otherwise."""
    src = score.source
    for t in score.tempos:
        if not (math.isfinite(t.bpm) and t.bpm > 0):
            raise ScoreError(f"tempo must be > 0 bpm, got {t.bpm} at beat {t.beat:g}", source=src)
        if t.bpm > 2000:
            raise ScoreError(f"tempo {t.bpm:g} bpm at beat {t.beat:g} is absurd (limit 2000)", source=src)
    if len(score.notes) > MAX_NOTES:
        raise ScoreError(f"{len(score.notes)} notes is more than the limit of {MAX_NOTES}", source=src)
    sung = score.sung_notes
    if not sung:
        raise ScoreError("no notes to sing (the score is empty or all rests)", source=src)
    prev: Note | None = None
    for i, n in enumerate(score.notes):
        where = _place(i, n)
        if not (math.isfinite(n.start) and math.isfinite(n.duration)):
            raise ScoreError("note time is not a finite number", source=src, where=where)
        if n.duration <= 0:
            raise ScoreError(f"duration must be > 0, got {n.duration:g} s", source=src, where=where)
        if n.start < -OVERLAP_TOLERANCE:
            raise ScoreError(f"note starts before the song ({n.start:g} s)", source=src, where=where)
        if n.pitch is not None and not (0 <= n.pitch <= 127):
            raise ScoreError(f"pitch {n.pitch} is outside MIDI 0-127", source=src, where=where)
        if prev is not None and n.start < prev.end - OVERLAP_TOLERANCE:
            raise ScoreError(
                f"overlaps the previous note ({prev.name} ends at {prev.end:.3f} s, "
                f"this {n.name} starts at {n.start:.3f} s); one voice sings one note at a time",
                source=src,
                where=where,
            )
        prev = n
    if score.duration > MAX_SECONDS:
        raise ScoreError(
            f"the song lasts {score.duration / 60:.1f} minutes; the limit is {MAX_SECONDS / 60:.0f}",
            source=src,
        )
    if require_lyrics and not any(n.lyric.strip() or n.phonemes for n in sung):
        raise ScoreError("no lyrics: no note carries a lyric to sing", source=src)
    return score
