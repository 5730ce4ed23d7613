"""PhonemeSequence: JSON round trip, malformed input, the note/phoneme table."""

from __future__ import annotations

import json

import pytest

from vocalsynth.score import Note, Score, ScoreError
from vocalsynth.text import PhonemeSequence, phonemize_score


def _seq() -> PhonemeSequence:
    notes = [
        Note(0.0, 0.5, 60, "twin-", where="measure 1, note 1"),
        Note(0.5, 0.5, 60, "-kle", where="measure 1, note 2"),
        Note(1.0, 0.5, None, ""),
        Note(1.5, 0.5, 67, "你", language="zh"),
        Note(2.0, 0.5, 67, "", slur=True),
        Note(2.5, 0.5, 69, "♪"),
    ]
    return phonemize_score(Score(notes=notes, language="en", source="song.xml"))


def test_json_round_trip():
    seq = _seq()
    assert seq.pre_roll > 0 and seq.warnings  # the round trip covers both
    again = PhonemeSequence.from_json(seq.to_json())
    assert again == seq
    assert PhonemeSequence.from_dict(json.loads(seq.to_json(indent=2))) == seq
    d = seq.to_dict()
    assert d["version"] == 1 and d["source"] == "song.xml"
    first = d["phonemes"][0]
    for key in (
        "symbol",
        "language",
        "note_pitch",
        "note_index",
        "position",
        "role",
        "note_duration",
        "slur",
    ):
        assert key in first
    assert {"start", "duration", "tone"} <= set(first)


def test_sequence_fields():
    seq = _seq()
    assert seq.symbols[:4] == ["en/t", "en/w", "en/ih", "en/ng"]
    assert seq.duration == pytest.approx(3.0 + seq.pre_roll)
    zh = seq.for_note(3)
    assert [p.symbol for p in zh] == ["zh/n", "zh/i"] and zh[0].tone == 3 and zh[0].note_pitch == 67
    held = seq.for_note(4)
    assert [p.symbol for p in held] == ["zh/i"] and held[0].slur and held[0].note_pitch == 67
    sp = seq.for_note(2)[0]
    assert sp.symbol == "SP" and sp.note_pitch is None and sp.language is None
    assert [p.position for p in seq.for_note(1)] == [0, 1, 2]


@pytest.mark.parametrize(
    "text, message",
    [
        ("{", "not JSON"),
        ("[]", "no 'phonemes'"),
        ('{"phonemes": [1]}', "expected an object"),
        ('{"phonemes": [{"symbol": "xx"}]}', "malformed"),
        ('{"phonemes": [{"symbol": "SP", "bogus": 1}]}', "unknown field"),
        ('{"version": 99, "phonemes": []}', "newer"),
    ],
)
def test_malformed_json(text, message):
    with pytest.raises(ScoreError, match=message):
        PhonemeSequence.from_json(text)


def test_unknown_symbol_in_json():
    d = _seq().to_dict()
    d["phonemes"][0]["symbol"] = "en/qq"
    with pytest.raises(ScoreError, match="phoneme 0: unknown phoneme 'en/qq'"):
        PhonemeSequence.from_dict(d)


def test_table():
    seq = _seq()
    lines = seq.table().splitlines()
    assert lines[0].split()[:4] == ["note", "time", "pitch", "lyric"]
    assert lines[1].split()[:4] == ["0", "0.000", "C4", "twin-"]
    assert "en/ih 0.000+" in lines[1]
    assert "-kle" in lines[2] and "en/k" in lines[2]
    assert lines[3].split()[:3] == ["2", "1.000", "R"] and "SP" in lines[3]
    assert "你" in lines[4] and "zh/n" in lines[4]
    assert "G4 ~" in lines[5]
    assert lines[-1].startswith("pre-roll:")
    assert "ih 0.000+" in seq.table(tags=False).splitlines()[1]
