"""The one phoneme inventory: language-tagged symbols (``ja/a``, ``en/ae``, ``zh/ang``) plus ``SP`` and ``AP``.

docs/phonemes.md documents every symbol listed here (a test keeps the two in step).
"""

from __future__ import annotations

from dataclasses import dataclass

LANGUAGES = ("en", "ja", "zh")

# kinds of phoneme; the timing rules in `align` read them
VOWEL = "vowel"
CONSONANT = "consonant"
SEMIVOWEL = "semivowel"
NASAL_CODA = "nasal_coda"  # ja/N: a mora of its own, or the nasal closing a syllable
CLOSURE = "closure"  # ja/cl: the glottal/geminate closure of っ
REST = "rest"  # SP
BREATH = "breath"  # AP
KINDS = (VOWEL, CONSONANT, SEMIVOWEL, NASAL_CODA, CLOSURE, REST, BREATH)

# kinds that can carry a note (sung on the beat, share a note when several are on one note)
NUCLEUS_KINDS = frozenset({VOWEL, NASAL_CODA, CLOSURE, REST, BREATH})

SP = "SP"
AP = "AP"

# default consonant lengths (seconds) by manner of articulation: the first guess the duration
# model refines. Onsets of singing are longer than speech for fricatives, short for taps.
_STOP, _ASPIRATED, _FRICATIVE, _AFFRICATE, _NASAL, _LIQUID, _GLIDE, _TAP = (
    0.05,
    0.08,
    0.09,
    0.09,
    0.06,
    0.05,
    0.05,
    0.04,
)


@dataclass(frozen=True)
class Phone:
    """One symbol of the inventory: ``symbol`` ('ja/ky'), its ``kind``, an IPA hint and a default length."""

    symbol: str
    language: str | None
    kind: str
    ipa: str
    length: float = 0.0  # default length in seconds for consonants (0 for nuclei: they fill the note)

    @property
    def name(self) -> str:
        """The symbol without its language tag ('ky' for 'ja/ky')."""
        return self.symbol.split("/", 1)[-1]


def _table() -> dict[str, Phone]:
    rows: list[Phone] = [
        Phone(SP, None, REST, "(silence)"),
        Phone(AP, None, BREATH, "(breath)"),
    ]

    def add(lang: str, kind: str, spec: str) -> None:
        # spec: "name:ipa:length name:ipa:length ..." (length optional)
        for item in spec.split():
            name, ipa, *length = item.split(":")
            rows.append(Phone(f"{lang}/{name}", lang, kind, ipa, float(length[0]) if length else 0.0))

    # --- Japanese: the PJS phoneme set (plus v, which PJS lacks but ヴ needs) ---
    add("ja", VOWEL, "a:a i:i u:ɯ e:e o:o")
    add("ja", NASAL_CODA, "N:ɴ")
    add("ja", CLOSURE, "cl:ʔ")
    add(
        "ja",
        CONSONANT,
        f"k:k:{_STOP} g:g:{_STOP} t:t:{_STOP} d:d:{_STOP} b:b:{_STOP} p:p:{_STOP} "
        f"s:s:{_FRICATIVE} sh:ɕ:{_FRICATIVE} z:dz:{_AFFRICATE} j:dʑ:{_AFFRICATE} h:h:{_FRICATIVE} "
        f"f:ɸ:{_FRICATIVE} v:v:{_FRICATIVE} ch:tɕ:{_AFFRICATE} ts:ts:{_AFFRICATE} "
        f"n:n:{_NASAL} m:m:{_NASAL} r:ɾ:{_TAP} "
        f"ky:kʲ:{_STOP} gy:gʲ:{_STOP} by:bʲ:{_STOP} py:pʲ:{_STOP} hy:ç:{_FRICATIVE} "
        f"ny:ɲ:{_NASAL} my:mʲ:{_NASAL} ry:ɾʲ:{_TAP}",
    )
    add("ja", SEMIVOWEL, f"y:j:{_GLIDE} w:ɰ:{_GLIDE}")

    # --- English: ARPAbet (lower case, no stress) from espeak-ng IPA; see en.IPA_TO_ARPABET ---
    add(
        "en",
        VOWEL,
        "aa:ɑ ae:æ ah:ʌ/ə ao:ɔ aw:aʊ ay:aɪ eh:ɛ er:ɝ/ɚ ey:eɪ ih:ɪ iy:i ow:oʊ oy:ɔɪ uh:ʊ uw:u",
    )
    add(
        "en",
        CONSONANT,
        f"p:p:{_STOP} b:b:{_STOP} t:t:{_STOP} d:d:{_STOP} k:k:{_STOP} g:ɡ:{_STOP} dx:ɾ:{_TAP} "
        f"f:f:{_FRICATIVE} v:v:{_FRICATIVE} th:θ:{_FRICATIVE} dh:ð:{_TAP} s:s:{_FRICATIVE} "
        f"z:z:{_FRICATIVE} sh:ʃ:{_FRICATIVE} zh:ʒ:{_FRICATIVE} hh:h:{_STOP} "
        f"ch:tʃ:{_AFFRICATE} jh:dʒ:{_AFFRICATE} m:m:{_NASAL} n:n:{_NASAL} ng:ŋ:{_NASAL} "
        f"l:l:{_LIQUID} r:ɹ:{_LIQUID}",
    )
    add("en", SEMIVOWEL, f"w:w:{_GLIDE} y:j:{_GLIDE}")

    # --- Mandarin: pinyin initials and finals (finals written in full: iou, uei, uen; ü as v) ---
    add(
        "zh",
        CONSONANT,
        f"b:p:{_STOP} p:pʰ:{_ASPIRATED} m:m:{_NASAL} f:f:{_FRICATIVE} d:t:{_STOP} t:tʰ:{_ASPIRATED} "
        f"n:n:{_NASAL} l:l:{_LIQUID} g:k:{_STOP} k:kʰ:{_ASPIRATED} h:x:{_FRICATIVE} "
        f"j:tɕ:{_AFFRICATE} q:tɕʰ:0.1 x:ɕ:{_FRICATIVE} zh:ʈʂ:{_AFFRICATE} ch:ʈʂʰ:0.1 "
        f"sh:ʂ:{_FRICATIVE} r:ʐ:{_LIQUID} z:ts:{_AFFRICATE} c:tsʰ:0.1 s:s:{_FRICATIVE}",
    )
    add(
        "zh",
        VOWEL,
        "a:a o:o e:ɤ ai:ai ei:ei ao:au ou:ou an:an en:ən ang:aŋ eng:əŋ ong:ʊŋ er:aɚ "
        "i:i ia:ja ie:jɛ iao:jau iou:jou ian:jɛn in:in iang:jaŋ ing:iŋ iong:jʊŋ "
        "u:u ua:wa uo:wo uai:wai uei:wei uan:wan uen:wən uang:waŋ ueng:wəŋ "
        "v:y ve:ɥɛ van:ɥɛn vn:yn ir:ʐ̩ i0:ɹ̩",
    )
    return {p.symbol: p for p in rows}


INVENTORY: dict[str, Phone] = _table()


def get(symbol: str) -> Phone:
    """The `Phone` for ``symbol``; KeyError names the symbol when it isn't in the inventory."""
    try:
        return INVENTORY[symbol]
    except KeyError:
        raise KeyError(f"{symbol!r} is not in the phoneme inventory (see docs/phonemes.md)") from None


def kind(symbol: str) -> str:
    return get(symbol).kind


# consonants sung with the voice on: nasals, liquids, taps, glides and voiced stops (IPA without the
# palatalisation mark). Voiced fricatives and affricates (z, j, v, zh) are left out: their voicing is weak and
# often lost in singing (PJS: about a third of their frames carry F0), and noise is their sound.
_VOICED_CONSONANT_IPA = frozenset("b d g ɡ m n ŋ ɲ ɾ l ɹ ʐ j w ɰ".split())


def is_voiced(symbol: str) -> bool:
    """True for phonemes sung with the voice on: vowels, ja/N, and nasals, liquids, glides and voiced stops
    (see ``_VOICED_CONSONANT_IPA``). False for rests, breaths, closures and the other consonants."""
    phone = get(symbol)
    if phone.kind in (VOWEL, NASAL_CODA):
        return True
    if phone.kind not in (CONSONANT, SEMIVOWEL):
        return False
    return phone.ipa.rstrip("ʲ") in _VOICED_CONSONANT_IPA


def is_nucleus(symbol: str) -> bool:
    """True for symbols that can carry a note: vowels, ja/N, ja/cl, SP, AP."""
    return get(symbol).kind in NUCLEUS_KINDS


def symbols(language: str | None = None) -> list[str]:
    """All symbols, or those of one language (``None`` gives everything, SP and AP included)."""
    return [s for s, p in INVENTORY.items() if language is None or p.language == language]


def default_length(symbol: str) -> float:
    return get(symbol).length


def language_of(symbol: str) -> str | None:
    return get(symbol).language


# --- PJS corpus labels ---------------------------------------------------------------------------

_PJS_SPECIAL = {"<SP>": [SP], "<AP>": [AP], "pau": [SP], "sil": [SP], "br": [AP], "SP": [SP], "AP": [AP]}


def pjs_to_symbols(label: str) -> list[str]:
    """Map one PJS label (``jp_ky-o``, ``jp_n``, ``jp_cl``, ``<SP>``, or a bare ``ky``/``N``) to our symbols.

    In the PJS metadata a lone ``jp_n`` is the moraic nasal ん (``ja/N``); ``jp_n-a`` is n + a.
    Devoiced vowels written in capitals (``I``, ``U``) become their voiced symbols.
    Raises KeyError for a label with a phoneme outside the inventory.
    """
    label = label.strip()
    if label in _PJS_SPECIAL:
        return list(_PJS_SPECIAL[label])
    bare = label[3:] if label.startswith("jp_") else label
    if bare in ("n", "N") and "-" not in bare:
        return ["ja/N"]
    out = []
    for part in bare.split("-"):
        if part in ("A", "I", "U", "E", "O"):
            part = part.lower()
        if part == "q":
            part = "cl"
        out.append(get(f"ja/{part}").symbol)
    return out
