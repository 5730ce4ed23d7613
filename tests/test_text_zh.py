"""Mandarin G2P: hanzi through pypinyin, typed pinyin, the pinyin spelling rules, hints."""

from __future__ import annotations

import pytest

from vocalsynth.text import G2PError, zh


def _ph(text: str) -> str:
    return " ".join(s.removeprefix("zh/") for s in zh.g2p(text)[0])


def test_hanzi_with_tones():
    phones, tones = zh.g2p("你好")
    assert phones == ["zh/n", "zh/i", "zh/h", "zh/ao"]
    assert tones == [3, 3, 3, 3]


def test_polyphone_read_in_context():
    assert _ph("长大") == "zh ang d a"
    readings = zh.hanzi_to_pinyin(["长", "大", "", "银行"])
    assert readings == [["zhang3"], ["da4"], [], ["yin2", "hang2"]]


@pytest.mark.parametrize(
    "lyric, phonemes",
    [
        ("lv3", "l v"),
        ("nü", "n v"),
        ("nu:", "n v"),
        ("nǚ", "n v"),
        ("lue", "l ve"),
        ("yao", "iao"),
        ("you", "iou"),
        ("yi", "i"),
        ("ye", "ie"),
        ("yu", "v"),
        ("yuan", "van"),
        ("yun", "vn"),
        ("yong", "iong"),
        ("wu", "u"),
        ("wo", "uo"),
        ("wei", "uei"),
        ("weng", "ueng"),
        ("ju", "j v"),
        ("xue", "x ve"),
        ("qun", "q vn"),
        ("zhi", "zh ir"),
        ("chi", "ch ir"),
        ("shi", "sh ir"),
        ("ri", "r ir"),
        ("zi", "z i0"),
        ("ci", "c i0"),
        ("si", "s i0"),
        ("er", "er"),
        ("liu", "l iou"),
        ("dui", "d uei"),
        ("lun", "l uen"),
        ("xiong", "x iong"),
        ("zhuang", "zh uang"),
        ("ni3 hao3", "n i h ao"),
        ("ni3hao3", "n i h ao"),
        ("nihao", "n i h ao"),
        ("xi'an", "x i an"),
        ("xian", "x ian"),
        ("Hǎo!", "h ao"),
    ],
)
def test_pinyin(lyric, phonemes):
    assert _ph(lyric) == phonemes


def test_tones_from_digits_and_marks():
    assert zh.g2p_syllable("lv3") == (["zh/l", "zh/v"], 3)
    assert zh.g2p_syllable("hǎo")[1] == 3
    assert zh.g2p_syllable("ma5")[1] == 5
    assert zh.g2p_syllable("ma0")[1] == 5
    assert zh.g2p_syllable("ma")[1] is None


@pytest.mark.parametrize("lyric", ["ziu", "hello", "ab空", "♪", "x7"])
def test_unreadable(lyric):
    with pytest.raises(G2PError):
        zh.g2p(lyric)


def test_hints_in_opencpop_spelling():
    assert zh.map_hint(["x", "iao"]) == ["zh/x", "zh/iao"]
    assert zh.map_hint(["y", "van"]) == ["zh/van"]
    assert zh.map_hint(["y", "E"]) == ["zh/ie"]
    assert zh.map_hint(["y", "En"]) == ["zh/ian"]
    assert zh.map_hint(["w", "u"]) == ["zh/u"]
    assert zh.map_hint(["y", "v"]) == ["zh/v"]
    assert zh.map_hint(["d", "ui"]) == ["zh/d", "zh/uei"]
    assert zh.map_hint(["sh", "ir"]) == ["zh/sh", "zh/ir"]
    assert zh.map_hint(["AP"]) == ["AP"]
    assert zh.map_hint(["ya", "ao"]) is None  # an OpenUtau alias, not a phoneme


def test_valid_syllables_cover_the_standard_table():
    assert len(zh.VALID_SYLLABLES) > 400
    for syl in ("zhuang", "nve", "lve", "er", "yo", "ê", "m", "ng"):
        assert syl in zh.VALID_SYLLABLES
