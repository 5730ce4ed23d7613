"""The parts of `vocalsynth.synth.Synthesizer`: phrases and their cache (``phrases``), joining phrase audio
(``rendering``), the score-conformance report (``conformance``), the AI-generated label (``labels``) and the
``sing``/``voices`` command-line verbs (``cli``).

Names load on first use, so ``from vocalsynth.synthesis import read_label`` does not import torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vocalsynth._lazy import lazy_exports

_EXPORTS = {
    "Synthesizer": "vocalsynth.synth",
    "Rendering": "vocalsynth.synthesis.rendering",
    "AudioChunk": "vocalsynth.synthesis.rendering",
    "SungPhoneme": "vocalsynth.synthesis.rendering",
    "ConformanceReport": "vocalsynth.synthesis.conformance",
    "NoteConformance": "vocalsynth.synthesis.conformance",
    "read_label": "vocalsynth.synthesis.labels",
    "label_metadata": "vocalsynth.synthesis.labels",
    "Phrase": "vocalsynth.synthesis.phrases",
    "split_phrases": "vocalsynth.synthesis.phrases",
}

__all__ = [
    "AudioChunk",
    "ConformanceReport",
    "NoteConformance",
    "Phrase",
    "Rendering",
    "SungPhoneme",
    "Synthesizer",
    "label_metadata",
    "read_label",
    "split_phrases",
]

if TYPE_CHECKING:
    from vocalsynth.synth import Synthesizer
    from vocalsynth.synthesis.conformance import ConformanceReport, NoteConformance
    from vocalsynth.synthesis.labels import label_metadata, read_label
    from vocalsynth.synthesis.phrases import Phrase, split_phrases
    from vocalsynth.synthesis.rendering import AudioChunk, Rendering, SungPhoneme


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
