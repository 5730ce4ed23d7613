"""vocadito adapter: ``Audio/vocadito_N.(wav|flac)``, ``vocadito_metadata.csv`` (singer, language) and, where
present, ``Annotations/Notes/vocadito_N_notesA1.csv`` (onset s, F0 Hz, duration s) and
``Annotations/Lyrics/vocadito_N_lyrics.txt``.

The lyrics carry no timing and are in languages the inventory lacks (Tagalog...), so no item has phonemes:
annotated clips give notes (timed from the recording, ``aligned=True``) for pitch statistics and the
vocoder; the rest are audio only.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from pathlib import Path

from vocalsynth.data.corpora._common import (
    BAD_LABELS,
    CorpusError,
    SkipFn,
    audio_seconds,
    find_audio,
    midi_from_hz,
    report,
)
from vocalsynth.data.items import CorpusItem, NoteLabel

NAME = "vocadito"
LICENCE = "CC BY 4.0"
DESCRIPTION = (
    "vocadito (Bittner et al., 2021): solo a-cappella excerpts by several singers and languages; note "
    "annotations (two annotators) for some clips, no timed lyrics: notes and audio only."
)
ANNOTATOR = "A1"
MIN_REST = 0.05  # seconds; shorter gaps between annotated notes are annotation jitter, not rests
_LANGUAGES = {"english": "en", "tagalog": "tl", "spanish": "es", "catalan/valencian": "ca", "catalan": "ca"}
_ID = re.compile(r"^vocadito_(\d+)$")


def _root(data_dir: Path) -> Path:
    for root in (data_dir, data_dir / "vocadito"):
        if (root / "Audio").is_dir():
            return root
    raise CorpusError(
        "no Audio/ folder here (nor in vocadito/); expected the vocadito layout", source=str(data_dir)
    )


def _metadata(root: Path) -> dict[str, dict[str, str]]:
    path = root / "vocadito_metadata.csv"
    if not path.is_file():
        return {}
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            return {row["track_id"].strip(): row for row in csv.DictReader(f) if row.get("track_id")}
    except (OSError, UnicodeDecodeError, csv.Error, KeyError) as e:
        raise CorpusError(f"can't read the track table: {e}", source=str(path)) from None


def read_notes(path: Path, end: float | None) -> list[NoteLabel]:
    """Annotated notes (onset, Hz, duration) with rests filling the gaps up to ``end``; raises ValueError."""
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            onset, hz, dur = (float(v) for v in line.split(",")[:3])
        except ValueError:
            raise ValueError(f"line {n}: expected 'onset,frequency,duration', got {line[:60]!r}") from None
        if onset < 0 or dur <= 0 or hz <= 0:
            raise ValueError(f"line {n}: onset, frequency and duration must be positive")
        rows.append((onset, onset + dur, midi_from_hz(hz)))
    rows.sort()
    notes: list[NoteLabel] = []
    t = 0.0
    for k, (a, b, pitch) in enumerate(rows):
        b = min(b, rows[k + 1][0]) if k + 1 < len(rows) else b  # annotators overlap notes by a few ms
        if a > t + 1e-3:
            if notes and notes[-1].pitch is not None and a - t < MIN_REST:
                notes[-1].end = a  # a breath-less gap between two notes: the earlier note holds on
            else:
                notes.append(NoteLabel(pitch=None, start=t, end=a))
        a = max(a, t)
        if b > a:
            notes.append(NoteLabel(pitch=pitch, start=a, end=b))
            t = b
    if end is not None and end > t + 1e-3:
        notes.append(NoteLabel(pitch=None, start=t, end=end))
    return notes


def items(data_dir: Path, *, skip: SkipFn | None = None) -> Iterator[CorpusItem]:
    """One `CorpusItem` per clip in ``Audio/``; notes from annotator A1 where annotated, no phonemes."""
    root = _root(Path(data_dir))
    meta = _metadata(root)
    for stem, path in sorted(find_audio(root / "Audio").items(), key=lambda kv: (len(kv[0]), kv[0])):
        m = _ID.match(stem)
        track = m.group(1) if m else stem
        row = meta.get(track, {})
        language = (row.get("language") or "").strip()
        notes: list[NoteLabel] = []
        notes_path = root / "Annotations" / "Notes" / f"{stem}_notes{ANNOTATOR}.csv"
        if notes_path.is_file():
            try:
                notes = read_notes(notes_path, audio_seconds(path))
            except (OSError, UnicodeDecodeError, ValueError) as e:
                report(skip, stem, BAD_LABELS, str(e), source=str(notes_path))
                continue
        yield CorpusItem(
            id=stem,
            corpus=NAME,
            audio_path=str(path),
            language=_LANGUAGES.get(language.lower(), language.lower() or "und"),
            singer=f"vocadito_{(row.get('singer_id') or '').strip() or stem}",
            licence=LICENCE,
            notes=notes,
            phonemes=[],
            aligned=bool(notes),
        )
