"""The base of every error vocalsynth raises for bad input: the message names the input and the place."""

from __future__ import annotations


class InputError(ValueError):
    """Input (a score, an audio file, a corpus, a voice) that can't be used.

    ``str(error)`` reads ``source: where: what``, e.g.
    ``song.musicxml: measure 12, note 3: lyric missing for a note that is not slurred``.
    """

    def __init__(self, message: str, *, source: str | None = None, where: str | None = None):
        self.source = source
        self.where = where
        self.detail = message
        parts = [p for p in (source, where) if p]
        super().__init__(": ".join([*parts, message]))
