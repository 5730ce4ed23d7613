"""Scores: the `Note`/`Score` model, validation, and one reader/writer module per format."""

from vocalsynth.score.errors import ScoreError
from vocalsynth.score.io import load_score, save_score
from vocalsynth.score.model import Note, Part, Score, Tempo, TempoMap, TimeSignature, pitch_name
from vocalsynth.score.validate import validate

__all__ = [
    "Note",
    "Part",
    "Score",
    "ScoreError",
    "Tempo",
    "TempoMap",
    "TimeSignature",
    "load_score",
    "pitch_name",
    "save_score",
    "validate",
]
