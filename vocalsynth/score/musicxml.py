"""MusicXML (`score-partwise`, plain or compressed `.mxl`) reader and writer for the `Score` seam.

Built on the standard library's ElementTree rather than music21: the sung line needs `<extend>`,
per-verse lyrics and exact measure/note places for error messages, which music21 flattens away,
and music21 takes seconds to import and parse where ElementTree reads a song in milliseconds.
"""

from __future__ import annotations

import io
import math
import re
import zipfile
import zlib
from collections import Counter
from dataclasses import dataclass, field
from fractions import Fraction
from xml.etree import ElementTree as ET
from xml.parsers.expat import ErrorString

from vocalsynth.score.build import MB, check_size, fill_from_beats
from vocalsynth.score.errors import ScoreError
from vocalsynth.score.model import Note, Part, Score, Tempo, TempoMap, TimeSignature
from vocalsynth.score.validate import MAX_NOTES

__all__ = ["read", "dumps", "MAX_BYTES", "MAX_MEMBER_BYTES"]

# A MusicXML document takes ~15-60x its size in memory once parsed: larger files are refused.
MAX_BYTES = 8 * MB
MAX_MEMBER_BYTES = MAX_BYTES  # a larger member of an .mxl zip is refused (zip bombs)
# Positions are exact fractions of a quarter note. A file whose <divisions> change to ever new primes would
# make their denominators (and the time to add them) grow without end, so a length off this grid is
# rounded onto it: 1/691891200 of a quarter note, which holds every usual <divisions> (up to 10080, 1024) exactly.
GRID = 2**10 * 3**3 * 5**2 * 7 * 11 * 13
DEFAULT_BPM = 120.0
TICKS_PER_QUARTER = 480  # the writer's finest grid at ordinary tempos (UST/MIDI use the same)

_STEPS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_SYLLABIC = {"single", "begin", "middle", "end"}
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
_LEADING_NUMBER = re.compile(r"\s*(\d+(?:\.\d+)?)")
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
# note/beat-unit types in quarter notes
_TYPE_QUARTERS = {
    "maxima": Fraction(32),
    "long": Fraction(16),
    "breve": Fraction(8),
    "whole": Fraction(4),
    "half": Fraction(2),
    "quarter": Fraction(1),
    "eighth": Fraction(1, 2),
    "16th": Fraction(1, 4),
    "32nd": Fraction(1, 8),
    "64th": Fraction(1, 16),
    "128th": Fraction(1, 32),
    "256th": Fraction(1, 64),
}
# tonic of a mode, counted in fifths from the tonic of the major key with the same signature
_MODE_FIFTHS = {
    "major": 0,
    "ionian": 0,
    "minor": 3,
    "aeolian": 3,
    "dorian": 2,
    "phrygian": 4,
    "lydian": -1,
    "mixolydian": 1,
    "locrian": 5,
}


# ----------------------------------------------------------------------------------------------- reading


def read(data: bytes, *, source: str, verse: int | None = None) -> Score:
    """Parse MusicXML or `.mxl` bytes into a `Score` holding every part (``score.notes`` is part 0).

    ``verse`` picks the lyric number to sing; by default each note sings the lowest-numbered
    lyric it has. Every fault is a `ScoreError` naming ``source`` and the place.
    """
    check_size(data, MAX_BYTES, source, "a MusicXML file")
    if data[:2] == b"PK":
        data = _unzip_root(data, source)
    root = _parse_xml(data, source, what="MusicXML")
    tag = _local(root.tag)
    if tag == "score-timewise":
        raise ScoreError(
            "<score-timewise> MusicXML is not supported; export the score as <score-partwise> "
            "(the usual form) or convert it with an editor such as MuseScore",
            source=source,
        )
    if tag != "score-partwise":
        raise ScoreError(
            f"the root element <{tag}> is not a MusicXML score (expected <score-partwise>)", source=source
        )

    names = {}
    for sp in root.iterfind("part-list/score-part"):
        pid = sp.get("id", "")
        names[pid] = (sp.findtext("part-name") or "").strip() or pid
    part_els = root.findall("part")
    if not part_els:
        raise ScoreError("the score has no <part>: nothing to sing", source=source)

    marks = _Marks()
    parsed: list[tuple[str, dict[str, list[_Event]]]] = []
    for i, part_el in enumerate(part_els):
        pid = part_el.get("id", "")
        name = names.get(pid) or pid or f"part {i + 1}"
        parsed.append((name, _read_part(part_el, name, i, marks, source)))

    if verse is not None:
        have = sorted(
            {
                ly.verse
                for _, voices in parsed
                for evs in voices.values()
                for e in evs
                for ly in e.lyrics
                if ly.text
            }
        )
        if verse not in have:
            listed = ", ".join(map(str, have)) if have else "none"
            raise ScoreError(f"no lyrics for verse {verse}; the score's verses: {listed}", source=source)

    tempo_map = TempoMap(marks.tempos())
    parts = []
    for name, voices in parsed:
        events = voices[_sung_voice(voices)] if voices else []
        parts.append(Part(name, fill_from_beats(_sing(events, verse), tempo_map)))
    title = (root.findtext("work/work-title") or "").strip() or (
        root.findtext("movement-title") or ""
    ).strip()
    return Score(
        notes=parts[0].notes,
        tempos=tempo_map.tempos,
        time_signatures=marks.time_signatures(),
        key=marks.key,
        title=title or None,
        language=marks.language(),
        parts=parts,
        part_index=0,
        source=source,
    )


def _unzip_root(data: bytes, source: str) -> bytes:
    """The root MusicXML file of an `.mxl` archive (named by META-INF/container.xml)."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = {i.filename.lstrip("/"): i for i in zf.infolist() if not i.is_dir()}
        if "META-INF/container.xml" in infos:
            container = _parse_xml(
                _zip_member(zf, infos["META-INF/container.xml"], source), source, what="container"
            )
            paths = [el.get("full-path", "") for el in container.iter() if _local(el.tag) == "rootfile"]
            if not paths or not paths[0].strip():
                raise ScoreError("META-INF/container.xml names no <rootfile full-path=...>", source=source)
            path = paths[0].strip().lstrip("/")
            if path not in infos:
                raise ScoreError(
                    f"the root file {path!r} named in META-INF/container.xml is not in the archive",
                    source=source,
                )
        else:
            # some writers leave the container out; accept an archive with exactly one score in it
            cands = [
                n
                for n in infos
                if not n.startswith("META-INF/") and n.lower().endswith((".xml", ".musicxml"))
            ]
            if len(cands) != 1:
                raise ScoreError(
                    "not a readable .mxl archive: META-INF/container.xml is missing and the archive holds "
                    f"{len(cands)} .xml/.musicxml files instead of one",
                    source=source,
                )
            path = cands[0]
        return _zip_member(zf, infos[path], source)
    except ScoreError:
        raise
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        NotImplementedError,
        EOFError,
        OSError,
        RuntimeError,
        ValueError,
        zlib.error,
    ) as e:  # RuntimeError: an encrypted member
        raise ScoreError(f"not a readable .mxl (zip) archive: {e}", source=source) from e


def _zip_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, source: str) -> bytes:
    too_big = ScoreError(
        f"{info.filename[:80]!r} in the .mxl archive unpacks to more than {MAX_MEMBER_BYTES / MB:g} MB; refused",
        source=source,
    )
    if info.file_size > MAX_MEMBER_BYTES:
        raise too_big
    with zf.open(info) as f:  # the header's size could lie: read no more than the limit regardless
        out = f.read(MAX_MEMBER_BYTES + 1)
    if len(out) > MAX_MEMBER_BYTES:
        raise too_big
    return out


def _parse_xml(data: bytes, source: str, *, what: str) -> ET.Element:
    # ASCII-level checks; UTF-16 files carry a BOM, everything else is ASCII-compatible
    probe = (
        data.decode("utf-16", "replace") if data[:2] in (b"\xff\xfe", b"\xfe\xff") else data.decode("latin-1")
    )
    head = probe.lstrip("\ufeff\xef\xbb\xbf \t\r\n")
    if not head.startswith("<"):
        raise ScoreError(f"not a {what} file: it is not XML (it starts with {head[:20]!r})", source=source)
    if "<!ENTITY" in probe:
        # entity declarations are how XML bombs expand; MusicXML never needs them
        raise ScoreError(f"the {what} document declares XML entities (<!ENTITY>); refused", source=source)
    try:
        return ET.fromstring(data)
    except LookupError as e:  # <?xml encoding="..."?> names an encoding Python does not know
        raise ScoreError(f"the {what} document declares an unknown encoding ({e})", source=source) from None
    except ET.ParseError as e:
        line, col = getattr(e, "position", (0, 0))
        reason = ErrorString(e.code) if isinstance(getattr(e, "code", None), int) else str(e)
        raise ScoreError(
            f"malformed XML: {reason}", source=source, where=f"line {line}, column {col + 1}"
        ) from e


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


@dataclass
class _Lyric:
    verse: int
    text: str  # '' for a marker that only carries an <extend>
    syllabic: str | None
    extend: str | None  # None: no <extend>; else its type ('start', 'stop', 'continue' or '')
    lang: str | None = None


@dataclass
class _Event:
    """One sounding note or rest of one voice (a chord counts once, as its top note)."""

    start: Fraction
    dur: Fraction
    pitch: int | None
    where: str
    lyrics: list[_Lyric] = field(default_factory=list)
    tie_start: bool = False
    slur_starts: set[str] = field(default_factory=set)
    slur_stops: set[str] = field(default_factory=set)


class _Marks:
    """Score-wide marks gathered from every part: tempo, time signatures, key, lyric languages."""

    def __init__(self) -> None:
        self._tempo: dict[Fraction, tuple[tuple[int, int], float]] = {}
        self._ts: dict[Fraction, TimeSignature] = {}
        self.key: str | None = None
        self.langs: Counter[str] = Counter()
        self.kana = 0  # lyric characters that are kana, and all lyric letters
        self.letters = 0
        self.notes = 0  # <note> elements read so far, in every part

    def add_tempo(self, beat: Fraction, bpm: float, rank: tuple[int, int]) -> None:
        # at one beat the first part's <sound tempo> wins over a <metronome> (display text)
        if beat not in self._tempo or rank < self._tempo[beat][0]:
            self._tempo[beat] = (rank, bpm)

    def add_time(self, beat: Fraction, num: int, den: int) -> None:
        self._ts.setdefault(beat, TimeSignature(float(beat), num, den))

    def tempos(self) -> list[Tempo]:
        out: list[Tempo] = []
        for beat in sorted(self._tempo):
            bpm = self._tempo[beat][1]
            if not out or out[-1].bpm != bpm:
                # the first mark holds from the start, as the tempo map reads a late first tempo
                out.append(Tempo(float(beat) if out else 0.0, bpm))
        return out or [Tempo(0.0, DEFAULT_BPM)]

    def time_signatures(self) -> list[TimeSignature]:
        return [self._ts[b] for b in sorted(self._ts)] or [TimeSignature(0.0)]

    def language(self) -> str | None:
        if self.langs:
            return self.langs.most_common(1)[0][0]
        # no xml:lang: kana can only be Japanese (kanji alone could be Chinese too)
        return "ja" if self.kana * 2 > max(self.letters, 1) else None


def _decimal(text: str | None) -> Fraction | None:
    """A plain decimal number (no exponents: '1e99999' must not become a huge integer)."""
    if text is None:
        return None
    t = text.strip()
    if len(t) > 40 or not _NUMBER.fullmatch(t):
        return None
    return Fraction(t)


def _on_grid(x: Fraction) -> Fraction:
    """``x`` itself when it lies on the `GRID`, else the nearest point of it."""
    return x if GRID % x.denominator == 0 else Fraction(round(x * GRID), GRID)


def _span(el: ET.Element, divisions: Fraction | None, what: str, source: str, where: str) -> Fraction:
    """The `<duration>` of a note, `<backup>` or `<forward>`, in quarter notes."""
    if divisions is None:
        raise ScoreError(f"{what} has a <duration> before any <divisions> is set", source=source, where=where)
    got = el.findtext("duration")
    d = _decimal(got)
    if got is None or d is None or d < 0:
        problem = "no <duration>" if got is None else f"a bad <duration> {got.strip()[:20]!r}"
        raise ScoreError(
            f"{what} has {problem}; expected a number of divisions >= 0", source=source, where=where
        )
    return _on_grid(d / divisions)


def _read_part(
    part_el: ET.Element, name: str, index: int, marks: _Marks, source: str
) -> dict[str, list[_Event]]:
    """Walk one part's measures: events per voice, with tempo/time/key marks sent to ``marks``."""
    voices: dict[str, list[_Event]] = {}
    divisions: Fraction | None = None
    measure_start = Fraction(0)
    time_len = Fraction(4)  # the current time signature's measure length (4/4 until told)
    for m_index, measure in enumerate(part_el.iterfind("measure")):
        number = measure.get("number") or str(m_index + 1)
        mwhere = f"part {name!r}, measure {number}"
        pos = Fraction(0)
        length = Fraction(0)
        k = 0  # <note> elements so far in this measure, for places
        last: _Event | None = None  # the event a following <chord/> note joins
        for el in measure:
            tag = _local(el.tag)
            if tag == "attributes":
                div_text = el.findtext("divisions")
                if div_text is not None:
                    d = _decimal(div_text)
                    if d is None or d <= 0:
                        raise ScoreError(
                            f"<divisions> must be a number > 0, got {div_text.strip()[:20]!r}",
                            source=source,
                            where=mwhere,
                        )
                    divisions = d
                for t in el.iterfind("time"):
                    ts = _time_signature(t)
                    if ts is not None:
                        marks.add_time(measure_start + pos, *ts)
                        time_len = Fraction(4 * ts[0], ts[1])
                key_el = el.find("key")
                if key_el is not None and marks.key is None:
                    marks.key = _key_name(key_el)
            elif tag == "backup":
                pos = max(Fraction(0), pos - _span(el, divisions, "<backup>", source, mwhere))
            elif tag == "forward":
                pos += _span(el, divisions, "<forward>", source, mwhere)
                length = max(length, pos)
            elif tag in ("direction", "sound"):
                _tempo_marks(el, measure_start + pos, divisions, marks, (index, 0))
            elif tag == "note":
                k += 1
                where = f"{mwhere}, note {k}"
                marks.notes += 1
                if marks.notes > MAX_NOTES:
                    raise ScoreError(
                        f"more than {MAX_NOTES} notes (all parts together): refused",
                        source=source,
                        where=where,
                    )
                if el.find("grace") is not None:
                    continue  # grace notes take no time of their own; the frontend sings the main notes
                pitch = _pitch(el, source, where)
                if el.find("chord") is not None and last is not None:
                    _join_chord(last, el, pitch)
                    continue
                dur = _span(el, divisions, "the note", source, where)
                if el.find("cue") is not None:
                    pos += dur  # cue notes keep time but are not sung
                    length = max(length, pos)
                    last = None
                    continue
                ev = _Event(start=measure_start + pos, dur=dur, pitch=pitch, where=where)
                _note_marks(ev, el)
                for ly in ev.lyrics:
                    if ly.lang and ly.text:
                        marks.langs[ly.lang] += 1
                    marks.letters += sum(c.isalpha() for c in ly.text)
                    marks.kana += sum("\u3041" <= c <= "\u30ff" for c in ly.text)
                voices.setdefault((el.findtext("voice") or "1").strip(), []).append(ev)
                last = ev
                pos += dur
                length = max(length, pos)
        if length == 0 and not measure.findall("note"):
            length = time_len  # an empty measure still takes its time
        measure_start += length
    return voices


def _pitch(el: ET.Element, source: str, where: str) -> int | None:
    if el.find("rest") is not None or el.find("unpitched") is not None:
        return None  # unpitched (percussion) notes are not sung
    p = el.find("pitch")
    if p is None:
        raise ScoreError("the note has no <pitch>, <rest> or <unpitched>", source=source, where=where)
    step = (p.findtext("step") or "").strip().upper()
    octave = (p.findtext("octave") or "").strip()
    alter = _decimal(p.findtext("alter") or "0")
    if step not in _STEPS or not octave.isdigit() or len(octave) > 2 or alter is None or abs(alter) > 12:
        got = f"step {p.findtext('step')!r}, octave {p.findtext('octave')!r}, alter {p.findtext('alter')!r}"
        raise ScoreError(f"bad <pitch> ({got}): expected step A-G, octave 0-9", source=source, where=where)
    return (int(octave) + 1) * 12 + _STEPS[step] + round(alter)


def _join_chord(last: _Event, el: ET.Element, pitch: int | None) -> None:
    """A `<chord/>` note: the chord sings its top note; its lyrics and slurs count for the chord."""
    extra = _Event(start=last.start, dur=last.dur, pitch=pitch, where=last.where)
    _note_marks(extra, el)
    if pitch is not None and (last.pitch is None or pitch > last.pitch):
        last.pitch = pitch
        last.tie_start = extra.tie_start  # the tie that matters is the sung (top) note's
    last.slur_starts |= extra.slur_starts
    last.slur_stops |= extra.slur_stops
    have = {ly.verse for ly in last.lyrics}
    last.lyrics += [ly for ly in extra.lyrics if ly.verse not in have]


def _note_marks(ev: _Event, el: ET.Element) -> None:
    ties = [t.get("type") for t in el.iterfind("tie")] + [
        t.get("type") for t in el.iterfind("notations/tied")
    ]
    ev.tie_start = "start" in ties
    for s in el.iterfind("notations/slur"):
        (
            ev.slur_starts
            if s.get("type") == "start"
            else ev.slur_stops
            if s.get("type") == "stop"
            else set()
        ).add(s.get("number", "1"))
    for i, ly in enumerate(el.iterfind("lyric")):
        num = (ly.get("number") or "1").strip()
        verse = int(num) if num.isdigit() and len(num) < 6 else i + 1
        # elided syllables (<text>che</text><elision/><text>io</text>) are sung on one note
        text = " ".join((t.text or "").strip() for t in ly.iterfind("text")).strip()
        syl = (ly.findtext("syllabic") or "").strip()
        ext = ly.find("extend")
        extend = None if ext is None else (ext.get("type") or "")
        ev.lyrics.append(
            _Lyric(verse, text, syl if syl in _SYLLABIC else None, extend, _lang(ly.get(_XML_LANG)))
        )


def _lang(value: str | None) -> str | None:
    if not value:
        return None
    return value.strip().split("-")[0].split("_")[0].lower() or None


def _time_signature(t: ET.Element) -> tuple[int, int] | None:
    try:
        num = sum(int(x) for x in (t.findtext("beats") or "").split("+"))
        den = int((t.findtext("beat-type") or "").strip())
    except ValueError:
        return None  # senza-misura or an exotic composite signature: not needed to sing
    return (num, den) if 0 < num < 1000 and den in (1, 2, 4, 8, 16, 32, 64, 128) else None


def _key_name(key_el: ET.Element) -> str | None:
    try:
        fifths = int((key_el.findtext("fifths") or "").strip())
    except ValueError:
        return None
    mode = (key_el.findtext("mode") or "major").strip().lower()
    if not -7 <= fifths <= 7 or mode not in _MODE_FIFTHS:
        return None
    return f"{_fifths_name(fifths + _MODE_FIFTHS[mode])} {mode}"


def _fifths_name(i: int) -> str:
    """A note name from its place on the line of fifths (0 = C, 1 = G, -1 = F, -2 = Bb)."""
    sharps = (i + 1) // 7
    return "FCGDAEB"[(i + 1) % 7] + ("#" * sharps if sharps > 0 else "b" * -sharps)


def _tempo_marks(
    el: ET.Element, at: Fraction, divisions: Fraction | None, marks: _Marks, rank: tuple[int, int]
) -> None:
    offset = _decimal(el.findtext("offset")) if _local(el.tag) == "direction" else None
    if offset is not None and divisions:
        at = max(Fraction(0), at + _on_grid(offset / divisions))
    sounds = [el] if _local(el.tag) == "sound" else el.findall("sound")
    for s in sounds:
        bpm = _decimal(s.get("tempo"))
        if bpm is not None and 0 < bpm <= 10_000:
            marks.add_tempo(at, float(bpm), rank)
            return
    for met in el.iterfind("direction-type/metronome"):
        unit = _TYPE_QUARTERS.get((met.findtext("beat-unit") or "").strip())
        m = _LEADING_NUMBER.match(met.findtext("per-minute") or "")
        if unit is None or m is None or float(m.group(1)) <= 0:
            continue  # metric modulation or free text ("Allegro"): no number to play
        dots = len(met.findall("beat-unit-dot"))
        marks.add_tempo(at, float(m.group(1)) * float(unit * (2 - Fraction(1, 2**dots))), (rank[0], 1))
        return


def _sung_voice(voices: dict[str, list[_Event]]) -> str:
    """The lowest-numbered voice that carries lyrics (else the lowest voice)."""

    def order(v: str) -> tuple[int, int, str]:
        return (0, int(v), v) if v.isdigit() else (1, 0, v)

    with_lyrics = [v for v, evs in voices.items() if any(ly.text for e in evs for ly in e.lyrics)]
    return min(with_lyrics or voices, key=order)


def _sing(events: list[_Event], verse: int | None) -> list[Note]:
    """One voice's events -> the sung line: ties merged, melisma continuations marked."""
    notes: list[Note] = []
    prev: Note | None = None  # the previous pitched note, when nothing came between
    prev_end = Fraction(0)
    prev_tie = False
    prev_had_lyric = False
    open_slurs: set[str] = set()
    extending = False
    for ev in sorted(events, key=lambda e: e.start):
        if ev.dur <= 0:
            continue
        if ev.pitch is None:
            # a melisma does not run through a rest; a dangling slur or extend must not swallow later notes
            notes.append(
                Note(0.0, 0.0, None, start_beat=float(ev.start), duration_beats=float(ev.dur), where=ev.where)
            )
            prev, prev_tie, prev_had_lyric, extending = None, False, False, False
            open_slurs.clear()
            continue
        sung = [ly for ly in ev.lyrics if ly.text and (verse is None or ly.verse == verse)]
        lyric = min(sung, key=lambda ly: ly.verse) if sung else None
        in_slur = bool(open_slurs)
        open_slurs -= ev.slur_stops
        open_slurs |= ev.slur_starts
        if (
            prev is not None
            and prev_tie
            and prev.pitch == ev.pitch
            and ev.start == prev_end
            and lyric is None  # a tie into a note with its own lyric is sung anew
        ):
            prev.duration_beats += float(ev.dur)
            prev_end += ev.dur
            prev_tie = ev.tie_start
            continue
        note = Note(
            0.0, 0.0, ev.pitch, start_beat=float(ev.start), duration_beats=float(ev.dur), where=ev.where
        )
        if lyric is not None:
            note.lyric, note.syllabic = lyric.text, lyric.syllabic
            extending = lyric.extend is not None and lyric.extend != "stop"
        else:
            markers = [ly for ly in ev.lyrics if not ly.text and ly.extend is not None]
            markers = [ly for ly in markers if verse is None or ly.verse == verse]
            # without a slur or an extend line, a bare note continues the syllable only right after it
            note.slur = in_slur or extending or bool(markers) or prev_had_lyric
            if any(ly.extend == "stop" for ly in markers):
                extending = False
            elif markers:
                extending = True
        notes.append(note)
        prev, prev_end, prev_tie, prev_had_lyric = note, ev.start + ev.dur, ev.tie_start, lyric is not None
    return notes


# ----------------------------------------------------------------------------------------------- writing


def dumps(score: Score) -> bytes:
    """``score.notes`` as a MusicXML 3.1 partwise document (one part), with tempo and time marks."""
    tempo_map = score.tempo_map
    if any(not (math.isfinite(t.bpm) and t.bpm > 0) for t in tempo_map.tempos):
        raise ScoreError("can't write MusicXML: a tempo is not > 0 bpm", source=score.source)
    notes = [n for n in score.notes if n.duration_beats > 0 or n.duration > 0]
    if any(n.duration_beats <= 0 for n in notes):  # built from seconds only: derive the beats
        notes = [
            n.replace(
                start_beat=tempo_map.beats(n.start),
                duration_beats=tempo_map.beats(n.end) - tempo_map.beats(n.start),
            )
            for n in notes
        ]
    notes.sort(key=lambda n: n.start_beat)
    tempos = tempo_map.tempos
    sigs = sorted(score.time_signatures or [TimeSignature(0.0)], key=lambda t: t.beat)
    if sigs[0].beat > 0:
        sigs.insert(0, TimeSignature(0.0, sigs[0].numerator, sigs[0].denominator))

    # a grid fine enough that rounding moves no note by more than 0.25 ms at the slowest tempo
    per_q = TICKS_PER_QUARTER * max(1, math.ceil(240_000 / min(t.bpm for t in tempos) / TICKS_PER_QUARTER))
    spans = [(round(n.start_beat * per_q), round(n.end_beat * per_q), n) for n in notes]
    tempo_ticks = [(round(t.beat * per_q), t.bpm) for t in tempos]
    sig_ticks = [(round(s.beat * per_q), s.numerator, s.denominator) for s in sigs]
    end = max((e for _, e, _ in spans), default=0)
    g = math.gcd(per_q, *(x for s, e, _ in spans for x in (s, e)), *(t for t, _ in tempo_ticks))
    g = math.gcd(g, *(t for t, _, _ in sig_ticks), *(per_q * 4 * num // den for _, num, den in sig_ticks))
    divisions = per_q // g
    spans = [(s // g, e // g, n) for s, e, n in spans]
    tempo_ticks = [(t // g, bpm) for t, bpm in tempo_ticks if t // g <= end // g]
    sig_ticks = [(t // g, num, den) for t, num, den in sig_ticks]
    end //= g

    # the line as back-to-back pieces: rests fill gaps, overlaps are cut (one voice sings one note)
    items: list[tuple[int, int, Note | None]] = []
    cursor = 0
    for s, e, n in spans:
        s = max(s, cursor)
        if e <= s:
            continue
        if s > cursor:
            items.append((cursor, s, None))
        items.append((s, e, None if n.is_rest else n))
        cursor = e

    measures = _measures(sig_ticks, end, divisions)
    cuts = sorted({m[0] for m in measures} | {t for t, _ in tempo_ticks})
    melisma = _melisma_marks([n for _, _, n in items if n is not None])
    fifths = _key_fifths(score.key)
    sung = [n.pitch for _, _, n in items if n is not None and n.pitch is not None]
    bass = bool(sung) and sorted(sung)[len(sung) // 2] < 55

    root = ET.Element("score-partwise", version="3.1")
    if score.title:
        ET.SubElement(ET.SubElement(root, "work"), "work-title").text = score.title
    ident = ET.SubElement(ET.SubElement(root, "identification"), "encoding")
    ET.SubElement(ident, "software").text = "vocalsynth"
    part_name = score.parts[score.part_index].name if 0 <= score.part_index < len(score.parts) else "Voice"
    sp = ET.SubElement(ET.SubElement(root, "part-list"), "score-part", id="P1")
    ET.SubElement(sp, "part-name").text = part_name or "Voice"
    part = ET.SubElement(root, "part", id="P1")

    pieces = _pieces(items, cuts)
    tempo_at = dict(tempo_ticks)
    written_tempo: set[int] = set()
    pi = 0
    for number, (_, m_end, num, den, new_sig) in enumerate(measures, start=1):
        measure = ET.SubElement(part, "measure", number=str(number))
        if number == 1 or new_sig:
            attrs = ET.SubElement(measure, "attributes")
            if number == 1:
                ET.SubElement(attrs, "divisions").text = str(divisions)
                key = ET.SubElement(attrs, "key")
                ET.SubElement(key, "fifths").text = str(fifths[0])
                ET.SubElement(key, "mode").text = fifths[1]
            time = ET.SubElement(attrs, "time")
            ET.SubElement(time, "beats").text = str(num)
            ET.SubElement(time, "beat-type").text = str(den)
            if number == 1:
                clef = ET.SubElement(attrs, "clef")
                ET.SubElement(clef, "sign").text = "F" if bass else "G"
                ET.SubElement(clef, "line").text = "4" if bass else "2"
        while pi < len(pieces) and pieces[pi][0] < m_end:
            s, e, n, first, last_piece = pieces[pi]
            if s in tempo_at and s not in written_tempo:
                _write_tempo(measure, tempo_at[s])
                written_tempo.add(s)
            _write_note(measure, e - s, divisions, n, first, last_piece, melisma, fifths[0])
            pi += 1
        for t, bpm in tempo_ticks:  # a tempo mark right at the end of the song
            if t == m_end == end and t not in written_tempo:
                _write_tempo(measure, bpm)
                written_tempo.add(t)
    ET.indent(root, space="  ")
    head = (
        '<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n'
        '<!DOCTYPE score-partwise PUBLIC "-//Recordare//DTD MusicXML 3.1 Partwise//EN" '
        '"http://www.musicxml.org/dtds/partwise.dtd">\n'
    )
    return (head + ET.tostring(root, encoding="unicode") + "\n").encode("utf-8")


def _measures(
    sigs: list[tuple[int, int, int]], end: int, divisions: int
) -> list[tuple[int, int, int, int, bool]]:
    """(start, end, numerator, denominator, signature changes here) for each measure up to ``end``."""
    out: list[tuple[int, int, int, int, bool]] = []
    cur, si = 0, 0
    num, den = sigs[0][1], sigs[0][2]
    shown: tuple[int, int] | None = None
    while cur < end or not out:
        while si < len(sigs) and sigs[si][0] <= cur:
            num, den = sigs[si][1], sigs[si][2]
            si += 1
        stop = cur + max(1, round(divisions * 4 * num / den))
        if si < len(sigs) and cur < sigs[si][0] < stop:
            stop = sigs[si][0]  # a signature change off the barline ends this measure early
        out.append((cur, stop, num, den, shown != (num, den)))
        shown = (num, den)
        cur = stop
        if len(out) > 1_000_000:
            raise ScoreError("can't write MusicXML: the song would need more than a million measures")
    return out


def _pieces(items, cuts):
    """Split each item at barlines and tempo changes: (start, end, note, first piece, last piece)."""
    out = []
    ci = 0
    for s, e, n in items:
        while ci < len(cuts) and cuts[ci] <= s:
            ci += 1
        j = ci
        a = s
        while j < len(cuts) and cuts[j] < e:
            out.append((a, cuts[j], n, a == s, False))
            a = cuts[j]
            j += 1
        out.append((a, e, n, a == s, True))
    return out


def _melisma_marks(line: list[Note]) -> dict[int, str]:
    """id(note) -> 'start' (a syllable a melisma follows) or 'stop' (the melisma's last note)."""
    marks: dict[int, str] = {}
    pitched = [n for n in line if n.pitch is not None]
    for i in range(1, len(pitched)):
        if pitched[i].slur and not pitched[i].lyric:
            head = pitched[i - 1]
            if marks.get(id(head)) == "stop":
                del marks[id(head)]  # the melisma goes on: one slur over all of it
            else:
                marks[id(head)] = "start"
            marks[id(pitched[i])] = "stop"
    return marks


def _write_tempo(measure: ET.Element, bpm: float) -> None:
    d = ET.SubElement(measure, "direction", placement="above")
    met = ET.SubElement(ET.SubElement(d, "direction-type"), "metronome")
    ET.SubElement(met, "beat-unit").text = "quarter"
    ET.SubElement(met, "per-minute").text = _num(round(bpm, 2))
    ET.SubElement(d, "sound", tempo=_num(bpm))


def _num(x: float) -> str:
    return f"{x:.10g}" if x != int(x) else str(int(x))


def _write_note(
    measure: ET.Element,
    ticks: int,
    divisions: int,
    n: Note | None,
    first: bool,
    last: bool,
    melisma: dict[int, str],
    fifths: int,
) -> None:
    el = ET.SubElement(measure, "note")
    if n is None or n.pitch is None:
        ET.SubElement(el, "rest")
    else:
        step, alter, octave = _spell(n.pitch, fifths)
        p = ET.SubElement(el, "pitch")
        ET.SubElement(p, "step").text = step
        if alter:
            ET.SubElement(p, "alter").text = str(alter)
        ET.SubElement(p, "octave").text = str(octave)
    ET.SubElement(el, "duration").text = str(ticks)
    tied = [] if n is None or n.pitch is None else ([] if first else ["stop"]) + ([] if last else ["start"])
    for t in tied:
        ET.SubElement(el, "tie", type=t)
    ET.SubElement(el, "voice").text = "1"
    kind = _note_type(Fraction(ticks, divisions))
    if kind is not None:
        ET.SubElement(el, "type").text = kind[0]
        for _ in range(kind[1]):
            ET.SubElement(el, "dot")
    if n is None or n.pitch is None:
        return
    role = melisma.get(id(n))
    slurs = []
    if role == "start" and first:
        slurs.append("start")
    if role == "stop" and last:
        slurs.append("stop")
    if tied or slurs:
        notations = ET.SubElement(el, "notations")
        for t in tied:
            ET.SubElement(notations, "tied", type=t)
        for t in slurs:
            ET.SubElement(notations, "slur", number="1", type=t)
    if first and n.lyric:
        ly = ET.SubElement(el, "lyric", number="1")
        if n.syllabic in _SYLLABIC:
            ET.SubElement(ly, "syllabic").text = n.syllabic
        ET.SubElement(ly, "text").text = n.lyric
        if role == "start":
            ET.SubElement(ly, "extend")


def _note_type(q: Fraction) -> tuple[str, int] | None:
    for name, base in _TYPE_QUARTERS.items():
        for dots in range(3):
            if base * (2 - Fraction(1, 2**dots)) == q:
                return name, dots
    return None  # a tuplet or odd length: <type> is optional


_SHARP_NAMES = [
    ("C", 0),
    ("C", 1),
    ("D", 0),
    ("D", 1),
    ("E", 0),
    ("F", 0),
    ("F", 1),
    ("G", 0),
    ("G", 1),
    ("A", 0),
    ("A", 1),
    ("B", 0),
]
_FLAT_NAMES = [
    ("C", 0),
    ("D", -1),
    ("D", 0),
    ("E", -1),
    ("E", 0),
    ("F", 0),
    ("G", -1),
    ("G", 0),
    ("A", -1),
    ("A", 0),
    ("B", -1),
    ("B", 0),
]


def _spell(pitch: int, fifths: int) -> tuple[str, int, int]:
    step, alter = (_FLAT_NAMES if fifths < 0 else _SHARP_NAMES)[pitch % 12]
    return step, alter, pitch // 12 - 1


def _key_fifths(key: str | None) -> tuple[int, str]:
    """'G major' -> (1, 'major'); anything unrecognised -> C major."""
    if key:
        parts = key.strip().split()
        mode = parts[1].lower() if len(parts) > 1 else "major"
        if mode in _MODE_FIFTHS:
            for fifths in range(-7, 8):
                if _fifths_name(fifths + _MODE_FIFTHS[mode]).lower() == parts[0].lower():
                    return fifths, mode
    return 0, "major"
