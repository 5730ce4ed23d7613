"""DiffSinger `.ds` files (JSON segments of ph_seq/ph_dur/ph_num, note_seq/note_dur/note_slur): read and write.

Phonemes on notes follow DiffSinger's ``ph_num`` convention. A ``ph_num`` word starts with the phoneme
sung at its note onset (a vowel, ``AP`` or ``SP``) and ends with the leading consonant(s) of the next
word, which are sung *before* that next note's onset, in the previous note's (or rest's) time::

    note_seq | rest      | A#3         | G#3        ...
    ph_seq   | AP     t  | ian     sh  | ang   b    ...
    ph_num   |   2       |   2         |   2        ...

The reader gives each note the phonemes of its own syllable: the A#3 note above gets
``phonemes=['t', 'ian']`` and ``phoneme_durations=[0.1054, 0.5332]``; ``t`` is its *lead-in*, sung in
the 0.1054 s before the note's start. So for a run of notes, the phonemes tile time: a note's phonemes
start ``lead-in`` seconds before its start and end where the next note's lead-in begins. Consonants
never lead into a rest (a word before ``SP``/``AP`` keeps its final consonants), and ``AP``/``SP``
are never a lead-in. Phonemes that last over a slur (``note_slur=1``) are cut at the note boundaries,
so each note of a melisma carries the share of the held vowel sung on it. Rests carry the ``SP``
(silence) and ``AP`` (breath) phonemes sung in them, from where the previous note's phonemes end to
where the next note's lead-in begins, so a whole line of phonemes lays end to end from 0 s: the
writer relies on that to find each note's lead-in again. ``f0_seq`` is checked but not kept:
`Score` has no place for a pitch curve.

Lyrics: ``text`` has one word per ph_num word (every note that isn't a slur, rests included, as
DiffSinger and OpenUtau write it) or one per sung word; where it is missing or doesn't fit, a note's
lyric is its phonemes joined (``tian``). Segments may overlap in their rests (the sample files do);
overlapping notes are an error. Places read ``segment i, note k``, counted from 0 as in the JSON.
"""

from __future__ import annotations

import bisect
import itertools
import json
import math
import re
from dataclasses import dataclass, field

from vocalsynth.score.build import MB, check_size, fill_from_seconds
from vocalsynth.score.errors import ScoreError
from vocalsynth.score.model import Note, Score, Tempo, TempoMap, TimeSignature, pitch_name
from vocalsynth.score.validate import MAX_NOTES

MAX_BYTES = 4 * MB  # JSON takes ~60x its size in memory once read; a whole song with f0_seq is ~0.3 MB
REST_PHONEMES = frozenset({"SP", "AP"})
META_KEY = "vocalsynth"  # our own key (tempo map, title...): DiffSinger ignores keys it doesn't know
PHRASE_GAP = 0.5  # seconds: a longer rest ends a phrase, and the writer starts a new segment
HEAD_PAD = 0.3  # seconds of leading silence the writer gives a segment beyond its first lead-in
TAIL_PAD = 0.1  # seconds of trailing silence the writer gives a segment
SEAM_TOLERANCE = 1e-3  # seconds two segments' notes may overlap (3-decimal rounding) before it's an error
SPLIT_TOLERANCE = 1e-3  # a phoneme isn't cut at a note boundary closer than this to its ends
TOTAL_TOLERANCE = 0.001  # seconds ph_dur and note_dur may disagree in total before the notes are stretched

_NOTE_NAME = re.compile(r"([A-Ga-g])([#b♯♭]{0,4})(-?\d{1,3})(?:([+-]\d{1,4}))?")
_STEPS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_LANG_PREFIX = re.compile(r"([a-z]{2,3})/.+")


# --------------------------------------------------------------------------- reading


def read(data: bytes, *, source: str, verse: int | None = None) -> Score:
    """Parse a `.ds` file into a `Score` (times in seconds, beats at the stored or default 120 bpm tempo).

    ``verse`` is ignored (a `.ds` file has one lyric line).
    """
    check_size(data, MAX_BYTES, source, "a .ds file")
    doc = _parse_json(data, source)
    if isinstance(doc, dict):
        raw_segments = [doc]
    elif isinstance(doc, list):
        raw_segments = doc
    else:
        raise ScoreError(
            f"a .ds file is a JSON list of segments (or one segment object), not {_json_type(doc)}",
            source=source,
        )
    if not raw_segments:
        raise ScoreError("the file has no segments", source=source)
    for i, seg in enumerate(raw_segments):
        if not isinstance(seg, dict):
            raise ScoreError(
                f"a segment must be a JSON object, got {_json_type(seg)}", source=source, where=f"segment {i}"
            )
    total = 0
    for i, seg in enumerate(raw_segments):  # counted before any work is done per note
        names = seg.get("note_seq")
        total += (
            len(names.split()) if isinstance(names, str) else len(names) if isinstance(names, list) else 0
        )
        if total > MAX_NOTES:
            raise ScoreError(f"more than {MAX_NOTES} notes: refused", source=source, where=f"segment {i}")
    meta = _read_meta(raw_segments, source)
    segments = [_Segment.parse(seg, i, source) for i, seg in enumerate(raw_segments)]

    sung = _join_segments(segments, source)
    tempo_map = TempoMap(meta["tempos"])
    line = [s.note for s in sung]
    song_end = max((end for seg in segments for _, end, _ in seg.rests), default=0.0)
    if line and song_end > line[-1].end + 1e-6:  # the silence after the last note is part of the song
        line.append(Note(start=line[-1].end, duration=song_end - line[-1].end, pitch=None))
    notes = fill_from_seconds(line, tempo_map)
    _dress_rests(notes, sung, segments)

    languages = {n.language for n in notes if not n.is_rest}
    language = meta["language"] or (languages.pop() if len(languages) == 1 else None)
    return Score(
        notes=notes,
        tempos=meta["tempos"],
        time_signatures=meta["time_signatures"],
        key=meta["key"],
        title=meta["title"],
        language=language,
        source=source,
        warnings=[w for seg in segments for w in seg.warnings],
    )


@dataclass
class _Sung:
    note: Note
    segment: int
    # where the note's phonemes begin and end (seconds; None without ph_dur): they tile time
    ph_begin: float | None = None
    ph_end: float | None = None


@dataclass
class _Segment:
    index: int
    sung: list[_Sung] = field(default_factory=list)
    # (phoneme, start, end) in seconds, for phonemes sung during rests (AP breaths, SP silence)
    rest_phonemes: list[tuple[str, float, float]] = field(default_factory=list)
    # (start, end, where) of the segment's rest notes, to name the rests of the joined line
    rests: list[tuple[float, float, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # what was read its way (ph_dur/note_dur drift)

    @classmethod
    def parse(cls, seg: dict, i: int, source: str) -> _Segment:
        where = f"segment {i}"

        def fail(message: str) -> ScoreError:
            return ScoreError(message, source=source, where=where)

        offset = _number(seg.get("offset", 0.0), "offset", fail)
        drift: list[str] = []
        if "note_seq" not in seg or "note_dur" not in seg:
            if "note_dur_seq" in seg or "is_slur_seq" in seg:
                raise fail(
                    "per-phoneme notes (note_dur_seq/is_slur_seq, the old format) aren't supported; "
                    "export with note_seq/note_dur/note_slur"
                )
            missing = " and ".join(k for k in ("note_seq", "note_dur") if k not in seg)
            raise fail(f"{missing} missing: vocalsynth sings notes, so a segment needs note_seq and note_dur")
        names = _items(seg, "note_seq", fail)
        note_dur = _durations(seg, "note_dur", fail)
        _same_length("note_seq", names, "note_dur", note_dur, fail)
        if not names:
            raise fail("note_seq is empty")
        pitches = [_pitch(name, k, source, i) for k, name in enumerate(names)]
        slurs = [0] * len(names)
        if "note_slur" in seg:
            slurs = _ints(seg, "note_slur", fail)
            _same_length("note_seq", names, "note_slur", slurs, fail)
            for k, s in enumerate(slurs):
                if s not in (0, 1):
                    raise fail(f"note_slur item {k} is {s}; it must be 0 or 1")

        ph_seq = _items(seg, "ph_seq", fail) if "ph_seq" in seg else None
        ph_dur = _durations(seg, "ph_dur", fail) if "ph_dur" in seg else None
        ph_num = _ints(seg, "ph_num", fail) if "ph_num" in seg else None
        if ph_seq is None and (ph_dur is not None or ph_num is not None):
            raise fail("ph_dur/ph_num given without ph_seq")
        if ph_dur is not None:
            _same_length("ph_seq", ph_seq, "ph_dur", ph_dur, fail)
            total_ph, total_notes = math.fsum(ph_dur), math.fsum(note_dur)
            if abs(total_ph - total_notes) > TOTAL_TOLERANCE:
                # DiffSinger's acoustic model takes the segment's length from ph_dur and never reads
                # note_dur: the phonemes rule, and the notes (each > 0 s) are stretched to the phonemes' length
                scale = total_ph / total_notes
                note_dur = [d * scale for d in note_dur]
                drift.append(
                    f"segment {i}: ph_dur adds up to {total_ph:.3f} s but note_dur to {total_notes:.3f} s "
                    f"({total_ph - total_notes:+.3f} s): notes stretched by {100 * (scale - 1):+.2f} % to the "
                    "phonemes, as DiffSinger sings them"
                )
        if ph_num is not None:
            if any(n < 1 for n in ph_num):
                raise fail("ph_num items must be >= 1")
            if sum(ph_num) != len(ph_seq):
                raise fail(f"ph_num adds up to {sum(ph_num)} phonemes but ph_seq has {len(ph_seq)}")
        text = _items(seg, "text", fail) if "text" in seg else None
        _check_f0(seg, fail)

        # Notes: starts in seconds; a slur (note_slur=1) continues the word of the note before it.
        starts = [offset + s for s in _cumsum(note_dur)[:-1]]
        ends = [s + d for s, d in zip(starts, note_dur, strict=True)]
        is_slur = [k > 0 and slurs[k] == 1 for k in range(len(names))]
        for k in range(1, len(names)):
            if is_slur[k] and pitches[k - 1] is None:
                pitches[k] = None  # a slur that continues a rest is silent
        words = [k for k in range(len(names)) if not is_slur[k]]  # first note of each word
        word_notes = [range(k, (words + [len(names)])[w + 1]) for w, k in enumerate(words)]
        if ph_num is not None and len(ph_num) != len(words):
            raise fail(
                f"ph_num has {len(ph_num)} words but note_seq/note_slur make {len(words)} "
                "(one per note that isn't a slur, rests included)"
            )

        # Phoneme groups per word (indices into ph_seq), from ph_num or else from the timing.
        groups: list[list[int]] | None = None
        if ph_num is not None:
            bounds = [0, *_cumsum_int(ph_num)]
            groups = [list(range(bounds[w], bounds[w + 1])) for w in range(len(words))]
        elif ph_dur is not None:
            groups = _groups_by_time(ph_dur, [starts[k] - offset for k in words])

        own: list[list[int]] = [[] for _ in words]  # phonemes of the word from its onset on
        lead: list[list[int]] = [[] for _ in words]  # its lead-in, sung before the onset
        if groups is not None:
            splits = [_lead_split(g, ph_seq) for g in groups]
            for w, k0 in enumerate(words):
                # a "sung" word whose phonemes are only SP/AP is a rest in disguise
                mine = [ph_seq[j] for j in groups[w][: splits[w]]]
                if pitches[k0] is not None and mine and all(p in REST_PHONEMES for p in mine):
                    for k in word_notes[w]:
                        pitches[k] = None
            for w, g in enumerate(groups):
                next_sung = w + 1 < len(words) and pitches[words[w + 1]] is not None
                if next_sung:
                    own[w], lead[w + 1] = g[: splits[w]], g[splits[w] :]
                else:
                    own[w] = list(g)

        lyrics = _word_lyrics(text, words, pitches, groups, lead, own, ph_seq, fail)

        out = cls(i, warnings=drift)
        ph_start = [offset + s for s in _cumsum(ph_dur)] if ph_dur is not None else None
        for w, k0 in enumerate(words):
            notes_k = list(word_notes[w])
            # per note: (phoneme, seconds or None, start or None)
            per_note: dict[int, list[tuple[str, float | None, float | None]]] = {k: [] for k in notes_k}
            for j in lead[w]:
                per_note[k0].append((ph_seq[j], *_timing(ph_dur, ph_start, j)))
            for j in own[w]:
                if ph_start is None:
                    per_note[k0].append((ph_seq[j], None, None))
                    continue
                for k, s, dur in _cut(ph_start[j], ph_start[j + 1], notes_k, starts):
                    per_note[k].append((ph_seq[j], dur, s))
            for k in notes_k:
                phs = per_note[k]
                if pitches[k] is None:
                    out.rests.append((starts[k], ends[k], f"segment {i}, note {k}"))
                    out.rest_phonemes += [(p, s, s + d) for p, d, s in phs if s is not None]
                    continue
                first = k == k0
                note = Note(
                    start=starts[k],
                    duration=note_dur[k],
                    pitch=pitches[k],
                    lyric=lyrics[w] if first else "",
                    slur=not first,
                    phonemes=[p for p, _, _ in phs] or None,
                    phoneme_durations=[d for _, d, _ in phs] if phs and ph_dur is not None else None,
                    language=_language([p for p, _, _ in phs]),
                    where=f"segment {i}, note {k}",
                )
                timed = [(s, s + d) for _, d, s in phs if s is not None]
                out.sung.append(
                    _Sung(
                        note,
                        i,
                        min(t[0] for t in timed) if timed else None,
                        max(t[1] for t in timed) if timed else None,
                    )
                )
        return out


def _lead_split(group: list[int], ph_seq: list[str]) -> int:
    """Where a ph_num word's own phonemes end and the next word's lead-in begins.

    The first phoneme is the one at the onset; AP/SP are never part of a lead-in.
    """
    split = 1
    for j in range(1, len(group)):
        if ph_seq[group[j]] in REST_PHONEMES:
            split = j + 1
    return min(split, len(group))


def _timing(ph_dur, ph_start, j) -> tuple[float | None, float | None]:
    return (ph_dur[j], ph_start[j]) if ph_dur is not None else (None, None)


def _cut(s: float, e: float, notes_k: list[int], starts: list[float]) -> list[tuple[int, float, float]]:
    """Split the phoneme [s, e) at the boundaries of a word's notes: [(note index, start, seconds)]."""
    cuts = [starts[k] for k in notes_k[1:] if s + SPLIT_TOLERANCE < starts[k] < e - SPLIT_TOLERANCE]
    edges = [s, *cuts, e]
    out = []
    for a, b in itertools.pairwise(edges):
        mid = (a + b) / 2
        k = notes_k[0]
        for cand in notes_k[1:]:
            if starts[cand] <= mid:
                k = cand
        out.append((k, a, round(b - a, 9)))
    return out


def _groups_by_time(ph_dur: list[float], onsets: list[float]) -> list[list[int]]:
    """Without ph_num: each word starts at the phoneme boundary nearest its onset."""
    bounds = _cumsum(ph_dur)
    cut = [0]
    for onset in onsets[1:]:
        j = bisect.bisect_left(bounds, onset)
        if j > 0 and (j == len(bounds) or onset - bounds[j - 1] <= bounds[j] - onset):
            j -= 1
        cut.append(max(j, cut[-1]))
    cut.append(len(ph_dur))
    return [list(range(a, b)) for a, b in itertools.pairwise(cut)]


def _word_lyrics(text, words, pitches, groups, lead, own, ph_seq, fail) -> list[str]:
    """One lyric per word: from `text` where its words fit the notes, else joined from the phonemes."""
    sung = [w for w, k in enumerate(words) if pitches[k] is not None]
    lyrics = [""] * len(words)
    mapping: dict[int, str] | None = None
    if text is not None:
        if len(text) == len(words):
            mapping = dict(enumerate(text))
        elif len(text) == len(sung):
            mapping = dict(zip(sung, text, strict=True))
        else:
            bare = [t for t in text if t not in REST_PHONEMES]
            if len(bare) == len(sung):
                mapping = dict(zip(sung, bare, strict=True))
    if mapping is None:
        if groups is None:
            if text is None:
                raise fail("no text, and ph_seq can't be matched to the notes without ph_num or ph_dur")
            raise fail(
                f"text has {len(text)} words but the notes need {len(sung)} "
                f"(one per sung note that isn't a slur; {len(words)} counting rests)"
            )
        # DiffSinger itself sings ph_seq and ignores text, so a text that doesn't fit is not fatal
        mapping = {
            w: "".join(_strip_prefix(ph_seq[j]) for j in lead[w] + own[w] if ph_seq[j] not in REST_PHONEMES)
            for w in sung
        }
    for w in sung:
        word = mapping.get(w, "")
        lyrics[w] = "" if word in REST_PHONEMES else word
    return lyrics


def _join_segments(segments: list[_Segment], source: str) -> list[_Sung]:
    """All sung notes in time order; segments may overlap only in their rests."""
    sung = sorted((s for seg in segments for s in seg.sung), key=lambda s: s.note.start)
    for a, b in itertools.pairwise(sung):
        overlap = a.note.end - b.note.start
        if overlap <= 1e-9 or a.segment == b.segment:  # within a segment notes follow each other
            continue
        if overlap > SEAM_TOLERANCE:
            raise ScoreError(
                f"segment {b.segment} overlaps segment {a.segment}: its {b.note.name} starts at "
                f"{b.note.start:.3f} s, before {a.note.name} ({a.note.where}) ends at {a.note.end:.3f} s",
                source=source,
                where=b.note.where,
            )
        a.note.duration = b.note.start - a.note.start  # rounding at a seam: trim
    for s in sung:
        if s.note.start < 0:
            raise ScoreError(
                f"the note starts before 0 s ({s.note.start:.3f} s)", source=source, where=s.note.where
            )
    return sung


def _dress_rests(notes: list[Note], sung: list[_Sung], segments: list[_Segment]) -> None:
    """Give the joined line's rests a place and their phonemes (SP silence, AP breaths).

    A rest's phonemes run from where the previous note's phonemes end to where the next note's
    begin, so that phonemes tile time across the whole line.
    """
    rests = sorted((r for seg in segments for r in seg.rests), key=lambda r: r[0])
    rest_starts = [r[0] for r in rests]
    longest_rest = max((r[1] - r[0] for r in rests), default=0.0)
    intervals = sorted((iv for seg in segments for iv in seg.rest_phonemes), key=lambda iv: iv[1])
    iv_starts = [iv[1] for iv in intervals]
    longest_iv = max((iv[2] - iv[1] for iv in intervals), default=0.0)
    timing = {id(s.note): s for s in sung}
    for i, n in enumerate(notes):
        if not n.is_rest:
            continue
        for start, end, where in rests[bisect.bisect_left(rest_starts, n.start - longest_rest) :]:
            if start >= n.end:
                break
            if end > n.start:
                n.where = where
                break
        before = timing.get(id(notes[i - 1])) if i > 0 else None
        after = timing.get(id(notes[i + 1])) if i + 1 < len(notes) else None
        t = before.ph_end if before is not None and before.ph_end is not None else n.start
        limit = after.ph_begin if after is not None and after.ph_begin is not None else n.end
        lo, hi = bisect.bisect_left(iv_starts, t - longest_iv), bisect.bisect_left(iv_starts, limit - 1e-6)
        inside = [iv for iv in intervals[lo:hi] if iv[2] > t + 1e-6]
        timed = (
            inside
            or (before is not None and before.ph_end is not None)
            or (after and after.ph_begin is not None)
        )
        if not timed or limit - t <= 1e-6:
            continue
        pieces: list[tuple[str, float]] = []
        for j, (ph, s, e) in enumerate(inside):
            if j + 1 < len(inside):
                e = min(e, inside[j + 1][1])  # overlapping segments: the later phoneme wins
            s, e = max(s, t), min(e, limit)
            if e - s <= 1e-6:
                continue
            if s > t + 1e-6:
                pieces.append(("SP", s - t))
            pieces.append((ph, e - s))
            t = e
        if limit > t + 1e-6:
            pieces.append(("SP", limit - t))
        merged: list[list] = []
        for ph, d in pieces:
            if merged and merged[-1][0] == ph:
                merged[-1][1] += d
            else:
                merged.append([ph, d])
        n.phonemes = [ph for ph, _ in merged]
        n.phoneme_durations = [round(d, 9) for _, d in merged]


def _read_meta(segments: list[dict], source: str) -> dict:
    meta = {
        "tempos": [Tempo(0.0, 120.0)],
        "time_signatures": [TimeSignature(0.0)],
        "key": None,
        "title": None,
        "language": None,
    }
    for i, seg in enumerate(segments):
        raw = seg.get(META_KEY)
        if raw is None:
            continue

        def bad(what: str, i=i) -> ScoreError:
            return ScoreError(f"{META_KEY}.{what}", source=source, where=f"segment {i}")

        if not isinstance(raw, dict):
            raise bad(" must be an object")
        try:
            if "tempos" in raw:
                meta["tempos"] = [Tempo(float(b), float(t)) for b, t in raw["tempos"]] or meta["tempos"]
            if "time_signatures" in raw:
                meta["time_signatures"] = [
                    TimeSignature(float(b), int(n), int(d)) for b, n, d in raw["time_signatures"]
                ] or meta["time_signatures"]
        except (TypeError, ValueError, OverflowError) as e:
            raise bad(f"tempos/time_signatures must be lists of [beat, bpm] / [beat, n, d] ({e})") from e
        for t in meta["tempos"]:
            if not (math.isfinite(t.beat) and math.isfinite(t.bpm) and t.bpm > 0):
                raise bad(f"tempos: tempo must be a finite number > 0, got {t.bpm} at beat {t.beat}")
        for t in meta["time_signatures"]:
            if not (
                math.isfinite(t.beat) and 1 <= t.numerator <= 64 and t.denominator in (1, 2, 4, 8, 16, 32, 64)
            ):
                raise bad(
                    f"time_signatures: {t.numerator}/{t.denominator} at beat {t.beat} is not a time signature"
                )
        for key in ("key", "title", "language"):
            value = raw.get(key)
            if value is not None and not isinstance(value, str):
                raise bad(f"{key} must be a string")
            meta[key] = value
        break
    return meta


# --------------------------------------------------------------------------- field parsing


def _parse_json(data: bytes, source: str):
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ScoreError(
            f"not UTF-8 text (bad byte at offset {e.start}); a .ds file is UTF-8 JSON", source=source
        ) from e
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ScoreError(
            f"not valid JSON: {e.msg}", source=source, where=f"line {e.lineno}, column {e.colno}"
        ) from e
    except RecursionError as e:
        raise ScoreError("not a .ds file: JSON nested too deeply", source=source) from e
    except ValueError as e:  # e.g. an integer of more digits than Python converts (sys.int_info)
        raise ScoreError(f"not a readable .ds file: {e}", source=source) from None


def _json_type(value) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "true/false", type(None): "null"}.get(
        type(value), "a number"
    )


def _items(seg: dict, key: str, fail) -> list[str]:
    """A space-separated string field (or a JSON list) as a list of strings."""
    value = seg[key]
    if isinstance(value, str):
        return value.split()
    if isinstance(value, list) and all(
        isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in value
    ):
        return [str(v) for v in value]
    raise fail(f"{key} must be a string of space-separated values, got {_json_type(value)}")


def _number(value, key: str, fail) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise fail(f"{key} must be a number, got {_json_type(value)}")
    try:
        x = float(value)
    except ValueError:
        raise fail(f"{key} {value!r} is not a number") from None
    if not math.isfinite(x):
        raise fail(f"{key} is {value!r}, not a finite number")
    return x


def _durations(seg: dict, key: str, fail) -> list[float]:
    out = []
    for k, item in enumerate(_items(seg, key, fail)):
        d = _number(item, f"{key} item {k}", fail)
        if d <= 0:
            raise fail(f"{key} item {k} is {item}; durations must be > 0")
        out.append(d)
    return out


def _ints(seg: dict, key: str, fail) -> list[int]:
    out = []
    for k, item in enumerate(_items(seg, key, fail)):
        try:
            out.append(int(item))
        except ValueError:
            raise fail(f"{key} item {k} {item!r} is not a whole number") from None
    return out


def _same_length(key_a: str, a: list, key_b: str, b: list, fail) -> None:
    if len(a) != len(b):
        raise fail(f"{key_a} has {len(a)} items but {key_b} has {len(b)}")


def _check_f0(seg: dict, fail) -> None:
    if "f0_seq" not in seg:
        return
    values = _items(seg, "f0_seq", fail)
    for k, item in enumerate(values):
        f = _number(item, f"f0_seq item {k}", fail)
        if f < 0:
            raise fail(f"f0_seq item {k} is {item}; f0 can't be negative")
    if "f0_timestep" not in seg:
        raise fail("f0_seq without f0_timestep")
    step = _number(seg["f0_timestep"], "f0_timestep", fail)
    if step <= 0:
        raise fail(f"f0_timestep is {step}; it must be > 0")


def _pitch(name: str, k: int, source: str, i: int) -> int | None:
    """'C#4' -> 61, 'D4/Eb4' -> 62 (the first spelling), 'rest' -> None."""
    first = name.split("/")[0].strip()
    if first.lower() == "rest":
        return None
    m = _NOTE_NAME.fullmatch(first)
    if not m:
        raise ScoreError(
            f"unknown note name {name!r} (expected e.g. C#4, Eb4, D4/Eb4 or rest)",
            source=source,
            where=f"segment {i}, note {k}",
        )
    letter, accidentals, octave, cents = m.groups()
    shift = sum(1 if a in "#♯" else -1 for a in accidentals)
    pitch = (
        (int(octave) + 1) * 12 + _STEPS[letter.upper()] + shift + (round(int(cents) / 100) if cents else 0)
    )
    if not 0 <= pitch <= 127:
        raise ScoreError(
            f"note {name!r} is outside MIDI 0-127", source=source, where=f"segment {i}, note {k}"
        )
    return pitch


def _cumsum(values: list[float] | None) -> list[float]:
    out, t = [0.0], 0.0
    for v in values or []:
        t += v
        out.append(t)
    return out


def _cumsum_int(values: list[int]) -> list[int]:
    out, t = [], 0
    for v in values:
        t += v
        out.append(t)
    return out


def _strip_prefix(ph: str) -> str:
    m = _LANG_PREFIX.fullmatch(ph)
    return ph.split("/", 1)[1] if m else ph


def _language(phonemes: list[str]) -> str | None:
    """Multi-language DiffSinger dictionaries prefix phonemes ('zh/sh'); that names the language."""
    langs = {
        m.group(1) if (m := _LANG_PREFIX.fullmatch(p)) else None for p in phonemes if p not in REST_PHONEMES
    }
    return langs.pop() if len(langs) == 1 else None


# --------------------------------------------------------------------------- writing


def dumps(score: Score) -> bytes:
    """Write ``score.notes`` as `.ds` JSON: one segment per phrase (phrases end at rests over 0.5 s).

    Segments carry ``text``, ``note_seq``/``note_dur``/``note_slur``, and ``ph_seq``/``ph_dur``/``ph_num``
    when every sung note of the phrase carries phonemes with durations (as notes read from a `.ds` do);
    without them the file holds what vocalsynth reads back, but DiffSinger itself needs phonemes to
    sing it. An empty lyric is written ``SP``; spaces inside a lyric become ``_``. The tempo map, time
    signatures, key, title and language go in a ``vocalsynth`` key of the first segment.
    """
    words = _words([n for n in score.notes if n.duration > 0])
    _walk_phonemes(words)
    phrases = _phrases(words)
    if not phrases:
        raise ScoreError("nothing to write: the score has no sung notes", source=score.source)
    for phrase in phrases:
        _place_head(phrase)
    for phrase, nxt in zip(phrases, [*phrases[1:], None], strict=True):
        # a little silence after each phrase; after the last one, all the silence the song ends with
        if phrase.post is not None:
            room = (nxt.pad_start if nxt is not None else phrase.post.end) - phrase.post.start
            phrase.tail = max(0.0, room if nxt is None else min(TAIL_PAD, room))
    segments = [
        _write_phrase(p, with_phonemes=p.usable) or _write_phrase(p, with_phonemes=False) for p in phrases
    ]
    segments[0][META_KEY] = {
        "tempos": [[t.beat, t.bpm] for t in score.tempos],
        "time_signatures": [[t.beat, t.numerator, t.denominator] for t in score.time_signatures],
        "key": score.key,
        "title": score.title,
        "language": score.language,
    }
    return (json.dumps(segments, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


@dataclass
class _Word:
    """A rest, or a sung note with its slurs; its phonemes and where they start on the timeline."""

    notes: list[Note]
    phs: list[str] | None = None
    durs: list[float] | None = None
    t0: float | None = None  # where its phonemes begin (seconds)
    k: int = 0  # how many of them are the lead-in, sung before the onset

    @property
    def rest(self) -> bool:
        return self.notes[0].is_rest

    @property
    def start(self) -> float:
        return self.notes[0].start

    @property
    def end(self) -> float:
        return self.notes[-1].end

    @property
    def t_end(self) -> float | None:
        return None if self.t0 is None or self.durs is None else self.t0 + math.fsum(self.durs)

    def lead_in(self) -> list[tuple[str, float]]:
        if self.rest or self.phs is None:
            return []
        return list(zip(self.phs[: self.k], self.durs[: self.k], strict=True))

    def own(self) -> list[tuple[str, float]]:
        return list(zip(self.phs[self.k :], self.durs[self.k :], strict=True))


def _words(notes: list[Note]) -> list[_Word]:
    words: list[_Word] = []
    for n in notes:
        if n.slur and not n.is_rest and words and not words[-1].rest:
            words[-1].notes.append(n)
        else:
            words.append(_Word([n]))
    for w in words:
        phs: list[str] = []
        durs: list[float] = []
        for n in w.notes:
            if not n.phonemes or not n.phoneme_durations or len(n.phonemes) != len(n.phoneme_durations):
                if n is w.notes[0]:
                    break
                continue
            for j, (p, d) in enumerate(zip(n.phonemes, n.phoneme_durations, strict=True)):
                if j == 0 and n is not w.notes[0] and phs and phs[-1] == p:
                    durs[-1] += d  # a vowel held over a slur was cut at the note boundary: join it again
                else:
                    phs.append(p)
                    durs.append(d)
        if phs:
            w.phs, w.durs = phs, durs
    return words


def _walk_phonemes(words: list[_Word]) -> None:
    """Lay the words' phonemes end to end from 0 s and see how many of each word's come before its onset."""
    t: float | None = 0.0
    for w in words:
        if w.phs is None:
            t = None
            continue
        total = math.fsum(w.durs)
        if w.rest:
            w.t0 = t if t is not None else w.start
        else:
            if t is None or not -0.25 <= w.start - t <= total:
                t = w.start  # lost the thread (phonemes edited or missing): assume no lead-in
            w.t0 = t
            cum = _cumsum(w.durs)[: len(w.durs)]
            w.k = min(range(len(cum)), key=lambda j: abs(cum[j] - (w.start - t)))
        t = w.t0 + total


@dataclass
class _Phrase:
    pre: _Word | None
    body: list[_Word]
    post: _Word | None
    usable: bool = True  # write ph_seq/ph_dur/ph_num
    pad_start: float = 0.0
    tail: float = 0.0


def _phrases(words: list[_Word]) -> list[_Phrase]:
    """Runs of words between rests longer than PHRASE_GAP, each with the rests around it."""
    out: list[_Phrase] = []
    pre: _Word | None = None
    body: list[_Word] = []
    for w in words:
        if w.rest and (not body or w.end - w.start > PHRASE_GAP):
            if body:
                out.append(_Phrase(pre, body, w))
                body = []
            pre = w
            continue
        body.append(w)
    if body:
        out.append(_Phrase(pre, body, None))
    phrases = [p for p in out if any(not w.rest for w in p.body)]
    for p in phrases:
        p.usable = all(w.phs is not None and w.t0 is not None for w in p.body if not w.rest)
    return phrases


def _place_head(p: _Phrase) -> None:
    """Choose where the segment starts: room for the first lead-in, the breath before it, some silence."""
    first = p.body[0]
    onset = first.t0 if p.usable else first.start
    if p.pre is None:
        p.pad_start = first.start
        p.usable = p.usable and onset >= first.start - 1e-6
        return
    start = onset - HEAD_PAD
    breath = _breath_start(p.pre)
    if breath is not None:
        start = min(start, breath)
    p.pad_start = min(max(start, p.pre.start), first.start)
    if p.usable and p.pad_start > onset - 1e-4:
        p.usable = False  # the lead-in is longer than the rest before it


def _timeline(w: _Word | None, fallback: float) -> list[tuple[str, float, float]]:
    if w is None or w.phs is None:
        return []
    t = w.t0 if w.t0 is not None else fallback
    out = []
    for p, d in zip(w.phs, w.durs, strict=True):
        out.append((p, t, t + d))
        t += d
    return out


def _breath_start(rest: _Word) -> float | None:
    """When the rest holds a breath (AP), the time it starts, so the segment keeps it."""
    for p, s, _ in _timeline(rest, rest.start):
        if p != "SP":
            return s
    return None


def _rest_pieces(rest: _Word | None, a: float, b: float) -> list[tuple[str, float]]:
    """The rest's phonemes between a and b seconds (SP where it has none)."""
    pieces: list[tuple[str, float]] = []
    cursor = a
    for p, s, e in _timeline(rest, a):
        s, e = max(s, cursor), min(e, b)
        if e - s > 1e-9:
            if s - cursor > 1e-9:
                pieces.append(("SP", s - cursor))
            pieces.append((p, e - s))
            cursor = e
    if b - cursor > 1e-9:
        pieces.append(("SP", b - cursor))
    merged: list[tuple[str, float]] = []
    for p, d in pieces:
        if merged and merged[-1][0] == p:
            merged[-1] = (p, merged[-1][1] + d)
        else:
            merged.append((p, d))
    return merged


def _write_phrase(p: _Phrase, *, with_phonemes: bool) -> dict | None:
    """One segment; None when the phonemes don't fit (then it's written without them)."""
    body = p.body
    first = body[0]
    offset = round(p.pad_start, 6)
    last_end = body[-1].end
    rows: list[tuple[str, float, float, bool]] = []  # (note name, start, end, slur)
    if first.start - p.pad_start > 1e-6:
        rows.append(("rest", p.pad_start, first.start, False))
    for w in body:
        for j, n in enumerate(w.notes):
            rows.append(("rest" if n.is_rest else pitch_name(n.pitch), n.start, n.end, j > 0))
    if p.tail > 1e-6:
        rows.append(("rest", last_end, last_end + p.tail, False))

    text: list[str] = []
    groups: list[list[tuple[str, float]]] = []
    first_t0 = first.t0 if with_phonemes else first.start
    if first.start - p.pad_start > 1e-6:
        pieces = _rest_pieces(p.pre, p.pad_start, first_t0)
        text.append(_rest_word(pieces))
        groups.append([*pieces, *first.lead_in()] if with_phonemes and pieces else [])
    prev_end = p.pad_start
    for i, w in enumerate(body):
        nxt = body[i + 1] if i + 1 < len(body) else None
        follow = nxt.lead_in() if with_phonemes and nxt is not None else []
        if w.rest:
            a = prev_end if with_phonemes else w.start
            b = nxt.t0 if with_phonemes and nxt is not None and not nxt.rest else (w.t_end or w.end)
            pieces = _rest_pieces(w, a, b)
            text.append(_rest_word(pieces))
            groups.append([*pieces, *follow] if pieces else [])
            prev_end = b
            continue
        text.append(re.sub(r"\s+", "_", w.notes[0].lyric.strip()) or "SP")
        if with_phonemes:
            groups.append([*w.own(), *follow])
            prev_end = w.t_end
    if p.tail > 1e-6:
        # the silence runs from where the phonemes end, so ph_dur and note_dur add up alike
        pieces = _rest_pieces(p.post, prev_end if with_phonemes else last_end, last_end + p.tail)
        text.append(_rest_word(pieces))
        groups.append(pieces)

    seg: dict = {"offset": offset, "text": " ".join(text)}
    if with_phonemes:
        if not all(groups):
            return None
        seg["ph_seq"] = " ".join(ph for g in groups for ph, _ in g)
        seg["ph_dur"] = " ".join(_fmt(d) for g in groups for _, d in g)
        seg["ph_num"] = " ".join(str(len(g)) for g in groups)
    seg["note_seq"] = " ".join(r[0] for r in rows)
    seg["note_dur"] = " ".join(_fmt(round(e - offset, 6) - round(s - offset, 6)) for _, s, e, _ in rows)
    seg["note_slur"] = " ".join("1" if r[3] else "0" for r in rows)
    return seg


def _rest_word(pieces: list[tuple[str, float]]) -> str:
    return "AP" if any(ph == "AP" for ph, _ in pieces) else "SP"


def _fmt(x: float) -> str:
    s = f"{x:.6f}".rstrip("0").rstrip(".")
    return s if s not in ("", "-0") else "0"
