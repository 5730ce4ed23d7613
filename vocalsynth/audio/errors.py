"""The one error type audio loading, saving and analysis raise for bad input."""

from __future__ import annotations

from vocalsynth.errors import InputError


class AudioError(InputError):
    """Audio (a file, an array or a configuration) that can't be read, written or analysed.

    The message names the input and the place, e.g.
    ``take3.wav: sample 4800 (0.200 s), channel 0: value is NaN``.
    """
