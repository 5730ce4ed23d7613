"""MusicXML reader and writer: lyrics, melisma, ties, verses, voices, `.mxl`, errors, round trips, real files."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from vocalsynth.score import (
    Note,
    Score,
    ScoreError,
    Tempo,
    TempoMap,
    TimeSignature,
    load_score,
    musicxml,
    validate,
)
from vocalsynth.score.build import fill_from_beats

SCORES = Path(__file__).resolve().parents[2] / "shared" / "scores"
needs_scores = pytest.mark.skipif(not SCORES.is_dir(), reason="the shared real score files are not here")

STEP = {
    0: ("C", 0),
    2: ("D", 0),
    4: ("E", 0),
    5: ("F", 0),
    7: ("G", 0),
    9: ("A", 0),
    11: ("B", 0),
    6: ("F", 1),
}


def _note(pitch: int | None, dur: int, extra: str = "", *, pre: str = "", voice: int = 1) -> str:
    """A <note>: ``pre`` goes before the pitch (<chord/>, <grace/>), ``extra`` after <voice>."""
    if pitch is None:
        head = "<rest/>"
    else:
        step, alter = STEP[pitch % 12]
        head = f"<pitch><step>{step}</step>{f'<alter>{alter}</alter>' if alter else ''}<octave>{pitch // 12 - 1}</octave></pitch>"
    duration = "" if "<grace" in pre else f"<duration>{dur}</duration>"
    return f"<note>{pre}{head}{duration}<voice>{voice}</voice>{extra}</note>"


def _ly(text: str, syllabic: str = "single", number: int = 1, extend: bool = False) -> str:
    return (
        f'<lyric number="{number}"><syllabic>{syllabic}</syllabic><text>{text}</text>'
        f"{'<extend/>' if extend else ''}</lyric>"
    )


def _doc(parts: list[tuple[str, str]], head: str = "") -> bytes:
    """A partwise document from (part name, measures XML) pairs."""
    plist = "".join(
        f'<score-part id="P{i}"><part-name>{n}</part-name></score-part>' for i, (n, _) in enumerate(parts)
    )
    body = "".join(f'<part id="P{i}">{m}</part>' for i, (_, m) in enumerate(parts))
    return f'<?xml version="1.0" encoding="UTF-8"?><score-partwise version="3.1">{head}<part-list>{plist}</part-list>{body}</score-partwise>'.encode()


def _measure(number: int, content: str, attributes: str = "") -> str:
    return f'<measure number="{number}">{f"<attributes>{attributes}</attributes>" if attributes else ""}{content}</measure>'


SLUR_START = '<notations><slur number="1" type="start"/></notations>'
SLUR_STOP = '<notations><slur number="1" type="stop"/></notations>'
TIE_START = '<tie type="start"/><notations><tied type="start"/></notations>'
TIE_BOTH = '<tie type="stop"/><tie type="start"/>'
TIE_STOP = '<tie type="stop"/>'

# G4 A4 B4 under one slur ("Hel"), a grace note, C5 "lo" with an extend, voice 2 after <backup>;
# then divisions change, D5 continues "lo" by the extend, a chord (E4+G4) sings G4, F4 tied into F4
# and into an F4 with its own verse-1 lyric; a rest; A4 "la" then a bare B4 (continues) and a bare C5 (doesn't).
VOICE = "".join(
    [
        _measure(
            1,
            "<direction><direction-type><metronome><beat-unit>quarter</beat-unit><per-minute>100</per-minute>"
            '</metronome></direction-type><sound tempo="100"/></direction>'
            + _note(67, 2, SLUR_START + _ly("Hel", "begin") + _ly("Good", number=2))
            + _note(69, 2)
            + _note(71, 2, SLUR_STOP)
            + _note(74, 0, _ly("x"), pre="<grace/>")
            + _note(72, 2, _ly("lo", "end", extend=True) + _ly("night", number=2))
            + "<backup><duration>8</duration></backup>"
            + _note(48, 8, voice=2),
            "<divisions>2</divisions><key><fifths>1</fifths><mode>major</mode></key>"
            "<time><beats>4</beats><beat-type>4</beat-type></time>",
        ),
        _measure(
            2,
            _note(74, 4)
            + "<direction><direction-type><metronome><beat-unit>half</beat-unit><per-minute>40</per-minute>"
            "</metronome></direction-type></direction>"
            + _note(64, 4, _ly("world") + _ly("moon", number=2))
            + _note(67, 4, pre="<chord/>")
            + _note(65, 4, TIE_START + _ly("tie") + _ly("tie2", number=2))
            + _note(65, 4, TIE_BOTH),
            "<divisions>4</divisions>",
        ),
        _measure(
            3,
            '<sound tempo="120"/>'
            + _note(65, 4, TIE_STOP + _ly("own"))
            + _note(None, 4)
            + _note(69, 4, _ly("la"))
            + _note(71, 4),
        ),
        _measure(4, _note(72, 4) + _note(None, 4) + "<forward><duration>8</duration></forward>"),
    ]
)
PIANO = _measure(1, _note(48, 4), "<divisions>1</divisions>")
SONG = _doc([("Voice", VOICE), ("Piano", PIANO)], head="<work><work-title>Test Song</work-title></work>")


def _line(score_or_notes) -> list[tuple]:
    notes = score_or_notes.notes if isinstance(score_or_notes, Score) else score_or_notes
    return [(n.start_beat, n.duration_beats, n.pitch, n.lyric, n.slur) for n in notes]


def test_generated_song_reads_melisma_ties_chord_voices_and_marks():
    s = musicxml.read(SONG, source="song.musicxml")
    assert _line(s) == [
        (0, 1, 67, "Hel", False),
        (1, 1, 69, "", True),  # inside the slur
        (2, 1, 71, "", True),  # ends the slur
        (3, 1, 72, "lo", False),
        (4, 1, 74, "", True),  # under the extend line
        (5, 1, 67, "world", False),  # the chord's top note
        (6, 2, 65, "tie", False),  # two tied pieces merged
        (8, 1, 65, "own", False),  # tied into, but sung anew: it has its own lyric
        (9, 1, None, "", False),
        (10, 1, 69, "la", False),
        (11, 1, 71, "", True),  # bare, right after a syllable
        (12, 1, 72, "", False),  # bare after a continuation: left to the frontend
        (13, 1, None, "", False),
    ]
    assert [n.syllabic for n in s.notes[:4]] == ["begin", None, None, "end"]
    assert s.notes[3].where == "part 'Voice', measure 1, note 5"  # the grace note counts as note 4
    assert s.notes[5].where == "part 'Voice', measure 2, note 2"
    assert s.tempos == [Tempo(0, 100), Tempo(5, 80), Tempo(8, 120)]  # half = 40 is 80 quarters a minute
    assert s.notes[5].start == pytest.approx(3.0) and s.notes[9].start == pytest.approx(6.25)
    assert (s.title, s.key, s.time_signatures) == ("Test Song", "G major", [TimeSignature(0, 4, 4)])
    assert [p.name for p in s.parts] == ["Voice", "Piano"]
    assert [n.pitch for n in s.parts[1].notes] == [48] and not s.parts[1].has_lyrics
    validate(s)


def test_verse_picks_the_lyric_number_and_ties_follow_that_verse():
    s = musicxml.read(SONG, source="song.musicxml", verse=2)
    assert _line(s)[:8] == [
        (0, 1, 67, "Good", False),
        (1, 1, 69, "", True),
        (2, 1, 71, "", True),
        (3, 1, 72, "night", False),
        (4, 1, 74, "", True),
        (5, 1, 67, "moon", False),
        (6, 3, 65, "tie2", False),  # verse 2 has no lyric on the third F4: the tie swallows it
        (9, 1, None, "", False),
    ]
    assert _line(s)[8] == (10, 1, 69, "", False)  # no verse-2 syllable, just after a rest
    with pytest.raises(ScoreError, match=r"no lyrics for verse 3; the score's verses: 1, 2"):
        musicxml.read(SONG, source="song.musicxml", verse=3)


def test_a_part_whose_only_lyrics_are_verse_2_still_reads():
    m = _measure(
        1, _note(60, 1, _ly("ka", number=2)) + _note(62, 1, _ly("ki", number=2)), "<divisions>1</divisions>"
    )
    s = musicxml.read(_doc([("V", m)]), source="v2.xml")
    assert [(n.lyric, n.slur) for n in s.notes] == [("ka", False), ("ki", False)]
    assert s.tempos == [Tempo(0, 120)]  # no tempo mark: 120


def test_a_rest_ends_a_dangling_slur_and_an_empty_measure_keeps_its_time():
    m1 = _measure(
        1,
        _note(60, 1, SLUR_START + _ly("la", extend=True))
        + _note(None, 1)
        + _note(62, 1)
        + _note(64, 1, _ly("li")),
        "<divisions>1</divisions><time><beats>4</beats><beat-type>4</beat-type></time>",
    )
    data = _doc([("V", m1 + _measure(2, "") + _measure(3, _note(65, 4, _ly("lo"))))])
    assert _line(musicxml.read(data, source="r.xml")) == [
        (0, 1, 60, "la", False),
        (1, 1, None, "", False),
        (2, 1, 62, "", False),  # neither the unclosed slur nor the extend runs through the rest
        (3, 1, 64, "li", False),
        (4, 4, None, "", False),  # the empty measure 2
        (8, 4, 65, "lo", False),
    ]


def test_sings_the_lowest_voice_with_lyrics_and_load_score_picks_the_sung_part(tmp_path):
    m = _measure(
        1,
        _note(50, 4, voice=1) + "<backup><duration>4</duration></backup>" + _note(62, 4, _ly("do"), voice=2),
        "<divisions>1</divisions>",
    )
    data = _doc([("Accompaniment", PIANO), ("Soprano", m)])
    s = musicxml.read(data, source="x.xml")
    assert [n.pitch for n in s.parts[1].notes] == [62]
    path = tmp_path / "two.musicxml"
    path.write_bytes(data)
    loaded = load_score(path)
    assert loaded.part_index == 1 and loaded.notes[0].lyric == "do"


def test_key_names_and_unpitched_and_cue_notes():
    for fifths, mode, name in [
        (0, "major", "C major"),
        (-2, "major", "Bb major"),
        (3, "minor", "F# minor"),
        (0, "dorian", "D dorian"),
    ]:
        m = _measure(
            1,
            _note(60, 1, _ly("a")),
            f"<divisions>1</divisions><key><fifths>{fifths}</fifths><mode>{mode}</mode></key>",
        )
        assert musicxml.read(_doc([("V", m)]), source="k.xml").key == name
    drum = "<note><unpitched><display-step>C</display-step><display-octave>5</display-octave></unpitched><duration>1</duration></note>"
    cue = _note(64, 1, pre="<cue/>")
    m = _measure(1, drum + cue + _note(60, 1, _ly("a")), "<divisions>1</divisions>")
    assert _line(musicxml.read(_doc([("V", m)]), source="u.xml")) == [
        (0, 2, None, "", False),
        (2, 1, 60, "a", False),
    ]


def _mxl(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


CONTAINER = (
    b'<?xml version="1.0" encoding="UTF-8"?><container><rootfiles>'
    b'<rootfile full-path="score/song.musicxml" media-type="application/vnd.recordare.musicxml+xml"/>'
    b"</rootfiles></container>"
)


def test_mxl_reads_the_root_file_named_by_the_container_whatever_the_extension(tmp_path):
    data = _mxl({"META-INF/container.xml": CONTAINER, "score/song.musicxml": SONG, "other.xml": b"<junk/>"})
    # detected by its PK magic even under a plain .xml name
    assert _line(musicxml.read(data, source="song.xml")) == _line(musicxml.read(SONG, source="song.xml"))
    path = tmp_path / "song.mxl"
    path.write_bytes(data)
    assert load_score(path).notes[0].lyric == "Hel"
    # no container but a single score inside: still read
    assert musicxml.read(_mxl({"song.xml": SONG}), source="c.mxl").notes[0].lyric == "Hel"


@pytest.mark.parametrize(
    "members, match",
    [
        (
            {"META-INF/container.xml": CONTAINER},
            r"root file 'score/song.musicxml' named in META-INF/container.xml",
        ),
        ({"META-INF/container.xml": b"<container/>"}, r"names no <rootfile"),
        ({"a.xml": SONG, "b.xml": SONG}, r"container.xml is missing and the archive holds 2"),
        ({"META-INF/container.xml": b"<container><oops></container>"}, r"malformed XML"),
    ],
)
def test_mxl_without_a_readable_root_file_is_refused(members, match):
    with pytest.raises(ScoreError, match=match) as e:
        musicxml.read(_mxl(members), source="bad.mxl")
    assert e.value.source == "bad.mxl"


def test_mxl_refuses_a_broken_zip_and_a_member_too_big(monkeypatch):
    with pytest.raises(ScoreError, match=r"not a readable \.mxl \(zip\) archive"):
        musicxml.read(b"PK\x03\x04" + b"\x00" * 40, source="broken.mxl")
    monkeypatch.setattr(musicxml, "MAX_MEMBER_BYTES", 1000)  # the real limit is 50 MB; the logic is the same
    with pytest.raises(ScoreError, match=r"unpacks to more than"):
        musicxml.read(_mxl({"song.xml": SONG + b" " * 2000}), source="bomb.mxl")


def _one_note(note_xml: str, attributes: str = "<divisions>1</divisions>") -> bytes:
    return _doc([("V", _measure(7, note_xml, attributes))])


@pytest.mark.parametrize(
    "data, match, where",
    [
        (b"MThd\x00\x00\x00\x06", r"not a MusicXML file: it is not XML", None),
        (
            b"<score-partwise>\n<part-list>\n</score-partwise>",
            r"malformed XML: mismatched tag",
            "line 3, column 3",
        ),
        (b"<html><body/></html>", r"root element <html> is not a MusicXML score", None),
        (b"<score-timewise><measure/></score-timewise>", r"<score-timewise> MusicXML is not supported", None),
        (b"<score-partwise><part-list/></score-partwise>", r"no <part>", None),
        (
            _one_note("<note><duration>1</duration></note>"),
            r"no <pitch>, <rest> or <unpitched>",
            "part 'V', measure 7, note 1",
        ),
        (
            _one_note("<note><pitch><step>H</step><octave>4</octave></pitch><duration>1</duration></note>"),
            r"bad <pitch> \(step 'H'",
            "part 'V', measure 7, note 1",
        ),
        (
            _one_note(
                _note(60, 1, _ly("a"))
                + "<note><pitch><step>C</step><octave>x</octave></pitch><duration>1</duration></note>"
            ),
            r"bad <pitch>",
            "part 'V', measure 7, note 2",
        ),
        (
            _one_note("<note><pitch><step>C</step><octave>4</octave></pitch></note>"),
            r"has no <duration>",
            "note 1",
        ),
        (
            _one_note(_note(60, 1).replace("<duration>1<", "<duration>1e999<")),
            r"bad <duration> '1e999'",
            "note 1",
        ),
        (
            _one_note(_note(60, 1), "<divisions>0</divisions>"),
            r"<divisions> must be a number > 0, got '0'",
            "measure 7",
        ),
        (_one_note(_note(60, 1), ""), r"before any <divisions>", "measure 7, note 1"),
        (
            b'<?xml version="1.0"?><!DOCTYPE s [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><score-partwise/>',
            r"declares XML entities",
            None,
        ),
    ],
)
def test_faults_give_a_score_error_with_the_place(data, match, where):
    with pytest.raises(ScoreError, match=match) as e:
        musicxml.read(data, source="bad.musicxml")
    assert e.value.source == "bad.musicxml"
    if where:
        assert where in (e.value.where or "")


def test_utf16_document_reads():
    text = SONG.decode().replace('encoding="UTF-8"', 'encoding="UTF-16"')
    assert musicxml.read(text.encode("utf-16"), source="u16.xml").notes[0].lyric == "Hel"


def _n(start: float, beats: float, pitch: int | None, lyric: str = "", **kw) -> Note:
    return Note(0.0, 0.0, pitch, lyric, start_beat=start, duration_beats=beats, **kw)


def test_writer_round_trip_keeps_notes_lyrics_tempo_across_barlines_and_tempo_changes():
    tempo_map = TempoMap([Tempo(0, 120), Tempo(4, 90)])
    notes = [
        _n(0, 1, 60, "Twin", syllabic="begin"),
        _n(1, 1, 62, "kle", syllabic="end"),
        _n(2, 0.5, 64, "lit", syllabic="begin"),
        _n(2.5, 0.5, 65, "", slur=True),
        _n(3, 2, 67, "tle", syllabic="end"),  # crosses the barline at 4, where the tempo also changes
        _n(6, 1 / 3, 69, "a"),  # triplets under one melisma
        _n(6 + 1 / 3, 1 / 3, 70, "", slur=True),
        _n(6 + 2 / 3, 1 / 3, 72, "", slur=True),
        _n(7, 1.2345, 60, "odd"),  # off any grid, as from a seconds-based format
        _n(8.2345, 6, 59, "long"),  # spans three barlines
    ]
    score = Score(
        notes=fill_from_beats(notes, tempo_map),
        tempos=tempo_map.tempos,
        title="Round",
        key="F major",
        source="mem",
    )
    data = musicxml.dumps(score)
    root = ET.fromstring(data)
    assert (root.tag, root.get("version")) == ("score-partwise", "3.1")
    assert data.count(b"<text>tle</text>") == 1 and b'<tie type="start"' in data
    assert b"<step>B</step>\n          <alter>-1</alter>" in data  # F major spells 70 as Bb
    back = musicxml.read(data, source="back.musicxml")
    assert len(back.notes) == len(score.notes)
    for a, b in zip(score.notes, back.notes, strict=True):
        assert (b.pitch, b.lyric, b.slur, b.syllabic) == (a.pitch, a.lyric, a.slur, a.syllabic), b.where
        assert b.start == pytest.approx(a.start, abs=1e-3) and b.duration == pytest.approx(
            a.duration, abs=1e-3
        )
    assert back.tempos == score.tempos
    assert (back.title, back.key) == ("Round", "F major")


def test_writer_time_signature_change_and_seconds_only_notes():
    notes = [
        Note(0.0, 1.5, 64, "one"),
        Note(1.5, 0.5, 65, "two"),
        Note(2.0, 2.0, 67, "three"),
    ]  # no beats given
    score = Score(
        notes=notes, tempos=[Tempo(0, 120)], time_signatures=[TimeSignature(0, 3, 4), TimeSignature(3, 2, 4)]
    )
    back = musicxml.read(musicxml.dumps(score), source="ts.musicxml")
    assert _line(back) == [(0, 3, 64, "one", False), (3, 1, 65, "two", False), (4, 4, 67, "three", False)]
    assert back.time_signatures == [TimeSignature(0, 3, 4), TimeSignature(3, 2, 4)]
    assert [n.where for n in back.notes] == [
        "part 'voice', measure 1, note 1",
        "part 'voice', measure 2, note 1",
        "part 'voice', measure 2, note 2",
    ]


@needs_scores
def test_real_lyrics_melisma_test_suite_file():
    path = SCORES / "musicxml" / "61d-Lyrics-Melisma.xml"
    s = musicxml.read(path.read_bytes(), source=str(path))
    # "Me" over a slurred run (two chords sung by their top notes), "lis" tied over two beats, "ma." with an extend
    assert [(n.name, n.lyric, n.slur, n.duration_beats) for n in s.notes] == [
        ("C5", "Me", False, 1),
        ("E5", "", True, 1),
        ("C5", "", True, 1),
        ("E5", "", True, 1),
        ("C5", "lis", False, 2),
        ("C5", "ma.", False, 1),
        ("E5", "", True, 1),
    ]
    assert [n.syllabic for n in s.sung_notes if n.lyric] == ["begin", "middle", "end"]
    assert s.parts[0].name == "MusicXML Part" and s.tempos == [Tempo(0, 120)]
    assert _line(musicxml.read(musicxml.dumps(s), source="rt")) == _line(s)


@needs_scores
def test_real_japanese_nnsvs_examples():
    s = musicxml.read((SCORES / "musicxml" / "haruga_kita.xml").read_bytes(), source="haruga_kita.xml")
    sung = s.sung_notes
    assert "".join(n.lyric for n in sung[:5]) == "はるがきた"
    assert [n.name for n in sung[:5]] == ["G4", "E4", "F4", "G4", "A4"]
    assert sung[0].start == pytest.approx(4.0)  # two measures of rest at 120 bpm
    ta = sung[14]  # measure 6: D4 tied 16 + 4 + 1 eighths-of-a-quarter
    assert (ta.lyric, ta.name, ta.duration_beats, ta.where) == (
        "た",
        "D4",
        2.625,
        "part 'ピアノ, Voice A', measure 6, note 1",
    )
    assert all(n.lyric and not n.slur for n in sung) and s.language == "ja"
    validate(s)

    y = musicxml.read((SCORES / "musicxml" / "yuki.xml").read_bytes(), source="yuki.xml")
    assert "".join(n.lyric for n in y.sung_notes[:7]) == "ゆうきやこんこ"
    assert (y.key, y.tempos, y.time_signatures) == ("F major", [Tempo(0, 91.9998)], [TimeSignature(0, 2, 4)])
    assert [n.name for n in y.sung_notes[7:9]] == ["A4", "A#4"]  # alter 1 read (written B-flat in F major)
    validate(y)


@needs_scores
@pytest.mark.parametrize("name", ["01.xml", "38.xml"])
def test_real_no7_songs_read_and_round_trip(name):
    path = SCORES / "musicxml_ja_no7" / name
    if not path.is_file():
        pytest.skip(f"{name} is not in the shared scores")
    s = musicxml.read(path.read_bytes(), source=name)
    validate(s)
    sung = s.sung_notes
    assert all(n.lyric and not n.slur for n in sung)  # every note of these songs carries its own kana
    if name == "01.xml":
        # a silent first measure; the tempo mark in measure 2 holds from the start
        assert s.tempos == [Tempo(0, 60)] and s.key == "A major"
        assert [(n.lyric, n.name, n.duration_beats) for n in sung[:2]] == [
            ("め", "C#4", 3.5),
            ("お", "B3", 0.5),
        ]
        assert sung[0].start == pytest.approx(4.0)
    else:
        # triplets at divisions 6, a second voice after <backup>/<forward> in measure 49 that is not sung
        assert s.tempos == [Tempo(0, 150)] and s.key == "Db major" and len(sung) == 216
        assert sung[0].start_beat == pytest.approx(4 + 2 / 3) and sung[0].duration_beats == pytest.approx(
            1 / 3
        )
        assert [n.lyric for n in sung[:5]] == ["お", "も", "い", "だ", "す"]
    back = musicxml.read(musicxml.dumps(s), source="rt")
    assert [(n.pitch, n.lyric) for n in back.notes] == [(n.pitch, n.lyric) for n in s.notes]
    assert (
        max(
            abs(a.start - b.start) + abs(a.duration - b.duration)
            for a, b in zip(s.notes, back.notes, strict=True)
        )
        < 1e-3
    )
