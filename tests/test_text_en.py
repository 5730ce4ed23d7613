"""English G2P through espeak-ng: IPA mapping, one batch call, syllables split onto notes."""

from __future__ import annotations

import pytest

from vocalsynth.text import G2PError, en


def _names(phones):
    return " ".join(p.removeprefix("en/") for p in phones)


@pytest.mark.parametrize(
    "ipa, arpabet",
    [
        ("ɑːɹ", "aa r"),
        ("aɪɚ", "ay er"),
        ("əl", "ah l"),
        ("n̩", "ah n"),
        ("oːɹ", "ao r"),
        ("tʃ", "ch"),
        ("dʒ", "jh"),
        ("ɾ", "dx"),
        ("ʔ", "t"),
        ("ˈeɪ", "ey"),
    ],
)
def test_ipa_to_arpabet(ipa, arpabet):
    assert " ".join(en.ipa_to_arpabet(ipa)) == arpabet


def test_unknown_ipa_is_a_g2p_error():
    with pytest.raises(G2PError):
        en.ipa_to_arpabet("ʘ")


def test_words_through_espeak():
    results = en.phonemize_words(["twinkle", "star!", "a", "♪", "Привет", "hello world"])
    assert _names(results[0]) == "t w ih ng k ah l"
    assert _names(results[1]) == "s t aa r"  # punctuation stripped
    assert _names(results[2]) == "ah"
    assert results[3] == [] and results[4] == []  # nothing English to read
    assert _names(results[5]).startswith("hh ah l ow w")


def test_one_espeak_call_for_many_words(monkeypatch):
    backend = en._backend()
    calls = []
    real = backend.phonemize

    def counting(texts, **kw):
        calls.append(list(texts))
        return real(texts, **kw)

    monkeypatch.setattr(backend, "phonemize", counting)
    en.phonemize_words(["one", "two", "three", "four", "five"])
    assert len(calls) == 1 and len(calls[0]) == 5


def test_g2p_unreadable():
    with pytest.raises(G2PError, match="no English word"):
        en.g2p("♪♪")


def test_syllabify_maximal_onset():
    def syl(word):
        return [" ".join(p.removeprefix("en/") for p in s) for s in en.syllabify(en.g2p(word))]

    assert syl("twinkle") == ["t w ih ng", "k ah l"]
    assert syl("apple") == ["ae", "p ah l"]
    assert syl("extra") == ["eh k", "s t r ah"]  # 'str' is a legal onset
    assert syl("star") == ["s t aa r"]


def test_split_word_merges_and_holds():
    phones = en.g2p("twinkle")
    assert [_names(p) for p in en.split_word(phones, 2)] == ["t w ih ng", "k ah l"]
    # more syllables than notes: the last note takes the rest
    assert [_names(p) for p in en.split_word(en.g2p("beautiful"), 2)] == ["b y uw", "dx iy f ah l"]
    # fewer: the notes before the last hold
    parts = en.split_word(en.g2p("every"), 3)
    assert parts[1] is None and _names(parts[0]) == "eh v" and _names(parts[2]) == "r iy"
    parts = en.split_word(en.g2p("star"), 2)
    assert _names(parts[0]) == "s t aa r" and parts[1] is None


def test_split_word_follows_the_spelling_of_s_clusters():
    phones = en.g2p("extra")
    assert [_names(p) for p in en.split_word(phones, 2, ["ex", "tra"])] == ["eh k s", "t r ah"]
    phones = en.g2p("monstrous")
    assert [_names(p) for p in en.split_word(phones, 2, ["mon", "strous"])] == ["m ao n", "s t r ah s"]


def test_hints():
    assert en.map_hint(["T", "W", "IH1", "NG"]) == ["en/t", "en/w", "en/ih", "en/ng"]
    assert en.map_hint(["AX0", "ʃ"]) == ["en/ah", "en/sh"]
    assert en.map_hint(["x", "iao"]) is None
