"""`G2PError`: a lyric a language's G2P can't read (the frontend turns it into a warning or a ScoreError)."""

from __future__ import annotations


class G2PError(ValueError):
    """The lyric can't be read; the message says why in words a singer understands."""
