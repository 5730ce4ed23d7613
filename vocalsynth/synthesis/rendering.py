"""`Rendering` (what `Synthesizer.sing` returns: samples, timelines, pre-roll, conformance, label, `save`) and the
`Assembler` that joins rendered phrases into one song with sample-exact timing.

Song time 0 is the score's time 0; ``samples[round(pre_roll * sample_rate)]`` is that instant.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vocalsynth.audio.config import AudioConfig
from vocalsynth.models.acoustic.frames import Frames
from vocalsynth.synthesis.conformance import ConformanceReport
from vocalsynth.synthesis.labels import label_metadata
from vocalsynth.synthesis.phrases import Phrase
from vocalsynth.text.sequence import PhonemeSequence

LOG_MEL_SILENCE = math.log(1e-5)


@dataclass
class SungPhoneme:
    """A phoneme as the rendering placed it: song seconds, the song note it belongs to, its role."""

    symbol: str
    start: float
    end: float
    note_index: int | None
    role: str

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass
class PhraseRender:
    """One phrase rendered: its phoneme sequence, frames and audio (``audio[k]`` at song time ``t0 + k / sr``)."""

    phrase: Phrase
    seq: PhonemeSequence
    frames: Frames
    audio: np.ndarray
    cached: bool

    @property
    def t0(self) -> float:
        return self.phrase.start - self.frames.pre_roll


@dataclass
class AudioChunk:
    """What `Synthesizer.sing_iter` yields: final audio for song time ``[start, end)``, in order; the chunks
    of a song concatenate to its whole rendering."""

    index: int
    n_phrases: int
    samples: np.ndarray
    sample_rate: int
    start: float
    cached: bool
    notes: tuple[int, int]
    """(first, stop) song note indices of the phrase, rests around it included."""

    @property
    def end(self) -> float:
        return self.start + self.samples.size / self.sample_rate

    @property
    def duration(self) -> float:
        return self.samples.size / self.sample_rate


class Assembler:
    """Places phrase renders on the song's sample and frame grids, cross-fading at the cuts.

    The pre-roll is the first phrase's; the song lasts ``round((pre_roll + duration) * fps)`` frames of
    ``hop_length`` samples, as one render of the whole song would.
    """

    def __init__(self, config: AudioConfig, duration: float, n_phrases: int, trim_pre_roll: bool = False):
        self.config = config
        self.sr = config.sample_rate
        self.fps = config.frames_per_second
        self.duration = duration
        self.n_phrases = n_phrases
        self.trim_pre_roll = trim_pre_roll
        self.pre_roll: float | None = None
        self.n_frames = 0
        self.n_samples = 0
        self.previous: PhraseRender | None = None
        self.position = 0  # samples of the song already emitted
        self.renders: list[PhraseRender] = []

    def _start(self, render: PhraseRender) -> None:
        self.pre_roll = max(0.0, float(render.frames.pre_roll))  # never -0.0
        self.n_frames = max(1, int(round((self.pre_roll + self.duration) * self.fps)))
        self.n_samples = self.n_frames * self.config.hop_length

    def _index(self, t: float) -> int:
        """Song time -> sample index of the untrimmed song."""
        assert self.pre_roll is not None
        return int(round((t + self.pre_roll) * self.sr))

    def _read(self, render: PhraseRender, a: int, b: int) -> np.ndarray:
        """Samples ``[a, b)`` of the song as ``render`` has them (zeros where it has none)."""
        out = np.zeros(max(b - a, 0), dtype=np.float32)
        off = self._index(render.t0)
        lo, hi = max(a, off), min(b, off + render.audio.size)
        if hi > lo:
            out[lo - a : hi - a] = render.audio[lo - off : hi - off]
        return out

    def add(self, render: PhraseRender) -> AudioChunk:
        """Take the next phrase's render; return the song audio that is now final."""
        if self.pre_roll is None:
            self._start(render)
        phrase = render.phrase
        last = phrase.index == self.n_phrases - 1
        # this phrase's audio ends where the cross-fade into the next one begins
        end = self.n_samples if last else self._index(phrase.cut_out) - int(round(phrase.fade_out * self.sr))
        start = self.position
        piece = self._read(render, start, end)
        if self.previous is not None and phrase.fade > 0:
            n = min(2 * int(round(phrase.fade * self.sr)), piece.size)
            if n > 0:
                w = np.sin(0.5 * np.pi * (np.arange(n) + 0.5) / n) ** 2
                tail = self._read(self.previous, start, start + n)
                piece[:n] = tail * (1 - w) + piece[:n] * w
        self.position = max(end, start)
        self.previous = render
        self.renders.append(render)
        song_start = start / self.sr - (self.pre_roll or 0.0)
        if self.trim_pre_roll:
            drop = int(round((self.pre_roll or 0.0) * self.sr))
            if start < drop:
                cut = min(drop - start, piece.size)
                piece = piece[cut:]
                song_start += cut / self.sr
        return AudioChunk(
            index=phrase.index,
            n_phrases=self.n_phrases,
            samples=piece.astype(np.float32, copy=False),
            sample_rate=self.sr,
            start=song_start,
            cached=render.cached,
            notes=(phrase.first, phrase.stop),
        )

    # --- timelines ----------------------------------------------------------------------------------------

    def phonemes(self) -> list[SungPhoneme]:
        """The phoneme timeline of the song (song seconds), each phrase's phonemes clipped to its part."""
        out: list[SungPhoneme] = []
        fps = self.fps
        for r in self.renders:
            p = r.phrase
            lo = -math.inf if p.index == 0 else p.cut_in
            hi = math.inf if p.index == self.n_phrases - 1 else p.cut_out
            for ph, s, n in zip(r.seq.phonemes, r.frames.ph_start, r.frames.ph_frames, strict=True):
                t0 = r.t0 + float(s) / fps
                t1 = t0 + float(n) / fps
                a, b = max(t0, lo), min(t1, hi)
                if b <= a and not (n == 0 and lo <= t0 < hi):
                    continue
                idx = None if ph.note_index is None else p.first + ph.note_index
                if (
                    out
                    and out[-1].note_index == idx
                    and out[-1].symbol == ph.symbol
                    and abs(out[-1].end - a) < 1e-6
                ):
                    out[-1].end = b  # a rest cut between two phrases is one rest
                    continue
                out.append(SungPhoneme(ph.symbol, a, b, idx, ph.role))
        return out

    def frames(self, phonemes: list[SungPhoneme]) -> Frames:
        """One `Frames` for the whole song on its frame grid (frame 0 at ``-pre_roll``), the phrases' frames
        placed at their parts and the phoneme arrays rebuilt from ``phonemes``."""
        cfg = self.config
        t = self.n_frames
        pre = self.pre_roll or 0.0
        mel = np.full((cfg.n_mels, t), LOG_MEL_SILENCE, dtype=np.float32)
        f0 = np.zeros(t, dtype=np.float32)
        vuv = np.zeros(t, dtype=np.float32)
        energy = np.full(t, -100.0, dtype=np.float32)
        bands = self.renders[0].frames.aperiodicity.shape[0] if self.renders else cfg.n_aperiodicity_bands
        ap = np.ones((bands, t), dtype=np.float32)
        notes: dict[int, list] = {}
        for r in self.renders:
            p = r.phrase
            j0 = 0 if p.index == 0 else int(round((p.cut_in + pre) * self.fps))
            j1 = t if p.index == self.n_phrases - 1 else int(round((p.cut_out + pre) * self.fps))
            off = int(round((r.t0 + pre) * self.fps))
            a, b = max(j0, off, 0), min(j1, off + r.frames.n_frames, t)
            if b > a:
                sl, src = slice(a, b), slice(a - off, b - off)
                mel[:, sl] = r.frames.mel[:, src]
                f0[sl] = r.frames.f0_hz[src]
                vuv[sl] = r.frames.vuv[src]
                energy[sl] = r.frames.energy_db[src]
                ap[:, sl] = r.frames.aperiodicity[:, src]
            for idx, s, e, pitch in r.frames.notes:
                if idx is None:
                    continue
                g = p.first + idx
                span = [g, s + off, e + off, pitch]
                if g in notes:
                    notes[g][1] = min(notes[g][1], span[1])
                    notes[g][2] = max(notes[g][2], span[2])
                else:
                    notes[g] = span
        bounds = [int(round((ph.start + pre) * self.fps)) for ph in phonemes] + [t]
        bounds = np.clip(np.maximum.accumulate(np.asarray(bounds, dtype=np.int64)), 0, t)
        ph_frames = np.diff(bounds)
        return Frames(
            mel=mel,
            f0_hz=f0,
            vuv=vuv,
            energy_db=energy,
            aperiodicity=ap,
            ph_symbols=[ph.symbol for ph in phonemes],
            ph_start=bounds[:-1].copy(),
            ph_frames=ph_frames,
            pre_roll=pre,
            audio_config=cfg,
            source=self.renders[0].frames.source if self.renders else "<song>",
            notes=[tuple(notes[k]) for k in sorted(notes)],
        )


@dataclass
class Rendering:
    """A rendered song.

    - ``samples``: ``(n,)`` float32 mono at ``sample_rate``; ``samples[round(pre_roll * sample_rate)]`` is the
      score's time 0 (``pre_roll`` seconds of onset consonants come first, at most 0.5; 0 when trimmed).
    - ``frames``: the song's `Frames` (mel, ``f0_hz`` model F0 timeline, voicing...; frame ``i`` at song time
      ``frames.times()[i]``); ``phonemes``: the phoneme timeline (`SungPhoneme`, song seconds).
    - ``conformance``: the `ConformanceReport` (None when not measured).
    - ``score_sha256``, ``voice``, ``voice_version``, ``singer``, ``licence``, ``vocoder``, ``date``: the
      label (``singer``: the voice's singer this rendering sang as).
    - ``phrases``: how many phrases; ``rerendered``: those rendered in this call (the rest came from cache).
    - ``render_seconds``: wall time of the call; ``stage_seconds``: the part of it spent in each stage,
      ``frontend`` (reading the score, phrases, phonemes), ``acoustic`` (the acoustic model), ``vocoder``
      and, when measured, ``conformance`` (phrases taken from the cache cost nothing).
    """

    samples: np.ndarray
    sample_rate: int
    pre_roll: float
    frames: Frames
    phonemes: list[SungPhoneme]
    conformance: ConformanceReport | None
    score_sha256: str
    voice: str
    voice_version: str
    licence: str
    vocoder: str
    date: str
    title: str | None = None
    singer: str | None = None
    controls: str = ""
    phrases: int = 1
    rerendered: list[int] = field(default_factory=list)
    render_seconds: float = 0.0
    stage_seconds: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def duration(self) -> float:
        """Seconds of audio (pre-roll included)."""
        return self.samples.size / self.sample_rate

    @property
    def f0_hz(self) -> np.ndarray:
        """The model's F0 per frame (Hz, 0 unvoiced); ``frames.times()`` gives each frame's song time."""
        return self.frames.f0_hz

    def label(self, *, flac: bool = False) -> dict[str, str]:
        """The AI-generated label's metadata fields (see `vocalsynth.synthesis.labels`)."""
        return label_metadata(
            voice=self.voice,
            voice_version=self.voice_version,
            licence=self.licence,
            score_sha256=self.score_sha256,
            pre_roll=self.pre_roll,
            date=self.date,
            vocoder=self.vocoder,
            singer=self.singer,
            title=self.title,
            controls=self.controls,
            flac=flac,
        )

    def save(self, path: str | os.PathLike, *, subtype: str | None = None) -> Path:
        """Write WAV or FLAC (by extension) atomically, labelled as AI-generated (voice, tool and version,
        score SHA-256, licence, date, pre-roll); the label is read back before the file is renamed in."""
        from vocalsynth.audio.io import save_audio

        path = Path(path)
        flac = path.suffix.lower() == ".flac"
        return save_audio(
            path, self.samples, self.sample_rate, metadata=self.label(flac=flac), subtype=subtype
        )
