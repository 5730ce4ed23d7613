"""English G2P via phonemizer + espeak-ng (en-us): IPA -> ARPAbet-like ``en/`` symbols, and syllabification.

Words are phonemized in one batch call (`phonemize_words`); the espeak backend is created once and reused.
A word sung over several notes is split by syllable (`split_word`), one vowel nucleus per note,
consonants between nuclei split by the maximal-onset rule with the legal English onsets.
"""

from __future__ import annotations

import functools
import logging
import re
import unicodedata
from itertools import pairwise

from vocalsynth.text import inventory
from vocalsynth.text.errors import G2PError

# espeak-ng IPA -> ARPAbet (lower case, stress dropped, diphthongs single vowels). Tokens are matched
# longest first, so compound tokens espeak emits ('ɑːɹ', 'əl', 'aɪɚ') split into their parts.
IPA_TO_ARPABET: dict[str, list[str]] = {
    # vowels
    "ɑː": ["aa"],
    "ɑ": ["aa"],
    "ɒ": ["aa"],
    "a": ["aa"],
    "æ": ["ae"],
    "ʌ": ["ah"],
    "ə": ["ah"],
    "ɐ": ["ah"],
    "ɔː": ["ao"],
    "ɔ": ["ao"],
    "oːɹ": ["ao", "r"],  # 'more', 'accord'
    "aʊ": ["aw"],
    "aɪ": ["ay"],
    "ɛ": ["eh"],
    "ɛː": ["eh"],
    "e": ["ey"],
    "ɜː": ["er"],
    "ɜ": ["er"],
    "ɝ": ["er"],
    "ɚ": ["er"],
    "ɜːɹ": ["er"],
    "eɪ": ["ey"],
    "ɪ": ["ih"],
    "ɪː": ["ih"],
    "ᵻ": ["ih"],
    "iː": ["iy"],
    "i": ["iy"],
    "oʊ": ["ow"],
    "oː": ["ow"],
    "o": ["ow"],
    "ɔɪ": ["oy"],
    "ʊ": ["uh"],
    "uː": ["uw"],
    "u": ["uw"],
    "ʉ": ["uw"],
    # syllabic consonants: a schwa nucleus + the consonant ('able' -> ey b ah l)
    "əl": ["ah", "l"],
    "l̩": ["ah", "l"],
    "n̩": ["ah", "n"],
    "m̩": ["ah", "m"],
    # consonants
    "p": ["p"],
    "b": ["b"],
    "t": ["t"],
    "d": ["d"],
    "k": ["k"],
    "ɡ": ["g"],
    "g": ["g"],
    "ɾ": ["dx"],
    "ʔ": ["t"],  # 'button' b ʌ ʔ n̩: a sung t, as in careful diction
    "f": ["f"],
    "v": ["v"],
    "θ": ["th"],
    "ð": ["dh"],
    "s": ["s"],
    "z": ["z"],
    "ʃ": ["sh"],
    "ʒ": ["zh"],
    "h": ["hh"],
    "x": ["hh"],
    "ç": ["hh"],
    "tʃ": ["ch"],
    "dʒ": ["jh"],
    "m": ["m"],
    "n": ["n"],
    "ŋ": ["ng"],
    "l": ["l"],
    "ɫ": ["l"],
    "ɬ": ["l"],
    "ɹ": ["r"],
    "r": ["r"],
    "w": ["w"],
    "ʍ": ["w"],
    "j": ["y"],
}
_IPA_MAXLEN = max(map(len, IPA_TO_ARPABET))
_IGNORED = set("ˈˌ.‿ʲ̃ ")

# ARPAbet spellings of hints that aren't our symbols
_ARPABET_ALIASES = {
    "ax": ["ah"],
    "axr": ["er"],
    "ix": ["ih"],
    "ux": ["uw"],
    "el": ["ah", "l"],
    "em": ["ah", "m"],
}
_ARPABET_ALIASES |= {"en": ["ah", "n"], "nx": ["ng"], "q": ["t"], "hv": ["hh"], "wh": ["w"], "jh": ["jh"]}

# lyrics espeak reads as a letter name but singers sing as a word
_WORD_OVERRIDES = {"a": ["ah"]}

# legal English onsets for the maximal-onset rule (any single consonant but ng is legal too)
LEGAL_ONSETS = frozenset(
    tuple(o.split())
    for o in (
        "p r, b r, t r, d r, k r, g r, f r, th r, sh r, p l, b l, k l, g l, f l, s l, "
        "p y, b y, k y, g y, f y, m y, n y, hh y, v y, l y, "
        "t w, d w, k w, g w, th w, s w, hh w, "
        "s p, s t, s k, s m, s n, s f, "
        "s p r, s t r, s k r, s p l, s p y, s k y, s k w, s m y"
    ).split(", ")
)


def ipa_to_arpabet(ipa: str) -> list[str]:
    """One espeak phone token (or a run of them) -> ARPAbet names; raises G2PError for an unknown sound."""
    s = "".join(c for c in unicodedata.normalize("NFC", ipa) if c not in _IGNORED)
    out: list[str] = []
    i = 0
    while i < len(s):
        for size in range(min(_IPA_MAXLEN, len(s) - i), 0, -1):
            piece = s[i : i + size]
            if piece in IPA_TO_ARPABET:
                out.extend(IPA_TO_ARPABET[piece])
                i += size
                break
        else:
            if s[i] == "ː":  # a length mark on a sound matched alone
                i += 1
                continue
            raise G2PError(f"espeak gave the sound {s[i]!r}, which has no English symbol")
    return out


@functools.lru_cache(maxsize=1)
def _backend():
    # created once: EspeakBackend loads the espeak-ng library and voice (~0.3 s)
    from phonemizer.backend import EspeakBackend

    logger = logging.getLogger("vocalsynth.text.en.espeak")
    logger.addHandler(logging.NullHandler())
    logger.propagate = False
    return EspeakBackend("en-us", with_stress=False, language_switch="remove-flags", logger=logger)


_KEEP = re.compile(r"[^0-9A-Za-zÀ-ÖØ-öø-ÿĀ-ſ' ]+")


def clean(text: str) -> str:
    """A lyric with punctuation stripped (apostrophes inside words kept), spaces collapsed."""
    text = unicodedata.normalize("NFKC", text).replace("’", "'").replace("_", " ").replace("‿", " ")
    text = _KEEP.sub(" ", text)
    words = [w.strip("'") for w in text.split()]
    return " ".join(w for w in words if w)


def phonemize_words(texts: list[str]) -> list[list[str]]:
    """Many words (or short phrases) -> their ``en/`` phonemes, in ONE espeak call.

    Each result is flat (word boundaries inside a phrase dropped). An entry that can't be read
    (no Latin letters or digits) comes back as an empty list; `G2PError` never escapes for one entry.
    """
    cleaned = [clean(t) for t in texts]
    todo = [i for i, t in enumerate(cleaned) if t and t.lower() not in _WORD_OVERRIDES]
    results: list[list[str]] = [[] for _ in texts]
    for i, t in enumerate(cleaned):
        if t.lower() in _WORD_OVERRIDES:
            results[i] = [f"en/{p}" for p in _WORD_OVERRIDES[t.lower()]]
    if todo:
        from phonemizer.separator import Separator

        ipa = _backend().phonemize(
            [cleaned[i] for i in todo],
            separator=Separator(phone=" ", word="|", syllable=""),
            strip=True,
            njobs=1,
        )
        for i, line in zip(todo, ipa, strict=True):
            phones: list[str] = []
            try:
                for tok in line.replace("|", " ").split():
                    phones.extend(f"en/{p}" for p in ipa_to_arpabet(tok))
            except G2PError:
                phones = []
            results[i] = phones
    return results


def g2p(text: str) -> list[str]:
    """One English lyric -> ``en/`` phonemes: ``g2p('star') == ['en/s', 'en/t', 'en/aa', 'en/r']``."""
    if not clean(text):
        raise G2PError("no English word in it (only symbols or non-Latin script)")
    phones = phonemize_words([text])[0]
    if not phones:
        raise G2PError("espeak could not read it")
    return phones


def syllabify(phones: list[str]) -> list[list[str]]:
    """Split a word's phonemes into syllables: one vowel nucleus each, maximal legal onsets.

    ``syllabify(t w ih ng k ah l) == [[t w ih ng], [k ah l]]``. A word without a vowel is one syllable.
    """
    nuclei = [i for i, p in enumerate(phones) if inventory.kind(p) == inventory.VOWEL]
    if len(nuclei) <= 1:
        return [list(phones)]
    cuts = []
    for a, b in pairwise(nuclei):
        between = [p.split("/", 1)[1] for p in phones[a + 1 : b]]
        # the longest tail of the consonant run that is a legal onset goes to the next syllable
        cut = b
        for k in range(len(between)):
            tail = tuple(between[k:])
            if tail in LEGAL_ONSETS or (len(tail) == 1 and tail[0] != "ng"):
                cut = a + 1 + k
                break
        cuts.append(cut)
    out, prev = [], 0
    for c in cuts:
        out.append(phones[prev:c])
        prev = c
    out.append(phones[prev:])
    return out


def split_word(phones: list[str], n_notes: int, fragments: list[str] | None = None) -> list[list[str] | None]:
    """Spread a word's phonemes over the ``n_notes`` notes it is written on; None = hold the previous vowel.

    Syllables go to notes in order. ``fragments`` (the text on each note) settle one case the
    maximal-onset rule gets wrong for singers: an s-cluster goes to the onset only when the next
    fragment is spelt with s ('mon-strous'), else the s closes the syllable before ('ex-tra', 'lis-ma'). More syllables than notes: the last note takes all the rest
    (they share it). Fewer: the last syllable goes on the last note and the notes before it hold the
    vowel of the syllable before them (a one-syllable word: the first note sings it, the rest hold).
    """
    if n_notes <= 0:
        return []
    syl = syllabify(phones)
    if fragments and len(fragments) == n_notes == len(syl):
        syl = _follow_spelling(syl, fragments)
    if len(syl) >= n_notes:
        head = syl[: n_notes - 1]
        tail = [p for s in syl[n_notes - 1 :] for p in s]
        return [*head, tail]
    holds: list[list[str] | None] = [None] * (n_notes - len(syl))
    if len(syl) == 1:
        return [syl[0], *holds]
    return [*syl[:-1], *holds, syl[-1]]


def _follow_spelling(syl: list[list[str]], fragments: list[str]) -> list[list[str]]:
    syl = [list(s) for s in syl]
    for k in range(1, len(syl)):
        onset = []
        for p in syl[k]:
            if inventory.kind(p) == inventory.VOWEL:
                break
            onset.append(p)
        letters = clean(fragments[k]).lower()
        if len(onset) > 1 and onset[0] == "en/s" and letters and letters[0] not in "sc":
            syl[k - 1].append(syl[k].pop(0))
    return syl


def map_hint(tokens: list[str]) -> list[str] | None:
    """Explicit phonemes (ARPAbet 'AH0'/'ah', IPA, or tagged 'en/ah') -> symbols, or None if any is unknown."""
    out: list[str] = []
    for tok in tokens:
        tok = tok.strip()
        if not tok:
            continue
        if tok in inventory.INVENTORY:
            out.append(tok)
            continue
        name = re.sub(r"[0-2]$", "", tok).lower()
        if f"en/{name}" in inventory.INVENTORY:
            out.append(f"en/{name}")
        elif name in _ARPABET_ALIASES:
            out.extend(f"en/{p}" for p in _ARPABET_ALIASES[name])
        elif name in ("sil", "pau", "sp"):
            out.append(inventory.SP)
        elif name in ("br", "ap"):
            out.append(inventory.AP)
        elif not tok.isascii():  # IPA; an ASCII token that isn't ARPAbet ('iao') is no English hint
            try:
                out.extend(f"en/{p}" for p in ipa_to_arpabet(tok))
            except G2PError:
                return None
        else:
            return None
    return out or None
