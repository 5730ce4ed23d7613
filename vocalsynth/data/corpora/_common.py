"""What the corpus adapters share: `CorpusError`, skip reasons, audio lookup, label -> symbol conversion,
and turning sung phoneme timings into `NoteLabel`/`PhoneLabel` lists.

Timing convention for every adapter (DiffSinger's, and the score model's): a note starts at the onset of
its first nucleus (vowel, ``ja/N``, ``ja/cl``, ``SP``, ``AP``), so the consonants before it lie at the end
of the previous note's span while keeping their own note's ``note_index``. Notes tile the time they cover
(each ends where the next starts). A slurred note (``slur=True``) gets one phoneme of its own, the held
vowel, so every sung note has at least one phoneme.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from vocalsynth.data.items import NoteLabel, PhoneLabel
from vocalsynth.score.errors import ScoreError

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg")

# reasons an item is left out; preprocess reports them by these names
MISSING_AUDIO = "missing audio"
BAD_LABELS = "bad labels"
CORRUPT = "corrupt"
SILENT = "silent"
CLIPPED = "clipped"
TOO_SHORT = "too short"
LENGTH_MISMATCH = "label/audio length mismatch"
DUPLICATE = "duplicate id"
FAILED = "failed"
EMPTY = "empty"
TOO_LONG = "too long"
LOW_RATE = "sample rate too low"
CHANNELS_DIFFER = "channels differ"
MISLABELLED = "mislabelled"

SkipFn = Callable[[str, str, str], None]
"""``skip(item_id, reason, detail)``: how an adapter reports one bad item and moves on."""

SP = "SP"
AP = "AP"
_JA_NUCLEI = frozenset({"a", "i", "u", "e", "o", "N", "cl"})
# rests and breaths as HTS/NNSVS, PJS and DiffSinger labels write them
_SPECIAL = {"pau": SP, "sil": SP, "sp": SP, "<SP>": SP, "SP": SP, "br": AP, "<AP>": AP, "AP": AP}


class CorpusError(ScoreError):
    """A corpus folder, a label file or a corpus option that can't be used; names the file and the place."""


def report(skip: SkipFn | None, item_id: str, reason: str, detail: str, *, source: str) -> None:
    """Hand one bad item to ``skip``; without a ``skip`` the adapter is strict and raises."""
    if skip is None:
        raise CorpusError(f"{reason}: {detail}", source=source, where=item_id)
    skip(item_id, reason, detail)


def find_audio(root: Path) -> dict[str, Path]:
    """``{file stem: path}`` of every audio file under ``root`` (WAV preferred over FLAC over OGG)."""
    rank = {ext: i for i, ext in enumerate(AUDIO_EXTENSIONS)}
    found: dict[str, Path] = {}
    for path in sorted(root.rglob("*")):
        ext = path.suffix.lower()
        if ext not in rank or path.name.startswith(".") or not path.is_file():
            continue
        old = found.get(path.stem)
        if old is None or rank[ext] < rank[old.suffix.lower()]:
            found[path.stem] = path
    return found


def audio_seconds(path: Path) -> float | None:
    """Length of an audio file from its header, or None when it is missing or unreadable."""
    import soundfile as sf

    try:
        info = sf.info(str(path))
    except Exception:  # a missing or corrupt file: preprocess reports it with the real reason
        return None
    return info.frames / info.samplerate if info.samplerate else None


# --- symbols ------------------------------------------------------------------------------------------


def tag(symbol: str, language: str) -> str:
    """A corpus phoneme -> an inventory symbol: rests/breaths untagged, tagged symbols kept, others tagged."""
    if symbol in _SPECIAL:
        return _SPECIAL[symbol]
    if "/" in symbol:
        return symbol
    return f"{language}/{symbol}"


def hts_symbol(phone: str) -> str:
    """An HTS/NNSVS Japanese phone -> symbol: ``pau``/``sil`` -> SP, ``br`` -> AP, ``cl`` -> ja/cl, ``N`` -> ja/N.

    OpenJTalk writes devoiced vowels in capitals (``U``); they are sung as the vowel.
    """
    if phone in _SPECIAL:
        return _SPECIAL[phone]
    if phone in ("A", "I", "U", "E", "O"):
        phone = phone.lower()
    return f"ja/{phone}"


def pjs_symbols(label: str) -> list[str]:
    """A PJS label -> symbols: ``jp_ky-o`` -> [ja/ky, ja/o], ``jp_n``/``jp_N`` (ん) -> [ja/N], ``<SP>`` -> [SP]."""
    if label in _SPECIAL:
        return [_SPECIAL[label]]
    if not label.startswith("jp_") or len(label) == 3:
        raise ValueError(f"label {label!r} is neither jp_<phonemes> nor <SP>")
    body = label[3:]
    if body in ("n", "N"):  # a lone n is the moraic nasal; n before a vowel is written jp_n-a
        return ["ja/N"]
    parts = body.split("-")
    if any(not p for p in parts):
        raise ValueError(f"label {label!r} has an empty phoneme")
    return [hts_symbol(p) for p in parts]


def is_nucleus(symbol: str) -> bool:
    """Whether a symbol carries its note's onset: vowels, ja/N, ja/cl, SP, AP (see the module docstring)."""
    if symbol in (SP, AP):
        return True
    lang, _, name = symbol.partition("/")
    if lang == "ja":
        return name in _JA_NUCLEI
    try:  # other languages: ask the inventory, which knows their vowels
        from vocalsynth.text.inventory import is_nucleus as inventory_is_nucleus

        return bool(inventory_is_nucleus(symbol))
    except Exception:
        return False


_NOTE_NAME = re.compile(r"^([A-Ga-g])([#b]?)(-?\d+)(?:([+-]\d+))?$")
_STEP = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11}


def note_number(name: str) -> int | None:
    """``C4`` -> 60, ``Db4``/``C#4`` -> 61, ``A4+30`` (cents) -> 69; None when it isn't a note name."""
    m = _NOTE_NAME.match(name.strip())
    if not m:
        return None
    letter, accidental, octave, cents = m.groups()
    midi = 12 * (int(octave) + 1) + _STEP[letter.lower()] + {"#": 1, "b": -1, "": 0}[accidental]
    if cents:
        midi += round(int(cents) / 100)
    return midi if 0 <= midi <= 127 else None


def midi_from_hz(hz: float) -> int:
    from vocalsynth.audio.pitch import hz_to_midi

    return round(float(hz_to_midi(hz)))


# --- sung timings -> labels ------------------------------------------------------------------------


@dataclass
class SungNote:
    """A note as a label file gives it: pitch (None rest, -1 unknown yet), slur flag, and its phones
    ``(symbol, start, end)`` in sung time."""

    pitch: int | None
    phones: list[tuple[str, float, float]] = field(default_factory=list)
    slur: bool = False

    @property
    def is_rest(self) -> bool:
        return self.pitch is None

    def onset(self) -> float:
        for symbol, start, _ in self.phones:
            if is_nucleus(symbol):
                return start
        return self.phones[0][1]


def merge_rests(notes: Iterable[SungNote]) -> list[SungNote]:
    """Join consecutive rest notes (``pau`` then ``sil``, or a breath between pauses) into one."""
    out: list[SungNote] = []
    for n in notes:
        if out and n.is_rest and out[-1].is_rest:
            out[-1].phones.extend(n.phones)
        else:
            out.append(n)
    return out


def labels_from_sung(
    notes: Sequence[SungNote], end: float | None = None
) -> tuple[list[NoteLabel], list[PhoneLabel]]:
    """Notes tiling the time from the first onset (each ending at the next onset, the last at ``end`` or its
    last phone) and phonemes carrying their note index, per the module's timing convention."""
    notes = [n for n in notes if n.phones]
    onsets = [n.onset() for n in notes]
    note_labels: list[NoteLabel] = []
    phone_labels: list[PhoneLabel] = []
    for i, n in enumerate(notes):
        if i + 1 < len(notes):
            stop = onsets[i + 1]
        else:
            stop = max(n.phones[-1][2], end if end is not None else 0.0)
        pitch = None if n.pitch is None or n.pitch < 0 else int(n.pitch)
        note_labels.append(NoteLabel(pitch=pitch, start=onsets[i], end=max(stop, onsets[i]), slur=n.slur))
        phone_labels.extend(PhoneLabel(symbol=s, start=a, end=b, note_index=i) for s, a, b in n.phones)
    return note_labels, phone_labels
