"""NNSVS / NIT-SONG070-style adapter: hand-aligned HTS labels (full-context or mono) + audio matched by name.

Label lines are ``start end context`` in 100 ns units (seconds when the times have a decimal point); the
phoneme is the field between ``-`` and ``+`` of a full context, or the whole third field of a mono label.
Note pitch comes from the full context's ``/E:`` field (absolute pitch such as ``C4``); mono labels, and notes
whose context has none, take the median F0 of the recording over the note (WORLD DIO). Phones group into
notes by syllable (consonants join the next nucleus, ``cl`` the previous note unless its note differs).
Label folders whose path mentions ``score`` hold musical, not sung, timings and are ignored.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from vocalsynth.data.corpora._common import (
    AP,
    BAD_LABELS,
    MISSING_AUDIO,
    SP,
    CorpusError,
    SkipFn,
    SungNote,
    audio_seconds,
    find_audio,
    hts_symbol,
    is_nucleus,
    labels_from_sung,
    merge_rests,
    midi_from_hz,
    note_number,
    report,
)
from vocalsynth.data.items import CorpusItem

NAME = "nnsvs"
LICENCE = "CC BY 3.0"
LANGUAGE = "ja"
DESCRIPTION = (
    "NNSVS/NIT-SONG070 layout: hand-aligned HTS full-context or mono .lab files (100 ns units) and WAV/FLAC "
    "audio of the same name anywhere below the folder. Licence CC BY 3.0 is NIT-SONG070's; pass --licence "
    "for another corpus in this layout."
)

_UNKNOWN = -1  # a sung note whose pitch the label doesn't give (filled from F0)
_PHONE = re.compile(r"^(?:[^@/]*@)?[^\^/]*\^[^-/]*-([^+/]+)\+")
_PHONE_LOOSE = re.compile(r"-([^+\-/]+)\+")
_E_PITCH = re.compile(r"/E:([^\]/]+)\]")
_LINE = re.compile(r"^\s*(\d+(?:\.\d*)?)\s+(\d+(?:\.\d*)?)\s+(\S+)\s*$")


def _singer(stem: str, data_dir: Path) -> str:
    m = re.search(r"(song\d+)_(f\d+|m\d+)", stem)
    return f"nit_{m.group(1)}_{m.group(2)}" if m else data_dir.name


def label_files(data_dir: Path) -> dict[str, Path]:
    """``{stem: label path}``, a full-context label preferred over a mono one of the same name."""
    found: dict[str, tuple[bool, Path]] = {}
    for path in sorted(data_dir.rglob("*.lab")):
        rel = path.relative_to(data_dir).as_posix().lower()
        if "score" in rel or not path.is_file():
            continue
        try:
            with path.open(encoding="utf-8", errors="replace") as f:
                head = f.readline()
        except OSError:
            head = ""
        full = "+" in head and "-" in head and ("/A:" in head or "@" in head)
        old = found.get(path.stem)
        if old is None or (full and not old[0]):
            found[path.stem] = (full, path)
    return {stem: p for stem, (_, p) in found.items()}


def parse_lab(text: str) -> list[tuple[str, float, float, int | None]]:
    """Lines of a label -> ``(symbol, start s, end s, note pitch)``; pitch None for mono labels or 'xx'.

    Raises ValueError naming the line for malformed lines, times going backwards or an unknown context.
    """
    out: list[tuple[str, float, float, int | None]] = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        m = _LINE.match(line)
        if not m:
            raise ValueError(f"line {n}: expected 'start end phoneme-or-context', got {line[:60]!r}")
        a, b, ctx = m.groups()
        scale = 1.0 if "." in a or "." in b else 1e-7
        start, end = float(a) * scale, float(b) * scale
        if end < start:
            raise ValueError(f"line {n}: ends ({end:.3f} s) before it starts ({start:.3f} s)")
        if out and start < out[-1][2] - 1e-4:
            raise ValueError(
                f"line {n}: starts at {start:.3f} s, before the previous phone ends ({out[-1][2]:.3f} s)"
            )
        pitch: int | None = None
        if "+" in ctx and "-" in ctx:
            pm = _PHONE.match(ctx) or _PHONE_LOOSE.search(ctx)
            if not pm:
                raise ValueError(f"line {n}: no phoneme between '-' and '+' in the context")
            phone = pm.group(1)
            em = _E_PITCH.search(ctx)
            if em and em.group(1) != "xx":
                pitch = note_number(em.group(1))
                if pitch is None:
                    raise ValueError(f"line {n}: /E: pitch {em.group(1)!r} is not a note name")
        else:
            phone = ctx
        out.append((hts_symbol(phone), start, end, pitch))
    if not out:
        raise ValueError("no labels")
    return out


def group_notes(phones: list[tuple[str, float, float, int | None]]) -> list[SungNote]:
    """Phones -> notes: a consonant waits for the next nucleus, each vowel/ja/N opens a note, ja/cl joins
    the open note (unless its context names another note), SP/AP are rests."""
    notes: list[SungNote] = []
    pending: list[tuple[str, float, float]] = []
    pending_pitch: int | None = None
    for symbol, start, end, pitch in phones:
        phone = (symbol, start, end)
        if symbol in (SP, AP):
            if pending:
                notes.append(SungNote(_UNKNOWN if pending_pitch is None else pending_pitch, pending))
                pending = []
            notes.append(SungNote(None, [phone]))
            continue
        if not is_nucleus(symbol):
            if not pending:
                pending_pitch = pitch
            pending.append(phone)
            continue
        current = notes[-1] if notes and not notes[-1].is_rest else None
        joins = (
            symbol == "ja/cl"
            and current is not None
            and not pending
            and (pitch is None or current.pitch in (pitch, _UNKNOWN))
        )
        if joins:
            current.phones.append(phone)
        else:
            notes.append(SungNote(_UNKNOWN if pitch is None else pitch, [*pending, phone]))
            pending = []
    if pending:  # trailing consonants with no vowel after them: a consonant-only note of their own
        notes.append(SungNote(_UNKNOWN if pending_pitch is None else pending_pitch, pending))
    return merge_rests(notes)


def _fill_pitch_from_f0(notes: list[SungNote], audio: Path) -> None:
    """Give each note of unknown pitch the rounded median F0 over its phones (else its neighbour's)."""
    import numpy as np

    from vocalsynth.audio import AudioConfig, load_audio
    from vocalsynth.audio.world import raw_f0

    # 16 kHz and DIO: the note's median pitch needs no more, and it keeps listing the corpus fast
    config = AudioConfig(sample_rate=16000, fmax=8000.0)
    f0 = raw_f0(load_audio(audio, config), config, "dio")
    fps = config.frames_per_second
    for n in notes:
        if n.pitch != _UNKNOWN:
            continue
        nuclei = [p for p in n.phones if is_nucleus(p[0])] or n.phones
        a, b = int(nuclei[0][1] * fps), int(np.ceil(nuclei[-1][2] * fps))
        voiced = f0[a:b][f0[a:b] > 0]
        if voiced.size:
            n.pitch = midi_from_hz(float(np.median(voiced)))
    sung = [n for n in notes if not n.is_rest]
    for i, n in enumerate(sung):
        if n.pitch == _UNKNOWN:
            known = [m.pitch for m in sung[i + 1 :] + sung[:i][::-1] if m.pitch != _UNKNOWN]
            n.pitch = known[0] if known else _UNKNOWN


def items(data_dir: Path, *, skip: SkipFn | None = None) -> Iterator[CorpusItem]:
    """One `CorpusItem` per label file under ``data_dir``, hand-aligned (``aligned=True``).

    A label without audio still yields an item pointing at ``wav/<stem>.wav`` (preprocessing reports the
    missing audio), except a mono label, which needs the audio for its pitch and is reported here.
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise CorpusError("not a folder", source=str(data_dir))
    labels = label_files(data_dir)
    if not labels:
        raise CorpusError(
            "no .lab label files found below this folder (NNSVS/HTS layout)", source=str(data_dir)
        )
    audio = find_audio(data_dir)
    for stem, lab in sorted(labels.items()):
        try:
            phones = parse_lab(lab.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as e:
            report(skip, stem, BAD_LABELS, str(e), source=str(lab))
            continue
        notes = group_notes(phones)
        path = audio.get(stem) or data_dir / "wav" / f"{stem}.wav"
        if any(n.pitch == _UNKNOWN for n in notes):
            if not path.is_file():
                report(
                    skip,
                    stem,
                    MISSING_AUDIO,
                    f"no audio named {stem}.* (needed for the note pitch)",
                    source=str(lab),
                )
                continue
            try:
                _fill_pitch_from_f0(notes, path)
            except Exception as e:  # a corrupt file: say so here, this item can't be labelled without it
                report(skip, stem, BAD_LABELS, f"can't take note pitch from the audio: {e}", source=str(lab))
                continue
            if any(n.pitch == _UNKNOWN for n in notes):
                report(skip, stem, BAD_LABELS, "no voiced frame to take a note pitch from", source=str(lab))
                continue
        note_labels, phone_labels = labels_from_sung(
            notes, end=audio_seconds(path) if path.is_file() else None
        )
        yield CorpusItem(
            id=stem,
            corpus=NAME,
            audio_path=str(path),
            language=LANGUAGE,
            singer=_singer(stem, data_dir),
            licence=LICENCE,
            notes=note_labels,
            phonemes=phone_labels,
            aligned=True,
        )
