"""vocalsynth's compact text notation (what a person types in the demo): the reader and the writer.

The syntax is described, with examples, in docs/notation.md. In short::

    title="Twinkle" tempo=100 time=4/4 lang=en
    C4/4 twin- C4 -kle G4 twin- G4 -kle | A4 lit- A4 -tle G4/2 star |

Lengths are counted in quarter-note beats with exact fractions, so triplets and bar checks don't drift.
"""

from __future__ import annotations

import bisect
import math
import re
from dataclasses import dataclass
from fractions import Fraction

from vocalsynth.score.build import MB, check_size, fill_from_beats
from vocalsynth.score.errors import ScoreError
from vocalsynth.score.model import Note, Score, Tempo, TempoMap, TimeSignature, pitch_name
from vocalsynth.score.validate import MAX_NOTES

MAX_BYTES = 1 * MB  # typed text: a song of an hour is ~100 KB; parsed, a token takes ~200x its bytes
DIRECTIVES = ("tempo", "time", "key", "lang", "title")
LANGUAGES = ("en", "ja", "zh")
LANGUAGE_HINTS = {"jp": "ja", "cn": "zh", "zh-cn": "zh", "eng": "en", "jpn": "ja", "chi": "zh", "zho": "zh"}
DENOMINATORS = (1, 2, 4, 8, 16, 32)
DEFAULT_LENGTH = Fraction(1)  # a quarter note
DEFAULT_TEMPO = 120.0

_STEPS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
# A token shaped like a note: a letter, accidentals and a number, then maybe /LEN and ~.
# It is read as a note (and must be a valid one) even where a lyric could stand: quote such lyrics.
_NOTE_SHAPE = re.compile(r"[A-Za-z][#b]*-?\d+(?:[/~].*)?")
_REST_SHAPE = re.compile(r"[Rr](?:[/~].*)?")
_NOTE = re.compile(r"(?P<pitch>[^/~]+)(?:/(?P<len>[^~]*))?(?P<tie>~)?")
_PITCH = re.compile(r"(?P<letter>[A-Za-z])(?P<acc>#{1,2}|b{1,2})?(?P<octave>-?\d{1,3})")
_MIDI = re.compile(r"[mM](?P<number>\d{1,4})")
_TERM = re.compile(r"(?P<den>\d{1,3})(?P<mod>\.{1,2}|t)?")
_KEY = re.compile(r"[A-Ga-g](?:#|b)?\s*(?:m|min|minor|maj|major)?", re.IGNORECASE)
_TIME = re.compile(r"(\d{1,3})/(\d{1,3})")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z_0-9]*")
_LENGTH_HELP = "use /1 /2 /4 /8 /16 /32, dots /4. /4.., triplets /8t, or sums /2+8"


# --------------------------------------------------------------------------- tokens


@dataclass
class _Token:
    text: str  # as typed, for messages
    pieces: list[tuple[str, bool]]  # (text, quoted)
    line: int
    index: int  # 1-based within its line

    @property
    def where(self) -> str:
        return f"line {self.line}, token {self.index} {self.text!r}"

    @property
    def plain(self) -> str | None:
        """The token's text if nothing in it is quoted."""
        if any(q for _, q in self.pieces):
            return None
        return "".join(t for t, _ in self.pieces)

    @property
    def value(self) -> str:
        return "".join(t for t, _ in self.pieces)


def _tokenize(text: str, source: str) -> list[_Token]:
    tokens: list[_Token] = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        i, n, index = 0, len(line), 0
        while i < n:
            c = line[i]
            if c.isspace():
                i += 1
                continue
            if c == "#":  # a comment: from a word starting with '#' to the end of the line
                break
            index += 1
            start = i
            if c == "|":
                while i < n and line[i] == "|":
                    i += 1
                tokens.append(_Token(line[start:i], [("|", False)], line_no, index))
                continue
            pieces: list[tuple[str, bool]] = []
            buf: list[str] = []
            while i < n and not line[i].isspace() and line[i] != "|":
                if line[i] != '"':
                    buf.append(line[i])
                    i += 1
                    continue
                if buf:
                    pieces.append(("".join(buf), False))
                    buf = []
                j, quoted = i + 1, []
                while j < n and line[j] != '"':
                    if line[j] == "\\" and j + 1 < n and line[j + 1] in '"\\':
                        j += 1
                    quoted.append(line[j])
                    j += 1
                if j >= n:
                    raise ScoreError(
                        'unterminated quote: close it with " on the same line',
                        source=source,
                        where=f"line {line_no}, token {index} {line[start:]!r}",
                    )
                pieces.append(("".join(quoted), True))
                i = j + 1
            if buf:
                pieces.append(("".join(buf), False))
            tokens.append(_Token(line[start:i], pieces, line_no, index))
    return tokens


# --------------------------------------------------------------------------- reading


@dataclass
class _Pending:
    """A note being read: its lyric slot may still be open, and a tie may extend it."""

    note: Note
    token: _Token
    index: int  # in the reader's list of notes
    start: Fraction
    length: Fraction
    lyric_done: bool = False
    tie: bool = False


class _Reader:
    def __init__(self, source: str):
        self.source = source
        self.pos = Fraction(0)
        self.length = DEFAULT_LENGTH
        self.notes: list[_Pending] = []
        self.open: _Pending | None = None  # the note whose lyric slot is open
        self.tied_slot = False  # the open slot belongs to a tie continuation: only '_' may follow
        self.tie_from: _Pending | None = None
        # position -> bpm, and position -> (numerator, denominator, token); a later mark at one place wins
        self.tempos: dict[Fraction, float] = {}
        self.times: dict[Fraction, tuple[int, int, _Token]] = {}
        self.bars: list[tuple[Fraction, _Token]] = []
        self.key: str | None = None
        self.title: str | None = None
        self.language: str | None = None
        self.current_language: str | None = None

    def error(self, token: _Token, message: str) -> ScoreError:
        return ScoreError(message, source=self.source, where=token.where)

    # ---- the token loop

    def feed(self, tok: _Token) -> None:
        plain = tok.plain
        if plain is not None and plain.startswith("|"):
            self.close_slot()
            last = self.bars[-1][0] if self.bars else Fraction(0)
            if self.pos != last or (self.bars and self.bars[-1][1].line == tok.line):
                self.bars.append((self.pos, tok))  # '... |' then '| ...' on the next line is one bar line
            return
        directive = self.directive_parts(tok)
        if directive is not None:
            self.close_slot()
            self.directive(tok, *directive)
            return
        left, lyric = _split_colon(tok)
        if left is not None and (_NOTE_SHAPE.fullmatch(left) or _REST_SHAPE.fullmatch(left)):
            self.close_slot()
            self.note(tok, left, lyric)
            return
        if self.open is not None:
            self.lyric(tok)
            return
        if self.tied_slot and plain == "_":
            self.tied_slot = False
            return
        raise self.error(tok, self.unknown_message(tok))

    def unknown_message(self, tok: _Token) -> str:
        prev = self.notes[-1] if self.notes else None
        if self.tied_slot:
            return "a note tied to the one before (~) continues its syllable and can't take a lyric"
        if prev is not None and prev.note.is_rest and self.pos == prev.start + prev.length:
            return "a rest takes no lyric"
        if tok.plain == "_":
            return "'_' (melisma) must come right after a note, like C4/4 _"
        return (
            "not a note (C4/4), rest (R/4), bar line (|) or directive (tempo=120); "
            "a lyric goes right after its note"
        )

    def finish(self) -> None:
        self.close_slot()
        if self.tie_from is not None:
            raise self.error(self.tie_from.token, "tie ~ with no note after it to tie to")

    # ---- notes and lyrics

    def note(self, tok: _Token, left: str, lyric: list[tuple[str, bool]] | None) -> None:
        m = _NOTE.fullmatch(left)
        if m is None:  # e.g. 'C4~/4'
            raise self.error(tok, "a note is PITCH[/LEN][~][:LYRIC], like C4/4, C#4/8., C4/2~ or A4/4:a4")
        pitch = self.pitch(tok, m.group("pitch"))
        if m.group("len") is not None:
            self.length = self.parse_length(tok, m.group("len"))
        length = self.length
        tie = m.group("tie") is not None
        if pitch is None and tie:
            raise self.error(tok, "a rest can't be tied (~); just make it longer, like R/2+8")
        if pitch is None and lyric is not None:
            raise self.error(tok, "a rest takes no lyric")

        if self.tie_from is not None:
            held = self.tie_from
            if pitch != held.note.pitch:
                what = "a rest" if pitch is None else pitch_name(pitch)
                raise self.error(
                    tok, f"tie ~ joins notes of the same pitch: {held.note.name} is tied to {what}"
                )
            held.length += length
            self.pos += length
            held.tie = tie
            self.tie_from = held if tie else None
            if lyric is not None:
                raise self.error(
                    tok, "a note tied to the one before (~) continues its syllable and can't take a lyric"
                )
            self.tied_slot = True
            return

        note = Note(
            start=0.0,
            duration=0.0,
            pitch=pitch,
            language=self.current_language,
            where=f"line {tok.line}, token {tok.index} {tok.text!r}",
        )
        if len(self.notes) == MAX_NOTES:
            raise self.error(tok, f"more than {MAX_NOTES} notes: refused")
        pending = _Pending(note, tok, len(self.notes), self.pos, length, tie=tie)
        self.notes.append(pending)
        self.pos += length
        if tie:
            self.tie_from = pending
        if pitch is None:
            pending.lyric_done = True
            return
        self.open = pending
        if lyric is not None:
            self.set_lyric(tok, lyric)

    def pitch(self, tok: _Token, text: str) -> int | None:
        if text in ("R", "r"):
            return None
        m = _MIDI.fullmatch(text)
        if m:
            number = int(m.group("number"))
            if number > 127:
                raise self.error(tok, f"bad pitch {text!r}: a MIDI number goes from m0 to m127")
            return number
        m = _PITCH.fullmatch(text)
        if m is None:
            raise self.error(
                tok, f"bad pitch {text!r}: write a letter A-G, then # or b, then the octave (C#4)"
            )
        letter = m.group("letter").upper()
        if letter not in _STEPS:
            hint = " (for a rest write R/4)" if letter == "R" else ""
            raise self.error(
                tok,
                f"bad pitch {text!r}: the note letter must be A-G{hint}; "
                'quote a lyric that looks like a note ("a4") or glue it on (A4/4:a4)',
            )
        acc = m.group("acc") or ""
        shift = len(acc) if acc.startswith("#") else -len(acc)
        octave = int(m.group("octave"))
        pitch = (octave + 1) * 12 + _STEPS[letter] + shift
        if not 0 <= pitch <= 127:
            raise self.error(tok, f"bad pitch {text!r}: outside the MIDI range C-1 to G9 (C4 is middle C)")
        return pitch

    def parse_length(self, tok: _Token, text: str) -> Fraction:
        if not text:
            raise self.error(tok, f"bad length: nothing after '/'; {_LENGTH_HELP}")
        total = Fraction(0)
        for term in text.split("+"):
            m = _TERM.fullmatch(term)
            if m is None or int(m.group("den")) not in DENOMINATORS:
                raise self.error(tok, f"bad length '/{text}': {_LENGTH_HELP}")
            value = Fraction(4, int(m.group("den")))
            mod = m.group("mod")
            if mod == ".":
                value *= Fraction(3, 2)
            elif mod == "..":
                value *= Fraction(7, 4)
            elif mod == "t":
                value *= Fraction(2, 3)
            total += value
        return total

    def lyric(self, tok: _Token) -> None:
        self.set_lyric(tok, tok.pieces)

    def set_lyric(self, tok: _Token, pieces: list[tuple[str, bool]]) -> None:
        pending = self.open
        self.open = None
        pending.lyric_done = True
        note = pending.note
        if len(pieces) == 1 and pieces[0] == ("_", False):
            self.continuation(pending, tok)
            return
        pieces = list(pieces)
        before = after = False
        if pieces and not pieces[0][1] and pieces[0][0].startswith("-"):
            before = True
            pieces[0] = (pieces[0][0].lstrip("-"), False)
        if pieces and not pieces[-1][1] and pieces[-1][0].endswith("-"):
            after = True
            pieces[-1] = (pieces[-1][0].rstrip("-"), False)
        text = "".join(t for t, _ in pieces)
        quoted = any(q for _, q in pieces)
        if not text and not quoted:
            raise self.error(tok, "a hyphen needs a syllable (twin- -kle); for a melisma write _")
        note.lyric = text
        note.syllabic = {
            (False, False): "single",
            (False, True): "begin",
            (True, True): "middle",
            (True, False): "end",
        }[(before, after)]
        if not text:
            note.syllabic = None  # "" : a note with no lyric that doesn't continue the one before

    def continuation(self, pending: _Pending, tok: _Token) -> None:
        prev = self.notes[pending.index - 1] if pending.index > 0 else None
        if prev is None or prev.note.is_rest:
            where = "after a rest" if prev is not None else "at the start"
            raise self.error(
                tok,
                f"a note without a lyric continues the syllable before it, but there is none ({where}); "
                'give it a lyric, or "" for a note with no words',
            )
        pending.note.slur = True
        pending.note.lyric = ""

    def close_slot(self) -> None:
        self.tied_slot = False
        if self.open is not None:
            pending = self.open
            self.open = None
            pending.lyric_done = True
            self.continuation(pending, pending.token)

    # ---- directives

    def directive_parts(self, tok: _Token) -> tuple[str, str] | None:
        first, quoted = tok.pieces[0]
        if quoted or "=" not in first:
            return None
        name, rest = first.split("=", 1)
        if not _IDENT.fullmatch(name):
            return None
        return name, rest + "".join(t for t, _ in tok.pieces[1:])

    def directive(self, tok: _Token, name: str, value: str) -> None:
        key = name.lower()
        if key not in DIRECTIVES:
            raise self.error(
                tok,
                f"unknown directive {name!r} (known: {', '.join(DIRECTIVES)}); quote a lyric that has '='",
            )
        if key == "tempo":
            try:
                bpm = float(value)
            except ValueError:
                raise self.error(
                    tok, "tempo must be a number of quarter notes a minute, like tempo=120"
                ) from None
            if not math.isfinite(bpm) or bpm <= 0:
                raise self.error(tok, f"tempo must be > 0, got {value}")
            self.tempos[self.pos] = bpm
        elif key == "time":
            m = _TIME.fullmatch(value)
            if not m or not 1 <= int(m.group(1)) <= 64 or int(m.group(2)) not in DENOMINATORS:
                raise self.error(
                    tok, "time signature must look like time=4/4 (1-64 over 1, 2, 4, 8, 16 or 32)"
                )
            self.times[self.pos] = (int(m.group(1)), int(m.group(2)), tok)
        elif key == "key":
            if not _KEY.fullmatch(value):
                raise self.error(tok, 'key must look like key=G, key=Bb, key=F#m or key="E minor"')
            self.key = value
        elif key == "lang":
            code = value.lower()
            if code not in LANGUAGES:
                hint = f" (did you mean lang={LANGUAGE_HINTS[code]}?)" if code in LANGUAGE_HINTS else ""
                raise self.error(tok, f"lang must be one of {', '.join(LANGUAGES)}{hint}")
            self.current_language = code
            if self.language is None:
                self.language = code
        else:
            self.title = value

    # ---- the result

    def score(self) -> Score:
        self.check_bars()
        notes = []
        for p in self.notes:
            p.note.start_beat = float(p.start)
            p.note.duration_beats = float(p.length)
            notes.append(p.note)
        tempos = [Tempo(float(b), bpm) for b, bpm in sorted(self.tempos.items())]
        if not tempos or tempos[0].beat > 0:
            tempos.insert(0, Tempo(0.0, DEFAULT_TEMPO))
        times = [TimeSignature(float(b), n, d) for b, (n, d, _) in sorted(self.times.items())]
        if not times or times[0].beat > 0:
            times.insert(0, TimeSignature(0.0))
        return Score(
            notes=fill_from_beats(notes, TempoMap(tempos)),
            tempos=tempos,
            time_signatures=times,
            key=self.key,
            title=self.title,
            language=self.language,
            source=self.source,
        )

    def check_bars(self) -> None:
        """With bar lines, every bar must be as long as its time signature (the first may be a pickup)."""
        if not self.bars:
            return
        times = sorted(self.times.items())
        bar_starts = {Fraction(0)} | {b for b, _ in self.bars}
        for beat, (_, _, tok) in times:
            if beat not in bar_starts:
                raise self.error(tok, "a time signature must come at the start of a bar (right after |)")

        start = Fraction(0)
        n, d = 4, 4
        k = 0  # the next time signature to take effect (bars come in order, so one pass over both)
        for number, (end, tok) in enumerate(self.bars, start=1):
            while k < len(times) and times[k][0] <= start:
                n, d = times[k][1][:2]
                k += 1
            need = Fraction(4 * n, d)
            have = end - start
            if end == start:
                raise self.error(tok, f"bar {number} is empty (two bar lines in a row)")
            if have != need and not (number == 1 and 0 < have < need):
                raise ScoreError(
                    f"bar {number} lasts {_whole_notes(have, d)} but time={n}/{d} needs {n}/{d}",
                    source=self.source,
                    where=tok.where,
                )
            start = end


def _whole_notes(beats: Fraction, den: int) -> str:
    """Quarter-note beats as a fraction of a whole note, over the time signature's denominator if it can."""
    whole = beats / 4
    for d in (den, den * 2, den * 4, den * 8, den * 16):
        if (whole * d).denominator == 1:
            return f"{whole * d}/{d}"
    return f"{beats} quarter notes"


def _split_colon(tok: _Token) -> tuple[str | None, list[tuple[str, bool]] | None]:
    """'A4/4:a4' -> ('A4/4', lyric pieces); a token without an unquoted ':' -> (its text, None).

    The part before the colon must be unquoted; (None, None) when it isn't a candidate for a note.
    """
    left: list[str] = []
    for i, (text, quoted) in enumerate(tok.pieces):
        if quoted:
            return None, None
        if ":" in text:
            head, tail = text.split(":", 1)
            left.append(head)
            right = ([(tail, False)] if tail else []) + list(tok.pieces[i + 1 :])
            return "".join(left), right or [("", True)]
        left.append(text)
    return "".join(left), None


def read(data: bytes, *, source: str, verse: int | None = None) -> Score:
    """Parse notation text into a `Score` (``verse`` is ignored: the notation has one lyric line)."""
    check_size(data, MAX_BYTES, source, "notation text")
    text = _decode(data, source)
    reader = _Reader(source)
    for tok in _tokenize(text, source):
        reader.feed(tok)
    reader.finish()
    return reader.score()


def _decode(data: bytes, source: str) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as e:
            raise ScoreError("the text is not valid UTF-16", source=source) from e
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ScoreError(f"the text is not UTF-8 (bad byte at offset {e.start})", source=source) from e


# --------------------------------------------------------------------------- writing

UNIT = 96  # writer grid: 1/96 of a quarter note, fine enough for every length the reader takes
_TERMS: list[tuple[int, str, float]] = []  # (units, text, cost): fewer, plainer terms read best
for _den in DENOMINATORS:
    _base = 4 * UNIT // _den
    _TERMS += [
        (_base, str(_den), 1.0),
        (_base * 3 // 2, f"{_den}.", 1.01),
        (_base * 7 // 4, f"{_den}..", 1.05),
        (_base * 2 // 3, f"{_den}t", 1.1),
    ]
_TERMS.sort(key=lambda t: -t[0])
_DP_LIMIT = 2 * 4 * UNIT  # lengths up to two whole notes by search; longer ones start with whole notes
_best: list[tuple[float, tuple[str, ...]] | None] = [(0.0, ())] + [None] * _DP_LIMIT
for _n in range(1, _DP_LIMIT + 1):
    for _units, _text, _cost in _TERMS:
        if _units <= _n and _best[_n - _units] is not None:
            cand = (_best[_n - _units][0] + _cost, (*_best[_n - _units][1], _text))
            if _best[_n] is None or cand[0] < _best[_n][0] - 1e-9:
                _best[_n] = cand


def _length_text(units: int) -> str | None:
    """'/2+8' for a length in grid units; None if no sum of written lengths makes it exactly."""
    wholes = 0
    while units > _DP_LIMIT:
        units -= 4 * UNIT
        wholes += 1
    best = _best[units] if units > 0 else None
    if best is None:
        return None
    terms = ["1"] * wholes + sorted(best[1], key=lambda t: -_TERM_UNITS[t])
    return "/" + "+".join(terms)


_TERM_UNITS = {text: units for units, text, _ in _TERMS}


def _representable(units: int) -> bool:
    return units > 0 and _length_text(units) is not None


def _nearest_representable(units: int) -> int:
    """The nearest length that can be written, preferring whole 1/32 notes (12 units)."""
    for delta in range(0, 4 * UNIT):
        for cand in (units - delta, units + delta):
            if cand > 0 and cand % 12 == 0 and _representable(cand):
                return cand
    return 12


def _snap(beat: float) -> int:
    """A beat position in grid units: exact when it sits on the grid, else the nearest 1/32 note."""
    v = beat * UNIT
    r = round(v)
    if abs(v - r) < 1e-3:
        return r
    return round(v / 12) * 12


def dumps(score: Score) -> bytes:
    """Write ``score`` as notation that reads back to the same notes, lyrics and tempo map.

    Lengths come from ``duration_beats``. Notes are written on a grid of 1/96 of a quarter note,
    which holds every length the reader accepts except ``/32.`` and ``/32..``; a note or tempo
    change that sits off that grid (a score timed in seconds, e.g. from a `.ds` file) is moved to
    the nearest 1/32 note, so such a score comes back close to, not exactly at, its timing. Bar
    lines are written when the time signatures allow it; notes that cross a bar line or a tempo
    change are written as tied pieces (``C4/2~ | C4/4``). Control characters in lyrics become spaces.
    """
    plan = _plan(score)
    text = _render(score, plan, with_bars=True)
    if text is None:
        text = _render(score, plan, with_bars=False)
    return text.encode("utf-8")


@dataclass
class _Item:
    start: int
    end: int
    note: Note | None  # None: a rest


def _plan(score: Score) -> list[_Item]:
    items: list[_Item] = []
    cursor = 0
    for n in sorted(score.notes, key=lambda n: n.start_beat):
        s = max(_snap(n.start_beat), cursor)
        e = _snap(n.start_beat + n.duration_beats)
        if n.is_rest:
            if e - s > 0:
                if s > cursor:
                    items.append(_Item(cursor, s, None))
                items.append(_Item(s, e, None))
                cursor = e
            continue
        if e <= s:
            e = s + 12  # a sung note shorter than the grid doesn't vanish: it becomes a 1/32
        if s > cursor:
            items.append(_Item(cursor, s, None))
        items.append(_Item(s, e, n))
        cursor = e
    merged: list[_Item] = []
    for it in items:
        if it.note is None and merged and merged[-1].note is None and merged[-1].end == it.start:
            merged[-1].end = it.end
        else:
            merged.append(it)
    return merged


def _bar_lines(score: Score, items: list[_Item], end: int) -> list[int] | None:
    """Bar line positions (grid units) up to ``end``, or None when the time signatures don't allow any.

    A score keeps no pickup bar, so try each note start in the first bar as the end of a pickup and
    keep the grid that cuts fewest notes (ties), preferring none.
    """
    changes = sorted((_snap(t.beat), t) for t in score.time_signatures if _snap(t.beat) <= end)
    if not changes or changes[0][0] != 0:
        changes.insert(0, (0, TimeSignature(0.0)))
    first = _measure(changes[0][1]) or 0
    pickups = [0, *sorted({it.start for it in items if 0 < it.start < first})]
    best: tuple[tuple[int, int], list[int]] | None = None
    for pickup in pickups:
        bars = _grid(changes, end, pickup)
        if bars is None:
            continue
        cuts = sum(bisect.bisect_left(bars, it.end) - bisect.bisect_right(bars, it.start) for it in items)
        key = (cuts, pickup)
        if best is None or key < best[0]:
            best = (key, bars)
    return best[1] if best is not None else None


def _measure(ts: TimeSignature) -> int | None:
    if ts.numerator <= 0 or ts.denominator <= 0 or 4 * UNIT * ts.numerator % ts.denominator:
        return None
    return 4 * UNIT * ts.numerator // ts.denominator


def _grid(changes: list[tuple[int, TimeSignature]], end: int, pickup: int) -> list[int] | None:
    bars: list[int] = []
    for i, (at, ts) in enumerate(changes):
        stop = changes[i + 1][0] if i + 1 < len(changes) else end
        measure = _measure(ts)
        if measure is None:
            return None
        pos = at
        if i == 0 and pickup:
            if pickup > stop:
                return None
            pos = pickup
            bars.append(pos)
        while pos + measure <= stop:
            pos += measure
            bars.append(pos)
        if i + 1 < len(changes) and pos != stop:
            return None  # the next time signature starts in the middle of a bar
    return bars


def _render(score: Score, items: list[_Item], *, with_bars: bool) -> str | None:
    end = items[-1].end if items else 0
    bars = _bar_lines(score, items, end) if with_bars else []
    if bars is None:
        return None
    tempos = sorted(((_snap(t.beat), t.bpm) for t in score.tempos), key=lambda t: t[0])
    times = sorted(((_snap(t.beat), t) for t in score.time_signatures), key=lambda t: t[0])
    # directives at a position: {units: [text]}
    directives: dict[int, list[str]] = {}
    for at, ts in times:
        if at > 0 and at <= end:
            directives.setdefault(at, []).append(f"time={ts.numerator}/{ts.denominator}")
    for at, bpm in tempos:
        if at > 0 and at <= end:
            directives.setdefault(at, []).append(f"tempo={_num(bpm)}")
    cuts = sorted(set(bars) | set(directives))

    header: list[str] = []
    if score.title:
        header.append(f"title={_quote(score.title)}")
    meta = []
    if score.language:
        meta.append(f"lang={score.language}")
    if score.key and _KEY.fullmatch(score.key.strip()):
        meta.append(f"key={_quote(score.key.strip()) if ' ' in score.key.strip() else score.key.strip()}")
    first_time = next((ts for at, ts in times if at == 0), TimeSignature(0.0))
    meta.append(f"time={first_time.numerator}/{first_time.denominator}")
    first_tempo = [bpm for at, bpm in tempos if at == 0]
    # a tempo map that starts late plays its first tempo from the start (see TempoMap)
    meta.append(
        f"tempo={_num(first_tempo[-1] if first_tempo else tempos[0][1] if tempos else DEFAULT_TEMPO)}"
    )
    header.append(" ".join(meta))

    lines: list[str] = []
    line: list[str] = []
    bar_set = set(bars)
    written = 0  # where the reader's cursor will be
    last_len: int | None = None  # units of the length the reader will carry on with
    language = score.language
    prev_sung = False
    bars_done = 0
    notes_on_line = 0

    def flush() -> None:
        nonlocal line, notes_on_line
        if line:
            lines.append(" ".join(line))
        line, notes_on_line = [], 0

    def at_position(pos: int) -> None:
        nonlocal bars_done
        if pos in bar_set and pos > 0:
            line.append("|")
            bars_done += 1
            if bars_done % 4 == 0:
                flush()
        line.extend(directives.get(pos, []))

    for it in items:
        edges = [it.start, *[c for c in cuts if it.start < c < it.end], it.end]
        pieces = list(zip(edges, edges[1:], strict=False))
        for j, (a, b) in enumerate(pieces):
            at_position(a)
            units = b - written
            if not _representable(units):
                if with_bars:
                    return None
                units = _nearest_representable(units)
            length = "" if units == last_len else _length_text(units)
            last_len = units
            written += units
            n = it.note
            if n is None:
                line.append("R" + length)
            else:
                if j == 0 and n.language and n.language != language:
                    line.append(f"lang={n.language}")
                    language = n.language
                token = pitch_name(n.pitch) + length + ("~" if j + 1 < len(pieces) else "")
                line.append(token)
                if j == 0:
                    # a slur with nothing sung before it (other formats allow it) becomes a note without words
                    line.append(_lyric_token(n) if not n.slur or prev_sung else '""')
            prev_sung = n is not None
            notes_on_line += 1
            if not bars and notes_on_line >= 8:
                flush()
    if end > 0:
        at_position(end)
    flush()
    return "\n".join(header + lines) + "\n"


_PLAIN_LYRIC = re.compile(r"[^\s\"\\|:=~#]+")


def _lyric_token(n: Note) -> str:
    if n.slur:
        return "_"
    text = _printable(n.lyric)
    special = (
        not _PLAIN_LYRIC.fullmatch(text)
        or _NOTE_SHAPE.fullmatch(text)
        or _REST_SHAPE.fullmatch(text)
        or text == "_"
        or text.startswith("-")
        or text.endswith("-")
    )
    core = _quote(text) if special else text
    syllabic = n.syllabic if text else None
    if syllabic in ("end", "middle"):
        core = "-" + core
    if syllabic in ("begin", "middle"):
        core = core + "-"
    return core


def _printable(text: str) -> str:
    """Control characters (a line break would end a quote) become spaces."""
    return re.sub(r"[\x00-\x1f\x7f\x85\u2028\u2029]", " ", text)


def _quote(text: str) -> str:
    return '"' + _printable(text).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _num(x: float) -> str:
    return format(x, ".10g")
