"""`load_vocoder`: a vocoder by name (``"world"``) or from a folder, for the synthesizer and the tools."""

from __future__ import annotations

import os

from vocalsynth.audio.config import AudioConfig
from vocalsynth.models.vocoder.base import Vocoder
from vocalsynth.models.vocoder.kinds import resolve_kind


def load_vocoder(name_or_path: str | os.PathLike, audio_config: AudioConfig | None = None) -> Vocoder:
    """``"world"`` -> a :class:`~vocalsynth.models.vocoder.world.WorldVocoder` (mel-driven, for the given
    ``audio_config`` or the default); anything else is a folder for :meth:`Vocoder.from_pretrained`."""
    if str(name_or_path) == "world":
        world = resolve_kind("world")
        assert world is not None
        return world(audio_config=audio_config)
    return Vocoder.from_pretrained(name_or_path, audio_config=audio_config)
