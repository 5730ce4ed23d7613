"""UTAU ``.ust`` projects: read the sung line (ticks, NoteNum, lyrics, tempo changes) and write it back.

A UST is INI-like: ``[#VERSION]``, ``[#SETTING]``, one ``[#0000]``-style section per note laid end to
end (480 ticks a quarter note), ``[#TRACKEND]``. Pitch bends, envelopes, vibrato and the like are
rendering details and are not kept.
"""

from __future__ import annotations

import codecs
import math
import re

from vocalsynth.score.build import MB, check_size, fill_from_beats
from vocalsynth.score.errors import ScoreError
from vocalsynth.score.model import Note, Part, Score, Tempo
from vocalsynth.score.validate import MAX_NOTES

TICKS_PER_BEAT = 480
MAX_BYTES = 4 * MB  # a UST takes ~30x its size in memory once read; a long song with pitch data is ~0.5 MB
# Charset= may name only a text encoding; these decode arbitrary bytes into something no UST holds
_ODD_CODECS = {"undefined", "punycode", "idna", "unicode-escape", "raw-unicode-escape", "utf-7"}
MAX_TICKS = 10**9  # ~ 20 days at 120 bpm: anything longer is a broken file, not a song
# Plugin scratch sections (UTAU hands plugins the notes around the selection in these); not part of the song.
SKIPPED_SECTIONS = {"PREV", "NEXT", "INSERT", "DELETE"}
HEADER_SECTIONS = {"VERSION", "SETTING"}

_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_CHARSET = re.compile(rb"^\s*charset\s*=\s*([A-Za-z0-9_.:\-]+)\s*$", re.IGNORECASE)
# Hiragana, katakana (small kana and the long-vowel mark included).
_KANA = "\u3041-\u3096\u309d\u309e\u30a1-\u30fa\u30fc-\u30fe"
_KANA_HEAD = re.compile(rf"^([{_KANA}]+)([^{_KANA}]+)$")
_PITCH_SUFFIX = re.compile(r"^(.*[a-z'])_?[A-G][#b]?-?\d$")
_SYMBOL_SUFFIX = "↑↓→←↗↘↙↖♪☆★○●◎"


def read(data: bytes, *, source: str, verse: int | None = None) -> Score:
    """Parse a UST file into a `Score` with one part (UST holds one track). ``verse`` is ignored."""
    check_size(data, MAX_BYTES, source, "a UST file")
    text = _decode(data, source)
    sections = _sections(text, source)
    title: str | None = None
    tempo_at: dict[float, float] = {}  # tick -> bpm; a later Tempo at the same tick wins
    notes: list[Note] = []
    tick = 0.0
    for name, line_no, lines in sections:
        if name == "TRACKEND":
            break
        if name in SKIPPED_SECTIONS:
            continue
        where = f"[#{name}]"
        if name in HEADER_SECTIONS:
            for _, key, value in _pairs(lines, where, source, strict=False):
                if key == "ProjectName" and value.strip():
                    title = value.strip()
                elif key == "Tempo" and value.strip():
                    tempo_at.setdefault(0.0, _tempo(value, where, source))
            continue
        if not name.isdigit():
            raise ScoreError(
                f"unexpected section {where} at line {line_no}: a UST has [#SETTING], note sections "
                "such as [#0000], and [#TRACKEND]",
                source=source,
            )
        if len(notes) == MAX_NOTES:
            raise ScoreError(f"more than {MAX_NOTES} note sections: refused", source=source, where=where)
        fields = {key: (value, n) for n, key, value in _pairs(lines, where, source, strict=True)}
        length = _length(fields.get("Length"), where, source)
        note = _note(fields, tick, length, where, source)
        if "Tempo" in fields and fields["Tempo"][0].strip():
            tempo_at[tick] = _tempo(fields["Tempo"][0], where, source)
        notes.append(note)
        tick += length
    if not notes:
        raise ScoreError("no note sections ([#0000], [#0001], ...): nothing to sing", source=source)
    tempos = [Tempo(t / TICKS_PER_BEAT, bpm) for t, bpm in sorted(tempo_at.items())] or [Tempo(0.0, 120.0)]
    score = Score(notes=[], tempos=tempos, title=title, source=source)
    line = fill_from_beats(notes, score.tempo_map)
    score.notes = line
    score.parts = [Part(title or "voice", line)]
    score.part_index = 0
    return score


# ---------------------------------------------------------------- decoding and sections


def _decode(data: bytes, source: str) -> str:
    nul = data.find(b"\x00")
    if nul >= 0:
        raise ScoreError(f"binary data (a NUL byte at byte offset {nul}), not a UST text file", source=source)
    bom = 3 if data.startswith(codecs.BOM_UTF8) else 0
    body = data[bom:]
    declared = _declared_charset(body)
    if declared is not None:
        try:
            info = codecs.lookup(declared)
        except LookupError:
            raise ScoreError(f"unknown Charset={declared[:40]}", source=source) from None
        if not getattr(info, "_is_text_encoding", True) or info.name in _ODD_CODECS:
            raise ScoreError(f"Charset={declared[:40]} is not a text encoding a UST can be in", source=source)
        codec = info.name
        if codec in ("shift_jis", "shift_jis_2004", "shift_jisx0213"):
            codec = "cp932"  # UTAU is a Windows program: "Shift_JIS" means Microsoft's cp932
        try:
            return body.decode(codec)
        except UnicodeError as e:
            at = f"byte offset {e.start + bom}" if isinstance(e, UnicodeDecodeError) else "some byte"
            raise ScoreError(
                f"the file says Charset={declared[:40]} but {at} is not valid {declared[:40]}",
                source=source,
            ) from None
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as e:
        utf8_at = e.start + bom
    try:
        return body.decode("cp932")
    except UnicodeDecodeError as e:
        raise ScoreError(
            f"can't decode the text: not UTF-8 (bad byte at byte offset {utf8_at}) and not Shift-JIS "
            f"(bad byte 0x{body[e.start]:02x} at byte offset {e.start + bom})",
            source=source,
        ) from None


def _declared_charset(data: bytes) -> str | None:
    """``Charset=`` from [#VERSION] or [#SETTING], read from the raw bytes before decoding.

    Splitting bytes on CR/LF is safe for Shift-JIS too: its second bytes are never 0x0A or 0x0D.
    """
    section = b""
    for raw in re.split(rb"\r\n|\r|\n", data[:65536]):
        line = raw.strip()
        if line.startswith(b"[#") and line.endswith(b"]"):
            section = line[2:-1]
            if section not in (b"VERSION", b"SETTING"):
                return None
            continue
        m = _CHARSET.match(line)
        if m and section in (b"VERSION", b"SETTING"):
            return m.group(1).decode("ascii")
    return None


def _sections(text: str, source: str) -> list[tuple[str, int, list[tuple[int, str]]]]:
    """(name, header line number, [(line number, line)]) for every ``[#NAME]`` section, in order."""
    sections: list[tuple[str, int, list[tuple[int, str]]]] = []
    for i, raw in enumerate(re.split(r"\r\n|\r|\n", text.removeprefix("\ufeff")), start=1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("[#") and line.endswith("]"):
            sections.append((line[2:-1].strip(), i, []))
        elif not sections:
            raise ScoreError(
                f"not a UST file: line {i} comes before any [#VERSION]/[#SETTING]/[#0000] section "
                f"({_clip(line)!r})",
                source=source,
            )
        else:
            sections[-1][2].append((i, line))
    if not sections:
        raise ScoreError("not a UST file: no [#SETTING] or [#0000] sections", source=source)
    return sections


def _pairs(lines: list[tuple[int, str]], where: str, source: str, *, strict: bool):
    """``Key=Value`` lines; in a note section anything else is an error ([#VERSION] has a bare line)."""
    for n, line in lines:
        key, eq, value = line.partition("=")
        if not eq:
            if strict:
                raise ScoreError(
                    f"line {n}: expected Key=Value, got {_clip(line)!r}", source=source, where=where
                )
            continue
        yield n, key.strip(), value


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


# ---------------------------------------------------------------- numbers


def _number(value: str) -> float | None:
    """A UST number; a decimal comma (``92,00``, written by UTAU in some locales) counts as a point."""
    v = value.strip()
    if v.count(",") == 1 and "." not in v:
        v = v.replace(",", ".")
    if not _NUMBER.fullmatch(v):
        return None
    x = float(v)
    return x if math.isfinite(x) else None


def _tempo(value: str, where: str, source: str) -> float:
    bpm = _number(value)
    if bpm is None or bpm <= 0:
        raise ScoreError(f"Tempo={value.strip()!r} is not a tempo > 0 bpm", source=source, where=where)
    return bpm


def _length(field: tuple[str, int] | None, where: str, source: str) -> float:
    if field is None:
        raise ScoreError("the note has no Length", source=source, where=where)
    value, n = field
    ticks = _number(value)
    if ticks is None:
        raise ScoreError(
            f"line {n}: Length={value.strip()!r} is not a number of ticks", source=source, where=where
        )
    if ticks <= 0:
        raise ScoreError(
            f"line {n}: Length must be > 0 ticks, got {value.strip()}", source=source, where=where
        )
    if ticks > MAX_TICKS:
        raise ScoreError(f"line {n}: Length={value.strip()} ticks is absurd", source=source, where=where)
    return ticks


def _note_num(field: tuple[str, int] | None, where: str, source: str) -> int | None:
    if field is None or not field[0].strip():
        return None
    value, n = field
    x = _number(value)
    if x is None or x != int(x):
        raise ScoreError(
            f"line {n}: NoteNum={value.strip()!r} is not a MIDI note number", source=source, where=where
        )
    if not 0 <= x <= 127:
        raise ScoreError(f"line {n}: NoteNum={int(x)} is outside MIDI 0-127", source=source, where=where)
    return int(x)


# ---------------------------------------------------------------- notes and lyrics


def _note(fields: dict[str, tuple[str, int]], tick: float, length: float, where: str, source: str) -> Note:
    pitch = _note_num(fields.get("NoteNum"), where, source)
    kind, lyric = clean_lyric(fields.get("Lyric", ("", 0))[0])
    if kind != "rest" and pitch is None:
        raise ScoreError("a sung note has no NoteNum", source=source, where=where)
    note = Note(
        start=0.0,
        duration=0.0,
        pitch=None if kind == "rest" else pitch,
        lyric=lyric,
        start_beat=tick / TICKS_PER_BEAT,
        duration_beats=length / TICKS_PER_BEAT,
        slur=kind == "slur",
        where=where,
    )
    return note


def clean_lyric(raw: str) -> tuple[str, str]:
    """UST lyric -> (kind, lyric) with kind 'rest', 'slur' or 'sung'. The rules, in order:

    1. ``?`` in front forces an alias in UTAU/OpenUtau: dropped. Empty, ``R`` or ``r`` is a rest.
    2. ``-``, or anything starting with ``+`` (``+``, ``+~``, ``+*``), continues the previous note (slur).
    3. VCV/CVVC alias: exactly two space-separated words whose first is at most 3 characters
       (``a か``, ``- ど``, ``- v'e``, ``oa m'e``): the first word (the previous vowel, or ``-``
       for a phrase start) is dropped. ``a R`` (a vowel fading out) holds that vowel: a slur;
       ``- R`` is a rest. A lower-case ``r`` after a prefix is a consonant (``'i r``), not a rest.
    4. Suffixes, only where they are clearly not lyric: after a run of kana, whatever non-kana
       follows (``かC4``, ``か↑``, ``あ強``, ``ど_B3``, ``あ2``); after a romanised lyric, an
       ``_`` and what follows, a pitch name (``kaC4``), or an arrow/star symbol. Digits after
       romaji stay (they may be pinyin tones), and so does a lyric that would become empty.
    """
    s = raw.strip().removeprefix("?").strip()
    kind = _kind(s)
    if kind:
        return kind, ""
    words = s.split()
    if len(words) == 2 and len(words[0]) <= 3:
        prefix, s = words
        if s == "R":
            return ("rest", "") if prefix == "-" else ("slur", "")
    s = _strip_suffix(s)
    if s == "-" or s.startswith("+"):
        return "slur", ""
    return "sung", s


def _kind(s: str) -> str | None:
    if s in ("", "R", "r"):
        return "rest"
    if s == "-" or s.startswith("+"):
        return "slur"
    return None


def _strip_suffix(s: str) -> str:
    m = _KANA_HEAD.match(s)
    if m:
        return m.group(1)
    body, us, _ = s.partition("_")
    if us and body:
        s = body
    m = _PITCH_SUFFIX.match(s)
    if m:
        s = m.group(1)
    stripped = s.rstrip(_SYMBOL_SUFFIX)
    return stripped or s


# ---------------------------------------------------------------- writing


def dumps(score: Score) -> bytes:
    """Write ``score.notes`` as a UST: Shift-JIS (cp932) when every lyric fits, else UTF-8 with Charset=UTF-8.

    Gaps become ``R`` notes, slurs ``+``; a lyric the reader would take for something else (``r``)
    gets the phrase-start prefix ``- ``, which it drops again. A note that a tempo change falls inside is split at the
    change (a slurred ``+`` note carries the rest of it), since UST can only change tempo at a note.
    Phoneme hints have no place in a UST and are dropped.
    """
    tempos = sorted(score.tempos, key=lambda t: t.beat) or [Tempo(0.0, 120.0)]
    changes: dict[int, float] = {}
    for t in tempos:
        changes[max(0, round(t.beat * TICKS_PER_BEAT))] = t.bpm
    first_bpm = changes.pop(0, tempos[0].bpm)
    sections: list[tuple[int, str, int | None]] = []  # (length ticks, lyric, pitch)
    starts: list[int] = []
    cursor = 0
    for n in score.notes:
        t0 = round(n.start_beat * TICKS_PER_BEAT)
        t1 = round(n.end_beat * TICKS_PER_BEAT)
        if t0 < cursor:
            raise ScoreError(
                f"overlaps the previous note (starts at tick {t0}, before tick {cursor})",
                source=score.source,
                where=n.where or None,
            )
        if t1 <= t0:
            if n.is_rest:
                continue
            raise ScoreError(
                "the note is shorter than one UST tick (1/480 of a quarter note)",
                source=score.source,
                where=n.where or None,
            )
        if t0 > cursor:
            _emit(sections, starts, cursor, t0, "R", None, changes)
        if n.is_rest:
            lyric = "R"
        elif n.slur or not n.lyric.strip():
            lyric = "+"  # UST has no empty sung note; holding the previous vowel is the closest
        else:
            lyric = _lyric_text(n.lyric)
        _emit(sections, starts, t0, t1, lyric, n.pitch, changes)
        cursor = t1
    header = ["[#VERSION]", "UST Version1.2", "[#SETTING]", f"Tempo={_bpm_text(first_bpm)}", "Tracks=1"]
    if score.title:
        header.append("ProjectName=" + " ".join(score.title.split()))
    header.append("Mode2=True")
    body: list[str] = []
    for i, ((length, lyric, pitch), start) in enumerate(zip(sections, starts, strict=True)):
        body += [
            f"[#{i:04d}]",
            f"Length={length}",
            f"Lyric={lyric}",
            f"NoteNum={60 if pitch is None else pitch}",
        ]
        if start in changes:
            body.append(f"Tempo={_bpm_text(changes[start])}")
    body.append("[#TRACKEND]")
    text = "\r\n".join(header + body) + "\r\n"
    try:
        data = text.encode("cp932")
    except UnicodeEncodeError:
        data = None
    # Readers without a Charset line try UTF-8 first: Shift-JIS bytes that happen to be valid UTF-8
    # (some half-width kana pairs are) would be misread, so those go out as UTF-8 too.
    if data is not None and (data.isascii() or not _is_utf8(data)):
        return data
    header.insert(2, "Charset=UTF-8")
    return ("\r\n".join(header + body) + "\r\n").encode("utf-8")


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _lyric_text(lyric: str) -> str:
    """A lyric the reader gives back unchanged: ``r`` alone would be a rest, ``- r`` is the sung ``r``."""
    text = " ".join(lyric.split())
    if clean_lyric(text) != ("sung", text) and clean_lyric("- " + text) == ("sung", text):
        return "- " + text
    return text


def _emit(
    sections, starts, t0: int, t1: int, lyric: str, pitch: int | None, changes: dict[int, float]
) -> None:
    cuts = sorted(t for t in changes if t0 < t < t1)
    edges = [t0, *cuts, t1]
    for k, (a, b) in enumerate(zip(edges, edges[1:], strict=False)):
        sections.append((b - a, lyric if k == 0 or lyric == "R" else "+", pitch))
        starts.append(a)


def _bpm_text(bpm: float) -> str:
    text = f"{bpm:.2f}"
    return text if float(text) == bpm else repr(float(bpm))
