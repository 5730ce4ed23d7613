"""Helpers readers share to turn what they parsed into a clean sung line."""

from __future__ import annotations

from vocalsynth.score.errors import ScoreError
from vocalsynth.score.model import Note, TempoMap

EPS = 1e-6
MB = 1024 * 1024


def check_size(data: bytes, limit: int, source: str, what: str) -> None:
    """Refuse input over ``limit`` bytes before parsing it: each reader's limit bounds the memory it takes.

    Parsed scores take tens of times their file size in memory (Python objects per note, tag or token),
    so the limits are set per format (see the README's "Limits and safety").
    """
    if len(data) > limit:
        raise ScoreError(
            f"{what} of {len(data) / MB:.1f} MB is refused: the limit is {limit / MB:g} MB", source=source
        )


def fill_from_beats(notes: list[Note], tempo_map: TempoMap) -> list[Note]:
    """Set seconds from beats (for formats that count in ticks/beats), then tidy the line."""
    for n in notes:
        n.start = tempo_map.seconds(n.start_beat)
        n.duration = tempo_map.seconds(n.start_beat + n.duration_beats) - n.start
    return tidy_line(notes, tempo_map)


def fill_from_seconds(notes: list[Note], tempo_map: TempoMap) -> list[Note]:
    """Set beats from seconds (for formats that count in seconds), then tidy the line."""
    for n in notes:
        n.start_beat = tempo_map.beats(n.start)
        n.duration_beats = tempo_map.beats(n.start + n.duration) - n.start_beat
    return tidy_line(notes, tempo_map)


def tidy_line(notes: list[Note], tempo_map: TempoMap) -> list[Note]:
    """Sort by start, fill gaps with rests and merge neighbouring rests.

    Overlaps are left in place: `validate` reports them with the notes' places.
    """
    notes = sorted(notes, key=lambda n: (n.start, n.is_rest))
    out: list[Note] = []
    t = 0.0
    for n in notes:
        if n.start > t + EPS:
            out.append(_rest(t, n.start, tempo_map))
        out.append(n)
        t = max(t, n.end)
    merged: list[Note] = []
    for n in out:
        if n.is_rest and n.duration <= EPS:
            continue
        if n.is_rest and merged and merged[-1].is_rest:
            prev = merged[-1]
            prev.duration = n.end - prev.start
            prev.duration_beats = n.end_beat - prev.start_beat
            continue
        if n.is_rest:
            n.lyric = ""
            n.slur = False
        merged.append(n)
    return merged


def _rest(start: float, end: float, tempo_map: TempoMap) -> Note:
    b0, b1 = tempo_map.beats(start), tempo_map.beats(end)
    return Note(start=start, duration=end - start, pitch=None, start_beat=b0, duration_beats=b1 - b0)
