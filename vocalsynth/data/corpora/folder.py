"""Folder adapter: every WAV/FLAC/OGG file below a folder, for vocoder-only data (no notes, no phonemes).

It knows nothing about the recordings' licence: preprocessing needs ``--licence`` (or ``--allow-unlicensed``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from vocalsynth.data.corpora._common import AUDIO_EXTENSIONS, CorpusError, SkipFn
from vocalsynth.data.items import CorpusItem

NAME = "folder"
LICENCE: str | None = None
DESCRIPTION = "Any folder of WAV/FLAC/OGG audio (searched recursively), for vocoder training: no labels."


def items(data_dir: Path, *, skip: SkipFn | None = None) -> Iterator[CorpusItem]:
    """One `CorpusItem` per audio file; its id is the path below ``data_dir`` without the extension."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise CorpusError("not a folder", source=str(data_dir))
    files = find_audio_by_path(data_dir)
    if not files:
        raise CorpusError("no .wav, .flac or .ogg files below this folder", source=str(data_dir))
    for item_id, path in files:
        yield CorpusItem(
            id=item_id,
            corpus=NAME,
            audio_path=str(path),
            language="und",
            singer=data_dir.resolve().name or NAME,
            licence=LICENCE or "",
            aligned=False,
        )


def find_audio_by_path(data_dir: Path) -> list[tuple[str, Path]]:
    """``(id, path)`` of every audio file, ids being relative paths without extension, WAV preferred over
    FLAC over OGG when one name has several; sorted by id. Hidden files and folders are left out."""
    rank = {ext: i for i, ext in enumerate(AUDIO_EXTENSIONS)}
    out: dict[str, Path] = {}
    for path in data_dir.rglob("*"):
        rel = path.relative_to(data_dir)
        if path.suffix.lower() not in rank or any(p.startswith(".") for p in rel.parts) or not path.is_file():
            continue
        key = rel.with_suffix("").as_posix()
        old = out.get(key)
        if old is None or rank[path.suffix.lower()] < rank[old.suffix.lower()]:
            out[key] = path
    return sorted(out.items())
