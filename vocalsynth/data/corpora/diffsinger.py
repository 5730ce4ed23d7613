"""DiffSinger dataset adapter: ``transcriptions.csv`` (name, ph_seq, ph_dur, ph_num, note_seq, note_dur,
note_slur) + ``wavs/<name>.wav``, hand- or MFA-aligned.

``ph_num`` splits ``ph_seq`` into words that start at their vowel (or SP/AP); the consonants closing a word
are the onset of the next word's note. Each word has one note with ``note_slur`` 0 followed by its slurred
notes; the word's vowel is cut at the slurred notes' starts so each note gets its own phoneme. Phonemes
already tagged (``ja/a``, DiffSinger multi-dictionary style) are kept; others take the ``language`` option.
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
    find_audio,
    note_number,
    report,
    tag,
)
from vocalsynth.data.items import CorpusItem, NoteLabel, PhoneLabel

NAME = "diffsinger"
LICENCE: str | None = None  # the layout says nothing about the recordings' licence: the user must give it
DESCRIPTION = (
    "DiffSinger dataset layout: transcriptions.csv (name, ph_seq, ph_dur, ph_num, note_seq, note_dur, "
    "note_slur) + wavs/<name>.wav. Needs --licence, and --language unless phonemes are tagged (ja/a)."
)
REQUIRED = ("name", "ph_seq", "ph_dur", "ph_num", "note_seq", "note_dur")
_TOLERANCE = 0.05  # seconds the phoneme and note totals may differ by (rounding in the CSV)


def song_of(item_id: str) -> str:
    """Segments of one song share the split: ``song_003`` / ``song-3`` / ``song_seg3`` -> ``song``."""
    m = re.match(r"^(.+?)[_-](?:seg)?\d+$", item_id)
    return m.group(1) if m else item_id


def _root(data_dir: Path) -> Path:
    for root in (data_dir, data_dir / "raw"):
        if (root / "transcriptions.csv").is_file():
            return root
    raise CorpusError(
        "no transcriptions.csv here (nor in raw/); expected the DiffSinger layout", source=str(data_dir)
    )


def _numbers(row: dict, key: str, kind: type) -> list:
    try:
        return [kind(v) for v in (row.get(key) or "").split()]
    except ValueError:
        raise ValueError(
            f"{key} holds a value that is not a {'number' if kind is float else 'whole number'}"
        ) from None


def parse_row(row: dict, language: str | None) -> tuple[list[NoteLabel], list[PhoneLabel]]:
    """One CSV row -> notes and phonemes; raises ValueError naming the column for inconsistent rows."""
    ph_seq = (row.get("ph_seq") or "").split()
    ph_dur = _numbers(row, "ph_dur", float)
    ph_num = _numbers(row, "ph_num", int)
    note_seq = (row.get("note_seq") or "").split()
    note_dur = _numbers(row, "note_dur", float)
    note_slur = (
        _numbers(row, "note_slur", int) if (row.get("note_slur") or "").strip() else [0] * len(note_seq)
    )
    if not ph_seq or len(ph_seq) != len(ph_dur):
        raise ValueError(f"ph_seq has {len(ph_seq)} phonemes but ph_dur {len(ph_dur)} durations")
    if sum(ph_num) != len(ph_seq) or any(n <= 0 for n in ph_num):
        raise ValueError(
            f"ph_num sums to {sum(ph_num)} (must be positive counts summing to {len(ph_seq)} phonemes)"
        )
    if not note_seq or not len(note_seq) == len(note_dur) == len(note_slur):
        raise ValueError(
            f"note_seq/note_dur/note_slur have {len(note_seq)}/{len(note_dur)}/{len(note_slur)} values"
        )
    if any(d < 0 for d in ph_dur) or any(d <= 0 for d in note_dur):
        raise ValueError("a ph_dur is negative or a note_dur is not positive")
    if abs(sum(ph_dur) - sum(note_dur)) > _TOLERANCE:
        raise ValueError(f"ph_dur totals {sum(ph_dur):.3f} s but note_dur {sum(note_dur):.3f} s")
    words = sum(1 for s in note_slur if not s)
    if words != len(ph_num) or note_slur[0]:
        raise ValueError(f"{len(ph_num)} words (ph_num) but {words} notes not slurred; each word needs one")
    untagged = sorted({p for p in ph_seq if "/" not in p and tag(p, "x").startswith("x/")})
    if untagged and not language:
        raise CorpusError(
            f"phonemes {', '.join(untagged[:5])} are not language-tagged; pass --language (ja, zh, en)"
        )

    notes: list[NoteLabel] = []
    t = 0.0
    for name, dur, slur in zip(note_seq, note_dur, note_slur, strict=True):
        pitch = None if name in ("rest", "r", "R") else note_number(name)
        if pitch is None and name not in ("rest", "r", "R"):
            raise ValueError(f"note_seq value {name!r} is neither a note name (C4, D#4) nor 'rest'")
        notes.append(NoteLabel(pitch=pitch, start=t, end=t + dur, slur=bool(slur)))
        t += dur
    first_note_of_word = [i for i, s in enumerate(note_slur) if not s]

    phonemes: list[PhoneLabel] = []
    k = 0  # phoneme index
    t = 0.0
    for w, count in enumerate(ph_num):
        note = first_note_of_word[w]
        last = first_note_of_word[w + 1] - 1 if w + 1 < len(first_note_of_word) else len(notes) - 1
        onset_of_next = first_note_of_word[w + 1] if w + 1 < len(first_note_of_word) else last
        for j in range(count):
            symbol, a = tag(ph_seq[k], language or ""), t
            b = t + ph_dur[k]
            if j == 0:  # the word's nucleus: cut at its slurred notes
                cuts = [notes[i].start for i in range(note + 1, last + 1) if a < notes[i].start < b]
                edges = [a, *cuts, b]
                for i, (x, y) in enumerate(zip(edges, edges[1:], strict=False)):
                    phonemes.append(PhoneLabel(symbol=symbol, start=x, end=y, note_index=note + i))
            else:  # consonants closing the word begin the next word
                phonemes.append(PhoneLabel(symbol=symbol, start=a, end=b, note_index=onset_of_next))
            t = b
            k += 1
    return notes, phonemes


def items(data_dir: Path, *, skip: SkipFn | None = None, language: str | None = None) -> Iterator[CorpusItem]:
    """One `CorpusItem` per row of ``transcriptions.csv`` (``aligned=True``); audio from ``wavs/``."""
    root = _root(Path(data_dir))
    csv_path = root / "transcriptions.csv"
    try:
        with csv_path.open(encoding="utf-8-sig", newline="") as f:
            reader = csv.DictReader(f)
            rows = list(reader)
            header = [c.strip() for c in reader.fieldnames or []]
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise CorpusError(f"can't read as CSV: {e}", source=str(csv_path)) from None
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise CorpusError(
            f"column(s) {', '.join(missing)} missing (found {', '.join(header) or 'none'}); acoustic-only "
            "transcriptions need ph_num and notes first (MakeDiffSinger's variance labelling)",
            source=str(csv_path),
        )
    audio = find_audio(root / "wavs") if (root / "wavs").is_dir() else {}
    singer = (root.parent.name if root.name == "raw" else root.name) or NAME
    for n, row in enumerate(rows, 2):
        name = (row.get("name") or "").strip()
        if not name:
            report(skip, f"row {n}", BAD_LABELS, "empty name", source=str(csv_path))
            continue
        try:
            notes, phonemes = parse_row(row, language)
        except CorpusError as e:  # a setting the whole corpus needs, not one bad row
            raise CorpusError(e.detail, source=str(csv_path), where=f"row {n} ({name})") from None
        except ValueError as e:
            report(skip, name, BAD_LABELS, f"row {n}: {e}", source=str(csv_path))
            continue
        tagged = [p.symbol.partition("/")[0] for p in phonemes if "/" in p.symbol]
        yield CorpusItem(
            id=name,
            corpus=NAME,
            audio_path=str(audio.get(name) or root / "wavs" / f"{name}.wav"),
            language=language or (tagged[0] if tagged else "und"),
            singer=singer,
            licence=LICENCE or "",
            notes=notes,
            phonemes=phonemes,
            aligned=True,
        )
