"""English and Mandarin sung by a Japanese-only voice: every phoneme maps, the timeline is unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest

from vocalsynth import load_score
from vocalsynth.text import inventory, phonemize_score
from vocalsynth.text.crosslingual import (
    TO_JA,
    map_to_voice,
    merge_warnings,
    nearest_known,
    substitution_warning,
    voice_mapping,
)

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
JA = frozenset(s for s in inventory.INVENTORY if s.startswith("ja/")) | {"SP", "AP"}


def test_every_english_and_mandarin_phoneme_has_a_japanese_counterpart():
    foreign = [s for s in inventory.INVENTORY if s.startswith(("en/", "zh/"))]
    assert sorted(set(foreign) - set(TO_JA)) == []
    assert all(f"ja/{t}" in JA for target in TO_JA.values() for t in target)


@pytest.mark.parametrize("name", ["hello_en.txt", "xiaoxing_zh.txt"])
def test_mapped_sequence_is_japanese_and_keeps_the_timeline(name):
    seq = phonemize_score(load_score(EXAMPLES / name))
    mapped = map_to_voice(seq, JA)
    assert all(p.symbol in JA for p in mapped)
    assert mapped.phonemes[0].start == pytest.approx(seq.phonemes[0].start)
    assert mapped.phonemes[-1].end == pytest.approx(seq.phonemes[-1].end)
    for a, b in zip(mapped.phonemes, mapped.phonemes[1:], strict=False):
        assert b.start == pytest.approx(a.end, abs=1e-9)  # no gaps, no overlaps
    assert any("accent" in w for w in mapped.warnings)


def test_a_voice_that_knows_the_language_is_left_alone():
    seq = phonemize_score(load_score(EXAMPLES / "hello_en.txt"))
    known = (
        frozenset(seq.symbols())
        if callable(getattr(seq, "symbols", None))
        else frozenset(p.symbol for p in seq)
    )
    assert map_to_voice(seq, known) is seq


def test_diphthong_becomes_vowel_plus_glide():
    seq = phonemize_score(load_score("tempo=60 lang=en C4/4 I"))
    mapped = map_to_voice(seq, JA)
    sung = [p.symbol for p in mapped if p.note_pitch]
    assert sung == ["ja/a", "ja/i"]


# --- phonemes a voice lacks in a language it sings ---------------------------------------------------------------

PJS = JA - {"ja/v"}  # the default voice: PJS has no v


def test_vu_is_sung_as_bu_with_one_warning_naming_every_place():
    seq = phonemize_score(load_score("tempo=120 lang=ja C4/4 ヴぁ D4 い E4 ヴぉ F4 ヴぁ"))
    mapped = map_to_voice(seq, PJS)
    assert [p.symbol for p in mapped if p.symbol.startswith("ja/b")] == ["ja/b"] * 3
    assert all(p.symbol in PJS for p in mapped)
    assert [(p.start, p.duration) for p in mapped] == [(p.start, p.duration) for p in seq]
    (warning,) = mapped.warnings
    assert "'ja/v' is not in this voice's phoneme set: sung as 'ja/b'" in warning
    assert "token 3 'C4/4'; line 1, token 7 'E4'; line 1, token 9 'F4')" in warning  # the three notes
    assert "token 5" not in warning and "accent" not in warning


def test_nearest_comes_from_the_voices_own_set():
    # a smaller voice: no b, no ky, no w, no N, no e: each falls to its nearest in articulation
    small = PJS - {"ja/b", "ja/ky", "ja/w", "ja/N", "ja/e", "ja/ts"}
    got = voice_mapping(small, ["ja/v", "ja/ky", "ja/w", "ja/N", "ja/e", "ja/ts", "en/ae", "zh/ang", "ja/a"])
    assert got == {
        "ja/v": ("ja/f",),  # voiced labiodental fricative: the same place and manner, voiceless
        "ja/ky": ("ja/k",),
        "ja/w": ("ja/u",),
        "ja/N": ("ja/n",),
        "ja/e": ("ja/i",),
        "ja/ts": ("ja/ch",),
        "en/ae": ("ja/a",),
        "zh/ang": ("ja/a", "ja/n"),  # the Japanese counterpart's N, itself missing, becomes n
    }
    assert (
        nearest_known("ja/cl", small - {"ja/cl"}) == "SP"
        and nearest_known("ja/cl", frozenset({"ja/a"})) is None
    )


def test_warnings_of_one_phoneme_from_several_phrases_merge():
    one = substitution_warning("ja/v", ("ja/b",), ["measure 1, note 1", "measure 2, note 1"])
    two = substitution_warning("ja/v", ("ja/b",), ["measure 2, note 1", "measure 9, note 3"])
    warnings = ["something else"]
    merge_warnings(warnings, [one])
    merge_warnings(warnings, [two, "something else"])
    assert warnings == [
        "something else",
        "phoneme 'ja/v' is not in this voice's phoneme set: sung as 'ja/b' "
        "(measure 1, note 1; measure 2, note 1; measure 9, note 3)",
    ]
    many = substitution_warning("ja/v", ("ja/b",), [f"m{i}" for i in range(8)])
    assert many.endswith("(m0; m1; m2; m3; m4; and 3 more)")
