"""DiffSinger .ds: the real sample file, the phoneme convention, every error, and the writer's round trip."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import vocalsynth
from vocalsynth.score import Note, Score, ScoreError, Tempo, TempoMap, TimeSignature, ds, validate
from vocalsynth.score.build import fill_from_seconds

SCORES = Path(__file__).resolve().parents[2] / "shared" / "scores"
XIAOYAO = SCORES / "ds" / "01_逍遥仙.ds"
needs_real = pytest.mark.skipif(not XIAOYAO.is_file(), reason="shared/scores/ds is not here")


def read(doc) -> Score:
    data = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    return ds.read(data, source="song.ds")


def error(doc) -> str:
    with pytest.raises(ScoreError) as info:
        read(doc)
    return str(info.value)


def sung(score: Score) -> list[tuple]:
    return [(n.name, n.lyric, n.slur) for n in score.notes if not n.is_rest]


# Two words "tian shang" after a breath, the second held over a slur; then silence.
SEGMENT = {
    "offset": 1.0,
    "text": "AP 天 上 SP",
    "ph_seq": "AP t ian sh ang SP",
    "ph_dur": "0.4 0.1 0.4 0.1 0.8 0.2",
    "ph_num": "2 2 1 1",
    "note_seq": "rest C4 D4/Eb4 E4 rest",
    "note_dur": "0.5 0.5 0.5 0.4 0.1",
    "note_slur": "0 0 0 1 0",
    "f0_seq": "261.6 261.6 293.7",
    "f0_timestep": "0.005",
}


# --------------------------------------------------------------------------- the real file


@needs_real
def test_real_file_reads_all_segments_with_lyrics_phonemes_and_slurs():
    s = ds.read(XIAOYAO.read_bytes(), source=str(XIAOYAO))
    doc = json.loads(XIAOYAO.read_bytes())
    assert len(doc) == 12
    expected_sung = sum(
        1
        for seg in doc
        for n, slur in zip(seg["note_seq"].split(), seg["note_slur"].split(), strict=True)
        if n != "rest"
    )
    assert len(s.sung_notes) == expected_sung
    assert s.language is None and s.tempos == [Tempo(0.0, 120.0)]
    first = s.sung_notes[0]
    assert (first.name, first.lyric, first.slur) == ("A#3", "啊", False)
    assert first.start == pytest.approx(1.569 + 0.6)
    assert first.phonemes == ["t", "ian"] and first.phoneme_durations == pytest.approx([0.1054, 0.5332])
    assert first.where == "segment 0, note 1"
    assert first.start_beat == pytest.approx(first.start * 2)  # 120 bpm
    # 京 "j ing" on G#3 and its vowel held over two slurred notes
    jing, held1, held2 = s.sung_notes[4:7]
    assert jing.phonemes == ["j", "ing"] and jing.phoneme_durations == pytest.approx([0.2003, 1.085])
    assert (held1.slur, held1.lyric, held1.phonemes) == (True, "", ["ing"])
    assert held2.phoneme_durations == pytest.approx([0.542])
    # 而 "er": its vowel starts before the note (the aligner's choice); no lead-in consonant
    er = s.sung_notes[8]
    assert er.phonemes == ["er"]
    # the opening rest: silence, then the breath before 天
    opening = s.notes[0]
    assert opening.is_rest and opening.phonemes == ["SP", "AP"]
    assert opening.phoneme_durations == pytest.approx([1.569, 0.4946])


@needs_real
def test_real_file_overlapping_segments_overlap_only_in_rests():
    doc = json.loads(XIAOYAO.read_bytes())
    ends = [seg["offset"] + sum(map(float, seg["note_dur"].split())) for seg in doc]
    assert any(nxt["offset"] < end for end, nxt in zip(ends, doc[1:], strict=False))  # it really overlaps
    s = vocalsynth.load_score(XIAOYAO)  # validates: no overlapping notes
    rest = next(n for n in s.notes if n.is_rest and n.start > 13)
    assert rest.phonemes == ["SP", "AP"] and rest.phoneme_durations == pytest.approx([0.145, 0.3988])


@needs_real
def test_real_file_phonemes_tile_time():
    s = ds.read(XIAOYAO.read_bytes(), source="x")
    t = 0.0
    for n in s.notes:
        if n.phoneme_durations:
            t += sum(n.phoneme_durations)
    assert t == pytest.approx(s.notes[-1].end, abs=0.01)


@needs_real
def test_real_file_round_trips_through_the_writer():
    s = ds.read(XIAOYAO.read_bytes(), source="x")
    out = ds.dumps(s)
    segments = json.loads(out)
    assert all("ph_seq" in seg for seg in segments)
    back = ds.read(out, source="y")
    same_line(s, back, phonemes=True)


# --------------------------------------------------------------------------- the mapping


def test_segment_notes_lyrics_and_phonemes():
    s = read([SEGMENT])
    assert sung(s) == [("C4", "天", False), ("D4", "上", False), ("E4", "", True)]
    c4, d4, e4 = s.sung_notes
    assert (c4.start, c4.duration) == pytest.approx((1.5, 0.5))
    assert c4.phonemes == ["t", "ian"] and c4.phoneme_durations == pytest.approx([0.1, 0.4])
    assert d4.phonemes == ["sh", "ang"] and d4.phoneme_durations == pytest.approx([0.1, 0.5])
    assert e4.phonemes == ["ang"] and e4.phoneme_durations == pytest.approx([0.3])
    assert d4.where == "segment 0, note 2"
    assert s.notes[0].phonemes == ["SP", "AP"] and s.notes[0].phoneme_durations == pytest.approx([1.0, 0.4])
    validate(s)


def test_single_segment_object_and_default_tempo():
    s = read(SEGMENT)
    assert len(s.sung_notes) == 3 and s.tempos == [Tempo(0.0, 120.0)]
    assert s.notes[1].start_beat == pytest.approx(3.0)


def test_without_ph_num_words_follow_the_timing():
    seg = {k: v for k, v in SEGMENT.items() if k != "ph_num"}
    a, b = read([SEGMENT]), read([seg])
    assert [(n.phonemes, n.phoneme_durations) for n in a.notes] == [
        (n.phonemes, n.phoneme_durations) for n in b.notes
    ]


def test_without_text_the_lyric_comes_from_the_phonemes():
    seg = {k: v for k, v in SEGMENT.items() if k != "text"}
    assert sung(read([seg])) == [("C4", "tian", False), ("D4", "shang", False), ("E4", "", True)]


def test_text_without_rest_words_maps_to_sung_notes():
    seg = dict(SEGMENT, text="天 上")
    assert [n.lyric for n in read([seg]).sung_notes] == ["天", "上", ""]


def test_text_that_does_not_fit_falls_back_to_phonemes():
    seg = dict(SEGMENT, text="天 上 好 的 吧")
    assert [n.lyric for n in read([seg]).sung_notes] == ["tian", "shang", ""]


def test_notes_only_segment():
    s = read([{"offset": 0.5, "text": "la SP li", "note_seq": "A4 rest B4", "note_dur": "0.5 0.25 0.5"}])
    assert sung(s) == [("A4", "la", False), ("B4", "li", False)]
    assert [n.phonemes for n in s.notes] == [None, None, None, None]
    assert [n.start for n in s.notes] == pytest.approx([0, 0.5, 1.0, 1.25])
    assert [n.duration for n in s.notes] == pytest.approx([0.5, 0.5, 0.25, 0.5])


def test_gaps_between_segments_become_rests_and_segments_are_sorted():
    a = {"offset": 3.0, "text": "b", "note_seq": "D4", "note_dur": "0.5"}
    b = {"offset": 1.0, "text": "a", "note_seq": "C4", "note_dur": "0.5"}
    s = read([a, b])
    assert [(n.name, n.start) for n in s.notes] == [("R", 0), ("C4", 1.0), ("R", 1.5), ("D4", 3.0)]
    assert s.notes[3].where == "segment 0, note 0"


def test_language_prefixed_phonemes_name_the_language():
    seg = {
        "offset": 0,
        "ph_seq": "SP zh/t zh/ian",
        "ph_dur": "0.2 0.1 0.5",
        "ph_num": "2 1",
        "note_seq": "rest C4",
        "note_dur": "0.3 0.5",
    }
    s = read([seg])
    assert s.language == "zh" and s.sung_notes[0].language == "zh"
    assert s.sung_notes[0].lyric == "tian" and s.sung_notes[0].phonemes == ["zh/t", "zh/ian"]


def test_a_coda_before_a_rest_stays_with_its_word():
    seg = {
        "offset": 0,
        "text": "cat SP",
        "ph_seq": "k ae t SP",
        "ph_dur": "0.1 0.3 0.1 0.5",
        "ph_num": "3 1",
        "note_seq": "C4 rest",
        "note_dur": "0.5 0.5",
    }
    assert read([seg]).sung_notes[0].phonemes == ["k", "ae", "t"]


def test_note_names():
    seg = {
        "offset": 0,
        "text": "a b c d e f",
        "note_seq": "C#4 D4/Eb4 Eb4 c4 C-1 A4+60",
        "note_dur": "1 1 1 1 1 1",
    }
    assert [n.pitch for n in read([seg]).notes] == [61, 62, 63, 60, 0, 70]


def test_seam_rounding_is_trimmed_not_an_error():
    a = {"offset": 0.0, "text": "a", "note_seq": "C4", "note_dur": "1.0005"}
    b = {"offset": 1.0, "text": "b", "note_seq": "D4", "note_dur": "1"}
    s = read([a, b])
    assert s.notes[0].end == pytest.approx(1.0)
    validate(s)


# --------------------------------------------------------------------------- errors


def test_not_json_names_line_and_column():
    message = error(b'[\n  {"offset": 0,\n   "note_seq": }]')
    assert message.startswith("song.ds: line 3, column 16: not valid JSON")


@pytest.mark.parametrize(
    ("doc", "what"),
    [
        (42, "not a number"),
        ("text", "not a string"),
        ([], "no segments"),
        ([1], "segment 0: a segment must be a JSON object"),
        ([{"offset": 0}], "note_seq and note_dur missing"),
        ([{"note_seq": "C4", "note_dur_seq": "1", "is_slur_seq": "0"}], "old format"),
    ],
)
def test_not_segments(doc, what):
    message = error(doc)
    assert (
        "song.ds" in message
        and what.replace("not a number", "a number").replace("not a string", "a string") in message
    )


def test_length_mismatches_name_the_segment_and_both_lengths():
    base = {"text": "a b", "note_seq": "C4 D4", "note_dur": "1 1"}
    assert (
        error([base, dict(base, note_dur="1")])
        == "song.ds: segment 1: note_seq has 2 items but note_dur has 1"
    )
    assert "note_slur has 3" in error([dict(base, note_slur="0 0 0")])
    ph = dict(base, ph_seq="a b", ph_dur="1")
    assert error([ph]) == "song.ds: segment 0: ph_seq has 2 items but ph_dur has 1"
    num = dict(base, ph_seq="a b", ph_dur="1 1", ph_num="1 2")
    assert error([num]) == "song.ds: segment 0: ph_num adds up to 3 phonemes but ph_seq has 2"
    words = dict(base, ph_seq="a b", ph_dur="1 1", ph_num="2")
    assert "ph_num has 1 words but note_seq/note_slur make 2" in error([words])
    assert "text has 3 words but the notes need 2" in error([dict(base, text="a b c")])


@pytest.mark.parametrize(
    ("change", "where", "what"),
    [
        ({"note_seq": "C4 H4"}, "segment 0, note 1", "unknown note name 'H4'"),
        ({"note_seq": "C4 C12"}, "segment 0, note 1", "outside MIDI"),
        ({"note_dur": "1 0"}, "segment 0", "note_dur item 1 is 0; durations must be > 0"),
        ({"note_dur": "1 -1"}, "segment 0", "durations must be > 0"),
        ({"note_dur": "1 NaN"}, "segment 0", "not a finite number"),
        ({"note_dur": "1 abc"}, "segment 0", "'abc' is not a number"),
        ({"offset": "inf"}, "segment 0", "offset is 'inf', not a finite number"),
        ({"note_dur": 5}, "segment 0", "note_dur must be a string"),
        ({"note_slur": "0 2"}, "segment 0", "note_slur item 1 is 2"),
        ({"ph_dur": "1 1"}, "segment 0", "without ph_seq"),
        ({"f0_seq": "100 x", "f0_timestep": "0.005"}, "segment 0", "f0_seq item 1"),
        ({"f0_seq": "100 100", "f0_timestep": "0"}, "segment 0", "f0_timestep is 0.0"),
        ({"text": None, "ph_seq": "a b"}, "segment 0", "no text, and ph_seq can't be matched"),
    ],
)
def test_field_errors(change, where, what):
    seg = {"offset": 0, "text": "a b", "note_seq": "C4 D4", "note_dur": "1 1"}
    seg.update(change)
    seg = {k: v for k, v in seg.items() if v is not None}
    message = error([seg])
    assert message.startswith(f"song.ds: {where}: "), message
    assert what in message, message


def test_json_nan_literal_is_caught():
    assert "not a finite number" in error(
        b'[{"offset": NaN, "text": "a", "note_seq": "C4", "note_dur": "1"}]'
    )


def test_overlapping_segments_name_both():
    a = {"offset": 0, "text": "a b", "note_seq": "C4 D4", "note_dur": "1 1"}
    b = {"offset": 1.5, "text": "c", "note_seq": "E4", "note_dur": "1"}
    message = error([a, b])
    assert "segment 1 overlaps segment 0" in message and "segment 0, note 1" in message
    assert message.startswith("song.ds: segment 1, note 0: ")


def test_not_utf8():
    assert "not UTF-8" in error(b"[\xff]")


# --------------------------------------------------------------------------- writing


def same_line(a: Score, b: Score, *, phonemes: bool = False) -> None:
    assert len(a.notes) == len(b.notes)
    for x, y in zip(a.notes, b.notes, strict=True):
        assert (x.pitch, x.lyric, x.slur) == (y.pitch, y.lyric, y.slur), (x, y)
        assert y.start == pytest.approx(x.start, abs=1e-3) and y.duration == pytest.approx(
            x.duration, abs=1e-3
        )
        assert y.start_beat == pytest.approx(x.start_beat, abs=1e-3)
        if phonemes:
            assert x.phonemes == y.phonemes, (x, y)
            if x.phoneme_durations:
                assert y.phoneme_durations == pytest.approx(x.phoneme_durations, abs=1e-5)
    assert [(t.beat, t.bpm) for t in a.tempos] == [(t.beat, t.bpm) for t in b.tempos]


@pytest.mark.parametrize("drift", [0.2, -0.2])
def test_drifting_note_durations_are_stretched_to_the_phonemes_with_a_warning(drift):
    # DiffSinger's own sample files drift (ph_dur 14.750 s against note_dur 14.633 s): the phonemes rule
    segments = [SEGMENT, dict(SEGMENT, offset=5.0), dict(SEGMENT, offset=9.0)]
    exact = read(segments)
    assert exact.warnings == []
    drifted = []
    for k, seg in enumerate(segments):  # +drift, -drift, +drift: the last note_dur of each segment moves
        d = [float(x) for x in seg["note_dur"].split()]
        d[-2] += drift if k % 2 == 0 else -drift
        drifted.append(dict(seg, note_dur=" ".join(f"{x:.3f}" for x in d)))
    s = read(drifted)
    assert len(s.warnings) == 3
    signs = ["+", "-", "+"] if drift < 0 else ["-", "+", "-"]  # note_dur moved, so ph_dur - note_dur
    for k, w in enumerate(s.warnings):
        assert w.startswith(f"segment {k}: ph_dur adds up to 2.000 s but note_dur to ")
        assert f"({signs[k]}0.200 s): notes stretched by" in w and "as DiffSinger sings them" in w
    assert sung(s) == sung(exact)
    for a, b in zip(
        [n for n in s.notes if not n.is_rest], [n for n in exact.notes if not n.is_rest], strict=True
    ):
        assert a.phonemes == b.phonemes and abs(a.start - b.start) < 0.21 and a.duration > 0
    # the phonemes keep their times: only where a note boundary cuts one of them moved
    assert sum(sum(n.phoneme_durations or []) for n in s.notes) == pytest.approx(
        sum(sum(n.phoneme_durations or []) for n in exact.notes)
    )
    # every segment ends where its phonemes end, as in the exact file
    assert s.duration == pytest.approx(exact.duration)
    validate(s)


def test_writer_splits_phrases_at_long_rests_and_keeps_phonemes():
    s = read([SEGMENT, dict(SEGMENT, offset=5.0)])
    segments = json.loads(ds.dumps(s))
    assert len(segments) == 2
    assert segments[0]["ph_seq"].startswith("AP t ian")
    assert segments[0]["ph_num"].split()[:3] == ["2", "2", "1"]
    same_line(s, read(segments), phonemes=True)


def test_writer_without_phonemes_reads_back_and_keeps_tempo_and_metadata():
    notes = [
        Note(0.0, 0.5, 60, "la", slur=False),
        Note(0.5, 0.5, 62, "", slur=True),
        Note(1.0, 0.25, None),
        Note(1.25, 0.5, 64, ""),
        Note(3.0, 1.0, 65, "lo ng"),
    ]
    tempos = [Tempo(0.0, 90.0), Tempo(2.0, 60.0)]
    s = Score(
        notes=fill_from_seconds(notes, TempoMap(tempos)),
        tempos=tempos,
        title="t",
        key="G",
        time_signatures=[TimeSignature(0.0, 3, 4)],
        language="en",
    )
    out = json.loads(ds.dumps(s))
    assert "ph_seq" not in out[0] and out[0]["text"] == "la SP SP SP" and out[1]["text"].split()[1] == "lo_ng"
    back = read(out)
    assert [(n.name, n.lyric, n.slur) for n in back.sung_notes] == [
        ("C4", "la", False),
        ("D4", "", True),
        ("E4", "", False),
        ("F4", "lo_ng", False),
    ]
    assert back.tempos == tempos and back.time_signatures == s.time_signatures
    assert (back.title, back.key, back.language) == ("t", "G", "en")


def test_writer_needs_a_sung_note():
    with pytest.raises(ScoreError, match="no sung notes"):
        ds.dumps(Score(notes=[Note(0, 1, None)]))


def test_save_and_load_score_ds(tmp_path):
    s = read([SEGMENT])
    path = vocalsynth.save_score(s, tmp_path / "out.ds")
    same_line(s, vocalsynth.load_score(path), phonemes=True)


LYRIC = (
    st.lists(st.sampled_from([*"abc天ア_-", "SP"]), min_size=1, max_size=3)
    .map("".join)
    .filter(lambda t: t not in ("SP", "AP"))
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.one_of(st.none(), st.integers(0, 127)),
            st.integers(1, 2000).map(lambda ms: ms / 1000),
            st.booleans(),
            LYRIC,
        ),
        min_size=1,
        max_size=20,
    ),
    st.floats(30, 250).map(lambda x: round(x, 3)),
)
def test_property_dumps_then_read_keeps_notes_lyrics_and_tempo(items, bpm):
    notes, t = [], 0.0
    for pitch, dur, slur, lyric in items:
        prev_sung = bool(notes) and notes[-1].pitch is not None
        is_slur = slur and prev_sung and pitch is not None
        notes.append(Note(t, dur, pitch, "" if is_slur or pitch is None else lyric, slur=is_slur))
        t += dur
    tempos = [Tempo(0.0, bpm)]
    s = Score(notes=fill_from_seconds(notes, TempoMap(tempos)), tempos=tempos)
    if not s.sung_notes:
        return
    back = ds.read(ds.dumps(s), source="rt")
    same_line(s, back)


FIELD_VALUES = st.one_of(
    st.sampled_from(
        [
            "C4 D4",
            "rest C#4",
            "a b",
            "1 1",
            "0.5 -1",
            "0 1",
            "NaN 1",
            "2 1",
            "1",
            "",
            "H4 x",
            "SP AP",
            "1e400 1",
            "9" * 5000,
            "C99999 D4",
            "AP t ian",
            "0.1 0.2 0.7",
        ]
    ),
    st.integers(-3, 3),
    st.floats(allow_nan=True, allow_infinity=True),
    st.none(),
    st.booleans(),
    st.lists(st.one_of(st.integers(-2, 5), st.text(max_size=3)), max_size=4),
)
FIELDS = [
    "offset",
    "text",
    "ph_seq",
    "ph_dur",
    "ph_num",
    "note_seq",
    "note_dur",
    "note_slur",
    "f0_seq",
    "f0_timestep",
    "vocalsynth",
]
JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=5)),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(FIELDS), inner, max_size=4),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        JSON,
        st.lists(st.dictionaries(st.sampled_from(FIELDS), FIELD_VALUES, max_size=9), min_size=1, max_size=3),
    )
)
def test_property_any_json_gives_a_score_or_a_score_error(doc):
    try:
        data = json.dumps(doc).encode()
    except (ValueError, OverflowError):
        return
    try:
        s = ds.read(data, source="fuzz.ds")
    except ScoreError:
        return
    assert isinstance(s, Score)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=64))
def test_property_any_bytes_give_a_score_or_a_score_error(data):
    try:
        ds.read(data, source="fuzz.ds")
    except ScoreError:
        pass
