"""`Synthesizer`: the whole path score -> phonemes -> frames -> audio for one voice, phrase by phrase, with the
controls, a phrase cache, streaming, the conformance report and the AI-generated label.

    from vocalsynth.synth import Synthesizer
    synth = Synthesizer.from_pretrained("default")         # or a voice folder path
    audio = synth.sing("song.musicxml", key_shift=2, tempo=1.1)
    audio.save("song.wav")                                  # labelled as AI-generated

Every stage is someone else's: `load_score`, `phonemize_score`, `AcousticModel.infer`, a `Vocoder`; this
module cuts the song into phrases (`vocalsynth.synthesis.phrases`), runs the stages on each and joins them.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import json
import math
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from vocalsynth.audio.config import AudioConfig, AudioConfigMismatch
from vocalsynth.models.acoustic.controls import Controls
from vocalsynth.models.acoustic.frames import Frames
from vocalsynth.models.vocoder.base import Vocoder
from vocalsynth.models.vocoder.loading import load_vocoder
from vocalsynth.score import Score, ScoreError, load_score, validate
from vocalsynth.score.model import Tempo
from vocalsynth.synthesis.conformance import METHODS as CONFORMANCE_METHODS
from vocalsynth.synthesis.conformance import measure
from vocalsynth.synthesis.phrases import DEFAULT_SPLIT_REST, LRUCache, Phrase, split_phrases
from vocalsynth.synthesis.rendering import Assembler, AudioChunk, PhraseRender, Rendering
from vocalsynth.text import detect, phonemize_score
from vocalsynth.text.crosslingual import map_to_voice, merge_warnings
from vocalsynth.text.sequence import PhonemeSequence
from vocalsynth.voices import VoiceError, load_voice, resolve_voice
from vocalsynth.voices.card import VoiceCard

TEMPO_LIMITS = (0.25, 4.0)
# sing's control keywords -> the `Controls` field each sets (tables of notes may be None: empty)
CONTROL_KEYWORDS = {
    "key_shift": "key_shift",
    "vibrato": "vibrato_depth",
    "vibrato_rate": "vibrato_rate",
    "vibrato_rate_hz": "vibrato_rate_hz",
    "vibrato_delay": "vibrato_delay",
    "breathiness": "breathiness",
    "tension": "tension",
    "gender": "gender",
    "dynamics": "dynamics",
    "pitch_correction": "pitch_correction",
    "refine_steps": "refine_steps",
    "note_pitch_curves": "note_pitch_curves",
    "note_durations": "note_durations",
}
_RENDER_ONLY = ("conformance", "f0_method", "progress")  # sing's arguments that are not _prepare's
CACHE_PHRASES = 64


class AcousticLike(Protocol):
    """What the synthesizer needs of an acoustic model (`AcousticModel`, or a stand-in in tests)."""

    audio_config: AudioConfig
    singers: list[str]
    languages: list[str]

    def infer(
        self, seq: PhonemeSequence, controls: Controls | None = None, *, singer: str | int | None = None
    ) -> Frames: ...


@dataclasses.dataclass
class _Job:
    """One `sing` call, prepared: the song (tempo and note lengths applied), its phrases and settings."""

    song: Score
    phrases: list[Phrase]
    controls: Controls
    singer: int | None
    vocoder: Vocoder
    vocoder_name: str
    score_sha256: str
    trim_pre_roll: bool
    controls_text: str
    started: float
    stage_seconds: dict[str, float] = dataclasses.field(default_factory=dict)
    rerendered: list[int] = dataclasses.field(default_factory=list)
    warnings: list[str] = dataclasses.field(default_factory=list)
    assembler: Assembler | None = None


def score_sha256(score: str | os.PathLike | Score) -> str:
    """SHA-256 of what the user handed in: a file's bytes, the notation text, or (for a `Score` object) a
    canonical JSON of its notes, tempo map and part."""
    if isinstance(score, Score):
        doc = {
            "tempos": [[t.beat, t.bpm] for t in score.tempos],
            "part": score.part_index,
            "language": score.language,
            "notes": [
                [n.start, n.duration, n.pitch, n.lyric, n.slur, n.syllabic, n.phonemes, n.language]
                for n in score.notes
            ],
        }
        data = json.dumps(doc, ensure_ascii=False, sort_keys=True).encode("utf-8")
    elif isinstance(score, os.PathLike) or os.path.isfile(str(score)):
        return hashlib.sha256(Path(score).read_bytes()).hexdigest()
    else:
        data = str(score).encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def _with_notes(score: Score, notes: list, **changes: Any) -> Score:
    """``score`` singing ``notes`` (its current part's notes replaced too, so the two stay one line)."""
    parts = list(score.parts)
    if 0 <= score.part_index < len(parts):
        parts[score.part_index] = dataclasses.replace(parts[score.part_index], notes=notes)
    return dataclasses.replace(score, notes=notes, parts=parts, **changes)


def scale_tempo(score: Score, tempo: float) -> Score:
    """The score ``tempo`` times faster: every tempo mark and note time scaled, beats kept."""
    if tempo == 1.0:
        return score
    notes = [n.replace(start=n.start / tempo, duration=n.duration / tempo) for n in score.notes]
    tempos = [Tempo(t.beat, t.bpm * tempo) for t in score.tempos]
    return _with_notes(score, notes, tempos=tempos)


def set_note_durations(score: Score, durations: Mapping[int, float]) -> Score:
    """The score with ``score.notes[i]`` lasting ``durations[i]`` seconds and every later note moved with it."""
    if not durations:
        return score
    notes, shift = [], 0.0
    for i, n in enumerate(score.notes):
        new = n.replace(start=n.start + shift)
        if i in durations:
            shift += float(durations[i]) - n.duration
            new = new.replace(duration=float(durations[i]))
        notes.append(new)
    return _with_notes(score, notes)


class Synthesizer:
    """Sings scores with one voice: an acoustic model and a vocoder made for the same `AudioConfig`.

    ``card`` (a `VoiceCard`) names the voice and its licence for the label; ``name`` overrides the name.
    Rendered phrases are kept in an LRU cache of ``cache_size`` phrases, keyed by the phrase's notes,
    lyrics and languages, the controls, the singer, the voice and the vocoder.
    """

    def __init__(
        self,
        acoustic: AcousticLike,
        vocoder: Vocoder,
        card: VoiceCard | None = None,
        *,
        name: str | None = None,
        vocoder_name: str | None = None,
        cache_size: int = CACHE_PHRASES,
    ):
        self.acoustic = acoustic
        self._known_phonemes = frozenset(getattr(acoustic, "phoneme_ids", ()))
        self.card = card
        self.name = name or (card.name if card else "unnamed")
        self.version = card.version if card else "unversioned"
        self.licence = card.licence_note if card else "unstated (no voice card)"
        self.audio_config: AudioConfig = acoustic.audio_config
        self._check_vocoder(vocoder, vocoder_name or vocoder.kind)
        self.vocoder = vocoder
        self.vocoder_name = vocoder_name or vocoder.kind
        self._vocoders: dict[str, Vocoder] = {}
        self.cache: LRUCache[str, tuple[PhonemeSequence, Frames, np.ndarray]] = LRUCache(cache_size)
        self.last_rerendered: list[int] = []
        self.choice = None  # set by for_score: which voice was picked for the melody, and why

    @property
    def known_phonemes(self) -> frozenset[str]:
        """The phoneme symbols the voice's acoustic model knows; others are sung as their nearest
        (:func:`vocalsynth.text.crosslingual.voice_mapping`)."""
        return self._known_phonemes

    # --- loading --------------------------------------------------------------------------------------------

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | os.PathLike = "default",
        *,
        vocoder: str | os.PathLike | None = None,
        device: str | torch.device = "cpu",
        cache_size: int = CACHE_PHRASES,
        voices_dir: str | os.PathLike | None = None,
    ) -> Synthesizer:
        """Load a voice: an installed name (``"default"``; folders shipped in `vocalsynth/voices/`) or a voice
        folder path. Nothing is downloaded. The folder is checked first (card, paths, checksums, safetensors
        only, matching audio configs; `vocalsynth.voices.load_voice`). ``vocoder``: ``"world"`` or a vocoder
        folder instead of the voice's own. Raises `VoiceError`."""
        from vocalsynth.models.acoustic.model import AcousticModel, AcousticModelError

        folder = resolve_voice(name_or_path, voices_dir)
        voice = load_voice(folder)
        src = str(folder)
        try:
            acoustic = AcousticModel.load(voice.acoustic_dir, map_location=device)
        except (AcousticModelError, AudioConfigMismatch) as e:
            raise VoiceError(f"acoustic model: {e}", source=src) from e
        if vocoder is None:
            try:
                voc = Vocoder.from_pretrained(voice.vocoder_dir, map_location=str(device)).to(device)
            except (ValueError, OSError) as e:
                raise VoiceError(f"vocoder: {e}", source=src) from e
            voc_name = f"{voc.kind} ({voice.card.name})"
        else:
            voc, voc_name = _load_vocoder(vocoder, acoustic.audio_config, str(device))
        return cls(acoustic, voc, voice.card, vocoder_name=voc_name, cache_size=cache_size)

    @classmethod
    def for_score(
        cls,
        score: str | os.PathLike | Score,
        *,
        format: str | None = None,
        part: int | None = None,
        verse: int | None = None,
        voices_dir: str | os.PathLike | None = None,
        **options: Any,
    ) -> Synthesizer:
        """The installed voice whose card's range holds most of the melody at written pitch
        (:func:`vocalsynth.synthesis.voice_range.pick_voice`), loaded with :meth:`from_pretrained`
        (``options``: its keywords). Why it was chosen is in ``.choice.reason``. Raises `VoiceError`."""
        from vocalsynth.synthesis.voice_range import pick_installed_voice

        if isinstance(score, Score):
            song = score.select_part(part) if part is not None else score
        else:
            song = load_score(score, format=format, part=part, verse=verse)
        choice = pick_installed_voice(song, voices_dir)
        synth = cls.from_pretrained(choice.name, voices_dir=voices_dir, **options)
        synth.choice = choice
        return synth

    def _check_vocoder(self, vocoder: Vocoder, name: str) -> None:
        try:
            vocoder.check_compatible(
                self.audio_config, what_other=f"the acoustic model of voice {self.name!r}"
            )
        except AudioConfigMismatch as e:
            raise VoiceError(f"vocoder {name}: {e}") from e

    def _vocoder(self, override: str | os.PathLike | Vocoder | None) -> tuple[Vocoder, str]:
        if override is None:
            return self.vocoder, self.vocoder_name
        if isinstance(override, Vocoder):
            self._check_vocoder(override, override.kind)
            return override, f"{override.kind} (given)"
        key = os.fspath(override)
        if key not in self._vocoders:
            device = str(next(iter(self.vocoder.parameters()), torch.zeros(0)).device)
            voc, _ = _load_vocoder(override, self.audio_config, device)
            self._check_vocoder(voc, key)
            self._vocoders[key] = voc
        voc = self._vocoders[key]
        return voc, "world" if key == "world" else f"{voc.kind} ({Path(key).name})"

    # --- the API --------------------------------------------------------------------------------------------

    def sing(
        self,
        score: str | os.PathLike | Score,
        *,
        lang: str | None = None,
        part: int | None = None,
        verse: int | None = None,
        format: str | None = None,
        singer: str | int | None = None,
        vocoder: str | os.PathLike | Vocoder | None = None,
        tempo: float = 1.0,
        key_shift: float = 0.0,
        vibrato: float = 1.0,
        vibrato_rate: float = 1.0,
        vibrato_rate_hz: float | None = None,
        vibrato_delay: float | None = None,
        breathiness: float = 0.0,
        tension: float = 0.0,
        gender: float = 0.0,
        dynamics: float = 0.0,
        pitch_correction: float = 0.5,
        refine_steps: int | None = None,
        note_pitch_curves: Mapping[int, Sequence[float]] | None = None,
        note_durations: Mapping[int, float] | None = None,
        controls: Controls | None = None,
        trim_pre_roll: bool = False,
        split_rest: float | None = DEFAULT_SPLIT_REST,
        conformance: bool = True,
        f0_method: str = "nccf",
        progress: Callable[[AudioChunk], None] | None = None,
    ) -> Rendering:
        """Sing ``score``: a file path, notation text (``"tempo=120 C4/4 la D4 la"``) or a `Score`.

        ``lang``: the lyrics' language (else each note's, the score's, or detected from the script);
        ``part``/``verse``/``format``: which part and verse to read from a file, and its format.
        ``singer``: a singer of a multi-singer voice (name or index; default: the card's ``default_singer``,
        else the model's first); ``vocoder``: ``"world"``, a vocoder
        folder or a `Vocoder` instead of the voice's. ``tempo``: a multiplier of the score's tempo (2 is
        twice as fast), applied to the score before phonemizing. Controls (see `Controls`): ``key_shift``
        (semitones), ``vibrato`` (depth multiplier), ``vibrato_rate`` (multiplier) or ``vibrato_rate_hz``,
        ``vibrato_delay``, ``breathiness``, ``tension``, ``gender``, ``dynamics`` (dB), ``pitch_correction``
        (0 the singer's intonation as learned .. 1 every note's held pitch on the written one), ``refine_steps``
        (the mel refiner's steps for a voice that has one: 0 skips it, None the voice's default),
        ``note_pitch_curves`` ({note index: cents}), ``note_durations`` ({note index: seconds}, applied to
        the score: later notes move); or a whole ``controls`` object (the keyword controls must then be
        left at their defaults). Note indices are ``score.notes`` indices.

        The song renders phrase by phrase (cut at rests of ``split_rest`` seconds or more; 0: at every
        rest; None: never), each phrase cached; ``progress`` is called with each finished `AudioChunk`.
        Audio time 0 is score time 0 after ``pre_roll`` seconds of onset consonants (at most 0.5 s);
        ``trim_pre_roll`` drops them. ``conformance`` measures the sung pitch of every note on the audio
        with ``f0_method``: "nccf" (each note searched near its written pitch: a few per cent of the render's
        time), or WORLD's "dio" or "harvest" over the whole song (Harvest: many times the render). Bad input raises `ScoreError` (score, controls)
        or `VoiceError` (vocoder).
        """
        # every argument but these goes to _prepare, which reads the controls from them: one list, sing's
        arguments = dict(locals())  # first statement: sing's arguments and nothing else
        if conformance and f0_method not in CONFORMANCE_METHODS:  # at the door, not after the render
            raise ValueError(f"f0_method must be one of {', '.join(CONFORMANCE_METHODS)}, got {f0_method!r}")
        options = {k: v for k, v in arguments.items() if k not in ("self", "score", *_RENDER_ONLY)}
        job = self._prepare(score, **options)
        chunks = []
        for chunk in self._chunks(job):
            chunks.append(chunk.samples)
            if progress is not None:
                progress(chunk)
        return self._finish(job, np.concatenate(chunks), conformance, f0_method)

    def sing_iter(self, score: str | os.PathLike | Score, **options: Any) -> Iterator[AudioChunk]:
        """Like :meth:`sing` (same options, less ``conformance``/``f0_method``/``progress``) but yields each
        phrase's final audio as an `AudioChunk` as soon as it is rendered, the first phrase first; the
        chunks concatenate to the rendering `sing` would return."""
        for key in ("conformance", "f0_method", "progress"):
            options.pop(key, None)
        job = self._prepare(score, **options)  # here, so bad input fails at the call, not at the first chunk
        return self._chunks(job)

    stream = sing_iter

    def cache_info(self) -> dict[str, int]:
        """Phrase cache counters: ``hits``, ``misses``, ``size`` (phrases held), ``capacity``."""
        return {
            "hits": self.cache.hits,
            "misses": self.cache.misses,
            "size": len(self.cache),
            "capacity": self.cache.size,
        }

    def clear_cache(self) -> None:
        self.cache.clear()

    # --- the steps --------------------------------------------------------------------------------------------

    def _prepare(
        self,
        score: str | os.PathLike | Score,
        *,
        lang: str | None = None,
        part: int | None = None,
        verse: int | None = None,
        format: str | None = None,
        singer: str | int | None = None,
        vocoder: str | os.PathLike | Vocoder | None = None,
        tempo: float = 1.0,
        controls: Controls | None = None,
        trim_pre_roll: bool = False,
        split_rest: float | None = DEFAULT_SPLIT_REST,
        **control_keywords: Any,
    ) -> _Job:
        started = time.perf_counter()
        if lang is not None and detect.normalize_language(lang) is None:
            raise ScoreError(
                f"language {lang!r} is not one vocalsynth sings (en, ja, zh)", source="controls", where="lang"
            )
        if isinstance(score, Score):
            song = score.select_part(part) if part is not None else score
            if lang is not None:
                song = dataclasses.replace(song, language=lang)
            validate(song)
        elif isinstance(score, (str, os.PathLike)):
            song = load_score(score, format=format, part=part, verse=verse, language=lang)
        else:
            raise ScoreError(f"sing takes a score path, notation text or a Score, not {type(score).__name__}")
        frontend = time.perf_counter() - started  # reading and checking the score
        digest = score_sha256(score)

        from_keywords = _controls_from_keywords(control_keywords)
        if controls is None:
            controls = from_keywords
        elif from_keywords != Controls():
            raise ScoreError("pass either controls= or the control keywords, not both", source="controls")
        controls.validate(set(range(len(song.notes))))
        if controls.refine_steps and getattr(self.acoustic, "refiner", None) is None:
            raise ScoreError(
                f"voice {self.name!r} has no mel refiner; leave refine_steps unset or 0",
                source="controls",
                where="refine_steps",
            )
        if isinstance(tempo, bool) or not isinstance(tempo, (int, float)) or not math.isfinite(tempo):
            raise ScoreError(f"must be a number, got {tempo!r}", source="controls", where="tempo")
        if not TEMPO_LIMITS[0] <= tempo <= TEMPO_LIMITS[1]:
            raise ScoreError(
                f"must be from {TEMPO_LIMITS[0]:g} to {TEMPO_LIMITS[1]:g} (a multiplier of the score's tempo), got {tempo:g}",
                source="controls",
                where="tempo",
            )
        if split_rest is not None and (not isinstance(split_rest, (int, float)) or split_rest < 0):
            raise ScoreError(
                f"must be None or >= 0 seconds, got {split_rest!r}", source="controls", where="split_rest"
            )
        if singer is None and self.card is not None and self.card.default_singer:
            singer = self.card.default_singer  # the voice's own singer, not whichever sorts first
        singer_index = None if singer is None else self._singer_index(singer)
        voc, voc_name = self._vocoder(vocoder)

        # score-level changes first, so the frontend times consonants for the new note lengths
        t0 = time.perf_counter()
        read_warnings = list(song.warnings)  # what the reader repaired (a .ds file's drift): said once, first
        song = set_note_durations(song, controls.note_durations)
        song = scale_tempo(song, float(tempo))
        phrases = split_phrases(song, language=lang, split_rest=split_rest)
        frontend += time.perf_counter() - t0
        controls_text = _controls_text(controls, tempo)
        return _Job(
            song=song,
            phrases=phrases,
            controls=dataclasses.replace(controls, note_durations={}),
            singer=singer_index,
            vocoder=voc,
            vocoder_name=voc_name,
            score_sha256=digest,
            trim_pre_roll=trim_pre_roll,
            controls_text=controls_text,
            started=started,
            stage_seconds={"frontend": frontend, "acoustic": 0.0, "vocoder": 0.0},
            warnings=read_warnings,
        )

    def _singer_index(self, singer: str | int) -> int:
        names = list(self.acoustic.singers)
        if isinstance(singer, int) and not isinstance(singer, bool) and 0 <= singer < len(names):
            return singer
        if isinstance(singer, str) and singer in names:
            return names.index(singer)
        if isinstance(singer, str) and singer.isdigit() and int(singer) < len(names):  # from the command line
            return int(singer)
        raise ScoreError(
            f"unknown singer {singer!r}; voice {self.name!r} has {', '.join(names)}",
            source="controls",
            where="singer",
        )

    def _phrase_controls(self, job: _Job, phrase: Phrase) -> Controls:
        curves = {
            k - phrase.first: v
            for k, v in job.controls.note_pitch_curves.items()
            if phrase.first <= k < phrase.stop
        }
        return dataclasses.replace(job.controls, note_pitch_curves=curves, note_durations={})

    def _cache_key(self, job: _Job, phrase: Phrase, controls: Controls) -> str:
        doc = {
            "phrase": phrase.key,
            "controls": {
                k: (sorted((i, list(map(float, c))) for i, c in v.items()) if isinstance(v, dict) else v)
                for k, v in dataclasses.asdict(controls).items()
            },
            "singer": job.singer,
            "voice": [self.name, self.version, id(self.acoustic)],
            "vocoder": [job.vocoder_name, id(job.vocoder)],
        }
        return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode("utf-8")).hexdigest()

    def _render_phrase(self, job: _Job, phrase: Phrase) -> PhraseRender:
        controls = self._phrase_controls(job, phrase)
        key = self._cache_key(job, phrase, controls)
        hit = self.cache.get(key)
        if hit is not None:
            seq, frames, audio = hit
            return PhraseRender(phrase, seq, frames, audio, cached=True)
        t0 = time.perf_counter()
        seq = map_to_voice(phonemize_score(phrase.score), self._known_phonemes)
        t1 = time.perf_counter()
        frames = self.acoustic.infer(seq, controls, singer=job.singer)
        t2 = time.perf_counter()
        device = next(iter(job.vocoder.parameters()), torch.zeros(0)).device
        with torch.inference_mode():
            audio = job.vocoder(frames.mel_batch().to(device), frames.f0_batch().to(device))
        audio_np = np.ascontiguousarray(audio[0].float().cpu().numpy(), dtype=np.float32)
        # an untrained or unlucky vocoder can emit NaN/inf; silence them rather than fail the whole song
        audio_np = np.nan_to_num(audio_np, nan=0.0, posinf=0.0, neginf=0.0)
        spent = {"frontend": t1 - t0, "acoustic": t2 - t1, "vocoder": time.perf_counter() - t2}
        for stage, seconds in spent.items():
            job.stage_seconds[stage] += seconds
        self.cache.put(key, (seq, frames, audio_np))
        job.rerendered.append(phrase.index)
        return PhraseRender(phrase, seq, frames, audio_np, cached=False)

    def _chunks(self, job: _Job) -> Iterator[AudioChunk]:
        job.assembler = Assembler(self.audio_config, job.song.duration, len(job.phrases), job.trim_pre_roll)
        for phrase in job.phrases:
            render = self._render_phrase(job, phrase)
            merge_warnings(
                job.warnings, render.seq.warnings
            )  # a substitution: one warning, its places joined
            yield job.assembler.add(render)
        self.last_rerendered = list(job.rerendered)

    def _finish(self, job: _Job, samples: np.ndarray, conformance: bool, f0_method: str) -> Rendering:
        asm = job.assembler
        assert asm is not None and asm.pre_roll is not None
        phonemes = asm.phonemes()
        frames = asm.frames(phonemes)
        pre_roll = 0.0 if job.trim_pre_roll else asm.pre_roll
        report = None
        if conformance:
            t0 = time.perf_counter()
            onsets: dict[int, float] = {}
            for ph in phonemes:
                if ph.note_index is not None and ph.role != "onset" and ph.note_index not in onsets:
                    onsets[ph.note_index] = ph.start
            sung = [(i, n) for i, n in enumerate(job.song.notes) if not n.is_rest]
            report = measure(
                samples,
                self.audio_config,
                sung,
                pre_roll=pre_roll,
                key_shift=job.controls.key_shift,
                onsets=onsets,
                method=f0_method,
            )
            job.stage_seconds["conformance"] = time.perf_counter() - t0
        return Rendering(
            samples=samples,
            sample_rate=self.audio_config.sample_rate,
            pre_roll=pre_roll,
            frames=frames,
            phonemes=phonemes,
            conformance=report,
            score_sha256=job.score_sha256,
            voice=self.name,
            voice_version=self.version,
            licence=self.licence,
            vocoder=job.vocoder_name,
            date=_dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            title=job.song.title or (None if job.song.source.startswith("<") else Path(job.song.source).name),
            singer=self.acoustic.singers[job.singer or 0],
            controls=job.controls_text,
            phrases=len(job.phrases),
            rerendered=list(job.rerendered),
            render_seconds=time.perf_counter() - job.started,
            stage_seconds=dict(job.stage_seconds),
            warnings=list(job.warnings),
        )


def _load_vocoder(name_or_path: str | os.PathLike, config: AudioConfig, device: str) -> tuple[Vocoder, str]:
    """The vocoder override: "world" or a vocoder folder, refused (`VoiceError`) unless made for ``config``."""
    key = os.fspath(name_or_path)
    try:
        voc = load_vocoder(key, audio_config=config)
    except AudioConfigMismatch as e:
        raise VoiceError(f"the vocoder doesn't fit this voice: {e}", source=key) from e
    except (ValueError, OSError) as e:
        raise VoiceError(f"can't load the vocoder: {getattr(e, 'detail', e)}", source=key) from e
    voc = voc.to(device).eval()
    return voc, "world" if key == "world" else f"{voc.kind} ({Path(key).name})"


def _controls_from_keywords(keywords: Mapping[str, Any]) -> Controls:
    """The `Controls` that sing's control keywords (:data:`CONTROL_KEYWORDS`) describe; TypeError for a
    keyword sing doesn't take, as Python would raise it."""
    unknown = sorted(set(keywords) - set(CONTROL_KEYWORDS))
    if unknown:
        raise TypeError(f"sing() got an unexpected keyword argument {unknown[0]!r}")
    fields = {CONTROL_KEYWORDS[k]: v for k, v in keywords.items()}
    for table in ("note_pitch_curves", "note_durations"):
        if table in fields:
            fields[table] = dict(fields[table] or {})
    return Controls(**fields)


def _controls_text(controls: Controls, tempo: float) -> str:
    """Non-default controls, short, for the label (per-note tables as counts)."""
    default = Controls()
    parts = []
    if tempo != 1.0:
        parts.append(f"tempo:{tempo:g}")
    for f in dataclasses.fields(Controls):
        value = getattr(controls, f.name)
        if value == getattr(default, f.name):
            continue
        if isinstance(value, dict):
            parts.append(f"{f.name}:{len(value)} notes")
        else:
            parts.append(f"{f.name}:{value:g}" if isinstance(value, (int, float)) else f"{f.name}:{value}")
    return ",".join(parts)


__all__ = ["AudioChunk", "Rendering", "Synthesizer", "scale_tempo", "score_sha256", "set_note_durations"]
