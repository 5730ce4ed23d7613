"""Sing phonemes a voice lacks with the nearest ones it knows, language by language.

Another language's phonemes (English or Mandarin on a voice trained only on Japanese, like the default PJS
voice) become their nearest Japanese sound through a hand-made table (one symbol, or a vowel plus a short
glide/nasal tail for diphthongs and nasal finals), keeping their place in time, so the score's timing is
unchanged. The result has a Japanese accent by design: consonant clusters and codas are sung as the nearest
Japanese consonants, English vowel contrasts collapse onto a i u e o, Mandarin tones are carried by the melody.

Any other phoneme the voice lacks, in a language it sings (ja/v for ヴ on a voice trained on PJS, which has no
v) or not, becomes the voice's own phoneme nearest in articulation (place, manner and voicing of consonants;
height, backness and rounding of vowels), computed from the voice's phoneme set, so the rule holds for any
voice; each such substitution is warned once, with the notes where it occurs.
"""

from __future__ import annotations

import dataclasses

from vocalsynth.text import inventory
from vocalsynth.text.sequence import CODA, Phoneme, PhonemeSequence

TAIL_FRACTION = 0.3  # share of a phoneme's time a glide/nasal tail takes

# symbol -> Japanese phonemes (the first takes the phoneme's time, a second is its tail)
TO_JA: dict[str, tuple[str, ...]] = {
    # English vowels
    "en/aa": ("a",), "en/ae": ("a",), "en/ah": ("a",), "en/ao": ("o",), "en/aw": ("a", "u"),
    "en/ay": ("a", "i"), "en/eh": ("e",), "en/er": ("a",), "en/ey": ("e", "i"), "en/ih": ("i",),
    "en/iy": ("i",), "en/ow": ("o", "u"), "en/oy": ("o", "i"), "en/uh": ("u",), "en/uw": ("u",),
    # English consonants
    "en/p": ("p",), "en/b": ("b",), "en/t": ("t",), "en/d": ("d",), "en/k": ("k",), "en/g": ("g",),
    "en/dx": ("r",), "en/f": ("f",), "en/v": ("b",), "en/th": ("s",), "en/dh": ("z",), "en/s": ("s",),
    "en/z": ("z",), "en/sh": ("sh",), "en/zh": ("j",), "en/hh": ("h",), "en/ch": ("ch",), "en/jh": ("j",),
    "en/m": ("m",), "en/n": ("n",), "en/ng": ("N",), "en/l": ("r",), "en/r": ("r",), "en/w": ("w",),
    "en/y": ("y",),
    # Mandarin initials
    "zh/b": ("b",), "zh/p": ("p",), "zh/m": ("m",), "zh/f": ("f",), "zh/d": ("d",), "zh/t": ("t",),
    "zh/n": ("n",), "zh/l": ("r",), "zh/g": ("g",), "zh/k": ("k",), "zh/h": ("h",), "zh/j": ("j",),
    "zh/q": ("ch",), "zh/x": ("sh",), "zh/zh": ("j",), "zh/ch": ("ch",), "zh/sh": ("sh",), "zh/r": ("r",),
    "zh/z": ("z",), "zh/c": ("ts",), "zh/s": ("s",),
    # Mandarin finals
    "zh/a": ("a",), "zh/o": ("o",), "zh/e": ("o",), "zh/ai": ("a", "i"), "zh/ei": ("e", "i"),
    "zh/ao": ("a", "o"), "zh/ou": ("o", "u"), "zh/an": ("a", "N"), "zh/en": ("e", "N"),
    "zh/ang": ("a", "N"), "zh/eng": ("o", "N"), "zh/ong": ("o", "N"), "zh/er": ("a",), "zh/i": ("i",),
    "zh/ia": ("a",), "zh/ie": ("e",), "zh/iao": ("a", "o"), "zh/iou": ("o", "u"), "zh/ian": ("e", "N"),
    "zh/in": ("i", "N"), "zh/iang": ("a", "N"), "zh/ing": ("i", "N"), "zh/iong": ("o", "N"),
    "zh/u": ("u",), "zh/ua": ("a",), "zh/uo": ("o",), "zh/uai": ("a", "i"), "zh/uei": ("e", "i"),
    "zh/uan": ("a", "N"), "zh/uen": ("e", "N"), "zh/uang": ("a", "N"), "zh/ueng": ("o", "N"),
    "zh/v": ("i",), "zh/ve": ("e",), "zh/van": ("a", "N"), "zh/vn": ("i", "N"), "zh/ir": ("i",),
    "zh/i0": ("u",),
}  # fmt: skip


# --- articulation: the features the nearest known phoneme is chosen by ------------------------------------------

# places of articulation, front to back (distance between places is their difference in this order)
_LABIAL, _LABIODENTAL, _DENTAL, _ALVEOLAR, _POSTALVEOLAR, _RETROFLEX, _ALVEOLOPALATAL, _PALATAL = (
    0,
    1,
    2,
    3,
    4,
    4.5,
    5,
    6,
)
_VELAR, _UVULAR, _GLOTTAL = 7, 8, 9
# consonants by the IPA hint of the inventory: (place, manner, voiced)
_CONSONANTS: dict[str, tuple[float, str, bool]] = {
    "p": (_LABIAL, "stop", False), "b": (_LABIAL, "stop", True), "t": (_ALVEOLAR, "stop", False),
    "d": (_ALVEOLAR, "stop", True), "k": (_VELAR, "stop", False), "g": (_VELAR, "stop", True),
    "ɡ": (_VELAR, "stop", True), "ʔ": (_GLOTTAL, "stop", False),
    "ts": (_ALVEOLAR, "affricate", False), "dz": (_ALVEOLAR, "affricate", True),
    "tɕ": (_ALVEOLOPALATAL, "affricate", False), "dʑ": (_ALVEOLOPALATAL, "affricate", True),
    "tʃ": (_POSTALVEOLAR, "affricate", False), "dʒ": (_POSTALVEOLAR, "affricate", True),
    "ʈʂ": (_RETROFLEX, "affricate", False),
    "ɸ": (_LABIAL, "fricative", False), "f": (_LABIODENTAL, "fricative", False),
    "v": (_LABIODENTAL, "fricative", True), "θ": (_DENTAL, "fricative", False), "ð": (_DENTAL, "fricative", True),
    "s": (_ALVEOLAR, "fricative", False), "z": (_ALVEOLAR, "fricative", True),
    "ʃ": (_POSTALVEOLAR, "fricative", False), "ʒ": (_POSTALVEOLAR, "fricative", True),
    "ʂ": (_RETROFLEX, "fricative", False), "ʐ": (_RETROFLEX, "fricative", True),
    "ɕ": (_ALVEOLOPALATAL, "fricative", False), "ç": (_PALATAL, "fricative", False),
    "x": (_VELAR, "fricative", False), "h": (_GLOTTAL, "fricative", False),
    "m": (_LABIAL, "nasal", True), "n": (_ALVEOLAR, "nasal", True), "ɲ": (_PALATAL, "nasal", True),
    "ŋ": (_VELAR, "nasal", True), "ɴ": (_UVULAR, "nasal", True),
    "ɾ": (_ALVEOLAR, "tap", True), "l": (_ALVEOLAR, "liquid", True), "ɹ": (_ALVEOLAR, "liquid", True),
    "j": (_PALATAL, "glide", True), "w": (_LABIAL, "glide", True), "ɰ": (_VELAR, "glide", True),
}  # fmt: skip
# manners that sound alike cost 1 apart, others 2
_NEAR_MANNERS = [{"stop", "affricate"}, {"affricate", "fricative"}, {"tap", "liquid"}, {"liquid", "glide"}]
# vowels: (height 0 close .. 3 open, backness 0 front .. 2 back, rounded)
_VOWELS: dict[str, tuple[float, float, bool]] = {
    "i": (0, 0, False), "y": (0, 0, True), "ɪ": (0.5, 0, False), "e": (1, 0, False), "ɛ": (2, 0, False),
    "æ": (2.5, 0, False), "a": (3, 1, False), "ɑ": (3, 2, False), "ʌ": (2, 2, False), "ə": (1.5, 1, False),
    "ɝ": (1.5, 1, False), "ɤ": (1, 2, False), "o": (1, 2, True), "ɔ": (2, 2, True), "ʊ": (0.5, 2, True),
    "u": (0, 2, True), "ɯ": (0, 2, False),
}  # fmt: skip
_GLIDE_VOWEL = {"j": "i", "w": "u", "ɰ": "ɯ"}  # a glide sung as a vowel, where a voice has no glides
# how a language itself adapts a sound it lacks, tried in order before the articulatory distance: Japanese
# sings a loanword's v as b (ヴァイオリン is バイオリン), f as h, ts as ch
CONVENTIONS: dict[str, tuple[str, ...]] = {
    "ja/v": ("ja/b",), "ja/f": ("ja/h",), "ja/ts": ("ja/ch", "ja/s"), "ja/z": ("ja/j",), "ja/j": ("ja/z",),
    "ja/ry": ("ja/r",), "ja/hy": ("ja/h",), "ja/cl": ("SP",), "ja/N": ("ja/n", "ja/m"), "ja/w": ("ja/u",),
    "ja/y": ("ja/i",),
}  # fmt: skip
OTHER_LANGUAGE = 0.25  # a same-language phoneme wins a tie
_FAR = 99.0


def _features(symbol: str) -> tuple[str, tuple] | None:
    """("consonant", (place, manner, voiced, palatalised, aspirated)) or ("vowel", (height, backness, rounded))
    from the inventory's IPA hint; None for a symbol with no articulation (SP, AP, ja/cl)."""
    try:
        phone = inventory.get(symbol)
    except KeyError:
        return None
    ipa = phone.ipa.split("/")[0]
    if phone.kind in (inventory.VOWEL,):
        for ch in ipa.lstrip("jwɥ") or ipa:  # a diphthong or a final is read by its first vowel
            if ch in _VOWELS:
                return "vowel", _VOWELS[ch]
        return None
    if phone.kind in (inventory.CONSONANT, inventory.SEMIVOWEL, inventory.NASAL_CODA):
        pal, asp = ipa.endswith("ʲ"), ipa.endswith("ʰ")
        base = ipa.rstrip("ʲʰ")
        if base in _CONSONANTS:
            return "consonant", (*_CONSONANTS[base], pal, asp)
    return None


def _distance(a: str, b: str) -> float:
    fa, fb = _features(a), _features(b)
    if fa is None or fb is None:
        return _FAR
    (ka, xa), (kb, xb) = fa, fb
    if ka == kb == "vowel":
        d = abs(xa[0] - xb[0]) + abs(xa[1] - xb[1]) + 0.5 * (xa[2] != xb[2])
    elif ka == kb == "consonant":
        manner = 0 if xa[1] == xb[1] else 1 if {xa[1], xb[1]} in _NEAR_MANNERS else 2
        d = (
            min(abs(xa[0] - xb[0]), 6) / 3
            + manner
            + (xa[2] != xb[2])
            + 0.5 * (xa[3] != xb[3])
            + 0.3 * (xa[4] != xb[4])
        )
    else:  # a glide and a vowel: where a voice has no glides, y is sung as i and w as u
        glide, vowel = (a, b) if ka == "consonant" else (b, a)
        ipa = inventory.get(glide).ipa
        if ipa not in _GLIDE_VOWEL:
            return _FAR
        return 1.0 + _distance_vowel(_GLIDE_VOWEL[ipa], vowel)
    return d + (OTHER_LANGUAGE if inventory.language_of(a) != inventory.language_of(b) else 0.0)


def _distance_vowel(ipa: str, symbol: str) -> float:
    f = _features(symbol)
    if f is None or f[0] != "vowel":
        return _FAR
    x, y = _VOWELS[ipa], f[1]
    return abs(x[0] - y[0]) + abs(x[1] - y[1]) + 0.5 * (x[2] != y[2])


def nearest_known(symbol: str, known: set[str] | frozenset[str]) -> str | None:
    """The phoneme of ``known`` nearest ``symbol`` in articulation (ties: same language, then by name); a
    closure or a breath the voice lacks becomes a rest (SP) when it knows one. None when nothing is near."""
    if symbol in known:
        return symbol
    for option in CONVENTIONS.get(symbol, ()):
        if option in known:
            return option
    k = inventory.kind(symbol) if symbol in inventory.INVENTORY else None
    if k in (inventory.CLOSURE, inventory.BREATH):
        return inventory.SP if inventory.SP in known else None
    scored = sorted((_distance(symbol, c), c) for c in known if c in inventory.INVENTORY)
    return scored[0][1] if scored and scored[0][0] < _FAR else None


def voice_mapping(
    known: set[str] | frozenset[str], symbols: list[str] | None = None
) -> dict[str, tuple[str, ...]]:
    """What each inventory symbol (or each of ``symbols``) the voice lacks is sung as: ``{symbol: (known, ...)}``
    (a second symbol is a glide/nasal tail); a symbol with nothing near is left out."""
    out: dict[str, tuple[str, ...]] = {}
    for symbol in symbols if symbols is not None else inventory.symbols():
        if symbol in known:
            continue
        target = _sung_as(symbol, known)
        if target:
            out[symbol] = target
    return out


def _sung_as(symbol: str, known: set[str] | frozenset[str]) -> tuple[str, ...] | None:
    language = symbol.split("/")[0] if "/" in symbol else None
    knows_language = language is not None and any(k.startswith(f"{language}/") for k in known)
    via_ja = TO_JA.get(symbol) if not knows_language else None
    if via_ja and any(k.startswith("ja/") for k in known):
        targets = tuple(nearest_known(f"ja/{t}", known) for t in via_ja)
        if all(targets):
            return targets  # type: ignore[return-value]
    target = nearest_known(symbol, known)
    return (target,) if target else None


SUBSTITUTED = "not in this voice's phoneme set"  # the words that mark a substitution warning


def map_to_voice(seq: PhonemeSequence, known: set[str] | frozenset[str]) -> PhonemeSequence:
    """A copy of ``seq`` whose phonemes the voice doesn't know (not in ``known``) are replaced by the nearest
    ones it knows (:func:`voice_mapping`). A language the voice doesn't sing at all gets one note in
    ``warnings`` (an accent); any other substitution gets one warning per phoneme naming where it occurs.
    Phonemes with nothing near are left as they are (the acoustic model then refuses them, naming the phoneme).
    """
    if not known:
        return seq
    out: list[Phoneme] = []
    foreign: set[str] = set()
    places: dict[str, list[str]] = {}
    mapping: dict[str, tuple[str, ...] | None] = {}
    where = {n.index: n.where or f"note {n.index + 1}" for n in seq.notes}
    for p in seq:
        if p.symbol in known:
            out.append(p)
            continue
        if p.symbol not in mapping:
            mapping[p.symbol] = _sung_as(p.symbol, known) if p.symbol in inventory.INVENTORY else None
        target = mapping[p.symbol]
        if not target:
            out.append(p)
            continue
        language = p.symbol.split("/")[0]
        if not any(k.startswith(f"{language}/") for k in known):
            foreign.add(p.language or language)
        else:
            at = where.get(p.note_index, "") if p.note_index is not None else f"{p.start:.2f} s"
            places.setdefault(p.symbol, [])
            if at and at not in places[p.symbol]:
                places[p.symbol].append(at)
        lang_of = [inventory.language_of(t) for t in target]
        if len(target) == 1:
            out.append(dataclasses.replace(p, symbol=target[0], language=lang_of[0] or p.language))
            continue
        head = p.duration * (1 - TAIL_FRACTION)
        out.append(dataclasses.replace(p, symbol=target[0], language=lang_of[0] or p.language, duration=head))
        out.append(
            dataclasses.replace(
                p,
                symbol=target[1],
                language=lang_of[1] or p.language,
                start=p.start + head,
                duration=p.duration - head,
                role=CODA,
            )
        )
    if not foreign and not places:
        return seq
    notes = list(seq.warnings)
    if foreign:
        sung = sorted({inventory.language_of(t) or "" for t in known if "/" in t})
        notes.append(
            f"sung with {'/'.join(_LANGUAGE_NAMES.get(s, s) for s in sung)} phonemes "
            f"(the voice knows no {', '.join(sorted(foreign))} phonemes): expect an accent"
        )
    for symbol, at in places.items():
        notes.append(substitution_warning(symbol, mapping[symbol] or (), at))
    return dataclasses.replace(seq, phonemes=out, warnings=notes)


_LANGUAGE_NAMES = {"ja": "Japanese", "en": "English", "zh": "Mandarin"}
MAX_PLACES = 5


def substitution_warning(symbol: str, target: tuple[str, ...], places: list[str]) -> str:
    """``phoneme 'ja/v' is not in this voice's phoneme set: sung as 'ja/b' (measure 3, note 2; ...)``."""
    shown = "; ".join(places[:MAX_PLACES]) + (
        f"; and {len(places) - MAX_PLACES} more" if len(places) > MAX_PLACES else ""
    )
    return f"phoneme {symbol!r} is {SUBSTITUTED}: sung as {' + '.join(repr(t) for t in target)} ({shown})"


def merge_warnings(warnings: list[str], new: list[str]) -> None:
    """Add ``new`` to ``warnings`` in place, once each; substitution warnings of one phoneme (from several
    phrases) become one, their places joined."""
    for w in new:
        if w in warnings:
            continue
        head, sep, _ = w.partition(" (")
        if SUBSTITUTED in head and sep:
            for i, old in enumerate(warnings):
                if old.partition(" (")[0] == head:
                    warnings[i] = _join_places(old, w)
                    break
            else:
                warnings.append(w)
        else:
            warnings.append(w)


def _join_places(a: str, b: str) -> str:
    head, _, rest_a = a.partition(" (")
    rest_b = b.partition(" (")[2]
    places: list[str] = []
    extra = 0
    for rest in (rest_a, rest_b):
        for item in rest.rstrip(")").split("; "):
            if item.startswith("and ") and item.endswith(" more"):
                extra += int(item.split()[1])
            elif item not in places:
                places.append(item)
    shown = places[:MAX_PLACES]
    more = len(places) - len(shown) + extra
    return f"{head} ({'; '.join(shown)}" + (f"; and {more} more" if more else "") + ")"
