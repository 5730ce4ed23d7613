"""vocalsynth: a neural singing voice synthesizer (score + lyrics -> labelled AI-generated singing)."""

from vocalsynth.score import Note, Score, ScoreError, load_score, save_score

__version__ = "0.1.0"

__all__ = ["Note", "Score", "ScoreError", "__version__", "load_score", "save_score"]
