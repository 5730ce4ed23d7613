"""Corpus adapters: one module per corpus layout, each turning a folder into `CorpusItem`s; the registry.

Every adapter has ``items(data_dir, *, skip=None, **options) -> Iterator[CorpusItem]``: the data path always
comes from the caller; ``skip(item_id, reason, detail)`` receives items it can't read (without it the adapter
raises `CorpusError`). Phoneme symbols are the inventory's (``ja/ky``, ``SP``, ``AP``); the timing
convention is in :mod:`vocalsynth.data.corpora._common`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from vocalsynth.data.corpora import derived, diffsinger, folder, nnsvs, pjs, vocadito
from vocalsynth.data.corpora._common import (
    BAD_LABELS,
    CHANNELS_DIFFER,
    CLIPPED,
    CORRUPT,
    DUPLICATE,
    EMPTY,
    FAILED,
    LENGTH_MISMATCH,
    LOW_RATE,
    MISLABELLED,
    MISSING_AUDIO,
    SILENT,
    TOO_LONG,
    TOO_SHORT,
    CorpusError,
    SkipFn,
)
from vocalsynth.data.items import CorpusItem

__all__ = [
    "BAD_LABELS",
    "CHANNELS_DIFFER",
    "CLIPPED",
    "CORPORA",
    "CORRUPT",
    "DUPLICATE",
    "EMPTY",
    "FAILED",
    "LENGTH_MISMATCH",
    "LOW_RATE",
    "MISLABELLED",
    "MISSING_AUDIO",
    "SILENT",
    "TOO_LONG",
    "TOO_SHORT",
    "Corpus",
    "CorpusError",
    "SkipFn",
    "get_corpus",
]


def _same(item_id: str) -> str:
    return item_id


@dataclass(frozen=True)
class Corpus:
    """A registered layout: ``items(data_dir, skip=..., **options)``, its licence (None: the user must give
    one), a description, the song an item belongs to (for the train/validation split) and the options
    ``items`` accepts (``language`` for DiffSinger)."""

    name: str
    description: str
    licence: str | None
    items: Callable[..., Iterator[CorpusItem]]
    song_of: Callable[[str], str] = _same
    options: tuple[str, ...] = ()

    def read(
        self, data_dir: Path, *, skip: SkipFn | None = None, **options: str | None
    ) -> Iterator[CorpusItem]:
        """``items`` with only the options this corpus knows (None values dropped)."""
        kwargs = {k: v for k, v in options.items() if k in self.options and v is not None}
        return self.items(Path(data_dir), skip=skip, **kwargs)


CORPORA: dict[str, Corpus] = {
    "pjs": Corpus("pjs", pjs.DESCRIPTION, pjs.LICENCE, pjs.items),
    "nnsvs": Corpus("nnsvs", nnsvs.DESCRIPTION, nnsvs.LICENCE, nnsvs.items),
    "diffsinger": Corpus(
        "diffsinger",
        diffsinger.DESCRIPTION,
        diffsinger.LICENCE,
        diffsinger.items,
        song_of=diffsinger.song_of,
        options=("language",),
    ),
    "vocadito": Corpus("vocadito", vocadito.DESCRIPTION, vocadito.LICENCE, vocadito.items),
    "folder": Corpus("folder", folder.DESCRIPTION, folder.LICENCE, folder.items),
    "derived": Corpus("derived", derived.DESCRIPTION, derived.LICENCE, derived.items),
}


def get_corpus(name: str) -> Corpus:
    """The registered corpus ``name``; `CorpusError` lists the known ones otherwise."""
    try:
        return CORPORA[name]
    except KeyError:
        raise CorpusError(f"unknown corpus {name!r}; known: {', '.join(CORPORA)}") from None
