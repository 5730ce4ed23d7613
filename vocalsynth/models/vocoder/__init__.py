"""Vocoders: mel + F0 -> audio behind one interface (`Vocoder`): the neural source-filter vocoder
(`SourceFilterVocoder`) and the WORLD baseline (`WorldVocoder`); `load_vocoder` and `vocode` on top.

    from vocalsynth.models.vocoder import load_vocoder
    vocoder = load_vocoder("path/to/vocoder")        # or "world"
    audio = vocoder(mel, f0_hz)                      # (B, n_mels, T), (B, T) -> (B, T * hop)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vocalsynth._lazy import lazy_exports

_EXPORTS = {
    "Vocoder": "base",
    "VocoderError": "base",
    "load_vocoder": "loading",
    "SourceFilterVocoder": "generator",
    "HarmonicNoiseSource": "source",
    "WorldVocoder": "world",
    "world_resynthesis": "world",
    "vocode": "copy_synthesis",
    "copy_synthesize": "copy_synthesis",
}

__all__ = [
    "HarmonicNoiseSource",
    "SourceFilterVocoder",
    "Vocoder",
    "VocoderError",
    "WorldVocoder",
    "copy_synthesize",
    "load_vocoder",
    "vocode",
    "world_resynthesis",
]

if TYPE_CHECKING:
    from vocalsynth.models.vocoder.base import Vocoder, VocoderError
    from vocalsynth.models.vocoder.copy_synthesis import copy_synthesize, vocode
    from vocalsynth.models.vocoder.generator import SourceFilterVocoder
    from vocalsynth.models.vocoder.loading import load_vocoder
    from vocalsynth.models.vocoder.source import HarmonicNoiseSource
    from vocalsynth.models.vocoder.world import WorldVocoder, world_resynthesis


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
