"""UTAU .ust reader and writer: lyrics and aliases, encodings, tempo changes, errors, round trips, fuzzing."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vocalsynth.score import Note, Score, ScoreError, Tempo, TempoMap, load_score
from vocalsynth.score.build import fill_from_beats
from vocalsynth.score.ust import clean_lyric, dumps, read

SCORES = Path(__file__).resolve().parents[2] / "shared" / "scores"
needs_scores = pytest.mark.skipif(not (SCORES / "ust").is_dir(), reason="shared/scores/ust not present")
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def ust(*notes: str, setting: str = "Tempo=120.00", version: str = "UST Version1.2", nl: str = "\n") -> str:
    """A UST text from note bodies (``"Length=480\\nLyric=あ\\nNoteNum=60"``)."""
    lines = ["[#VERSION]", version, "[#SETTING]", *setting.splitlines()]
    for i, body in enumerate(notes):
        lines += [f"[#{i:04d}]", *body.splitlines()]
    lines.append("[#TRACKEND]")
    return nl.join(lines) + nl


def note(lyric: str, length: int = 480, num: int = 60, extra: str = "") -> str:
    return f"Length={length}\nLyric={lyric}\nNoteNum={num}" + (f"\n{extra}" if extra else "")


def rd(text: str | bytes, encoding: str = "utf-8") -> Score:
    data = text if isinstance(text, bytes) else text.encode(encoding)
    return read(data, source="t.ust")


# ---------------------------------------------------------------- real files


@needs_scores
def test_oto2lab_sample_shift_jis_kana_and_rests():
    s = load_score(SCORES / "ust" / "oto2lab_sample.ust")
    assert s.title == "oto2lab用サンプル"
    assert s.tempos == [Tempo(0.0, 120.0)]
    sung = s.sung_notes
    assert [n.lyric for n in sung] == list("あいうえおかきくこけたったあ息")
    assert [n.pitch for n in sung[:6]] == [60, 64, 62, 56, 69, 66]
    assert s.notes[0].is_rest and s.notes[0].duration == pytest.approx(0.5)
    assert sung[0].where == "[#0001]" and sung[0].start == pytest.approx(0.5)
    assert s.notes[11].is_rest and s.notes[11].where == "[#0011]"  # the R between け and た
    assert s.duration == pytest.approx(9.0)


@needs_scores
def test_hello_utau_romanised_vcv_and_tempo_on_note_zero():
    s = load_score(SCORES / "ust" / "HelloUtau_test.ust")
    assert s.title == "alumina_p"
    assert s.tempos == [Tempo(0.0, 92.0)]
    by_where = {n.where: n for n in s.notes}
    first = s.sung_notes[0]
    assert (first.where, first.lyric, first.pitch) == ("[#0002]", "v'e", 53)  # "- v'e"
    assert first.start_beat == pytest.approx(4.0)  # after R 1740 + R 180 ticks
    assert first.start == pytest.approx(4 * 60 / 92)
    assert by_where["[#0003]"].lyric == "r'u"  # "e r'u"
    assert by_where["[#0004]"].lyric == "f"  # "u f": the closing consonant
    assert by_where["[#0012]"].lyric == "r"  # "'i r": a consonant r, not a rest
    assert by_where["[#0023]"].slur and by_where["[#0023]"].lyric == ""  # "a R": the vowel fading out
    assert by_where["[#0024]"].is_rest
    assert by_where["[#0075]"].lyric == "a" and by_where["[#0075]"].duration_beats == pytest.approx(
        3420 / 480
    )
    assert len(s.sung_notes) == 71


@needs_scores
@pytest.mark.parametrize("name", ["oto2lab_sample.ust", "HelloUtau_test.ust"])
def test_real_files_round_trip_through_the_writer(name):
    s = read((SCORES / "ust" / name).read_bytes(), source=name)
    back = read(dumps(s), source="back.ust")
    assert_same_line(s, back)
    assert back.title == s.title


# ---------------------------------------------------------------- lyrics


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("あ", ("sung", "あ")),
        ("R", ("rest", "")),
        ("r", ("rest", "")),
        ("", ("rest", "")),
        ("  ", ("rest", "")),
        ("-", ("slur", "")),
        ("+", ("slur", "")),
        ("+~", ("slur", "")),
        ("a か", ("sung", "か")),
        ("- ど", ("sung", "ど")),
        ("- v'e", ("sung", "v'e")),
        ("oa m'e", ("sung", "m'e")),
        ("a R", ("slur", "")),
        ("- R", ("rest", "")),
        ("'i r", ("sung", "r")),
        ("ど_B3", ("sung", "ど")),
        ("か↑", ("sung", "か")),
        ("かC4", ("sung", "か")),
        ("あ強", ("sung", "あ")),
        ("あ2", ("sung", "あ")),
        ("a きゃC#4", ("sung", "きゃ")),
        ("?か", ("sung", "か")),
        ("ヴァー", ("sung", "ヴァー")),
        ("kaC4", ("sung", "ka")),
        ("ka_2", ("sung", "ka")),
        ("ma1", ("sung", "ma1")),  # a pinyin tone, not a suffix
        ("息", ("sung", "息")),  # a kanji alone is the lyric
        ("好き", ("sung", "好き")),  # kanji first: not a kana-with-suffix
        ("C4", ("sung", "C4")),  # nothing would be left
        ("hello big world", ("sung", "hello big world")),  # three words: not an alias
        ("long prefix", ("sung", "long prefix")),  # first word too long for a VCV prefix
    ],
)
def test_clean_lyric(raw, expected):
    assert clean_lyric(raw) == expected


def test_sung_note_fields_and_where():
    s = rd(ust(note("R"), note("a か", 240, 62), note("+", 240, 64)))
    assert [(n.pitch, n.lyric, n.slur, n.where) for n in s.notes] == [
        (None, "", False, "[#0000]"),
        (62, "か", False, "[#0001]"),
        (64, "", True, "[#0002]"),
    ]
    assert [(n.start_beat, n.duration_beats) for n in s.notes] == [(0, 1), (1, 0.5), (1.5, 0.5)]


def test_neighbouring_rests_merge_and_rest_needs_no_note_num():
    s = rd(ust("Length=480\nLyric=R", "Length=240\nLyric=", note("あ")))
    assert [n.pitch for n in s.notes] == [None, 60]
    assert s.notes[0].duration_beats == 1.5


# ---------------------------------------------------------------- tempo, encoding, layout


def test_tempo_changes_on_notes_with_decimal_comma():
    s = rd(ust(note("あ"), note("い", extra="Tempo=60,00"), note("う"), setting="Tempo=120,00"))
    assert s.tempos == [Tempo(0.0, 120.0), Tempo(1.0, 60.0)]
    assert [n.start for n in s.notes] == pytest.approx([0.0, 0.5, 1.5])
    assert s.notes[2].duration == pytest.approx(1.0)


def test_tempo_on_note_zero_wins_over_setting_and_default_is_120():
    assert rd(ust(note("あ", extra="Tempo=90"), setting="Tempo=100")).tempos == [Tempo(0.0, 90.0)]
    assert rd(ust(note("あ"), setting="Tracks=1")).tempos == [Tempo(0.0, 120.0)]


def test_crlf_bom_and_skipped_sections():
    text = ust(note("あ"), nl="\r\n").replace("[#TRACKEND]", "[#PREV]\r\nLength=10\r\n[#TRACKEND]\r\n[#9999]")
    text = "[#INSERT]\r\nLength=1\r\n" + text
    s = rd(b"\xef\xbb\xbf" + text.encode("utf-8"))
    assert [(n.lyric, n.duration_beats) for n in s.notes] == [("あ", 1.0)]


@pytest.mark.parametrize("where", ["VERSION", "SETTING"])
def test_declared_utf8_charset_is_honoured(where):
    text = ust(note("ə"), note("あ"))
    text = (
        text.replace("UST Version1.2", "UST Version1.2\nCharset=UTF-8")
        if where == "VERSION"
        else text.replace("Tempo=120.00", "Tempo=120.00\nCharset=UTF-8")
    )
    assert [n.lyric for n in rd(text).notes] == ["ə", "あ"]


def test_encodings_are_sniffed_without_charset():
    text = ust(note("か"), note("きゃ"))
    assert [n.lyric for n in rd(text, "utf-8").notes] == ["か", "きゃ"]
    assert [n.lyric for n in rd(text, "cp932").notes] == ["か", "きゃ"]


def test_undecodable_bytes_name_the_offset():
    data = ust(note("か")).encode("cp932") + b"\x81"  # a lone Shift-JIS lead byte at the very end
    with pytest.raises(ScoreError, match=rf"byte offset {len(data) - 1}"):
        rd(data)


def test_declared_charset_that_lies_names_the_offset():
    data = ust(note("か"), setting="Charset=UTF-8").encode("cp932")
    offset = data.index("か".encode("cp932"))
    with pytest.raises(ScoreError, match=rf"Charset=UTF-8.*byte offset {offset}"):
        rd(data)
    with pytest.raises(ScoreError, match="unknown Charset"):
        rd(ust(note("か"), setting="Charset=klingon"))


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "text, message",
    [
        (ust("Lyric=あ\nNoteNum=60"), r"\[#0000\]: the note has no Length"),
        (
            ust(note("あ"), "Length=abc\nLyric=い\nNoteNum=60"),
            r"\[#0001\]: line \d+: Length='abc' is not a number",
        ),
        (ust(note("あ", length=0)), r"\[#0000\]: .*Length must be > 0"),
        (ust(note("あ", length=-5)), r"Length must be > 0"),
        (ust(note("あ", num=200)), r"\[#0000\]: .*NoteNum=200 is outside MIDI 0-127"),
        (ust(note("あ", num=-1)), r"NoteNum=-1 is outside"),
        (ust("Length=480\nLyric=あ\nNoteNum=C4"), r"NoteNum='C4' is not a MIDI note number"),
        (ust("Length=480\nLyric=あ"), r"\[#0000\]: a sung note has no NoteNum"),
        (ust(note("あ", extra="Tempo=0")), r"Tempo='0' is not a tempo"),
        (ust(note("あ", extra="just words")), r"expected Key=Value"),
        (ust(), r"no note sections"),
        ("[#SETTING]\nTempo=120\n[#TRACKEND]\n", r"no note sections"),
        ("hello, world\nthis is text\n", r"not a UST file: line 1"),
        ("   \n", r"not a UST file: no \["),
        (ust(note("あ")).replace("[#0000]", "[#FOO]"), r"unexpected section \[#FOO\]"),
    ],
)
def test_errors_say_what_and_where(text, message):
    with pytest.raises(ScoreError, match=message) as e:
        rd(text)
    assert e.value.source == "t.ust"


def test_binary_data_is_refused():
    with pytest.raises(ScoreError, match="binary data.*offset 3"):
        rd(b"[#0\x00000]")


# ---------------------------------------------------------------- writer


def line_of(notes: list[tuple[int, int | None, str, bool]], tempos: list[Tempo]) -> Score:
    """A score from (ticks, pitch or None, lyric, slur) laid end to end."""
    out, tick = [], 0
    for i, (ticks, pitch, lyric, slur) in enumerate(notes):
        out.append(
            Note(
                0,
                0,
                pitch,
                "" if pitch is None or slur else lyric,
                tick / 480,
                ticks / 480,
                slur=slur,
                where=f"n{i}",
            )
        )
        tick += ticks
    return Score(notes=fill_from_beats(out, TempoMap(tempos)), tempos=tempos, source="gen")


def assert_same_line(a: Score, b: Score) -> None:
    assert len(a.notes) == len(b.notes)
    for x, y in zip(a.notes, b.notes, strict=True):
        assert (x.pitch, x.lyric, x.slur) == (y.pitch, y.lyric, y.slur)
        assert y.start == pytest.approx(x.start, abs=1e-3)
        assert y.duration == pytest.approx(x.duration, abs=1e-3)
    assert [(t.beat, t.bpm) for t in a.tempo_map.tempos] == [(t.beat, t.bpm) for t in b.tempo_map.tempos]


def test_writer_uses_shift_jis_when_it_can_and_utf8_otherwise():
    sjis = dumps(line_of([(480, 60, "か", False)], [Tempo(0, 120)]))
    assert b"Charset" not in sjis and "か".encode("cp932") in sjis and b"\r\n" in sjis
    utf8 = dumps(line_of([(480, 60, "ə", False)], [Tempo(0, 120)]))
    assert b"Charset=UTF-8" in utf8 and "ə".encode() in utf8
    assert rd(utf8).notes[0].lyric == "ə"


def test_writer_keeps_a_sung_r_apart_from_a_rest():
    data = dumps(line_of([(480, 60, "r", False), (480, None, "", False)], [Tempo(0, 120)]))
    assert b"Lyric=- r\r\n" in data and b"Lyric=R\r\n" in data
    assert [(n.pitch, n.lyric) for n in rd(data).notes] == [(60, "r"), (None, "")]


def test_writer_splits_a_note_that_a_tempo_change_falls_inside():
    s = line_of([(960, 60, "あ", False)], [Tempo(0, 120), Tempo(1, 60)])
    back = rd(dumps(s))
    assert [(n.lyric, n.slur, n.start_beat, n.duration_beats) for n in back.notes] == [
        ("あ", False, 0, 1),
        ("", True, 1, 1),
    ]
    assert back.tempos == [Tempo(0, 120), Tempo(1, 60)]
    assert back.duration == pytest.approx(s.duration)


# ---------------------------------------------------------------- properties

# Lyrics the reader keeps as they are (checked below), in and out of Shift-JIS.
LYRICS = ["あ", "か", "きゃ", "ん", "っ", "ヴァ", "ka", "v'e", "shi", "我", "ə", "la", "ﾃ｡"]
PLAIN = st.sampled_from(LYRICS)
NOTE = st.tuples(
    st.integers(1, 1920),
    st.one_of(st.none(), st.integers(0, 127)),
    PLAIN,
    st.booleans(),
)


def test_lyric_pool_is_kept_verbatim():
    assert all(clean_lyric(x) == ("sung", x) for x in LYRICS)


@FUZZ
@given(
    notes=st.lists(NOTE, min_size=1, max_size=30), bpms=st.lists(st.floats(20, 400), min_size=1, max_size=4)
)
def test_written_ust_reads_back_the_same_notes(notes, bpms):
    # tempo changes on note boundaries, where UST can hold them
    starts = [sum(t for t, *_ in notes[:i]) for i in range(len(notes))]
    tempos = [
        Tempo(starts[min(i * 3, len(starts) - 1)] / 480 if i else 0.0, bpm) for i, bpm in enumerate(bpms)
    ]
    tempos = list({t.beat: t for t in tempos}.values())
    s = line_of(notes, tempos)
    assert_same_line(s, rd(dumps(s)))


@FUZZ
@given(notes=st.lists(NOTE, min_size=1, max_size=30), crlf=st.booleans(), sjis=st.booleans())
def test_hand_written_ust_reads_as_generated(notes, crlf, sjis):
    bodies = []
    for ticks, pitch, lyric, slur in notes:
        text = "R" if pitch is None else "+" if slur else lyric
        bodies.append(f"Length={ticks}\nLyric={text}" + ("" if pitch is None else f"\nNoteNum={pitch}"))
    nl = "\r\n" if crlf else "\n"
    text = ust(*bodies, nl=nl)
    if not sjis or "ə" in text:  # ə has no Shift-JIS code
        data = text.replace("Tempo=120.00", f"Tempo=120.00{nl}Charset=UTF-8").encode("utf-8")
    elif "ﾃ｡" in text:  # its Shift-JIS bytes C3 A1 are valid UTF-8 too: only a Charset line tells
        data = text.replace("Tempo=120.00", f"Tempo=120.00{nl}Charset=Shift_JIS").encode("cp932")
    else:
        data = text.encode("cp932")
    assert_same_line(line_of(notes, [Tempo(0, 120)]), rd(data))


def reads_or_score_error(data: bytes) -> None:
    try:
        s = read(data, source="fuzz.ust")
    except ScoreError:
        return
    assert isinstance(s, Score) and s.parts and s.notes is s.parts[0].notes


@FUZZ
@given(st.binary(max_size=400))
def test_arbitrary_bytes_give_a_score_or_a_score_error(data):
    reads_or_score_error(data)
    reads_or_score_error(b"[#SETTING]\n" + data)
    reads_or_score_error(b"[#0000]\nLength=480\n" + data)


VALID = ust(
    note("R"), note("a か", 240, 62, "Tempo=100\nPBS=-20;0\nVBR=65,180,35"), note("+", 240, 64)
).encode("cp932")


@FUZZ
@given(
    edits=st.lists(
        st.tuples(
            st.sampled_from(["flip", "delete", "insert"]),
            st.integers(0, len(VALID)),
            st.binary(min_size=1, max_size=4),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_mutated_valid_files_give_a_score_or_a_score_error(edits):
    data = bytearray(VALID)
    for op, pos, junk in edits:
        pos = min(pos, len(data))
        if op == "flip" and pos < len(data):
            data[pos] ^= junk[0]
        elif op == "delete":
            del data[pos : pos + len(junk)]
        else:
            data[pos:pos] = junk
    reads_or_score_error(bytes(data))
