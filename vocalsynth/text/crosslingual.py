"""Sing one language with another's phonemes: map English and Mandarin symbols onto Japanese ones.

A voice trained only on Japanese (the default PJS voice) knows ``ja/*`` phonemes. Each foreign phoneme
becomes its nearest Japanese sound (one symbol, or a vowel plus a short glide/nasal tail for diphthongs
and nasal finals), keeping its place in time, so the score's timing is unchanged. The result has a
Japanese accent by design: consonant clusters and codas are sung as the nearest Japanese consonants,
English vowel contrasts collapse onto a i u e o, Mandarin tones are carried by the melody only.
"""

from __future__ import annotations

import dataclasses

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


def map_to_voice(seq: PhonemeSequence, known: set[str] | frozenset[str]) -> PhonemeSequence:
    """A copy of ``seq`` whose phonemes the voice doesn't know (not in ``known``) are replaced by their
    Japanese counterparts, when the voice knows those. Phonemes with no counterpart are left as they are
    (the acoustic model then refuses them, naming the phoneme). The mapping is noted in ``warnings``."""
    out: list[Phoneme] = []
    mapped: set[str] = set()
    for p in seq:
        target = TO_JA.get(p.symbol) if p.symbol not in known else None
        if not target or any(f"ja/{t}" not in known for t in target):
            out.append(p)
            continue
        mapped.add(p.language or p.symbol.split("/")[0])
        if len(target) == 1:
            out.append(dataclasses.replace(p, symbol=f"ja/{target[0]}", language="ja"))
            continue
        head = p.duration * (1 - TAIL_FRACTION)
        out.append(dataclasses.replace(p, symbol=f"ja/{target[0]}", language="ja", duration=head))
        out.append(
            dataclasses.replace(
                p,
                symbol=f"ja/{target[1]}",
                language="ja",
                start=p.start + head,
                duration=p.duration - head,
                role=CODA,
            )
        )
    if not mapped:
        return seq
    note = f"sung with Japanese phonemes (the voice knows no {', '.join(sorted(mapped))} phonemes): expect an accent"
    return dataclasses.replace(seq, phonemes=out, warnings=[*seq.warnings, note])
