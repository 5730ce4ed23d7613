"""What the demo accepts: upload size, song length, notation size, queue and concurrency bounds, and the
checks that refuse anything past them with a `DemoError` saying what the limit is."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from vocalsynth.errors import InputError

MB = 1024 * 1024
DEFAULT_HOST = "127.0.0.1"  # this machine only; --host 0.0.0.0 serves the network
DEFAULT_PORT = 7860


class DemoError(InputError):
    """Input the demo refuses: too large, too long, the wrong kind of file, a voice it doesn't offer."""


@dataclass(frozen=True)
class DemoLimits:
    """Bounds on what one visitor can make the demo do.

    - ``max_upload_bytes``: largest score file accepted (Gradio refuses bigger uploads before they reach
      a handler; the handlers check again).
    - ``max_song_seconds``: longest song rendered, after the tempo control is applied.
    - ``max_notation_chars``: longest notation text (or note table) accepted.
    - ``concurrency``: renders running at once (the UI's Render and the ``sing`` API share it).
    - ``queue_size``: events waiting at most; one more is answered "busy" (Gradio's "Queue is full").
    """

    max_upload_bytes: int = 2 * MB
    max_song_seconds: float = 120.0
    max_notation_chars: int = 20_000
    concurrency: int = 1
    queue_size: int = 8

    def __post_init__(self) -> None:
        for name in ("max_upload_bytes", "max_notation_chars", "concurrency", "queue_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise DemoError(
                    f"must be a whole number >= 1, got {value!r}", source="demo limits", where=name
                )
        if not self.max_song_seconds > 0:
            raise DemoError(
                f"must be > 0 seconds, got {self.max_song_seconds!r}",
                source="demo limits",
                where="max_song_seconds",
            )

    @property
    def max_upload_text(self) -> str:
        """The upload limit as messages say it."""
        return f"{self.max_upload_bytes / MB:.3g} MB"

    def check_upload(self, path: str | os.PathLike, name: str | None = None) -> None:
        """Refuse an uploaded file larger than ``max_upload_bytes``; ``name`` is what the visitor called it."""
        size = Path(path).stat().st_size
        if size > self.max_upload_bytes:
            raise DemoError(
                f"the file is {size / MB:.1f} MB; the demo takes score files up to {self.max_upload_text}",
                source=name or Path(path).name,
            )

    def check_notation(self, text: str, what: str = "notation") -> None:
        if len(text) > self.max_notation_chars:
            raise DemoError(
                f"{len(text)} characters; the demo takes up to {self.max_notation_chars}", source=what
            )

    def check_song_seconds(self, seconds: float, source: str) -> None:
        """Refuse a song that would last longer than ``max_song_seconds`` once rendered."""
        if seconds > self.max_song_seconds:
            raise DemoError(
                f"the song would last {seconds:.1f} s; the demo renders songs up to "
                f"{self.max_song_seconds:g} s (shorten it, or raise the tempo)",
                source=source,
            )
