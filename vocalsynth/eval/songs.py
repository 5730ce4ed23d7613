"""The held-out songs an evaluation sings: real recordings with their scores, and a reference alignment of the
recording where one exists.

Songs come from a corpus adapter (:mod:`vocalsynth.data.corpora`): the item's notes and phonemes are its score
(for PJS: the MIDI note lengths laid from the first sung frame; for NNSVS-layout corpora: the hand-labelled
notes). Which songs are held out: those a preprocessed cache marks ``validation`` (the songs the acoustic model
never trained on), explicit song ids, or else the split preprocessing would make (:func:`assign_splits`).
The reference alignment (sung note and phoneme timings of the recording) is the cache's aligned item, or the
corpus item itself when its labels are hand-aligned (NIT-SONG070).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vocalsynth.data.corpora import CorpusError, get_corpus
from vocalsynth.data.corpora._common import AP, SP
from vocalsynth.data.items import CorpusItem
from vocalsynth.score.model import Note, Score, Tempo

SCORE_BPM = 120.0  # beats for the built score (its times are seconds; the tempo only names the beats)


@dataclass
class HeldOutSong:
    """One held-out recording: ``item`` (its score), ``score`` (built from it; ``note_origin[i]`` is the item
    note of score note ``i``, None for a filled-in rest), ``reference`` (the sung timings, or None) and where
    the reference came from (``"aligner (cache)"``, ``"hand labels"``)."""

    item: CorpusItem
    score: Score
    note_origin: list[int | None]
    reference: CorpusItem | None
    reference_source: str | None

    @property
    def id(self) -> str:
        return self.item.id

    def load_audio(self, config) -> np.ndarray:
        from vocalsynth.audio.io import load_audio

        return load_audio(self.item.audio_path, config)


def item_score(item: CorpusItem) -> Score:
    """The `Score` of a corpus item: its notes (rests between them filled in) with the item's phonemes as
    explicit phoneme hints, so the frontend sings exactly the corpus' phonemes; slurred notes hold the vowel
    before. Times are the item's, from 0 s."""
    return build_score(item)[0]


def build_score(item: CorpusItem) -> tuple[Score, list[int | None]]:
    """:func:`item_score` and, for each score note, the item note it came from (None: a filled-in rest)."""
    by_note: dict[int, list[str]] = {}
    for p in item.phonemes:
        by_note.setdefault(p.note_index, []).append(p.symbol)
    notes: list[Note] = []
    origin: list[int | None] = []
    t = 0.0
    spb = 60.0 / SCORE_BPM

    def add(start: float, end: float, pitch: int | None, source: int | None = None, **kw) -> None:
        origin.append(source)
        notes.append(
            Note(
                start=start,
                duration=end - start,
                pitch=pitch,
                start_beat=start / spb,
                duration_beats=(end - start) / spb,
                language=item.language if pitch is not None else None,
                **kw,
            )
        )

    for k, n in enumerate(item.notes):
        if n.end <= n.start:
            raise CorpusError(f"note {k + 1} has no length ({n.start:.3f}-{n.end:.3f} s)", source=item.id)
        if n.start > t + 1e-6:
            add(t, n.start, None)
        start = max(n.start, t)
        where = f"{item.id}: note {k + 1}"
        symbols = [s for s in by_note.get(k, []) if s not in (SP, AP)]
        if n.pitch is None:
            add(start, n.end, None, k, where=where)
        elif n.slur and notes and notes[-1].pitch is not None:
            add(start, n.end, n.pitch, k, slur=True, where=where)
        else:
            if not symbols:
                raise CorpusError("a sung note without phonemes", source=item.id, where=f"note {k + 1}")
            lyric = "".join(s.split("/", 1)[-1] for s in symbols)
            add(start, n.end, n.pitch, k, lyric=lyric, phonemes=symbols, where=where)
        t = n.end
    score = Score(
        notes=notes, tempos=[Tempo(0.0, SCORE_BPM)], title=item.id, language=item.language, source=item.id
    )
    return score, origin


def corpus_folder(data: str | Path, corpus: str) -> Path:
    """``data/<corpus>`` when that is a folder (``--data ../shared/data --corpus pjs``), else ``data`` itself."""
    data = Path(data)
    sub = data / corpus
    return sub if sub.is_dir() else data


def _cache_validation(cache: Path, corpus: str) -> tuple[list[str], dict[str, Path]]:
    """``(held-out item ids, {item id: npz path})`` of ``corpus`` in a preprocessed cache."""
    manifest_path = cache / "manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        entries = [e for e in manifest["items"] if e["corpus"] == corpus]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise CorpusError(f"not a preprocessed cache ({e})", source=str(manifest_path)) from None
    held = [e["id"] for e in entries if e.get("split") == "validation"]
    return held, {e["id"]: cache / e["path"] for e in entries}


def _cached_reference(path: Path) -> tuple[CorpusItem | None, str | None]:
    """``(aligned item, how it was aligned)`` as a cache stored it; ``(None, None)`` when left unaligned."""
    try:
        with np.load(path, allow_pickle=False) as z:
            item = json.loads(str(z["item_json"]))
            meta = json.loads(str(z["meta_json"]))
    except (OSError, ValueError, KeyError) as e:
        raise CorpusError(f"can't read the cached item ({e})", source=str(path)) from None
    how = {"aligner": "aligner (cache)", "hand": "hand labels (cache)"}.get(meta.get("alignment"))
    return (CorpusItem.from_dict(item), how) if how else (None, None)


def held_out_songs(
    corpus: str,
    data: str | Path,
    *,
    cache: str | Path | None = None,
    songs: Sequence[str] | None = None,
    limit: int | None = None,
    fraction: float = 0.05,
    min_songs: int = 10,
) -> list[HeldOutSong]:
    """The held-out songs of ``corpus`` under ``data`` (or ``data/<corpus>``), in corpus order.

    ``songs``: these item ids (any split); else the ``validation`` items of ``cache``; else the songs
    :func:`vocalsynth.data.preprocess.assign_splits` holds out with ``fraction`` and ``min_songs`` (the
    preprocessing defaults). ``limit``: only the first ``limit`` of them. Raises `CorpusError` naming what
    is missing (a song id not in the corpus, no held-out song, an unreadable cache).
    """
    from vocalsynth.data.preprocess import assign_splits

    spec = get_corpus(corpus)
    folder = corpus_folder(data, corpus)
    # items the adapter can't read are left out, as preprocessing leaves them out
    items = {it.id: it for it in spec.read(folder, skip=lambda *_: None)}
    if not items:
        raise CorpusError(f"no {corpus} items found", source=str(folder))
    cached: dict[str, Path] = {}
    if cache is not None:
        held, cached = _cache_validation(Path(cache), corpus)
    if songs:
        missing = [s for s in songs if s not in items]
        if missing:
            raise CorpusError(
                f"song(s) {', '.join(missing)} not in the corpus (it has {', '.join(list(items)[:8])}...)",
                source=str(folder),
            )
        chosen = list(songs)
    elif cache is not None:
        chosen = [i for i in items if i in set(held)]
        if not chosen:
            raise CorpusError(f"the cache holds out no {corpus} item found under {folder}", source=str(cache))
    else:
        by_song: dict[str, list[str]] = {}
        for i in items:
            by_song.setdefault(spec.song_of(i), []).append(i)
        held_songs = assign_splits({corpus: list(by_song)}, fraction, min_songs)[corpus]
        chosen = [i for i in items if spec.song_of(i) in held_songs]
        if not chosen:
            raise CorpusError(
                f"{len(by_song)} song(s) is too few for a held-out split (fewer than {min_songs}); "
                "name the songs to sing or give the preprocessed cache",
                source=str(folder),
            )
    silent = [i for i in chosen if not Path(items[i].audio_path).is_file()]
    if silent and songs:
        raise CorpusError(
            f"no recording for {', '.join(silent)} ({items[silent[0]].audio_path})", source=str(folder)
        )
    chosen = [i for i in chosen if i not in silent]  # labels without audio can't be compared with anything
    if limit is not None:
        chosen = chosen[: max(int(limit), 0)]
    out = []
    for item_id in chosen:
        item = items[item_id]
        reference, source = None, None
        if item_id in cached:
            reference, source = _cached_reference(cached[item_id])
        if reference is None and item.aligned:
            reference, source = item, "hand labels"
        if reference is not None and len(reference.notes) != len(item.notes):
            reference, source = None, None  # an alignment of other notes can't be matched note by note
        score, origin = build_score(item)
        out.append(HeldOutSong(item, score, origin, reference, source))
    return out
