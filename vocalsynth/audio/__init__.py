"""Audio: the one `AudioConfig`, file I/O, log-mel, WORLD F0/voicing/aperiodicity, pitch units, `Features`.

Names load on first use, so `from vocalsynth.audio import hz_to_midi` does not import torch or pyworld.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vocalsynth._lazy import lazy_exports

_EXPORTS = {
    "AudioConfig": "config",
    "AudioConfigMismatch": "config",
    "MEL_FIELDS": "config",
    "AudioError": "errors",
    "load_audio": "io",
    "save_audio": "io",
    "read_audio_metadata": "io",
    "resample": "io",
    "METADATA_FIELDS": "io",
    "MelSpectrogram": "mel",
    "log_mel": "mel",
    "frame_energy_db": "mel",
    "mel_filterbank": "mel",
    "hz_to_midi": "pitch",
    "midi_to_hz": "pitch",
    "cents": "pitch",
    "interpolate_log_f0": "pitch",
    "extract_f0": "world",
    "band_aperiodicity": "world",
    "Features": "features",
    "extract_features": "features",
}

__all__ = [
    "MEL_FIELDS",
    "METADATA_FIELDS",
    "AudioConfig",
    "AudioConfigMismatch",
    "AudioError",
    "Features",
    "MelSpectrogram",
    "band_aperiodicity",
    "cents",
    "extract_f0",
    "extract_features",
    "frame_energy_db",
    "hz_to_midi",
    "interpolate_log_f0",
    "load_audio",
    "log_mel",
    "mel_filterbank",
    "midi_to_hz",
    "read_audio_metadata",
    "resample",
    "save_audio",
]

if TYPE_CHECKING:
    from vocalsynth.audio.config import MEL_FIELDS, AudioConfig, AudioConfigMismatch
    from vocalsynth.audio.errors import AudioError
    from vocalsynth.audio.features import Features, extract_features
    from vocalsynth.audio.io import METADATA_FIELDS, load_audio, read_audio_metadata, resample, save_audio
    from vocalsynth.audio.mel import MelSpectrogram, frame_energy_db, log_mel, mel_filterbank
    from vocalsynth.audio.pitch import cents, hz_to_midi, interpolate_log_f0, midi_to_hz
    from vocalsynth.audio.world import band_aperiodicity, extract_f0


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
