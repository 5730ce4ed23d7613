"""The one error type every score reader, writer and validator raises."""

from __future__ import annotations


class ScoreError(ValueError):
    """A score (file or text) that can't be read or sung.

    The message names the input and the place, e.g.
    ``song.musicxml: measure 12, note 3: lyric missing for a note that is not slurred``.
    """

    def __init__(self, message: str, *, source: str | None = None, where: str | None = None):
        self.source = source
        self.where = where
        self.detail = message
        parts = [p for p in (source, where) if p]
        super().__init__(": ".join([*parts, message]))
