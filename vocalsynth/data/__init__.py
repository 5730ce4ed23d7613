"""Training data: corpus adapters -> `CorpusItem`s -> cached, resumable preprocessing -> PyTorch datasets.

Names load on first use, so importing the package pulls in neither torch nor pyworld.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vocalsynth._lazy import lazy_exports

_EXPORTS = {
    "CorpusItem": "items",
    "NoteLabel": "items",
    "PhoneLabel": "items",
    "CORPORA": "corpora",
    "Corpus": "corpora",
    "CorpusError": "corpora",
    "get_corpus": "corpora",
    "Checks": "preprocess",
    "PreprocessResult": "preprocess",
    "Source": "preprocess",
    "preprocess": "preprocess",
    "BucketBatchSampler": "dataset",
    "FeatureDataset": "dataset",
    "collate": "dataset",
    "compute_stats": "stats",
}

__all__ = [
    "CORPORA",
    "BucketBatchSampler",
    "Checks",
    "Corpus",
    "CorpusError",
    "CorpusItem",
    "FeatureDataset",
    "NoteLabel",
    "PhoneLabel",
    "PreprocessResult",
    "Source",
    "collate",
    "compute_stats",
    "get_corpus",
    "preprocess",
]

if TYPE_CHECKING:
    from vocalsynth.data.corpora import CORPORA, Corpus, CorpusError, get_corpus
    from vocalsynth.data.dataset import BucketBatchSampler, FeatureDataset, collate
    from vocalsynth.data.items import CorpusItem, NoteLabel, PhoneLabel
    from vocalsynth.data.preprocess import Checks, PreprocessResult, Source, preprocess
    from vocalsynth.data.stats import compute_stats


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
