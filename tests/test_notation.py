"""The text notation: every feature and error of the reader, the writer's round trip, and the examples."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import vocalsynth
from vocalsynth.score import Note, Score, ScoreError, Tempo, TempoMap, TimeSignature, notation, validate
from vocalsynth.score.build import fill_from_beats

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def read(text: str) -> Score:
    return notation.read(text.encode("utf-8"), source="<text>")


def sung(score: Score) -> list[tuple]:
    return [(n.name, n.lyric, n.slur) for n in score.notes if not n.is_rest]


def error(text: str) -> str:
    with pytest.raises(ScoreError) as info:
        read(text)
    return str(info.value)


# --------------------------------------------------------------------------- reading


def test_twinkle_pitches_lengths_syllables_and_seconds():
    s = read(
        'title="Twinkle" tempo=100 lang=en\nC4/4 twin- C4 -kle G4 twin- G4 -kle A4 lit- A4 -tle G4/2 star'
    )
    assert s.title == "Twinkle" and s.language == "en"
    assert [n.pitch for n in s.notes] == [60, 60, 67, 67, 69, 69, 67]
    assert [n.lyric for n in s.notes] == ["twin", "kle", "twin", "kle", "lit", "tle", "star"]
    assert [n.syllabic for n in s.notes[:2]] == ["begin", "end"] and s.notes[-1].syllabic == "single"
    assert [n.duration_beats for n in s.notes] == [1, 1, 1, 1, 1, 1, 2]
    assert s.notes[-1].start == pytest.approx(6 * 0.6) and s.notes[-1].duration == pytest.approx(1.2)
    assert all(n.language == "en" for n in s.notes)
    assert s.notes[2].where == "line 2, token 5 'G4'"
    validate(s)


@pytest.mark.parametrize(
    ("length", "beats"),
    [
        ("/1", 4),
        ("/2", 2),
        ("/4", 1),
        ("/8", 0.5),
        ("/16", 0.25),
        ("/32", 0.125),
        ("/4.", 1.5),
        ("/4..", 1.75),
        ("/8t", 1 / 3),
        ("/2+8", 2.5),
        ("/4.+16t", 1.5 + 1 / 6),
    ],
)
def test_lengths(length, beats):
    assert read(f"C4{length} la").notes[0].duration_beats == pytest.approx(beats)


def test_omitted_length_repeats_the_previous_one_and_starts_as_a_quarter():
    s = read("C4 a D4/8 b E4 c R F4/2. d G4 e")
    assert [n.duration_beats for n in s.notes] == [1, 0.5, 0.5, 0.5, 3, 3]


def test_triplets_add_up_exactly():
    s = read("time=2/4 C4/8t a D4 b E4 c F4/4 d | G4/2 e |")
    assert s.notes[3].start_beat == 1.0 and s.notes[4].start_beat == 2.0


@pytest.mark.parametrize(
    ("pitch", "midi"),
    [
        ("C4", 60),
        ("c4", 60),
        ("C#4", 61),
        ("Db4", 61),
        ("F##4", 67),
        ("Bbb3", 57),
        ("B#3", 60),
        ("Cb4", 59),
        ("C-1", 0),
        ("G9", 127),
        ("m60", 60),
        ("M0", 0),
        ("m127", 127),
        ("eb5", 75),
    ],
)
def test_pitches(pitch, midi):
    assert read(f"{pitch}/4 la").notes[0].pitch == midi


def test_rests_take_lengths_and_merge():
    s = read("C4 a R/4 r/2 D4/4 b")
    assert [(n.name, n.duration_beats) for n in s.notes] == [("C4", 1), ("R", 3), ("D4", 1)]


def test_melisma_with_underscore_or_no_lyric():
    a = read("G4/4 glo- A4/8 _ G4 _ F4/4 -ri- C4/2 -a")
    b = read("G4/4 glo- A4/8 G4 F4/4 -ri- C4/2 -a")
    for s in (a, b):
        assert sung(s) == [
            ("G4", "glo", False),
            ("A4", "", True),
            ("G4", "", True),
            ("F4", "ri", False),
            ("C4", "a", False),
        ]
        assert s.notes[1].syllabic is None and s.notes[3].syllabic == "middle"


def test_hyphen_positions():
    s = read("C4 be- D4 -twe- E4 -en F4 one")
    assert [n.syllabic for n in s.notes] == ["begin", "middle", "end", "single"]


def test_quoted_and_glued_lyrics_that_look_like_notes():
    s = read('lang=zh E4/4 ni3 G4 "a4" A4/4:e2 B4 "R" C5 "_" D5 "x y" E5 "a\\"b" F5 "a4"- G5 -"e4"')
    assert [n.lyric for n in s.notes] == ["ni3", "a4", "e2", "R", "_", "x y", 'a"b', "a4", "e4"]
    assert [n.slur for n in s.notes] == [False] * 9
    assert s.notes[-2].syllabic == "begin" and s.notes[-1].syllabic == "end"


def test_empty_quoted_lyric_is_a_note_without_words_not_a_melisma():
    s = read('C4 "" D4 la')
    assert s.notes[0].lyric == "" and not s.notes[0].slur


def test_tie_merges_notes_across_bar_lines_and_tempo_changes():
    s = read("C4/2 a C4/2~ home | tempo=60 C4/4 D4 b E4/2 c |")
    assert sung(s) == [("C4", "a", False), ("C4", "home", False), ("D4", "b", False), ("E4", "c", False)]
    home = s.notes[1]
    assert home.duration_beats == 3
    # 2 beats at 120 bpm + 1 beat at 60 bpm
    assert home.duration == pytest.approx(1.0 + 1.0)
    assert s.tempos == [Tempo(0.0, 120.0), Tempo(4.0, 60.0)]


def test_tie_chain_and_underscore_on_a_tied_note():
    s = read("C4/4~ la C4/4~ _ C4/2 D4/4 x")
    assert [(n.name, n.duration_beats) for n in s.notes] == [("C4", 4), ("D4", 1)]


def test_directives_anywhere():
    s = read('tempo=90 time=3/4 key=G lang=ja title="Song #1" C4/4 a D4 b E4 c | tempo=120 lang=en F4 d')
    assert s.tempos == [Tempo(0.0, 90.0), Tempo(3.0, 120.0)]
    assert s.time_signatures == [TimeSignature(0.0, 3, 4)]
    assert (s.key, s.title, s.language) == ("G", "Song #1", "ja")
    assert [n.language for n in s.notes] == ["ja", "ja", "ja", "en"]


def test_tempo_change_moves_later_notes_only():
    s = read("C4/4 a tempo=60 D4 b")
    assert s.tempos == [Tempo(0.0, 120.0), Tempo(1.0, 60.0)]
    assert s.notes[1].start == pytest.approx(0.5) and s.notes[1].duration == pytest.approx(1.0)


def test_comments_and_full_width_spaces():
    s = read("# a whole line of comment\nC4 さ\u3000D4 く  # the rest of the line\nC#4 ら")
    assert [n.lyric for n in s.notes] == ["さ", "く", "ら"] and s.notes[2].pitch == 61


def test_bar_lines_checked_against_the_time_signature():
    read("time=3/4 C4/4 a D4 b E4 c | F4/2. d |")
    message = error("time=3/4 C4/4 a D4 b E4 c | F4/2 d |")
    assert "bar 2" in message and "line 1, token 11 '|'" in message and "3/4" in message


def test_a_pickup_bar_may_be_short_but_not_a_later_one():
    read("C4/4 up | C4/1 a | D4/1 b")
    assert "bar 1" in error("C4/1 a C4/4 b | D4/1 c |")


def test_bar_line_at_line_end_and_next_line_start_counts_once():
    s = read("| C4/1 a |\n| D4/1 b |")
    assert len(s.notes) == 2
    assert "empty" in error("C4/1 a | | D4/1 b")


def test_time_signature_must_start_a_bar_when_bars_are_used():
    read("C4/1 a | time=3/4 D4/2. b |")
    assert "start of a bar" in error("C4/2 a time=3/4 D4/2 b |")


def test_utf16_and_bom():
    assert read_bytes("\ufeffC4 la".encode()).notes[0].lyric == "la"
    assert read_bytes("C4 la".encode("utf-16")).notes[0].lyric == "la"


def read_bytes(data: bytes) -> Score:
    return notation.read(data, source="<text>")


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("text", "where", "what"),
    [
        ("C4 a\nD4 b hello", "line 2, token 3 'hello'", "not a note"),
        ("C4 a H4 b", "line 1, token 3 'H4'", "bad pitch 'H4'"),
        ("C4 a C12 b", "line 1, token 3 'C12'", "bad pitch 'C12'"),
        ("C4 a m128 b", "line 1, token 3 'm128'", "bad pitch"),
        ("C4 a R4", "line 1, token 3 'R4'", "for a rest write R/4"),
        ("C4/3 a", "line 1, token 1 'C4/3'", "bad length '/3'"),
        ("C4/ a", "line 1, token 1 'C4/'", "bad length"),
        ("C4/4... a", "line 1, token 1 'C4/4...'", "bad length"),
        ("C4 la C4/64 b", "line 1, token 3 'C4/64'", "bad length"),
        ("C4/4 D4 la", "line 1, token 1 'C4/4'", "none (at the start)"),
        ("C4 la R D4", "line 1, token 4 'D4'", "none (after a rest)"),
        ("_ C4 la", "line 1, token 1 '_'", "must come right after a note"),
        ('C4 "la', "line 1, token 2 '\"la'", "unterminated quote"),
        ('title="x C4 la', "line 1, token 1 'title=\"x C4 la'", "unterminated quote"),
        ("tempo=0 C4 la", "line 1, token 1 'tempo=0'", "tempo must be > 0"),
        ("C4 la tempo=-80", "line 1, token 3 'tempo=-80'", "tempo must be > 0"),
        ("tempo=fast C4 la", "line 1, token 1 'tempo=fast'", "tempo must be a number"),
        ("tempo=nan C4 la", "line 1, token 1 'tempo=nan'", "tempo must be > 0"),
        ("time=3/5 C4 la", "line 1, token 1 'time=3/5'", "time signature"),
        ("key=H C4 la", "line 1, token 1 'key=H'", "key must look like"),
        ("lang=jp C4 la", "line 1, token 1 'lang=jp'", "did you mean lang=ja"),
        ("volume=3 C4 la", "line 1, token 1 'volume=3'", "unknown directive 'volume'"),
        ("R/4 la", "line 1, token 2 'la'", "a rest takes no lyric"),
        ("R/4:la", "line 1, token 1 'R/4:la'", "a rest takes no lyric"),
        ("R/4~ R/4", "line 1, token 1 'R/4~'", "can't be tied"),
        ("C4~ la D4 x", "line 1, token 3 'D4'", "same pitch"),
        ("C4~ la R", "line 1, token 3 'R'", "same pitch"),
        ("C4 la D4~ x", "line 1, token 3 'D4~'", "no note after it"),
        ("C4~ la C4 x", "line 1, token 4 'x'", "can't take a lyric"),
        ("C4 la D4 -", "line 1, token 4 '-'", "a hyphen needs a syllable"),
    ],
)
def test_errors_name_line_token_and_problem(text, where, what):
    message = error(text)
    assert message.startswith(f"<text>: {where}: "), message
    assert what in message, message


def test_errors_carry_source_and_where():
    with pytest.raises(ScoreError) as info:
        notation.read(b"C4 a H4", source="song.txt")
    assert info.value.source == "song.txt" and info.value.where == "line 1, token 3 'H4'"


def test_not_utf8():
    with pytest.raises(ScoreError, match="not UTF-8"):
        read_bytes(b"C4 \xff")


def test_directives_only_give_a_score_that_validation_rejects():
    s = read("tempo=100 # nothing to sing")
    assert s.notes == []
    with pytest.raises(ScoreError, match="no notes"):
        validate(s)


# --------------------------------------------------------------------------- writing


def same_line(a: Score, b: Score) -> None:
    assert len(a.notes) == len(b.notes), (a.notes, b.notes)
    for x, y in zip(a.notes, b.notes, strict=True):
        assert (x.pitch, x.lyric, x.slur) == (y.pitch, y.lyric, y.slur), (x, y)
        if x.lyric:
            assert x.syllabic == y.syllabic, (x, y)
        assert y.start_beat == pytest.approx(x.start_beat, abs=1e-9)
        assert y.duration_beats == pytest.approx(x.duration_beats, abs=1e-9)
        assert y.start == pytest.approx(x.start, abs=1e-6)
        assert y.duration == pytest.approx(x.duration, abs=1e-6)
    assert len(a.tempos) == len(b.tempos), (a.tempos, b.tempos)
    for x, y in zip(a.tempos, b.tempos, strict=True):
        assert (y.beat, y.bpm) == pytest.approx((x.beat, x.bpm))


def round_trip(score: Score) -> tuple[Score, str]:
    text = notation.dumps(score).decode("utf-8")
    return read(text), text


def test_dumps_round_trip_with_every_feature():
    source = (
        'title="A \\"test\\"" lang=ja key=F#m time=3/4 tempo=90\n'
        'C4/4 twin- C#4/8. -kle D4/16 _ | E4/2.~ long | E4/4 F4/8t "a4" G4 _ A4 "x y" R/4 | '
        'tempo=72 m70/4 -mid- B4/4+8 -end C5/8 "" lang=en | time=6/8 D5/4. one E5 "R" | F5/2.~ tie | '
        'F5/4. G5/8 "_" A5 "-" R/8\n'
    )
    s = read(source)
    back, text = round_trip(s)
    same_line(s, back)
    assert (back.title, back.key, back.language) == ('A "test"', "F#m", "ja")
    assert back.time_signatures == s.time_signatures
    assert [n.language for n in back.notes if not n.is_rest] == [n.language for n in s.notes if not n.is_rest]
    assert "|" in text and "~" in text


def test_dumps_ties_notes_over_bar_lines_and_tempo_changes():
    s = read("time=2/4 C4/1+4 la tempo=80 D4/8t b E4 _ F4/4+8t c")
    back, text = round_trip(s)
    same_line(s, back)
    assert "C4/2~ la | C4~ | C4~ | tempo=" not in text  # a length repeats without being written
    assert text.count("~") >= 2 and text.count("|") >= 3


def test_dumps_leaves_out_repeated_lengths():
    _, text = round_trip(read("C4/8 a D4/8 b E4/8 c F4/4 d"))
    assert "C4/8 a D4 b E4 c F4/4 d" in text


def test_dumps_moves_off_grid_lengths_to_the_nearest_32nd():
    notes = [
        Note(0, 0, 60, "a", start_beat=0.0, duration_beats=1.446),
        Note(0, 0, 62, "b", start_beat=1.446, duration_beats=0.9),
    ]
    s = Score(notes=fill_from_beats(notes, TempoMap([Tempo(0, 120)])))
    back, _ = round_trip(s)
    assert [n.start_beat for n in back.notes] == [0.0, 1.5]
    assert [n.duration_beats for n in back.notes] == [1.5, 0.875]  # ends at 2.375, the 1/32 nearest 2.346


def test_dumps_from_a_ds_score_reads_back_close():
    s = Score(
        notes=fill_from_beats(
            [
                Note(0, 0, 60, "啊", start_beat=0.5, duration_beats=1.446),
                Note(0, 0, 62, "", slur=True, start_beat=1.946, duration_beats=0.72),
            ],
            TempoMap([Tempo(0, 120)]),
        )
    )
    back, _ = round_trip(s)
    assert sung(back) == [("C4", "啊", False), ("D4", "", True)]
    for x, y in zip(s.notes, back.notes, strict=True):
        assert abs(x.start_beat - y.start_beat) <= 1 / 16 + 1e-9


# --------------------------------------------------------------------------- properties

# Lengths a person can type, in 1/96 of a quarter note (every one is written exactly).
TERMS = [384, 192, 96, 48, 24, 12, 288, 144, 72, 36, 18, 168, 84, 42, 21, 128, 64, 32, 16, 8]
LYRIC_PARTS = st.sampled_from(
    list("abkxyz")
    + ["a4", "R", "r", "_", "-", '"', "\\", " ", "|", "#", ":", "=", "~", "さ", "小", "C4", "m6", "é"]
)
LYRICS = st.lists(LYRIC_PARTS, min_size=1, max_size=3).map("".join)


@st.composite
def scores(draw) -> Score:
    pieces = draw(
        st.lists(
            st.tuples(
                st.one_of(st.none(), st.integers(0, 127)),  # pitch (None: rest)
                st.lists(st.sampled_from(TERMS), min_size=1, max_size=2).map(sum),  # length
                st.integers(0, 3),  # lyric kind: 0 melisma, 1 plain, 2 empty "", 3 tied to the next
                LYRICS,
                st.sampled_from(["single", "begin", "middle", "end"]),
                st.one_of(st.none(), st.floats(20, 300).map(lambda x: round(x, 2))),  # tempo change before it
            ),
            min_size=1,
            max_size=14,
        )
    )
    notes: list[Note] = []
    tempos = [Tempo(0.0, draw(st.floats(20, 300).map(lambda x: round(x, 2))))]
    pos = 0
    tied = False
    for pitch, units, kind, lyric, syllabic, bpm in pieces:
        if bpm is not None and pos > 0 and pos != tempos[-1].beat * 96:
            tempos.append(Tempo(pos / 96, bpm))
        if tied and notes and pitch is not None and notes[-1].pitch is not None:
            notes[-1].duration_beats += units / 96  # tied: the same note, longer (a tempo may change inside)
        else:
            prev_sung = bool(notes) and notes[-1].pitch is not None
            note = Note(0, 0, pitch, start_beat=pos / 96, duration_beats=units / 96)
            if pitch is not None:
                if kind == 0 and prev_sung:
                    note.slur = True
                elif kind == 2:
                    note.lyric = ""
                else:
                    note.lyric, note.syllabic = lyric, syllabic
            notes.append(note)
        tied = kind == 3
        pos += units
    metre = draw(st.sampled_from([(4, 4), (3, 4), (6, 8), (5, 4), (2, 2)]))
    return Score(
        notes=fill_from_beats(notes, TempoMap(tempos)),
        tempos=tempos,
        time_signatures=[TimeSignature(0.0, *metre)],
        title=draw(st.one_of(st.none(), LYRICS)),
        language=draw(st.sampled_from([None, "en", "ja", "zh"])),
    )


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scores())
def test_property_dumps_then_read_gives_the_same_notes_lyrics_and_tempo(score):
    back, text = round_trip(score)
    same_line(score, back)
    assert back.time_signatures == score.time_signatures, text
    assert back.title == (score.title or None)
    assert back.language == score.language


TOKENS = [
    "C4",
    "C4/4",
    "d#5/8.",
    "R/8",
    "r",
    "|",
    "tempo=90",
    "tempo=0",
    "time=3/4",
    "key=G",
    "lang=zh",
    'title="x"',
    "~",
    "C4/4~",
    "C4~",
    "_",
    "la",
    "-la",
    "la-",
    '"a4"',
    '"',
    "A4/4:a4",
    "m60",
    "H4",
    "C12",
    "/3",
    "# note",
    "C4/8t",
    "E4/2+8",
    "E4/4..",
    "-",
    "x=1",
    "\n",
    "ä",
    "C-1",
    "G9/32",
    "\u3000",
]


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=60), st.lists(st.sampled_from(TOKENS), max_size=25).map(" ".join)))
def test_property_any_text_gives_a_score_or_a_score_error(text):
    try:
        s = read(text)
    except ScoreError:
        return
    assert isinstance(s, Score)
    # whatever reads also writes, and reads back to the same line
    back, _ = round_trip(s)
    same_line(s, back)


# --------------------------------------------------------------------------- the shipped examples


@pytest.mark.parametrize(
    ("name", "language"), [("hello_en.txt", "en"), ("sakura_ja.txt", "ja"), ("xiaoxing_zh.txt", "zh")]
)
def test_examples_load_with_load_score(name, language):
    s = vocalsynth.load_score(EXAMPLES / name)
    assert s.language == language and s.title and s.tempos[0].bpm != 120
    assert 8 <= len(s.sung_notes) <= 18
    assert all(n.lyric for n in s.sung_notes if not n.slur)
    if name == "hello_en.txt":
        assert any(n.slur for n in s.sung_notes)  # it has a melisma
    back, _ = round_trip(s)
    same_line(s, back)


def test_load_score_reads_notation_text_without_slashes():
    s = vocalsynth.load_score("tempo=90 C4 la D4 _ E4 li")
    assert sung(s) == [("C4", "la", False), ("D4", "", True), ("E4", "li", False)]


def test_fraction_lengths_are_exact():
    s = read("C4/8t a D4 b E4 c F4/4 d")
    assert Fraction(s.notes[3].start_beat).limit_denominator(96) == 1
