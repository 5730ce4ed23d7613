"""vocalsynth: a neural singing voice synthesizer (score + lyrics -> labelled AI-generated singing)."""

from vocalsynth.score import Note, Score, ScoreError, load_score, save_score

__version__ = "0.3.0"

__all__ = ["Note", "Score", "ScoreError", "Synthesizer", "__version__", "load_score", "save_score"]


def __getattr__(name: str):
    # Synthesizer pulls in torch: import it only when asked for, so `import vocalsynth` stays light.
    if name == "Synthesizer":
        from vocalsynth.synth import Synthesizer

        return Synthesizer
    raise AttributeError(f"module 'vocalsynth' has no attribute {name!r}")
