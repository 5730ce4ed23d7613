"""Lyrics -> phonemes: the phoneme inventory, G2P for en/ja/zh, and the rule-based note alignment.

from vocalsynth.text import phonemize_score
seq = phonemize_score(score)          # a PhonemeSequence
print(seq.table())
"""

from vocalsynth.text.errors import G2PError
from vocalsynth.text.inventory import AP, INVENTORY, SP, Phone, pjs_to_symbols
from vocalsynth.text.phonemize import g2p, phonemize_score
from vocalsynth.text.sequence import NoteInfo, Phoneme, PhonemeSequence

__all__ = [
    "AP",
    "INVENTORY",
    "SP",
    "G2PError",
    "NoteInfo",
    "Phone",
    "Phoneme",
    "PhonemeSequence",
    "g2p",
    "phonemize_score",
    "pjs_to_symbols",
]
