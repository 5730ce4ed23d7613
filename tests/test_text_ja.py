"""Japanese G2P: kana, katakana, small kana, ん, っ, ー, ヴ and romaji."""

from __future__ import annotations

import pytest

from vocalsynth.text import G2PError, ja


def _ph(text: str, **kw) -> str:
    return " ".join(s.removeprefix("ja/") for s in ja.g2p(text, **kw))


@pytest.mark.parametrize(
    "lyric, phonemes",
    [
        ("きょう", "ky o o"),  # う after o is a long o (PJS)
        ("がっこう", "g a cl k o o"),
        ("ん", "N"),
        ("っ", "cl"),
        ("ヴァ", "v a"),
        ("ゔ", "v u"),
        ("さくら", "s a k u r a"),
        ("らーめん", "r a a m e N"),
        ("しゃ", "sh a"),
        ("ちゅ", "ch u"),
        ("じょ", "j o"),
        ("にゃ", "ny a"),
        ("りょ", "ry o"),
        ("ファ", "f a"),
        ("ティ", "t i"),
        ("ディ", "d i"),
        ("ウィ", "w i"),
        ("ツァ", "ts a"),
        ("ゎ", "w a"),
        ("ぁ", "a"),
        ("を", "w o"),
        ("つ", "ts u"),
        ("づ", "z u"),
        ("ふ", "f u"),
        ("せんせい", "s e N s e i"),  # えい keeps i
        ("ｶﾞｯｺｳ", "g a cl k o o"),  # half-width katakana
        ("さん！", "s a N"),  # punctuation dropped
    ],
)
def test_kana(lyric, phonemes):
    assert _ph(lyric) == phonemes


def test_katakana_reads_like_hiragana():
    assert ja.g2p("キャンディー") == ja.g2p("きゃんでぃー")


@pytest.mark.parametrize(
    "lyric, phonemes",
    [
        ("ka", "k a"),
        ("shi", "sh i"),
        ("si", "sh i"),
        ("kya", "ky a"),
        ("n", "N"),
        ("tsu", "ts u"),
        ("tu", "ts u"),
        ("chi", "ch i"),
        ("fu", "f u"),
        ("shinkansen", "sh i N k a N s e N"),
        ("konnichiwa", "k o N n i ch i w a"),
        ("kan'i", "k a N i"),
        ("gakkou", "g a cl k o o"),
        ("matcha", "m a cl ch a"),
        ("sempai", "s e N p a i"),
        ("Tōkyō", "t o o ky o o"),
        ("KA", "k a"),
        ("la", "r a"),
        ("wo", "w o"),
        ("va", "v a"),
    ],
)
def test_romaji(lyric, phonemes):
    assert _ph(lyric) == phonemes


def test_long_mark_and_lone_u_use_the_previous_notes_vowel():
    assert _ph("ー", prev_vowel="e") == "e"
    assert _ph("う", prev_vowel="o") == "o"
    assert _ph("う", prev_vowel="a") == "u"
    assert _ph("うた", prev_vowel="o") == "u t a"  # only a lone う continues the o
    with pytest.raises(G2PError, match="long-vowel"):
        ja.g2p("ー")


@pytest.mark.parametrize(
    "lyric, reason",
    [
        ("空", "kanji"),
        ("さ空", "kanji"),
        ("xyz", "romaji"),
        ("かa", "mixes"),
        ("...", "empty"),
        ("привет", "Japanese"),
    ],
)
def test_unreadable(lyric, reason):
    with pytest.raises(G2PError, match=reason):
        ja.g2p(lyric)


def test_every_kana_in_the_table_maps_into_the_inventory():
    from vocalsynth.text.inventory import INVENTORY

    for kana in ja.KANA:
        assert all(s in INVENTORY for s in ja.g2p(kana, prev_vowel="a")), kana
    for rom in ja.ROMAJI:
        assert all(s in INVENTORY for s in ja.g2p(rom)), rom


def test_hints():
    assert ja.map_hint(["ky", "o"]) == ["ja/ky", "ja/o"]
    assert ja.map_hint(["jp_ky-o"]) == ["ja/ky", "ja/o"]
    assert ja.map_hint(["N"]) == ["ja/N"]
    assert ja.map_hint(["pau"]) == ["SP"]
    assert ja.map_hint(["ja/a"]) == ["ja/a"]
    assert ja.map_hint(["- ka"]) is None
