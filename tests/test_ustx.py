"""OpenUtau .ustx reader and writer: YAML 1.1 traps, tracks and parts, hints, errors, round trips, fuzzing."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vocalsynth.score import Note, Score, ScoreError, Tempo, TempoMap, TimeSignature, load_score
from vocalsynth.score.build import fill_from_beats
from vocalsynth.score.ustx import dumps, parse_lyric, read

SCORES = Path(__file__).resolve().parents[2] / "shared" / "scores"
needs_scores = pytest.mark.skipif(not (SCORES / "ustx").is_dir(), reason="shared/scores/ustx not present")
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def project(
    *parts: str, head: str = 'ustx_version: "0.6"\nresolution: 480\nbpm: 120', tracks: str = ""
) -> str:
    """A USTX text; each part is YAML for one voice part's fields (indented by two spaces)."""
    out = [head]
    if tracks:
        out += ["tracks:", tracks]
    out.append("voice_parts:")
    for p in parts:
        lines = p.strip("\n").splitlines()
        out.append("- " + lines[0])
        out += ["  " + line for line in lines[1:]]
    return "\n".join(out) + "\n"


def part(*notes: tuple, track: int = 0, position: int = 0, name: str = "P") -> str:
    lines = [f"name: {name}", f"track_no: {track}", f"position: {position}", "notes:"]
    for pos, dur, tone, lyric, *extra in notes:
        lines += [f"- position: {pos}", f"  duration: {dur}", f"  tone: {tone}", f"  lyric: {lyric}"]
        lines += [f"  {e}" for e in extra]
    return "\n".join(lines)


def rd(text: str | bytes) -> Score:
    return read(text if isinstance(text, bytes) else text.encode("utf-8"), source="t.ustx")


# ---------------------------------------------------------------- real files


@needs_scores
def test_utaformatix_export_with_bom_and_kana():
    path = SCORES / "ustx" / "utaformatix_openutau.ustx"
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    s = load_score(path)
    assert [p.name for p in s.parts] == ["Track1"]
    assert s.tempos == [Tempo(0.0, 120.0)] and s.time_signatures == [TimeSignature(0.0, 4, 4)]
    assert [n.lyric for n in s.notes] == ["ど", "れ", "み", "ふぁ", "そ", "ら", "し", "ど"]
    assert [n.pitch for n in s.notes] == [60, 62, 64, 65, 67, 69, 71, 72]
    assert all(n.duration == pytest.approx(0.5) for n in s.notes)
    assert s.notes[3].where == "track 0, part 0 'New Part', note 3 (tick 1440)"


@needs_scores
def test_barrylhm_two_tracks_pinyin_hints_and_tempos_list():
    s = load_score(SCORES / "ustx" / "barrylhm_hhddd.ustx")
    assert [p.name for p in s.parts] == ["VOCAL", "HA"]
    assert s.part_index == 0
    assert s.tempos == [Tempo(0.0, 118.0)]  # the tempos list, not the top-level `bpm: 120`
    vocal = s.parts[0].notes
    sung = [n for n in vocal if not n.is_rest]
    assert len(sung) == 134
    assert [n.lyric for n in sung[:5]] == ["wang", "hou", "dai", "dao", "sei"]
    yao = sung[5]
    assert (yao.lyric, yao.phonemes, yao.pitch) == ("yao", ["ya", "ao"], 64)
    assert yao.start == pytest.approx(1440 / 480 * 60 / 118)
    assert yao.where == "track 0, part 0 'New Part', note 5 (tick 1440)"
    assert (sung[17].slur, sung[17].lyric, sung[17].pitch) == (True, "", 64)  # '+'
    by_lyric = {n.lyric: n for n in sung if n.phonemes}
    assert by_lyric["cqing"].phonemes == ["ci", "qing"]  # 'cqing [ci qing]'
    assert by_lyric["giu"].phonemes == ["ge", "i", "u"]  # '[ g i u]' with phoneme 0 overridden to 'ge'
    assert sum(n.slur for n in sung) == 4  # three '+' and one '+~'
    ha = [n for n in s.parts[1].notes if not n.is_rest]
    assert [(n.lyric, n.pitch, n.start_beat) for n in ha] == [
        ("ha", 62, 39.0),
        ("ha", 58, 47.0),
        ("ha", 62, 55.0),
    ]


@needs_scores
@pytest.mark.parametrize("name", ["utaformatix_openutau.ustx", "barrylhm_hhddd.ustx"])
def test_real_files_round_trip_through_the_writer(name):
    s = read((SCORES / "ustx" / name).read_bytes(), source=name)
    assert_same_line(s, read(dumps(s), source="back.ustx"))


# ---------------------------------------------------------------- lyrics and YAML 1.1


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("la", ("sung", "la", None)),
        ("yao[ya ao]", ("sung", "yao", ["ya", "ao"])),
        ("ci[ ci i ]", ("sung", "ci", ["ci", "i"])),
        ("cqing [ci qing]", ("sung", "cqing", ["ci", "qing"])),
        ("[ya]", ("sung", "", ["ya"])),
        ("a[]", ("sung", "a", None)),
        ("+", ("slur", "", None)),
        ("+~", ("slur", "", None)),
        ("+*", ("slur", "", None)),
        ("+2", ("slur", "", None)),
        ("-", ("slur", "", None)),
        ("R", ("rest", "", None)),
        ("r", ("rest", "", None)),
        ("?ka", ("sung", "ka", None)),
        ("", ("sung", "", None)),
    ],
)
def test_parse_lyric(raw, expected):
    assert parse_lyric(raw) == expected


def test_yaml_1_1_words_stay_lyrics():
    words = ["no", "yes", "on", "off", "y", "n", "No", "OFF", "1:20", "null", "~", "0x10", "1e3", "true"]
    s = rd(project(part(*[(i * 480, 480, 60, w) for i, w in enumerate(words)])))
    assert [n.lyric for n in s.notes] == words


def test_tempos_time_signatures_and_resolution():
    head = (
        'ustx_version: "0.6"\nresolution: 960\nbpm: 90\n'
        "time_signatures:\n- {bar_position: 0, beat_per_bar: 3, beat_unit: 4}\n"
        "- {bar_position: 2, beat_per_bar: 6, beat_unit: 8}\n- {bar_position: 3, beat_per_bar: 4, beat_unit: 4}\n"
        "tempos:\n- {position: 0, bpm: 120}\n- {position: 1920, bpm: 60}"
    )
    s = rd(project(part((0, 1920, 60, "a"), (1920, 960, 62, "b")), head=head))
    assert s.tempos == [Tempo(0, 120), Tempo(2, 60)]
    assert s.time_signatures == [TimeSignature(0, 3, 4), TimeSignature(6, 6, 8), TimeSignature(9, 4, 4)]
    assert [(n.start_beat, n.duration_beats) for n in s.notes] == [(0, 2), (2, 1)]
    assert [n.start for n in s.notes] == pytest.approx([0, 1])
    assert s.notes[1].duration == pytest.approx(1.0)


def test_top_level_bpm_and_metre_when_no_lists():
    s = rd(
        project(part((0, 480, 60, "a")), head='ustx_version: "0.5"\nbpm: 90\nbeat_per_bar: 3\nbeat_unit: 4')
    )
    assert s.tempos == [Tempo(0, 90)] and s.time_signatures == [TimeSignature(0, 3, 4)]


def test_tracks_parts_merge_and_names():
    tracks = "- {singer: Teto, track_name: Lead}\n- {singer: Miku}\n- {}"
    text = project(
        part((0, 480, 60, "a"), name="verse"),
        part((0, 480, 70, "x"), track=2),
        part((0, 480, 62, "b"), position=960, name="chorus"),
        tracks=tracks,
    )
    s = rd(text)
    assert [p.name for p in s.parts] == ["Lead", "Miku", "track 2"]
    lead = s.parts[0].notes
    assert [(n.pitch, n.start_beat) for n in lead] == [(60, 0), (None, 1), (62, 2)]
    assert lead[2].where == "track 0, part 2 'chorus', note 0 (tick 960)"
    assert s.parts[1].notes == [] and [n.lyric for n in s.parts[2].notes] == ["x"]
    assert s.notes is s.parts[0].notes


def test_overlapping_notes_on_a_track_are_trimmed():
    s = rd(
        project(
            part((0, 960, 60, "a"), (480, 480, 62, "b"), (480, 240, 64, "c")),
            part((600, 480, 65, "d"), position=0),
        )
    )
    # b and c start together: b is dropped; c is cut where d starts
    assert [(n.lyric, n.start_beat, n.duration_beats) for n in s.notes] == [
        ("a", 0, 1),
        ("c", 1, 0.25),
        ("d", 1.25, 1),
    ]


def test_rests_slurs_and_hints_in_a_part():
    s = rd(
        project(
            part(
                (0, 480, 60, "'yao[ya ao]'"), (480, 480, 62, "+"), (960, 480, 62, "R"), (1440, 480, 64, "'-'")
            )
        )
    )
    assert [(n.pitch, n.lyric, n.slur, n.phonemes) for n in s.notes] == [
        (60, "yao", False, ["ya", "ao"]),
        (62, "", True, None),
        (None, "", False, None),
        (64, "", True, None),
    ]


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "text, message",
    [
        ("a: [b\n", r"not valid YAML at line"),
        ("name: x\ntracks: []\n", r"not an OpenUtau project"),
        ("- 1\n- 2\n", r"not an OpenUtau project"),
        ('ustx_version: "0.6"\n', r"no notes"),
        (project(part((0, 0, 60, "a"))), r"track 0, part 0 'P', note 0 \(tick 0\): duration must be > 0"),
        (project(part((0, "abc", 60, "a"))), r"note 0 \(tick 0\): duration must be a number"),
        (project(part((0, 480, 200, "a"))), r"tone 200 is outside MIDI 0-127"),
        (project(part((0, 480, "C4", "a"))), r"tone must be a number"),
        (
            project(part((0, 480, 60, "a"), (1.5, 480, 60, "b"))),
            r"note 1 \(tick \?\): note position must be a whole",
        ),
        (
            project(part((0, 480, 60, "a")), head='ustx_version: "0.6"\nbpm: 0'),
            r"bpm must be a finite number > 0",
        ),
        (
            project(part((0, 480, 60, "a")), head="ustx_version: x\ntempos: [{position: 0, bpm: abc}]"),
            r"tempo 0: bpm",
        ),
        (project(part((0, 480, 60, "a")), head="ustx_version: x\nresolution: .inf"), r"resolution must be"),
        (project(part((0, 480, 60, "a"), track=-1)), r"track_no must be >= 0"),
        ('ustx_version: "0.6"\nvoice_parts: {a: 1}\n', r"'voice_parts' is not a list"),
        ('ustx_version: "0.6"\nvoice_parts:\n- notes: [1, 2]\n', r"note 0 is not a mapping"),
    ],
)
def test_errors_say_what_and_where(text, message):
    with pytest.raises(ScoreError, match=message) as e:
        rd(text)
    assert e.value.source == "t.ustx"


def test_not_utf8_and_binary_are_refused():
    with pytest.raises(ScoreError, match="byte offset 5"):
        rd(b"name:\xff\xfe")
    with pytest.raises(ScoreError, match="binary data"):
        rd(b"ustx_version: 1\x00")


def test_deep_nesting_is_a_score_error():
    with pytest.raises(ScoreError):
        rd("voice_parts: " + "[" * 5000 + "]" * 5000)


# ---------------------------------------------------------------- writer


def line_of(notes, tempos: list[Tempo]) -> Score:
    """A score from (ticks, pitch or None, lyric, slur, phonemes) laid end to end."""
    out, tick = [], 0
    for i, (ticks, pitch, lyric, slur, phonemes) in enumerate(notes):
        sung = pitch is not None and not slur
        out.append(
            Note(
                0,
                0,
                pitch,
                lyric if sung else "",
                tick / 480,
                ticks / 480,
                slur=slur and pitch is not None,
                phonemes=phonemes if sung else None,
                where=f"n{i}",
            )
        )
        tick += ticks
    return Score(notes=fill_from_beats(out, TempoMap(tempos)), tempos=tempos, source="gen")


def assert_same_line(a: Score, b: Score) -> None:
    """Same notes, lyrics and timing (within 1 ms); USTX has no rests, so a trailing rest is not kept."""
    xs, ys = _sung_through(a.notes), _sung_through(b.notes)
    assert len(xs) == len(ys)
    for x, y in zip(xs, ys, strict=True):
        assert (x.pitch, x.lyric, x.slur, x.phonemes) == (y.pitch, y.lyric, y.slur, y.phonemes)
        assert y.start == pytest.approx(x.start, abs=1e-3)
        assert y.duration == pytest.approx(x.duration, abs=1e-3)
    assert [(t.beat, t.bpm) for t in a.tempo_map.tempos] == [(t.beat, t.bpm) for t in b.tempo_map.tempos]


def _sung_through(notes: list[Note]) -> list[Note]:
    while notes and notes[-1].is_rest:
        notes = notes[:-1]
    return notes


def test_writer_output_is_a_ustx_that_yaml_1_1_reads_as_strings():
    s = line_of(
        [
            (480, 60, "no", False, None),
            (480, 62, "yes", False, None),
            (240, 62, "", True, None),
            (480, None, "", False, None),
        ]
        + [(480, 64, "on", False, None), (480, 65, "yao", False, ["ya", "ao"])],
        [Tempo(0, 120), Tempo(2, 90.5)],
    )
    s.time_signatures = [TimeSignature(0, 3, 4), TimeSignature(6, 4, 4)]
    data = dumps(s)
    doc = yaml.safe_load(data)  # a plain YAML 1.1 reader
    assert doc["ustx_version"] == "0.6" and doc["resolution"] == 480 and doc["bpm"] == 120
    assert doc["tempos"] == [{"position": 0, "bpm": 120}, {"position": 960, "bpm": 90.5}]
    assert doc["time_signatures"] == [
        {"bar_position": 0, "beat_per_bar": 3, "beat_unit": 4},
        {"bar_position": 2, "beat_per_bar": 4, "beat_unit": 4},
    ]
    assert len(doc["tracks"]) == 1 and len(doc["voice_parts"]) == 1
    notes = doc["voice_parts"][0]["notes"]
    assert [n["lyric"] for n in notes] == ["no", "yes", "+", "on", "yao[ya ao]"]
    assert [(n["position"], n["duration"], n["tone"]) for n in notes][3] == (1680, 480, 64)
    back = rd(data)
    assert_same_line(s, back)
    assert back.time_signatures == s.time_signatures


def test_writer_refuses_a_note_shorter_than_a_tick():
    s = Score(notes=[Note(0, 0.0001, 60, "a", 0, 0.0001, where="here")], source="s")
    with pytest.raises(ScoreError, match="here: the note is shorter than one tick"):
        dumps(s)


# ---------------------------------------------------------------- properties

LYRICS = [
    "no",
    "yes",
    "on",
    "off",
    "y",
    "n",
    "null",
    "1:20",
    "ど",
    "ふぁ",
    "la",
    "wang",
    "'",
    '"',
    "a b",
    ": x",
    "#c",
]
NOTE = st.tuples(
    st.integers(1, 1920),
    st.one_of(st.none(), st.integers(0, 127)),
    st.sampled_from(LYRICS),
    st.booleans(),
    st.one_of(st.none(), st.lists(st.sampled_from(["ya", "ao", "zh", "i"]), min_size=1, max_size=3)),
)


@FUZZ
@given(
    notes=st.lists(NOTE, min_size=1, max_size=30), bpms=st.lists(st.floats(20, 400), min_size=1, max_size=4)
)
def test_written_ustx_reads_back_the_same_notes(notes, bpms):
    total = sum(n[0] for n in notes)
    tempos = [Tempo(0.0, bpms[0])] + [
        Tempo(round(total * i / len(bpms)) / 480, b) for i, b in enumerate(bpms) if i
    ]
    tempos = list({t.beat: t for t in tempos}.values())
    s = line_of(notes, tempos)
    if not s.sung_notes:
        return
    assert_same_line(s, rd(dumps(s)))


def reads_or_score_error(data: bytes) -> None:
    try:
        s = read(data, source="fuzz.ustx")
    except ScoreError:
        return
    assert isinstance(s, Score) and s.parts and s.notes is s.parts[0].notes


@FUZZ
@given(st.binary(max_size=400))
def test_arbitrary_bytes_give_a_score_or_a_score_error(data):
    reads_or_score_error(data)
    reads_or_score_error(b'ustx_version: "0.6"\nvoice_parts:\n- notes:\n  - ' + data)


VALID = project(
    part(
        (0, 480, 60, "ど"),
        (480, 480, 62, "yao[ya ao]", "phoneme_overrides: [{index: 0, phoneme: x}]"),
        (960, 240, 62, "+"),
    ),
    head='ustx_version: "0.6"\nresolution: 480\ntempos: [{position: 0, bpm: 120}]\n'
    "time_signatures: [{bar_position: 0, beat_per_bar: 4, beat_unit: 4}]",
    tracks="- {track_name: T}",
).encode("utf-8")


def test_valid_fuzz_seed_reads():
    assert [n.phonemes for n in rd(VALID).notes] == [None, ["x", "ao"], None]


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
