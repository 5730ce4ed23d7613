"""The one error type every score reader, writer and validator raises."""

from __future__ import annotations

from vocalsynth.errors import InputError

MAX_PART_CHARS = 300  # a message quotes at most this much of whatever a file holds


def _clip(text: str | None) -> str | None:
    if text is None or len(text) <= MAX_PART_CHARS:
        return text
    return (
        f"{text[: MAX_PART_CHARS - 40]} [... {len(text) - MAX_PART_CHARS + 10} characters ...] {text[-30:]}"
    )


class ScoreError(InputError):
    """A score (file or text) that can't be read or sung.

    The message names the input and the place, e.g.
    ``song.musicxml: measure 12, note 3: lyric missing for a note that is not slurred``.
    Each part stays short whatever the file holds: a long quote is cut in the middle.
    """

    def __init__(self, message: str, *, source: str | None = None, where: str | None = None):
        super().__init__(_clip(message), source=_clip(source), where=_clip(where))
