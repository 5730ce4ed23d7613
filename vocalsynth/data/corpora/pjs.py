"""PJS (phoneme-balanced Japanese singing corpus) adapter: ``metadata.json`` + ``flac/`` (or ``wav/``).

The metadata holds one entry per song with one label per note (``jp_ky-o``, ``<SP>``), MIDI pitch,
note type (1 rest, 2 note, 3 slurred) and MIDI durations -- the score, not the sung timing. The notes are
placed back to back from the first voiced frame of the metadata's 20 ms F0 track (the recordings open with
1.7-5 s of silence), stretched to end at its last voiced frame when that is a small correction, and the items
are marked ``aligned=False`` so preprocessing hands them to the aligner.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from vocalsynth.data.corpora._common import (
    BAD_LABELS,
    SP,
    CorpusError,
    SkipFn,
    audio_seconds,
    find_audio,
    is_nucleus,
    pjs_symbols,
    report,
)
from vocalsynth.data.items import CorpusItem, NoteLabel, PhoneLabel

NAME = "pjs"
LICENCE = "CC BY-SA 4.0 (as stated by third-party sources)"
LANGUAGE = "ja"
SINGER = "pjs"
DESCRIPTION = (
    "PJS v1.1 (Koguchi, Takamichi, Morise, 2020): one professional female Japanese singer, short original "
    "songs; metadata.json (note labels, MIDI durations, 20 ms F0) + flac/<name>_song.flac. Score timings "
    "only: needs alignment."
)

F0_FRAME = 0.02  # seconds per value of the metadata's f0 track
ONSET_SECONDS = 0.06  # first guess for a consonant before its note; the aligner replaces it
MAX_ONSET_SHARE = 0.4  # onset consonants take at most this share of the previous note
MIN_SUNG_HZ = 60.0
MIN_RUN = 5  # frames (0.1 s) of voicing that count as singing
_STRETCH_RANGE = (0.8, 1.25)  # trust the last voiced frame only for a modest tempo correction


def _fields(entry: dict, key: str) -> list[str]:
    value = entry.get(key)
    if not isinstance(value, str):
        raise ValueError(f"field {key!r} is missing or not a string")
    return value.split()


def _parse(entry: dict) -> tuple[list[tuple[list[str], int | None, bool, float]], list[float]]:
    """``(notes, f0)``: each note ``(symbols, pitch or None, slur, score seconds)``; raises ValueError."""
    labels = _fields(entry, "phoneme")
    durs = _fields(entry, "duration")
    pitches = _fields(entry, "note_pitch")
    types = _fields(entry, "note_type")
    if not len(labels) == len(durs) == len(pitches) == len(types):
        raise ValueError(
            f"phoneme/duration/note_pitch/note_type have {len(labels)}/{len(durs)}/{len(pitches)}/{len(types)} "
            "values; they must match (one per note)"
        )
    if not labels:
        raise ValueError("no notes")
    notes: list[tuple[list[str], int | None, bool, float]] = []
    for i, (label, dur, pitch, kind) in enumerate(zip(labels, durs, pitches, types, strict=True)):
        where = f"note {i + 1} ({label})"
        try:
            seconds, midi, note_type = float(dur), int(pitch), int(kind)
        except ValueError:
            raise ValueError(
                f"{where}: duration {dur!r}, pitch {pitch!r} or type {kind!r} is not a number"
            ) from None
        if not seconds > 0:
            raise ValueError(f"{where}: duration {dur} is not positive")
        try:
            symbols = pjs_symbols(label)
        except ValueError as e:
            raise ValueError(f"{where}: {e}") from None
        if note_type == 1 or symbols == [SP]:
            notes.append(([SP], None, False, seconds))
        elif note_type in (2, 3):
            if not 0 < midi < 128:
                raise ValueError(f"{where}: note_pitch {midi} is not a MIDI note")
            slur = note_type == 3 and bool(notes) and notes[-1][1] is not None
            # a slurred note holds the previous syllable's vowel: its phoneme is that vowel alone
            notes.append(([symbols[-1]] if slur else symbols, midi, slur, seconds))
        else:
            raise ValueError(f"{where}: note_type {note_type} is not 1 (rest), 2 (note) or 3 (slur)")
    try:
        f0 = [float(v) for v in entry.get("f0", "").split()]
    except ValueError:
        raise ValueError("f0 holds a value that is not a number") from None
    return notes, f0


def _voiced_span(f0: list[float]) -> tuple[float, float] | None:
    """First and last time of sustained singing: runs of voiced frames long enough to be a note, at a
    pitch a voice can sing (the track holds stray 40 Hz frames in the leading silence of some songs)."""
    voiced = [v >= MIN_SUNG_HZ for v in f0]
    starts = [i for i in range(len(voiced) - MIN_RUN + 1) if all(voiced[i : i + MIN_RUN])]
    if not starts:
        return None
    return starts[0] * F0_FRAME, (starts[-1] + MIN_RUN) * F0_FRAME


def place(
    notes: list[tuple[list[str], int | None, bool, float]], start: float, stop: float | None, duration: float
) -> tuple[list[NoteLabel], list[PhoneLabel]]:
    """Rough sung timings: sung notes back to back from ``start`` (stretched to end at ``stop`` when that is a
    small correction), leading/trailing rests filling the recording, onset consonants just before their note."""
    first = next(i for i, n in enumerate(notes) if n[1] is not None)
    last = max(i for i, n in enumerate(notes) if n[1] is not None)
    sung = notes[first : last + 1]
    total = sum(n[3] for n in sung)
    scale = 1.0
    if stop is not None and stop > start:
        ratio = (stop - start) / total
        if _STRETCH_RANGE[0] <= ratio <= _STRETCH_RANGE[1]:
            scale = ratio
    if start + total * scale > duration:  # never run past the recording
        start = max(0.0, duration - total * scale)
        if start + total * scale > duration:
            scale = duration / total
    bounds = [start]
    for n in sung:
        bounds.append(bounds[-1] + n[3] * scale)

    note_labels: list[NoteLabel] = []
    phones: list[tuple[str, float, int]] = []  # (symbol, start, note index); ends come from the next start
    if start > 0:
        note_labels.append(NoteLabel(pitch=None, start=0.0, end=start))
        phones.append((SP, 0.0, 0))
    for k, (symbols, pitch, slur, _) in enumerate(sung):
        a, b = bounds[k], bounds[k + 1]
        index = len(note_labels)
        note_labels.append(NoteLabel(pitch=pitch, start=a, end=b, slur=slur))
        nucleus = next((j for j, s in enumerate(symbols) if is_nucleus(s)), None)
        if nucleus is None:  # a consonant-only mora (devoiced su, pu): the consonants fill the note
            step = (b - a) / len(symbols)
            phones.extend((s, a + j * step, index) for j, s in enumerate(symbols))
            continue
        onsets = symbols[:nucleus]
        if onsets:
            room = (a - phones[-1][1]) if phones else a
            length = min(ONSET_SECONDS * len(onsets), MAX_ONSET_SHARE * room)
            phones.extend((s, a - length + j * length / len(onsets), index) for j, s in enumerate(onsets))
        rest = symbols[nucleus:]
        step = (b - a) / len(rest)
        phones.extend((s, a + j * step, index) for j, s in enumerate(rest))
    end = bounds[-1]
    if duration > end + 1e-6:
        note_labels.append(NoteLabel(pitch=None, start=end, end=duration))
        phones.append((SP, end, len(note_labels) - 1))
    final = max(duration, end)
    phone_labels = [
        PhoneLabel(symbol=s, start=t, end=phones[j + 1][1] if j + 1 < len(phones) else final, note_index=i)
        for j, (s, t, i) in enumerate(phones)
    ]
    return note_labels, phone_labels


def items(data_dir: Path, *, skip: SkipFn | None = None) -> Iterator[CorpusItem]:
    """One `CorpusItem` per song in ``data_dir/metadata.json``, audio matched as ``<name>_song`` or ``<name>``.

    A song whose audio is missing still yields an item (preprocessing reports it); malformed metadata
    for a song goes to ``skip`` (or raises `CorpusError` without one).
    """
    data_dir = Path(data_dir)
    meta_path = data_dir / "metadata.json"
    if not meta_path.is_file():
        raise CorpusError(
            "no metadata.json here; expected the PJS layout metadata.json + flac/", source=str(data_dir)
        )
    try:
        entries = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CorpusError(f"can't read as JSON: {e}", source=str(meta_path)) from None
    if not isinstance(entries, list):
        raise CorpusError("expected a JSON list of songs", source=str(meta_path))
    audio = find_audio(data_dir)
    for k, entry in enumerate(entries):
        name = entry.get("name") if isinstance(entry, dict) else None
        if not isinstance(name, str) or not name:
            report(skip, f"entry {k + 1}", BAD_LABELS, "no 'name' field", source=str(meta_path))
            continue
        try:
            notes, f0 = _parse(entry)
            if all(n[1] is None for n in notes):
                raise ValueError("only rests")
        except ValueError as e:
            report(skip, name, BAD_LABELS, str(e), source=str(meta_path))
            continue
        path = audio.get(f"{name}_song") or audio.get(name) or data_dir / "flac" / f"{name}_song.flac"
        span = _voiced_span(f0)
        length = audio_seconds(path)
        if length is None:  # missing/unreadable audio: the F0 track spans the whole recording
            length = len(f0) * F0_FRAME if f0 else sum(n[3] for n in notes)
        start, stop = span if span else (0.0, None)
        note_labels, phone_labels = place(notes, start, stop, length)
        yield CorpusItem(
            id=name,
            corpus=NAME,
            audio_path=str(path),
            language=LANGUAGE,
            singer=SINGER,
            licence=LICENCE,
            notes=note_labels,
            phonemes=phone_labels,
            aligned=False,
        )
