"""Intelligibility of English renders by closed-set recognition: pocketsphinx (its US English acoustic model
and dictionary ship inside the package) picks which of a few known lyric lines a rendering sings.

Open-vocabulary recognition of singing is poor, so the question asked is the narrower one a listener with
the lyric sheet answers: which line is this? Two answers per rendering: the line a grammar of all the
candidates decodes to (the pick), and a ranking of every candidate by the score of forcing the audio onto
its words (a line the decoder cannot fit to the end ranks below every line it can). The decoder's search is
fragile on singing and fast speech: often no line fits to the end, and the rendering then counts as
unrecognised (no pick, the true line at chance rank).

``ENGLISH_LINES``: lines written for this evaluation (the first two are examples/hello_en.txt's), pitched for
a low voice (A2-C4; shift them with ``key_shift`` for another range), one syllable a note except where marked.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from vocalsynth.errors import InputError

RATE = 16000  # the acoustic model's sample rate
PAD_SECONDS = 0.3

ENGLISH_LINES: tuple[tuple[str, str], ...] = (
    (
        "hello sun the sky is waking",
        "tempo=96 lang=en E3/4 hel- G3 -lo C4/2 sun B3/8 the A3 _ G3/4 sky E3 is F3 wak- G3/2 -ing",
    ),
    (
        "sing a little song to me",
        "tempo=96 lang=en A3/4 sing F3 a D3/8 lit- E3 _ F3/4 -tle E3/4 song C3 to D3/2 me",
    ),
    (
        "the river runs down to the sea",
        "tempo=96 lang=en C3/8 the E3/4 riv- G3/8 -er A3/4 runs G3 down E3/8 to D3 the C3/2 sea",
    ),
    ("my heart is full of light", "tempo=96 lang=en G3/4 my A3 heart B3/8 is C4/4 full B3/8 of G3/2 light"),
    (
        "we walk along the winding road",
        "tempo=96 lang=en E3/8 we G3/4 walk A3/8 a- G3 -long E3 the D3/4 wind- E3/8 -ing C3/2 road",
    ),
    (
        "rain is falling on the roof",
        "tempo=96 lang=en D3/4 rain F3/8 is A3/4 fall- G3/8 -ing F3 on E3 the D3/2 roof",
    ),
    ("good night my little star", "tempo=96 lang=en C4/4 good A3 night F3/8 my G3 lit- A3 -tle F3/2 star"),
    (
        "the morning bells are ringing",
        "tempo=96 lang=en G3/8 the C4/4 morn- B3/8 -ing A3/4 bells G3/8 are E3/4 ring- D3/2 -ing",
    ),
)


class IntelligibilityError(InputError):
    """Candidates pocketsphinx can't use (a word not in its dictionary, fewer than two lines) or bad audio."""


@dataclass
class ClosedSetResult:
    """What closed-set recognition made of one rendering.

    ``grammar_pick``: the line a grammar of all candidates decoded to (None when the decoder reached no
    line's end); ``ranking``: ``(line, complete, score)`` for every candidate, best first, from forcing the
    audio onto each line (``complete`` False when the decoder could not fit the whole line; such lines rank
    below complete ones); ``pick``: the grammar's line, else the best complete line, else None (no decision).
    """

    candidates: list[str]
    grammar_pick: str | None
    ranking: list[tuple[str, bool, float]] = field(default_factory=list)
    truth: str | None = None

    @property
    def pick(self) -> str | None:
        if self.grammar_pick is not None:
            return self.grammar_pick
        return self.ranking[0][0] if self.ranking and self.ranking[0][1] else None

    @property
    def correct(self) -> bool | None:
        return None if self.truth is None else self.pick == normalise(self.truth)

    @property
    def rank(self) -> float | None:
        """Place of the true line in the ranking, 1 = first; lines tied with it share the mean place (so a
        rendering nothing could be fitted to ranks the truth at chance, ``(n + 1) / 2``). None without a truth."""
        if self.truth is None:
            return None
        keys = [(not c, -round(sc, 9)) for _, c, sc in self.ranking]
        mine = keys[[r[0] for r in self.ranking].index(normalise(self.truth))]
        better = sum(k < mine for k in keys)
        tied = sum(k == mine for k in keys)
        return better + (tied + 1) / 2

    def to_dict(self) -> dict:
        return {
            "truth": self.truth,
            "pick": self.pick,
            "grammar_pick": self.grammar_pick,
            "correct": self.correct,
            "rank": self.rank,
            "ranking": [{"line": a, "complete": b, "score": c} for a, b, c in self.ranking],
        }


def normalise(line: str) -> str:
    """Lower case, letters, apostrophes and single spaces: the form the decoder works with."""
    return " ".join(re.sub(r"[^a-z' ]+", " ", line.lower()).split())


@functools.lru_cache(maxsize=1)
def _decoder():
    try:
        from pocketsphinx import Decoder
    except ImportError as e:
        raise IntelligibilityError(f"closed-set recognition needs pocketsphinx ({e})") from None
    return Decoder(samprate=RATE, loglevel="FATAL", lm=None)


def _pcm(samples: np.ndarray, sample_rate: int) -> bytes:
    from vocalsynth.audio.io import resample

    x = np.asarray(samples, dtype=np.float32)
    if x.ndim != 1 or x.size == 0 or not np.isfinite(x).all():
        raise IntelligibilityError(f"expected finite mono audio of shape (n,), got shape {x.shape}")
    x = resample(x, int(sample_rate), RATE)
    peak = float(np.abs(x).max())
    if peak > 0:
        x = x * (0.9 / peak)
    pad = np.zeros(int(PAD_SECONDS * RATE), dtype=np.float32)  # the models expect silence around speech
    return (np.clip(np.concatenate([pad, x, pad]), -1, 1) * 32767).astype(np.int16).tobytes()


def _decode(decoder, pcm: bytes):
    decoder.start_utt()
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()
    return decoder.hyp()


def closed_set(
    samples: np.ndarray, sample_rate: int, candidates: Sequence[str], truth: str | None = None
) -> ClosedSetResult:
    """Which of ``candidates`` (English lyric lines; punctuation and case are ignored) ``samples`` sings.

    Every word must be in pocketsphinx's dictionary (`IntelligibilityError` names the first that is not).
    ``truth``: the line really sung, for :attr:`ClosedSetResult.correct` and ``rank``.
    """
    lines = list(dict.fromkeys(normalise(c) for c in candidates))
    if len(lines) < 2 or not all(lines):
        raise IntelligibilityError(
            f"closed-set recognition needs two or more distinct lines, got {candidates!r}"
        )
    if truth is not None and normalise(truth) not in lines:
        raise IntelligibilityError(f"the true line {truth!r} is not among the candidates")
    decoder = _decoder()
    for line in lines:
        for word in line.split():
            if decoder.lookup_word(word) is None:
                raise IntelligibilityError(f"word {word!r} (in {line!r}) is not in pocketsphinx's dictionary")
    pcm = _pcm(samples, sample_rate)
    grammar = "#JSGF V1.0;\ngrammar lines;\npublic <line> = " + " | ".join(f"( {x} )" for x in lines) + ";\n"
    decoder.add_jsgf_string("lines", grammar)
    decoder.activate_search("lines")
    hyp = _decode(decoder, pcm)
    pick = normalise(hyp.hypstr) if hyp is not None and hyp.hypstr else None
    ranking = []
    for line in lines:
        decoder.set_align_text(line)
        hyp = _decode(decoder, pcm)
        got = normalise(hyp.hypstr) if hyp is not None else ""
        ranking.append((line, got == line, float(hyp.score) if hyp is not None else 0.0))
    ranking.sort(key=lambda r: (not r[1], -r[2]))
    return ClosedSetResult(lines, pick if pick in lines else None, ranking, truth)
