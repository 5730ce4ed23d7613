"""The acoustic model: `PhonemeSequence` -> `Frames` (mel, F0, voicing, phoneme timing), with `Controls`.

One module a concept: ``encoder`` (phonemes in their notes), ``duration`` (durations, length regulator),
``context`` (roles, note spans, placement inside notes), ``pitch`` (deviation + vibrato), ``variance``
(energy, breathiness), ``decoder`` (mel), ``controls``, ``frames`` (the output seam), ``loss``, ``model``.

    model = AcousticModel.load("voices/x/acoustic")
    frames = model.infer(seq, Controls(key_shift=2, vibrato_depth=0.5))
    audio = vocoder(frames.mel_batch(), frames.f0_batch())
"""

from vocalsynth.models.acoustic.controls import Controls
from vocalsynth.models.acoustic.frames import Frames
from vocalsynth.models.acoustic.model import AcousticConfig, AcousticModel, AcousticModelError

__all__ = ["AcousticConfig", "AcousticModel", "AcousticModelError", "Controls", "Frames"]
