"""phonemize_score: languages, hints, melisma, fallbacks, and the rule-based timing invariants."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import pytest

from vocalsynth.score import Note, Score, ScoreError, load_score
from vocalsynth.text import PhonemeSequence, detect, phonemize_score
from vocalsynth.text.align import MAX_PRE_ROLL

SCORES = Path(__file__).resolve().parents[2] / "shared" / "scores"


def _score(items, language=None, bpm=120.0, **kw) -> Score:
    """items: (lyric, beats) or (lyric, beats, dict of Note fields); lyric None = rest, '+' = melisma."""
    notes, t = [], 0.0
    for item in items:
        lyric, beats, extra = (*item, {}) if len(item) == 2 else item
        dur = beats * 60.0 / bpm
        fields = {
            "pitch": None if lyric is None else 60,
            "lyric": lyric or "",
            "where": f"note {len(notes) + 1}",
        }
        if lyric == "+":
            fields |= {"lyric": "", "slur": True}
        fields |= extra
        notes.append(Note(start=t, duration=dur, **fields))
        t += dur
    return Score(notes=notes, language=language, **kw)


def _names(phonemes) -> str:
    return " ".join(p.symbol.split("/")[-1] for p in phonemes)


def check_timeline(seq: PhonemeSequence, score: Score) -> None:
    """No gaps, no overlaps; each note's phonemes plus the onset its next note borrows fill the note."""
    ph = seq.phonemes
    assert ph and ph[0].start == pytest.approx(-seq.pre_roll, abs=1e-9)
    assert 0 <= seq.pre_roll <= MAX_PRE_ROLL + 1e-9
    assert ph[-1].end == pytest.approx(score.duration, abs=1e-6)
    for a, b in pairwise(ph):
        assert b.start == pytest.approx(a.end, abs=1e-9)
        assert a.duration > 0
    by_note: dict[int, list] = {}
    for p in ph:
        by_note.setdefault(p.note_index, []).append(p)
    for i, note in enumerate(score.notes):
        own = by_note[i]
        assert own == sorted(own, key=lambda p: p.start)
        borrowed = note.start - own[0].start
        lent = note.end - own[-1].end  # what the next note's onset took from this one
        assert borrowed >= -1e-9 and lent >= -1e-9
        assert sum(p.duration for p in own) == pytest.approx(note.duration + borrowed - lent, abs=1e-9)
        if i > 0:
            assert borrowed <= 0.5 * score.notes[i - 1].duration + 1e-9
            assert own[0].start >= -1e-9  # only the first note may start before 0
        nuclei = [p for p in own if p.role == "nucleus"]
        assert nuclei and nuclei[0].start == pytest.approx(note.start, abs=1e-9)  # the vowel is on the beat


def test_twinkle_split_over_two_notes():
    score = _score([("twin-", 1), ("-kle", 1), ("star", 2)])
    seq = phonemize_score(score, "en")
    assert _names(seq.for_note(0)) == "t w ih ng"
    assert _names(seq.for_note(1)) == "k ah l"
    assert [p.role for p in seq.for_note(1)] == ["onset", "nucleus", "coda"]
    check_timeline(seq, score)


def test_musicxml_syllabic_joins_the_word():
    score = _score([("twin", 1, {"syllabic": "begin"}), ("kle", 1, {"syllabic": "end"})])
    seq = phonemize_score(score, "en")
    assert _names(seq.for_note(0)) == "t w ih ng" and _names(seq.for_note(1)) == "k ah l"


def test_consonant_before_the_beat_vowel_on_it():
    score = _score([(None, 1), ("sa", 1), ("ka", 1)], language="ja")
    seq = phonemize_score(score)
    s, a = seq.for_note(1)
    assert s.symbol == "ja/s" and s.start < score.notes[1].start and s.role == "onset"
    assert a.start == pytest.approx(score.notes[1].start)
    k = seq.for_note(2)[0]
    assert k.start < score.notes[2].start and k.end == pytest.approx(score.notes[2].start)
    assert seq.pre_roll == 0  # the rest lent the time
    check_timeline(seq, score)


def test_first_note_pre_roll_is_reported_and_capped():
    score = _score([("strength", 1)], language="en")
    seq = phonemize_score(score)
    assert 0 < seq.pre_roll <= MAX_PRE_ROLL
    assert seq.phonemes[0].start == pytest.approx(-seq.pre_roll)
    check_timeline(seq, score)
    # long source lengths for the onset are capped at 0.5 s of pre-roll
    hinted = _score(
        [("", 1, {"phonemes": ["s", "t", "r", "eh"], "phoneme_durations": [0.4, 0.4, 0.4, 0.3]})], "en"
    )
    seq = phonemize_score(hinted)
    assert seq.pre_roll == pytest.approx(MAX_PRE_ROLL)
    check_timeline(seq, hinted)


def test_onset_never_takes_more_than_half_the_previous_note():
    score = _score([("a", 0.1), ("strength", 1)], language="en")  # the first note lasts 50 ms
    seq = phonemize_score(score)
    onset = [p for p in seq.for_note(1) if p.role == "onset"]
    assert _names(onset) == "s t r"
    assert score.notes[1].start - onset[0].start == pytest.approx(0.025)
    check_timeline(seq, score)


def test_melisma_holds_the_vowel_and_the_coda_ends_the_melisma():
    score = _score([("star", 1), ("+", 1), ("+", 1), (None, 1)], language="en")
    seq = phonemize_score(score)
    assert _names(seq.for_note(0)) == "s t aa"
    assert _names(seq.for_note(1)) == "aa" and seq.for_note(1)[0].slur
    assert _names(seq.for_note(2)) == "aa r" and all(p.slur for p in seq.for_note(2))
    assert _names(seq.for_note(3)) == "SP"
    check_timeline(seq, score)


def test_melisma_inside_a_hyphenated_word():
    score = _score([("twin-", 1), ("+", 1), ("-kle", 1)], language="en")
    seq = phonemize_score(score)
    assert _names(seq.for_note(0)) == "t w ih"
    assert _names(seq.for_note(1)) == "ih ng"
    assert _names(seq.for_note(2)) == "k ah l"
    check_timeline(seq, score)


def test_word_with_fewer_syllables_than_notes_holds():
    score = _score([("ev-", 1), ("-e-", 1), ("-ry", 1)], language="en")
    seq = phonemize_score(score)
    assert _names(seq.for_note(1)) == "eh v" and seq.for_note(1)[0].slur
    assert _names(seq.for_note(2)) == "r iy"
    check_timeline(seq, score)


def test_several_morae_on_one_note_share_it():
    score = _score([("さくら", 3), (None, 1), ("きょう", 2)])
    seq = phonemize_score(score)
    assert _names(seq.for_note(0)) == "s a k u r a"
    vowels = [p for p in seq.for_note(0) if p.role == "nucleus"]
    assert [v.start for v in vowels] == pytest.approx([0.0, 0.5, 1.0])
    inner = [p for p in seq.for_note(0) if p.role == "inner"]
    assert [p.end for p in inner] == pytest.approx([0.5, 1.0])  # each consonant ends on its mora's beat
    assert _names(seq.for_note(2)) == "ky o o"
    check_timeline(seq, score)


def test_japanese_codas_and_long_marks():
    score = _score([("さん", 2), ("がっ", 1), ("こ", 1), ("ー", 1), ("う", 1)])
    seq = phonemize_score(score)
    assert [p.role for p in seq.for_note(0)] == ["onset", "nucleus", "coda"]
    assert _names(seq.for_note(1)) == "g a cl"
    assert _names(seq.for_note(3)) == "o" and seq.for_note(3)[0].slur
    assert _names(seq.for_note(4)) == "o"
    check_timeline(seq, score)


def test_mandarin_score():
    score = _score([("你", 1), ("好", 1), (None, 1), ("lv3", 1)])
    seq = phonemize_score(score)
    assert seq.language == "zh"
    assert _names(seq.for_note(0)) == "n i" and _names(seq.for_note(1)) == "h ao"
    assert _names(seq.for_note(3)) == "l v"  # pinyin in a hanzi score
    assert seq.for_note(1)[0].tone == 3
    check_timeline(seq, score)


def test_rests_and_breaths():
    score = _score(
        [(None, 1), ("AP", 1), ("la", 1), ("", 1, {"pitch": None, "phonemes": ["SP", "AP"]})], "en"
    )
    seq = phonemize_score(score)
    assert _names(seq.for_note(0)) == "SP" and seq.for_note(0)[0].note_pitch is None
    assert _names(seq.for_note(1)) == "AP" and seq.for_note(1)[0].language is None
    assert _names(seq.for_note(3)) == "SP AP"
    check_timeline(seq, score)


def test_gaps_are_sung_as_rests():
    notes = [Note(0.5, 0.5, 60, "la"), Note(1.5, 0.5, 62, "la")]
    seq = phonemize_score(Score(notes=notes, language="en"))
    gaps = [p for p in seq.phonemes if p.note_index is None]
    assert [p.symbol for p in gaps] == ["SP", "SP"]
    assert seq.phonemes[0].start == 0 and seq.phonemes[-1].end == pytest.approx(2.0)


def test_language_precedence():
    score = _score([("la", 1), ("la", 1, {"language": "ja"})], language="zh")
    seq = phonemize_score(score)
    assert seq.for_note(0)[0].language == "zh" and seq.for_note(1)[0].language == "ja"
    seq = phonemize_score(score, language="en")
    assert seq.for_note(0)[0].language == "en" and seq.for_note(1)[0].language == "ja"
    seq = phonemize_score(_score([("la", 1), ("la", 1)]))
    assert seq.language == "en"  # Latin defaults to English
    with pytest.raises(ScoreError, match="klingon"):
        phonemize_score(score, language="klingon")


def test_unsupported_score_language_warns_and_detects():
    seq = phonemize_score(_score([("さ", 1)], language="de"))
    assert seq.language == "ja"
    assert any("'de'" in w for w in seq.warnings)


@pytest.mark.parametrize(
    "lyrics, language",
    [
        (["さ", "く", "ら"], "ja"),
        (["你", "好"], "zh"),
        (["空", "の", "色"], "ja"),  # kanji among kana
        (["twin", "kle", "star"], "en"),
        (["ni3", "hao3", "zhong", "guo"], "zh"),
        (["shi", "n", "ka", "n", "se", "n", "tsu", "kya"], "ja"),
        (["la", "la", "la"], "en"),
        ([], "en"),
    ],
)
def test_detect_language(lyrics, language):
    assert detect.detect_language(lyrics) == language


def test_language_names():
    assert detect.normalize_language("English") == "en"
    assert detect.normalize_language("zh-CN") == "zh"
    assert detect.normalize_language("jpn") == "ja"
    assert detect.normalize_language("de") is None


def test_unreadable_lyric_warns_with_the_place_and_the_fallback():
    score = _score([("さ", 1), ("空", 1, {"where": "measure 3, note 2"}), ("ら", 1)])
    seq = phonemize_score(score)
    assert _names(seq.for_note(1)) == "a"
    assert len(seq.warnings) == 1
    w = seq.warnings[0]
    assert w.startswith("measure 3, note 2: lyric '空' (ja): kanji") and "sang ja/a instead" in w
    with pytest.raises(ScoreError, match=r"measure 3, note 2: lyric '空' \(ja\): kanji"):
        phonemize_score(score, strict=True)


def test_unreadable_english_and_pinyin():
    seq = phonemize_score(_score([("♪", 1), ("la", 1)], language="en"))
    assert _names(seq.for_note(0)) == "aa" and "note 1" in seq.warnings[0]
    seq = phonemize_score(_score([("ziu", 1)], language="zh"))
    assert _names(seq.for_note(0)) == "a" and "'ziu'" in seq.warnings[0]


def test_slur_with_nothing_to_hold_falls_back():
    seq = phonemize_score(_score([(None, 1), ("+", 1)], language="en"))
    assert _names(seq.for_note(1)) == "aa" and seq.warnings
    with pytest.raises(ScoreError):
        phonemize_score(_score([(None, 1), ("+", 1)], language="en"), strict=True)


def test_phoneme_hints_override_g2p():
    score = _score([("啊", 1, {"phonemes": ["x", "iao"], "phoneme_durations": [0.12, 0.38]}), ("啊", 1)])
    seq = phonemize_score(score)
    assert _names(seq.for_note(0)) == "x iao"
    assert seq.phonemes[0].duration == pytest.approx(0.12)  # the source's length for the onset
    assert _names(seq.for_note(1)) == "a"
    assert not seq.warnings
    score = _score([("yao", 1, {"phonemes": ["ya", "ao"]})], language="zh")
    seq = phonemize_score(score)
    assert _names(seq.for_note(0)) == "iao"  # unknown hint: G2P of the lyric
    assert "phoneme hint 'ya ao'" in seq.warnings[0]
    with pytest.raises(ScoreError, match="ya ao"):
        phonemize_score(score, strict=True)
    seq = phonemize_score(_score([("", 1, {"phonemes": ["ja/ky", "ja/o"]})], language="en"))
    assert [p.symbol for p in seq.for_note(0)] == ["ja/ky", "ja/o"]  # tagged symbols pass through


def test_espeak_called_once_per_score(monkeypatch):
    from vocalsynth.text import en

    calls = []
    real = en.phonemize_words
    monkeypatch.setattr(en, "phonemize_words", lambda texts: calls.append(texts) or real(texts))
    phonemize_score(_score([("how", 1), ("I", 1), ("won-", 1), ("-der", 1), ("what", 1)], language="en"))
    assert len(calls) == 1 and calls[0] == ["how", "I", "wonder", "what"]


def _real_scores() -> list[Path]:
    """Every real score but the 46 similar No.7 songs, of which three."""
    if not SCORES.is_dir():
        return []
    suffixes = (".xml", ".mid", ".kar", ".ust", ".ustx", ".ds")
    files = sorted(p for p in SCORES.rglob("*") if p.is_file() and p.suffix.lower() in suffixes)
    no7 = [p for p in files if p.parent.name == "musicxml_ja_no7"]
    return [p for p in files if p not in no7] + no7[:3]


@pytest.mark.skipif(not SCORES.is_dir(), reason="../shared/scores not present")
@pytest.mark.parametrize("path", _real_scores(), ids=lambda p: p.name)
def test_real_scores_keep_the_timeline(path):
    try:
        score = load_score(path)
    except ScoreError as e:  # a reader's limits are not this test's business
        pytest.skip(f"reader: {e}")
    seq = phonemize_score(score)
    check_timeline(seq, score)
    assert len(seq.notes) == len(score.notes)
