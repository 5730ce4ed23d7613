"""The piano roll's document: a `Score` as the studio page edits it (sung notes in beats, each with the
lyric as typed, the tempo map, the metre, title and language) and back again, checked at the door; and the
overlay a render gives the roll (the rendered F0 in beats, each note's sung pitch, the audio's timing).

    doc = score_to_roll(score)        # {"notes": [{"start": 0, "len": 1, "pitch": 60, "lyric": "la"}], ...}
    score = roll_to_score(doc)        # ScoreError naming the note: "piano roll: note 3 (D4 at beat 5): ..."

A note may carry ``"straight": true``: sung exactly on its pitch, without vibrato or the singer's
deviations (a per-note pitch control, `straight_notes`; the notation and the table don't show it).

Lyrics are written as in the notation (docs/notation.md): ``hel-`` / ``-lo`` the syllables of a word,
``_`` (or nothing) holds the syllable before over this note, ``""`` a note sung on no word. Rests are the
gaps between notes. Beats are quarter notes from the start, as in `Note.start_beat`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from vocalsynth.score import Score, ScoreError, validate
from vocalsynth.score.build import fill_from_beats
from vocalsynth.score.model import Note, Tempo, TempoMap, TimeSignature, pitch_name

if TYPE_CHECKING:
    from vocalsynth.synthesis.rendering import Rendering

ROLL_SOURCE = "piano roll"
MAX_NOTES = 5000  # a 3-minute song has ~400-700; this bounds what one page can hand the server
MAX_BEATS = 20_000.0
BEAT_TOLERANCE = 1e-4  # beats: the page and the readers round positions (the roll to 6 decimals)
ROLL_KEYS = ("title", "lang", "tempos", "time", "notes")
NOTE_KEYS = ("start", "len", "pitch", "lyric")
NO_WORD = '""'
MELISMA = "_"
F0_STEP = 2  # frames: the overlay keeps every 2nd frame (~23 ms at hop 256 / 22.05 kHz), plenty to see


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def roll_lyric(note: Note) -> str:
    """A note's lyric as the roll shows and takes it: ``hel-``, ``-lo``, ``_`` (melisma), ``""`` (no word)."""
    if note.slur:
        return MELISMA
    text = note.lyric
    if not text:
        return NO_WORD
    if text in (MELISMA, NO_WORD) or text.startswith("-") or text.endswith("-"):
        text = '"' + text + '"'  # a literal that would otherwise read as a marker
    syllabic = note.syllabic
    if syllabic in ("end", "middle"):
        text = "-" + text
    if syllabic in ("begin", "middle"):
        text += "-"
    return text


def parse_roll_lyric(text: str) -> tuple[str, str | None, bool]:
    """The roll's lyric text -> (lyric, syllabic, slur), as the notation reads a lyric word."""
    text = text.strip()
    if text in ("", MELISMA):
        return "", None, True
    if text == NO_WORD:
        return "", None, False
    before = after = False
    core = text
    if core.startswith("-") and len(core) > 1:
        before, core = True, core[1:]
    if core.endswith("-") and len(core) > 1:
        after, core = True, core[:-1]
    if len(core) >= 2 and core.startswith('"') and core.endswith('"'):
        core = core[1:-1]
    syllabic = {
        (False, False): "single",
        (False, True): "begin",
        (True, True): "middle",
        (True, False): "end",
    }
    return core, syllabic[(before, after)], False


def score_to_roll(score: Score) -> dict[str, Any]:
    """The roll document of ``score``: its sung notes (rests are the gaps), tempo map, first metre."""
    ts = score.time_signatures[0] if score.time_signatures else TimeSignature(0.0)
    notes = []
    for n in score.sung_notes:
        note: dict[str, Any] = {
            "start": round(n.start_beat, 6),
            "len": round(n.duration_beats, 6),
            "pitch": int(n.pitch),
            "lyric": roll_lyric(n),
        }
        if n.language and n.language != score.language:
            note["lang"] = n.language
        notes.append(note)
    return {
        "title": score.title,
        "lang": score.language,
        "tempos": [[round(t.beat, 6), t.bpm] for t in score.tempos] or [[0.0, 120.0]],
        "time": [ts.numerator, ts.denominator],
        "notes": notes,
    }


def _where(k: int, note: dict[str, Any]) -> str:
    pitch = note.get("pitch") if isinstance(note, dict) else None
    start = note.get("start") if isinstance(note, dict) else None
    name = pitch_name(pitch) if isinstance(pitch, int) and 0 <= pitch <= 127 else ""
    at = f"at beat {start + 1:g}" if _number(start) else ""
    inside = " ".join(x for x in (name, at) if x)
    return f"note {k + 1}" + (f" ({inside})" if inside else "")


def roll_to_score(doc: Any, *, source: str = ROLL_SOURCE) -> Score:
    """Read a roll document into a checked `Score`; a `ScoreError` names the field or the note (its number
    in time order, its pitch and beat) and says what is wrong."""

    def fail(message: str, where: str | None = None) -> ScoreError:
        return ScoreError(message, source=source, where=where)

    if not isinstance(doc, dict):
        raise fail(f"expected an object with notes, got {type(doc).__name__}")
    raw = doc.get("notes")
    if not isinstance(raw, list):
        raise fail("'notes' must be a list of notes", "notes")
    if len(raw) > MAX_NOTES:
        raise fail(f"{len(raw)} notes; the roll takes up to {MAX_NOTES}", "notes")
    order = sorted(
        range(len(raw)),
        key=lambda k: (
            raw[k].get("start", 0) if isinstance(raw[k], dict) and _number(raw[k].get("start")) else 0
        ),
    )
    notes: list[Note] = []
    for k, i in enumerate(order):
        item = raw[i]
        where = _where(k, item)
        if not isinstance(item, dict):
            raise fail("a note must be an object with start, len, pitch and lyric", f"note {k + 1}")
        start, length, pitch, lyric = (item.get(key) for key in NOTE_KEYS)
        if not _number(start) or not 0 <= start <= MAX_BEATS:
            raise fail(f"start must be a beat from 0 to {MAX_BEATS:g}, got {start!r}", where)
        if not _number(length) or length <= 0 or start + length > MAX_BEATS:
            raise fail(f"length must be a number of beats > 0, got {length!r}", where)
        if isinstance(pitch, bool) or not isinstance(pitch, int) or not 0 <= pitch <= 127:
            raise fail(f"pitch must be a MIDI number 0-127, got {pitch!r}", where)
        if lyric is None:
            lyric = ""
        if not isinstance(lyric, str) or len(lyric) > 64:
            raise fail(f"lyric must be text of up to 64 characters, got {lyric!r}", where)
        if notes and start < notes[-1].end_beat - BEAT_TOLERANCE:
            prev = notes[-1]
            raise fail(
                f"overlaps the note before ({prev.name} ends at beat {prev.end_beat + 1:g}); "
                "one voice sings one note at a time",
                where,
            )
        text, syllabic, slur = parse_roll_lyric(lyric)
        if slur and (not notes or start > notes[-1].end_beat + BEAT_TOLERANCE):
            raise fail(
                "no lyric, and no note right before it to hold the syllable of: type a syllable "
                '(or "" for a note sung on no word)',
                where,
            )
        language = item.get("lang")
        notes.append(
            Note(
                0.0,
                0.0,
                pitch,
                text,
                start_beat=float(start),
                duration_beats=float(length),
                slur=slur,
                syllabic=syllabic,
                language=language if isinstance(language, str) and language else None,
                where=where,
            )
        )
    if not notes:
        raise fail("no notes: draw some on the roll (click or drag on the grid)", "notes")
    tempos = _tempos(doc.get("tempos"), fail)
    numerator, denominator = _metre(doc.get("time"), fail)
    title = doc.get("title")
    lang = doc.get("lang")
    if title is not None and (not isinstance(title, str) or len(title) > 200):
        raise fail("title must be text of up to 200 characters", "title")
    if lang is not None and lang not in ("", "en", "ja", "zh"):
        raise fail(f"lang must be en, ja or zh (or empty: from the lyrics), got {lang!r}", "lang")
    tempo_map = TempoMap(tempos)
    score = Score(
        fill_from_beats(notes, tempo_map),
        tempos=tempo_map.tempos,
        time_signatures=[TimeSignature(0.0, numerator, denominator)],
        title=title or None,
        language=lang or None,
        source=source,
    )
    return validate(score)


def straight_notes(doc: dict) -> list[int]:
    """Positions (in time order, as `roll_to_score` numbers the notes) of the notes marked ``straight``."""
    notes = [n for n in doc.get("notes") or [] if isinstance(n, dict) and _number(n.get("start"))]
    notes.sort(key=lambda n: n["start"])
    return [k for k, n in enumerate(notes) if n.get("straight") is True]


def _tempos(raw: Any, fail) -> list[Tempo]:
    if raw is None:
        return [Tempo(0.0, 120.0)]
    if not isinstance(raw, list) or not raw or len(raw) > 1000:
        raise fail("'tempos' must be a list of [beat, bpm] pairs", "tempos")
    out = []
    for pair in raw:
        if not (isinstance(pair, (list, tuple)) and len(pair) == 2 and all(_number(v) for v in pair)):
            raise fail(f"a tempo must be [beat, bpm], got {pair!r}", "tempos")
        beat, bpm = pair
        if not (0 <= beat <= MAX_BEATS and 10 <= bpm <= 400):
            raise fail(f"tempo {bpm!r} bpm at beat {beat!r}: the roll takes 10-400 bpm", "tempos")
        out.append(Tempo(float(beat), float(bpm)))
    return out


def _metre(raw: Any, fail) -> tuple[int, int]:
    if raw is None:
        return 4, 4
    if (
        isinstance(raw, (list, tuple))
        and len(raw) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in raw)
        and 1 <= raw[0] <= 32
        and raw[1] in (1, 2, 4, 8, 16, 32)
    ):
        return int(raw[0]), int(raw[1])
    raise fail(f"time signature must be [beats, 1|2|4|8|16|32], got {raw!r}", "time")


def _beat_grid(tmap: TempoMap, end: float) -> tuple[np.ndarray, np.ndarray]:
    """(seconds, beats) at each tempo change and at ``end``: the map is linear between them."""
    secs = [tmap.seconds(t.beat) for t in tmap.tempos] + [max(end, 0.0) + 1.0]
    return np.array(secs), np.array([tmap.beats(x) for x in secs])


def render_overlay(rendering: Rendering, song: Score, written: Score, key_shift: int, tempo: float) -> dict:
    """What the roll draws after a render: the rendered F0 (the acoustic model's, which the vocoder sings)
    as ``"beat,midi;..."`` points of the written score (key shift taken off, so a note sung on its pitch
    lies on its bar; an empty item between voiced stretches), each sung note's median pitch and cents off, and the
    audio's timing (pre-roll, tempo multiplier, tempo map) for the playhead."""
    frames = rendering.frames
    fps = frames.audio_config.frames_per_second
    f0 = frames.f0_hz
    tmap = written.tempo_map
    # song seconds of every F0_STEP-th frame -> the written score's seconds (tempo control undone) -> beats
    index = np.arange(0, f0.size, F0_STEP)
    hz = f0[index].astype(np.float64)
    t = (index / fps - rendering.pre_roll) * tempo
    voiced = (hz > 0) & (t >= 0)
    beats = np.interp(t, *_beat_grid(tmap, float(t.max(initial=0.0))))
    midi = 69 + 12 * np.log2(np.where(voiced, hz, 440.0) / 440.0) - key_shift
    # one string, "beat,midi;beat,midi;;beat,midi" (an empty item breaks the curve): thousands of little
    # arrays cost the page far more to take in than the same numbers as text
    points: list[str] = []
    for k in range(index.size):
        if voiced[k]:
            points.append(f"{beats[k]:.3f},{midi[k]:.2f}")
        elif points and points[-1]:
            points.append("")
    sung = []
    written_notes = [n for n in written.notes if not n.is_rest]
    for k, n in enumerate(n for n in song.notes if not n.is_rest):
        a = int(round((n.start + rendering.pre_roll) * fps))
        b = int(round((n.end + rendering.pre_roll) * fps))
        mid = a + (b - a) // 4, b - (b - a) // 4  # the held middle half: onsets and glides left out
        seg = f0[mid[0] : max(mid[1], mid[0] + 1)]
        seg = seg[seg > 0]
        if seg.size == 0:
            sung.append({"note": k, "cents": None})
            continue
        midi = 69 + 12 * float(np.log2(np.median(seg) / 440.0)) - key_shift
        cents = (midi - written_notes[k].pitch) * 100
        sung.append({"note": k, "pitch": round(midi, 3), "cents": round(cents, 1)})
    return {
        "f0": ";".join(points),
        "sung": sung,
        "pre_roll": rendering.pre_roll,
        "speed": tempo,
        "tempos": [[t.beat, t.bpm] for t in tmap.tempos],
        "duration": rendering.duration,
    }
