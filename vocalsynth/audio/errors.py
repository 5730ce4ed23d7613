"""The one error type audio loading, saving and analysis raise for bad input."""

from __future__ import annotations


class AudioError(ValueError):
    """Audio (a file, an array or a configuration) that can't be read, written or analysed.

    The message names the input and the place, e.g.
    ``take3.wav: sample 4800 (0.200 s), channel 0: value is NaN``.
    """

    def __init__(self, message: str, *, source: str | None = None, where: str | None = None):
        self.source = source
        self.where = where
        self.detail = message
        parts = [p for p in (source, where) if p]
        super().__init__(": ".join([*parts, message]))
