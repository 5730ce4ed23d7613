"""Japanese G2P: hiragana, katakana and romaji -> PJS-style phonemes (``ja/ky ja/o``), no dictionary.

Kanji can't be read without a dictionary: `g2p` raises `G2PError` for them.
Long vowels: ー repeats the previous vowel; う after an o-vowel is sung o (きょう -> ky o o),
as the PJS labels do (104 of 112 cases); えい keeps i (PJS: 53 of 72).
"""

from __future__ import annotations

import re
import unicodedata

from vocalsynth.text import inventory
from vocalsynth.text.errors import G2PError

LONG = "ー"
VOWELS = "aiueo"

# --- kana ----------------------------------------------------------------------------------------
# mora -> (consonants, nucleus); nucleus is a vowel, 'N' or 'cl'
_BASE_ROWS = {
    "": "あいうえお",
    "k": "かきくけこ",
    "g": "がぎぐげご",
    "s": "さしすせそ",
    "z": "ざじずぜぞ",
    "t": "たちつてと",
    "d": "だぢづでど",
    "n": "なにぬねの",
    "h": "はひふへほ",
    "b": "ばびぶべぼ",
    "p": "ぱぴぷぺぽ",
    "m": "まみむめも",
    "r": "らりるれろ",
}
# cells of the table that don't follow their row's consonant
_IRREGULAR = {"し": "sh", "じ": "j", "ち": "ch", "つ": "ts", "ぢ": "j", "づ": "z", "ふ": "f"}

KANA: dict[str, tuple[tuple[str, ...], str]] = {}
for _cons, _row in _BASE_ROWS.items():
    for _kana, _v in zip(_row, VOWELS, strict=True):
        _c = _IRREGULAR.get(_kana, _cons)
        KANA[_kana] = ((_c,) if _c else (), _v)
KANA.update(
    {
        "や": (("y",), "a"),
        "ゆ": (("y",), "u"),
        "よ": (("y",), "o"),
        "わ": (("w",), "a"),
        "ゐ": ((), "i"),
        "ゑ": ((), "e"),
        # PJS labels を as w o (its singer sings it so)
        "を": (("w",), "o"),
        "ん": ((), "N"),
        "っ": ((), "cl"),
        "ゔ": (("v",), "u"),
        # small kana on their own
        "ぁ": ((), "a"),
        "ぃ": ((), "i"),
        "ぅ": ((), "u"),
        "ぇ": ((), "e"),
        "ぉ": ((), "o"),
        "ゃ": (("y",), "a"),
        "ゅ": (("y",), "u"),
        "ょ": (("y",), "o"),
        "ゎ": (("w",), "a"),
        "ゕ": (("k",), "a"),
        "ゖ": (("k",), "e"),
    }
)
# kana + small ゃゅょ: the palatalised consonant
_PALATAL = {
    "き": "ky",
    "ぎ": "gy",
    "に": "ny",
    "ひ": "hy",
    "び": "by",
    "ぴ": "py",
    "み": "my",
    "り": "ry",
    "し": "sh",
    "じ": "j",
    "ち": "ch",
    "ぢ": "j",
    "ゔ": "by",
}
for _kana, _c in _PALATAL.items():
    for _small, _v in zip("ゃゅょ", "auo", strict=True):
        KANA[_kana + _small] = ((_c,), _v)
# kana + small vowel (loanword spellings)
_SMALL_VOWEL = {"ぁ": "a", "ぃ": "i", "ぅ": "u", "ぇ": "e", "ぉ": "o"}
_DIGRAPH_CONS = {
    "ふ": ("f",),
    "ゔ": ("v",),
    "つ": ("ts",),
    "う": ("w",),
    "て": ("t",),
    "で": ("d",),
    "と": ("t",),
    "ど": ("d",),
    "す": ("s",),
    "ず": ("z",),
    "く": ("k", "w"),
    "ぐ": ("g", "w"),
    "し": ("sh",),
    "じ": ("j",),
    "ち": ("ch",),
    "き": ("ky",),
    "ぎ": ("gy",),
    "に": ("ny",),
    "ひ": ("hy",),
    "び": ("by",),
    "ぴ": ("py",),
    "み": ("my",),
    "り": ("ry",),
    "い": ("y",),
}
for _kana, _c in _DIGRAPH_CONS.items():
    for _small, _v in _SMALL_VOWEL.items():
        KANA.setdefault(_kana + _small, (_c, _v))
KANA.update(
    {
        "ふゅ": (("hy",), "u"),
        # テュ/デュ: no ty/dy in PJS, sung t + y + u
        "てゅ": (("t", "y"), "u"),
        "でゅ": (("d", "y"), "u"),
        "くゎ": (("k", "w"), "a"),
        "ぐゎ": (("g", "w"), "a"),
    }
)
_KATAKANA_EXTRA = {"ヷ": "ゔぁ", "ヸ": "ゔぃ", "ヹ": "ゔぇ", "ヺ": "ゔぉ"}
_LONG_MARKS = "ーｰ〜～~"

# --- romaji --------------------------------------------------------------------------------------
ROMAJI: dict[str, tuple[tuple[str, ...], str]] = {}


def _rom(cons: str, spec: str) -> None:
    # spec: "a i u e o" with overrides "si=sh:i"
    for item in spec.split():
        if "=" in item:
            key, val = item.split("=")
            c, v = val.split(":")
            ROMAJI[key] = (tuple(x for x in c.split("+") if x), v)
        else:
            ROMAJI[cons + item] = ((cons,) if cons else (), item)


_rom("", "a i u e o")
for _c in ("k", "g", "n", "b", "p", "m", "r", "v", "f"):
    _rom(_c, "a i u e o")
_rom("s", "a u e o si=sh:i")
_rom("z", "a u e o zi=j:i")
_rom("t", "a e o ti=ch:i tu=ts:u")
_rom("d", "a e o di=j:i du=z:u")
_rom("h", "a i e o hu=f:u")
_rom("y", "a u o ye=y:e yi=:i")
_rom("w", "a wi=w:i we=w:e wo=w:o wu=:u")
for _c in ("sh", "j", "ch", "ts"):
    _rom(_c, "a i u e o")
for _c, _pal in (
    ("k", "ky"),
    ("g", "gy"),
    ("n", "ny"),
    ("h", "hy"),
    ("b", "by"),
    ("p", "py"),
    ("m", "my"),
    ("r", "ry"),
):
    for _v in "auoe":
        ROMAJI[_c + "y" + _v] = ((_pal,), _v)
for _spell, _pal in (
    ("sy", "sh"),
    ("zy", "j"),
    ("jy", "j"),
    ("ty", "ch"),
    ("cy", "ch"),
    ("dy", "j"),
    ("vy", "by"),
):
    for _v in "auoe":
        ROMAJI[_spell + _v] = ((_pal,), _v)
ROMAJI.update(
    {
        "fyu": (("hy",), "u"),
        "thi": (("t",), "i"),
        "dhi": (("d",), "i"),
        "twu": (("t",), "u"),
        "dwu": (("d",), "u"),
        "kwa": (("k", "w"), "a"),
        "gwa": (("g", "w"), "a"),
        "xtsu": ((), "cl"),
        "xtu": ((), "cl"),
        "ltu": ((), "cl"),
        "xya": (("y",), "a"),
        "xyu": (("y",), "u"),
        "xyo": (("y",), "o"),
        "xwa": (("w",), "a"),
    }
)
for _v in VOWELS:
    ROMAJI["x" + _v] = ((), _v)
# l is sung as r in romaji (la, li, lu, ...); 'la' alone stays readable
for _key, _val in list(ROMAJI.items()):
    if _key.startswith("r"):
        ROMAJI.setdefault("l" + _key[1:], _val)
_ROMAJI_MAXLEN = max(map(len, ROMAJI))
_MACRONS = {
    "ā": "aa",
    "ī": "ii",
    "ū": "uu",
    "ē": "ee",
    "ō": "ou",
    "â": "aa",
    "î": "ii",
    "û": "uu",
    "ê": "ee",
    "ô": "ou",
}

# punctuation and spaces dropped from a lyric before reading it
_STRIP = re.compile(r"[\s\-_’‘\"“”、。，．・,.!?！？「」『』（）()\[\]【】…‥♪☆★]+")


def _is_kanji(ch: str) -> bool:
    o = ord(ch)
    return (
        ch == "々" or 0x3400 <= o <= 0x4DBF or 0x4E00 <= o <= 0x9FFF or 0xF900 <= o <= 0xFAFF or o >= 0x20000
    )


def is_kana(ch: str) -> bool:
    return 0x3041 <= ord(ch) <= 0x30FF and ch not in "・゠"


def to_hiragana(text: str) -> str:
    """Katakana (full- or half-width) -> hiragana; other characters pass through."""
    text = unicodedata.normalize("NFKC", text)
    out = []
    for ch in text:
        if ch in _KATAKANA_EXTRA:
            out.append(_KATAKANA_EXTRA[ch])
        elif 0x30A1 <= ord(ch) <= 0x30F6:
            out.append(chr(ord(ch) - 0x60))
        else:
            out.append(ch)
    return "".join(out)


Mora = tuple[tuple[str, ...], str]


def _kana_morae(text: str) -> list[Mora | str]:
    out: list[Mora | str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch in _LONG_MARKS:
            out.append(LONG)
            i += 1
            continue
        two = text[i : i + 2]
        if len(two) == 2 and two in KANA:
            out.append(KANA[two])
            i += 2
        elif ch in KANA:
            out.append(KANA[ch])
            i += 1
        else:
            raise G2PError(f"can't read {ch!r} as kana")
    return out


def _romaji_morae(text: str) -> list[Mora | str]:
    s = text.lower()
    for k, v in _MACRONS.items():
        s = s.replace(k, v)
    out: list[Mora | str] = []
    i = 0
    while i < len(s):
        c = s[i]
        nxt = s[i + 1] if i + 1 < len(s) else ""
        if c == "'":
            i += 1
            continue
        if c == "n" and not (nxt and nxt in VOWELS + "y"):
            out.append(((), "N"))
            after = s[i + 2] if i + 2 < len(s) else ""
            # 'nn' before a consonant or at the end is one ん ('shinnen' is shi N ne N); n' is ん (kan'i)
            i += 2 if nxt == "n" and not (after and after in VOWELS + "y") else 1
            continue
        if c == "m" and nxt in ("b", "p"):
            out.append(((), "N"))  # Hepburn writes ん as m before b/p (shimbun, sempai)
            i += 1
            continue
        if c == nxt and c not in VOWELS + "n'" and c.isalpha():
            out.append(((), "cl"))  # doubled consonant: っ (gakkou, kitte)
            i += 1
            continue
        if c == "t" and s.startswith("ch", i + 1):
            out.append(((), "cl"))  # matcha
            i += 1
            continue
        for size in range(min(_ROMAJI_MAXLEN, len(s) - i), 0, -1):
            piece = s[i : i + size]
            if piece in ROMAJI:
                out.append(ROMAJI[piece])
                i += size
                break
        else:
            raise G2PError(f"can't read {s[i:]!r} as romaji")
    return out


def clean(text: str) -> str:
    """The lyric without spaces and punctuation, NFKC-normalised (full-width letters become ASCII)."""
    return _STRIP.sub("", unicodedata.normalize("NFKC", text).replace("ｰ", "ー"))


def is_long_mark(text: str) -> bool:
    """True for a lyric that is only a long-vowel mark (ー): it holds the previous note's vowel."""
    s = clean(text) if text.strip() not in _LONG_MARKS else text.strip()
    return bool(s) and all(c in _LONG_MARKS for c in s)


def morae(text: str, prev_vowel: str | None = None) -> list[Mora]:
    """Split a lyric into morae ``(consonants, nucleus)``; ``prev_vowel`` is the previous note's last nucleus.

    ``prev_vowel`` feeds a leading ー and the う-after-o rule when the lyric is a lone う.
    """
    raw = text.strip()
    s = raw if raw and all(c in _LONG_MARKS for c in raw) else clean(text)
    if not s:
        raise G2PError("the lyric is empty after removing punctuation")
    kanji = [c for c in s if _is_kanji(c)]
    if kanji:
        raise G2PError(
            f"kanji {''.join(kanji)!r} can't be read without a dictionary (write the lyric in kana or romaji)"
        )
    hira = to_hiragana(s)
    if all(is_kana(c) or c in _LONG_MARKS or c == "'" for c in hira) and any(is_kana(c) for c in hira):
        hira = hira.replace("'", "")
    if all(is_kana(c) or c in _LONG_MARKS for c in hira):
        seq = _kana_morae(hira)
    elif all(c.isascii() and (c.isalpha() or c == "'") or c in _MACRONS for c in s):
        seq = _romaji_morae(s)
    else:
        bad = "".join(sorted({c for c in hira if not (is_kana(c) or c in _LONG_MARKS or c.isascii())}))
        raise G2PError(
            f"can't read {bad!r} as Japanese"
            if bad
            else "mixes kana and Latin letters; write one or the other"
        )
    out: list[Mora] = []
    for item in seq:
        if item == LONG:
            last = out[-1][1] if out else prev_vowel
            if last is None or last == "cl":
                raise G2PError("long-vowel mark ー with no vowel before it")
            out.append(((), last))
        else:
            assert not isinstance(item, str)
            cons, nucleus = item
            # おう is a long o: PJS labels and singers sing きょう as ky o o
            before = out[-1][1] if out else (prev_vowel if len(seq) == 1 else None)
            if not cons and nucleus == "u" and before == "o":
                nucleus = "o"
            out.append((cons, nucleus))
    return out


def g2p(text: str, prev_vowel: str | None = None) -> list[str]:
    """A kana or romaji lyric -> tagged phonemes: ``g2p('きょう') == ['ja/ky', 'ja/o', 'ja/o']``.

    Raises `G2PError` for kanji, unknown characters or romaji that isn't Japanese.
    """
    out: list[str] = []
    for cons, nucleus in morae(text, prev_vowel):
        out.extend(f"ja/{c}" for c in cons)
        out.append(f"ja/{nucleus}")
    return out


def map_hint(tokens: list[str]) -> list[str] | None:
    """Explicit phonemes (PJS/OpenJTalk style: 'ky', 'o', 'N', 'cl', 'pau', 'jp_ky-o') -> symbols, or None."""
    out: list[str] = []
    for tok in tokens:
        tok = tok.strip()
        if not tok:
            continue
        if tok in inventory.INVENTORY:
            out.append(tok)
            continue
        try:
            if tok.startswith("jp_") or tok.startswith("<") or tok in ("pau", "sil", "br"):
                out.extend(inventory.pjs_to_symbols(tok))
            else:
                out.extend(inventory.pjs_to_symbols(tok) if tok in ("N", "cl", "q") else _bare(tok))
        except KeyError:
            return None
    return out or None


def _bare(tok: str) -> list[str]:
    if tok in ("A", "I", "U", "E", "O"):
        tok = tok.lower()
    return [inventory.get(f"ja/{tok}").symbol]
