"""English and Mandarin sung by a Japanese-only voice: every phoneme maps, the timeline is unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest

from vocalsynth import load_score
from vocalsynth.text import inventory, phonemize_score
from vocalsynth.text.crosslingual import TO_JA, map_to_voice

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
