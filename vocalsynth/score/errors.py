"""The one error type every score reader, writer and validator raises."""

from __future__ import annotations

from vocalsynth.errors import InputError


class ScoreError(InputError):
    """A score (file or text) that can't be read or sung.

    The message names the input and the place, e.g.
    ``song.musicxml: measure 12, note 3: lyric missing for a note that is not slurred``.
    """
