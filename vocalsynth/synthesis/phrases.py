"""Phrases: a song cut at its rests into pieces rendered one by one, each a small `Score` of its own with the
whole rests around it as context, a content hash for the cache, and the LRU cache itself.

Phrase ``i`` renders the notes from the rest before it to the rest after it (both whole, so the frontend
times the first consonant exactly as it would in the whole song) and contributes the audio between the
middles of those two rests; neighbours cross-fade over a few milliseconds there, inside silence.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from vocalsynth.score.model import Note, Part, Score
from vocalsynth.text import detect
from vocalsynth.text.phonemize import EXTENDERS

DEFAULT_SPLIT_REST = 0.3  # seconds: rests at least this long end a phrase
CROSSFADE = 0.02  # seconds of cross-fade at each cut (at most half of the rest's middle half)


@dataclass
class Phrase:
    """One phrase of a song.

    ``first``/``stop`` index ``song.notes`` (the sub-score is ``notes[first:stop]``, the rests around the
    phrase included); ``start`` is the song time of the sub-score's time 0 (``notes[first].start``).
    The phrase's audio covers song time ``[cut_in, cut_out)``; ``fade`` and ``fade_out`` are half the
    cross-fade lengths at ``cut_in`` and ``cut_out`` (0 at the song's ends).
    """

    index: int
    first: int
    stop: int
    start: float
    end: float
    cut_in: float
    cut_out: float
    fade: float
    fade_out: float
    score: Score
    key: str

    @property
    def sung_notes(self) -> list[int]:
        """Song indices of the phrase's sung notes."""
        return [self.first + k for k, n in enumerate(self.score.notes) if not n.is_rest]


def _continues(note: Note) -> bool:
    """A note that carries on the syllable or word before it: a rest before it must not cut the phrase."""
    lyric = note.lyric.strip()
    return (
        note.slur
        or not lyric
        or lyric in EXTENDERS
        or lyric.startswith("-")
        or note.syllabic in ("middle", "end")
    )


def resolve_languages(score: Score, language: str | None) -> list[str | None]:
    """The language each note is sung in, decided once for the whole song (as the frontend would: the note's
    own language, else ``language``, else the score's, else detected from the script of all the lyrics), so
    a phrase rendered alone reads its lyrics as it would inside the song."""
    caller = detect.normalize_language(language)
    score_language = detect.normalize_language(score.language)
    detector = None
    out: list[str | None] = []
    for n in score.notes:
        lang = detect.normalize_language(n.language) or caller or score_language
        if lang is None:
            if detector is None:
                detector = detect.Detector([m.lyric for m in score.notes if not m.is_rest and not m.language])
            lang = detector.language(n.lyric)
        out.append(lang)
    return out


def split_points(notes: list[Note], split_rest: float | None) -> list[int]:
    """Indices of the rests that end a phrase: at least ``split_rest`` seconds (any rest for 0; none for
    None), with a sung note on each side, the one after starting a new syllable."""
    if split_rest is None:
        return []
    out = []
    sung = [k for k, n in enumerate(notes) if not n.is_rest]
    if not sung:
        return []
    for k in range(sung[0] + 1, sung[-1]):
        n = notes[k]
        if not n.is_rest or n.duration < max(split_rest, 1e-9):
            continue
        after = next((m for m in notes[k + 1 :] if not m.is_rest), None)
        if after is not None and not _continues(after):
            out.append(k)
    return out


def _cut(rest: Note) -> tuple[float, float]:
    """Where two phrases meet inside ``rest`` (its middle) and half the cross-fade there (within the rest's
    middle half, so neither phrase's sung notes are faded)."""
    return rest.start + rest.duration / 2, min(CROSSFADE / 2, rest.duration / 4)


def _key(notes: list[Note], t0: float) -> str:
    rows = [
        [
            round(n.start - t0, 6),
            round(n.duration, 6),
            n.pitch,
            n.lyric,
            n.slur,
            n.syllabic,
            n.phonemes,
            [round(d, 6) for d in n.phoneme_durations] if n.phoneme_durations else None,
            n.language,
        ]
        for n in notes
    ]
    return hashlib.sha256(json.dumps(rows, ensure_ascii=False).encode("utf-8")).hexdigest()


def split_phrases(
    score: Score, *, language: str | None = None, split_rest: float | None = DEFAULT_SPLIT_REST
) -> list[Phrase]:
    """Cut ``score``'s sung line into phrases at its long rests (rest notes; a gap never cuts).

    Each phrase's sub-score has its notes' times relative to its own start, each note's language resolved
    for the whole song (:func:`resolve_languages`), and ``where`` naming the note's place in the song.
    """
    notes = score.notes
    languages = resolve_languages(score, language)
    cuts = split_points(notes, split_rest)
    bounds = [0, *cuts, len(notes) - 1]
    phrases: list[Phrase] = []
    for i in range(len(bounds) - 1):
        first = bounds[i]
        stop = bounds[i + 1] + 1 if i + 1 < len(bounds) - 1 else len(notes)
        # phrase 0 keeps song time (a gap before its first note stays a gap); the others start at their rest
        t0 = 0.0 if i == 0 else notes[first].start
        sub = []
        for k in range(first, stop):
            n = notes[k]
            sub.append(
                n.replace(
                    start=n.start - t0,
                    language=languages[k],
                    where=n.where or f"note {k + 1}",
                )
            )
        if i == 0:
            cut_in, fade = -math.inf, 0.0
        else:
            cut_in, fade = _cut(notes[first])
        if i + 1 < len(bounds) - 1:
            cut_out, fade_out = _cut(notes[stop - 1])
        else:
            cut_out, fade_out = math.inf, 0.0
        sub_score = dataclasses.replace(score, notes=sub, parts=[Part("phrase", sub)], part_index=0)
        phrases.append(
            Phrase(
                index=i,
                first=first,
                stop=stop,
                start=t0,
                end=notes[stop - 1].end,
                cut_in=cut_in,
                cut_out=cut_out,
                fade=fade,
                fade_out=fade_out,
                score=sub_score,
                key=_key(sub, t0),
            )
        )
    return phrases


K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LRUCache(Generic[K, V]):
    """A small least-recently-used cache with hit/miss counters."""

    def __init__(self, size: int):
        self.size = max(0, int(size))
        self._items: OrderedDict[K, V] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, key: K) -> V | None:
        if key in self._items:
            self._items.move_to_end(key)
            self.hits += 1
            return self._items[key]
        self.misses += 1
        return None

    def put(self, key: K, value: V) -> None:
        if self.size == 0:
            return
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def clear(self) -> None:
        self._items.clear()

    def __len__(self) -> int:
        return len(self._items)
