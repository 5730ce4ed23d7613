"""The phoneme inventory, the PJS label mapping and docs/phonemes.md kept in step."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from vocalsynth.text import inventory
from vocalsynth.text.inventory import INVENTORY, pjs_to_symbols

ROOT = Path(__file__).resolve().parents[1]
PJS = Path(__file__).resolve().parents[2] / "shared" / "data" / "pjs" / "metadata.json"
PJS_SET = "a i u e o N cl k g s sh z j t ch ts d n h f b p m y r w ky gy ny hy by py my ry v".split()


def test_symbols_are_tagged_with_their_language_and_have_a_known_kind():
    assert INVENTORY["SP"].kind == inventory.REST and INVENTORY["AP"].kind == inventory.BREATH
    for symbol, phone in INVENTORY.items():
        assert phone.kind in inventory.KINDS
        if symbol in ("SP", "AP"):
            assert phone.language is None
        else:
            lang, name = symbol.split("/")
            assert lang == phone.language and lang in inventory.LANGUAGES and name
        # consonants have a default length in the 40-120 ms the timing rules expect; nuclei fill notes
        if phone.kind in (inventory.CONSONANT, inventory.SEMIVOWEL):
            assert 0.04 <= phone.length <= 0.12, symbol
        else:
            assert phone.length == 0


def test_kinds_of_examples():
    assert inventory.kind("ja/N") == inventory.NASAL_CODA
    assert inventory.kind("ja/cl") == inventory.CLOSURE
    assert inventory.kind("zh/iong") == inventory.VOWEL
    assert inventory.kind("en/w") == inventory.SEMIVOWEL
    assert inventory.is_nucleus("en/ay") and not inventory.is_nucleus("en/t")
    with pytest.raises(KeyError, match="ja/xx"):
        inventory.get("ja/xx")


def test_the_pjs_phoneme_set_is_covered():
    for name in PJS_SET:
        assert f"ja/{name}" in INVENTORY


@pytest.mark.parametrize(
    "label, symbols",
    [
        ("jp_ky-o", ["ja/ky", "ja/o"]),
        ("jp_a", ["ja/a"]),
        ("jp_n", ["ja/N"]),
        ("jp_N", ["ja/N"]),
        ("jp_n-a", ["ja/n", "ja/a"]),
        ("jp_cl", ["ja/cl"]),
        ("jp_s", ["ja/s"]),
        ("<SP>", ["SP"]),
        ("<AP>", ["AP"]),
        ("ts-u", ["ja/ts", "ja/u"]),
    ],
)
def test_pjs_labels_map_to_our_symbols(label, symbols):
    assert pjs_to_symbols(label) == symbols


def test_unknown_pjs_label_is_a_key_error():
    with pytest.raises(KeyError):
        pjs_to_symbols("jp_qq-a")


@pytest.mark.skipif(not PJS.is_file(), reason="PJS metadata not present (../shared/data/pjs)")
def test_every_phoneme_in_the_pjs_metadata_is_in_the_inventory():
    songs = json.loads(PJS.read_text(encoding="utf-8"))
    labels = {label for song in songs for label in song["phoneme"].split()}
    assert len(labels) > 100
    mapped = {s for label in labels for s in pjs_to_symbols(label)}
    assert mapped <= set(INVENTORY)
    assert {"ja/N", "ja/cl", "SP", "ja/ky", "ja/ts", "ja/ny"} <= mapped


def test_docs_list_every_symbol():
    doc = (ROOT / "docs" / "phonemes.md").read_text(encoding="utf-8")
    sections = {"ja": "## Japanese", "en": "## English", "zh": "## Mandarin"}
    for lang, title in sections.items():
        text = doc[doc.index(title) :]
        text = text[: text.index("\n## ", 1)]
        documented = {tok for span in re.findall(r"`([^`]+)`", text) for tok in span.split()}
        for symbol in inventory.symbols(lang):
            assert symbol.split("/")[1] in documented, f"{symbol} is not in docs/phonemes.md under {title!r}"
    assert "`SP`" in doc and "`AP`" in doc


def test_importing_the_frontend_loads_no_torch_and_no_espeak():
    import subprocess
    import sys

    code = (
        "import sys, vocalsynth.text; print(sorted(m for m in ('torch', 'phonemizer') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_voiced_phonemes():
    voiced = {s.split("/")[1] for s in inventory.symbols("ja") if inventory.is_voiced(s)}
    assert voiced == set("a i u e o N g d b n m r gy by ny my ry y w".split())
    assert not any(inventory.is_voiced(s) for s in ("SP", "AP", "ja/cl", "ja/k", "ja/s", "ja/z", "ja/j"))
    assert all(inventory.is_voiced(s) for s in ("en/l", "en/ng", "en/w", "zh/m", "zh/l", "zh/an"))
    assert not any(inventory.is_voiced(s) for s in ("en/z", "en/p", "zh/b", "zh/g"))  # pinyin b, g: [p], [k]
