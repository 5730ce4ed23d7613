"""Derived-corpus adapter: a folder :mod:`vocalsynth.data.register` wrote (``source.json``, ``items.jsonl``,
``audio/<id>.flac``): recordings moved into another register, with the source's timing and shifted notes.

The items keep the alignment of the cache they came from (``aligned`` as stored), so preprocessing does not
align them again. The singer is ``source.json``'s unless ``--singer`` names another; the licence is the
source recordings', which the user states with ``--licence`` (it travels into the manifest and the card).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from vocalsynth.data.corpora._common import BAD_LABELS, CorpusError, SkipFn, report
from vocalsynth.data.items import CorpusItem

NAME = "derived"
LICENCE: str | None = None  # the source recordings' licence: the user states it (--licence)
DESCRIPTION = (
    "A corpus derived by `python -m vocalsynth.data.register` (register-shifted recordings of a "
    "preprocessed cache): source.json, items.jsonl, audio/. Needs --licence: the source recordings'."
)


def items(data_dir: Path, *, skip: SkipFn | None = None) -> Iterator[CorpusItem]:
    """One `CorpusItem` per line of ``items.jsonl``; audio paths resolved inside the folder."""
    root = Path(data_dir)
    source, listing = root / "source.json", root / "items.jsonl"
    for path in (source, listing):
        if not path.is_file():
            raise CorpusError(
                "missing; not a derived corpus (make one with python -m vocalsynth.data.register)",
                source=str(path),
            )
    try:
        singer = json.loads(source.read_text(encoding="utf-8"))["singer"]
    except (OSError, ValueError, KeyError) as e:
        raise CorpusError(f"can't read the derived corpus' record: {e}", source=str(source)) from None
    with listing.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                item = CorpusItem.from_json(line)
            except (ValueError, TypeError, KeyError) as e:
                report(skip, f"line {n}", BAD_LABELS, f"not a corpus item: {e}", source=str(listing))
                continue
            audio = Path(item.audio_path)
            item.audio_path = str(audio if audio.is_absolute() else root / audio)
            item.corpus, item.singer = NAME, item.singer or singer
            yield item
