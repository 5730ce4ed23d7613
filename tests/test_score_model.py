"""Score model, tempo map, line tidying, validation and load_score's own checks."""

from __future__ import annotations

import pytest

from vocalsynth.score import Note, Score, ScoreError, Tempo, TempoMap, load_score, validate
from vocalsynth.score.build import fill_from_beats


def _n(start_beat, beats, pitch=60, lyric="la", **kw):
    return Note(
        start=0, duration=0, pitch=pitch, lyric=lyric, start_beat=start_beat, duration_beats=beats, **kw
    )


def test_tempo_map_converts_both_ways_across_changes():
    tm = TempoMap([Tempo(0, 120), Tempo(4, 60)])
    assert tm.seconds(4) == pytest.approx(2.0)
    assert tm.seconds(6) == pytest.approx(4.0)
    for beat in (0, 1.5, 4, 5.25, 10):
        assert tm.beats(tm.seconds(beat)) == pytest.approx(beat)


def test_tempo_map_starting_late_extends_first_tempo_back_to_zero():
    tm = TempoMap([Tempo(2, 60)])
    assert tm.seconds(2) == pytest.approx(2.0)


def test_fill_from_beats_inserts_and_merges_rests():
    tm = TempoMap([Tempo(0, 120)])
    notes = fill_from_beats([_n(1, 1), _n(4, 1)], tm)
    assert [n.pitch for n in notes] == [None, 60, None, 60]
    assert notes[0].duration == pytest.approx(0.5)
    assert notes[2].start == pytest.approx(1.0) and notes[2].duration == pytest.approx(1.0)
    assert notes[3].end == pytest.approx(2.5)


def _score(notes, **kw):
    return Score(notes=fill_from_beats(notes, TempoMap([Tempo(0, 120)])), source="t.txt", **kw)


@pytest.mark.parametrize(
    "notes, message",
    [
        ([], "no notes"),
        ([_n(0, 1, pitch=None, lyric="")], "no notes"),
        ([_n(0, 1, pitch=130)], "outside MIDI 0-127"),
        ([_n(0, 1, pitch=-1)], "outside MIDI 0-127"),
        ([_n(0, 2), _n(1, 1)], "overlaps the previous note"),
        ([_n(0, 1, lyric="")], "no lyrics"),
        ([_n(0, 0)], "duration must be > 0"),
        ([_n(0, -1)], "duration must be > 0"),
        ([_n(0, 2 * 3600 * 2)], "the limit is 60"),
    ],
)
def test_validate_refuses_unsingable_scores_with_a_place(notes, message):
    with pytest.raises(ScoreError, match=message) as exc:
        validate(_score(notes))
    assert str(exc.value).startswith("t.txt")


def test_validate_names_the_note():
    a, b = _n(0, 2, where="measure 1, note 1"), _n(1, 1, where="measure 1, note 2")
    with pytest.raises(ScoreError, match=r"t.txt: measure 1, note 2: overlaps"):
        validate(_score([a, b]))


def test_validate_refuses_bad_tempo():
    s = _score([_n(0, 1)])
    s.tempos = [Tempo(0, 0)]
    with pytest.raises(ScoreError, match="tempo must be > 0"):
        validate(s)


def test_select_part_out_of_range_lists_parts():
    s = _score([_n(0, 1)])
    with pytest.raises(ScoreError, match="part 3 does not exist"):
        s.select_part(3)


def test_load_score_missing_empty_and_unknown_files(tmp_path):
    with pytest.raises(ScoreError, match="no such file"):
        load_score(tmp_path / "nope.musicxml")
    empty = tmp_path / "empty.ust"
    empty.write_bytes(b"")
    with pytest.raises(ScoreError, match="empty"):
        load_score(empty)
    odd = tmp_path / "song.abc"
    odd.write_bytes(b"X:1\nK:C\nCDEF|\n")
    with pytest.raises(ScoreError, match="unknown score format"):
        load_score(odd)
    with pytest.raises(ScoreError, match="not bytes"):
        load_score(b"C4 la")


@pytest.mark.parametrize("ext", [".musicxml", ".mxl", ".mid", ".kar", ".ust", ".ustx", ".ds", ".txt"])
def test_binary_garbage_gives_a_score_error_for_every_format(tmp_path, ext):
    bad = tmp_path / f"garbage{ext}"
    bad.write_bytes(bytes(range(256)) * 8)
    with pytest.raises(ScoreError) as exc:
        load_score(bad)
    assert str(bad) in str(exc.value)


@pytest.mark.parametrize("ext", [".musicxml", ".mid", ".ust", ".ustx", ".ds"])
def test_wrong_format_for_the_extension_is_a_score_error(tmp_path, ext):
    bad = tmp_path / f"song{ext}"
    bad.write_text("just some words, not a score\n")
    with pytest.raises(ScoreError) as exc:
        load_score(bad)
    assert str(bad) in str(exc.value)
