"""Preprocessing: corpus folders -> one resumable feature cache, a manifest with the train/validation split,
a skipped-items report and corpus statistics. Inputs are only read, never written.

Layout of the output folder::

    cache.json                 format, AudioConfig and F0 method; a run with other settings is refused
    labels/<corpus>/<id>.lab   phoneme timings as HTS mono labels, to inspect and correct
    items/<corpus>/<id>.npz    one per finished item, written atomically (temp file + rename): features
                               (mel, f0_hz, vuv, log_f0, energy, aperiodicity), int16 audio, frame labels
                               (ph_index, note_index, note_pitch, ph_dur) and the item/meta JSON
    manifest.json              kept items (split, corpus, licence, language, singer, seconds, alignment), tables
    skipped.json               items left out and why, warnings (channels mixed down, alignment notes)
    stats.json, stats.md, pitch_histogram.png

An item is left out, with its reason, when its audio is missing, empty, corrupt (undecodable, NaN samples),
longer than `Checks.max_seconds` by its header (read before the samples), recorded at too low a sample rate,
too short, silent, clipped, made of channels that hold different signals (or cancel when mixed), or
mislabelled: labels that run past the audio, or notes the singing does not follow. The input folders are
never written to: ``--out`` inside one of them is refused.

A finished item is never recomputed while its labels and audio file size stay the same; items left unaligned
are aligned from their cached features once the aligner (:mod:`vocalsynth.data.align`) is available.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import os
import re
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from vocalsynth.audio.config import AudioConfig
from vocalsynth.audio.errors import AudioError
from vocalsynth.data.corpora import (
    CHANNELS_DIFFER,
    CLIPPED,
    CORRUPT,
    DUPLICATE,
    EMPTY,
    FAILED,
    LENGTH_MISMATCH,
    LOW_RATE,
    MISLABELLED,
    MISSING_AUDIO,
    SILENT,
    TOO_LONG,
    TOO_SHORT,
    Corpus,
    CorpusError,
    get_corpus,
)
from vocalsynth.data.files import write_atomic as _write_atomic
from vocalsynth.data.files import write_json
from vocalsynth.data.items import CorpusItem

FORMAT = 1
F0_METHODS = ("harvest", "dio")
FEATURE_KEYS = ("mel", "f0_hz", "vuv", "log_f0", "energy", "aperiodicity")
VALIDATION = "validation"
TRAIN = "train"

# alignment status of a cached item
HAND = "hand"  # timings from the corpus' own labels (or annotations)
ALIGNER = "aligner"  # timings from vocalsynth.data.align
UNALIGNED = "unaligned"  # score timings kept (no aligner, --no-align, or the aligner failed)
NONE = "none"  # nothing to align (audio-only item)


@dataclass
class Checks:
    """Thresholds that leave an item out. Clipping is measured at the file's own sample rate."""

    min_seconds: float = 0.5
    silence_dbfs: float = -50.0  # 99.9th percentile of |x| below this: silent
    clip_level: float = 0.999
    max_clipped_fraction: float = 0.001  # more samples than this at full scale: clipped
    length_tolerance: float = 0.1  # seconds (+1 % of the length) labels may run past the audio
    max_unlabelled_tail: float = 1.0  # seconds (+10 %) hand labels may stop short of the audio's end
    max_seconds: float = 1800.0  # longer by its header (read first: a forged one can claim days): refused
    min_rate_fraction: float = 0.75  # below this share of the model's rate, audio lacks its top band
    min_channel_correlation: float = 0.5  # a channel this unlike the loudest one holds another signal
    pitch_tolerance_cents: float = 300.0  # a voiced frame this close to its labelled note follows it
    min_pitch_agreement: float = 0.5  # fewer voiced frames than this share following their notes: mislabelled
    min_judged_frames: int = 50  # voiced frames inside notes needed to judge the labels at all


@dataclass
class Source:
    """One ``--corpus NAME --data DIR`` pair with its options (each None: the corpus' own)."""

    corpus: str
    data: Path
    licence: str | None = None
    singer: str | None = None
    language: str | None = None


@dataclass
class Skipped:
    corpus: str
    id: str
    reason: str
    detail: str
    audio: str = ""

    def to_dict(self) -> dict[str, str]:
        return {
            "corpus": self.corpus,
            "id": self.id,
            "reason": self.reason,
            "detail": self.detail,
            "audio": self.audio,
        }


@dataclass
class PreprocessResult:
    """What a run did: ``manifest`` (as written), ``skipped``, ``warnings``, counts and timing."""

    out: Path
    manifest: dict
    skipped: list[Skipped]
    warnings: list[dict[str, str]]
    stats: dict
    done: int = 0
    cached: int = 0
    realigned: int = 0
    processed_seconds: float = 0.0
    wall_seconds: float = 0.0

    @property
    def throughput(self) -> float:
        """Minutes of audio processed per minute of wall time in this run (0 when nothing was processed)."""
        return self.processed_seconds / self.wall_seconds if self.wall_seconds > 0 else 0.0

    def summary(self) -> str:
        lines = [
            f"{len(self.manifest['items'])} items in {self.out / 'manifest.json'} "
            f"({self.done} processed, {self.cached} from the cache, {self.realigned} realigned, "
            f"{len(self.skipped)} skipped)",
        ]
        for name, c in self.manifest["corpora"].items():
            lines.append(
                f"  {name}: {c['items']} items, {c['minutes']:.1f} min, {c['songs']} songs "
                f"({c['validation_songs']} held out), licence: {c['licence'] or 'NONE (--allow-unlicensed)'}"
            )
        if self.skipped:
            by_reason: dict[str, int] = {}
            for s in self.skipped:
                by_reason[s.reason] = by_reason.get(s.reason, 0) + 1
            lines.append("skipped: " + ", ".join(f"{n} {r}" for r, n in sorted(by_reason.items())))
            lines.extend(f"  {s.corpus}/{s.id}: {s.reason}: {s.detail}" for s in self.skipped[:20])
            if len(self.skipped) > 20:
                lines.append(f"  ... {len(self.skipped) - 20} more in {self.out / 'skipped.json'}")
        for w in self.warnings[:10]:
            lines.append(f"warning: {w['corpus']}/{w['id']}: {w['detail']}")
        lines.append(
            f"throughput: {self.processed_seconds / 60:.1f} min of audio in {self.wall_seconds / 60:.1f} min "
            f"= {self.throughput:.2f} min of audio per minute"
        )
        return "\n".join(lines)


# --- cache files ----------------------------------------------------------------------------------------

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def safe_name(item_id: str) -> str:
    """A file name for an item id; ids that need changing get a hash suffix so two never collide."""
    name = _UNSAFE.sub("_", item_id).lstrip(".") or "item"
    if name != item_id:
        name = f"{name[:80]}-{hashlib.sha1(item_id.encode()).hexdigest()[:8]}"
    return name


def item_file(out: Path, corpus: str, item_id: str) -> Path:
    return Path(out) / "items" / safe_name(corpus) / f"{safe_name(item_id)}.npz"


def read_item_meta(path: Path) -> tuple[dict, dict] | None:
    """``(item dict, meta dict)`` of a cached item, or None when the file is missing or unreadable."""
    try:
        with np.load(path, allow_pickle=False) as z:
            return json.loads(str(z["item_json"])), json.loads(str(z["meta_json"]))
    except Exception:  # a foreign or damaged file counts as not cached: it is simply redone
        return None


def load_item_arrays(path: Path, keys: Iterable[str] | None = None) -> dict[str, np.ndarray]:
    """The arrays of a cached item (all, or ``keys``)."""
    with np.load(path, allow_pickle=False) as z:
        names = [k for k in (keys or z.files) if not k.endswith("_json")]
        return {k: z[k] for k in names}


def item_key(item: CorpusItem) -> str:
    """What a cached item's validity hangs on: its labels and its audio file (name and size)."""
    try:
        size = Path(item.audio_path).stat().st_size
    except OSError:
        size = -1
    labels = {
        "id": item.id,
        "audio": Path(item.audio_path).name,
        "size": size,
        "notes": [[n.pitch, round(n.start, 4), round(n.end, 4), n.slur] for n in item.notes],
        "phonemes": [[p.symbol, round(p.start, 4), round(p.end, 4), p.note_index] for p in item.phonemes],
        "aligned": item.aligned,
        "format": FORMAT,
    }
    return hashlib.sha1(json.dumps(labels, sort_keys=True).encode()).hexdigest()


# --- frame labels ----------------------------------------------------------------------------------------


def frame_labels(item: CorpusItem, n_frames: int, frames_per_second: float) -> dict[str, np.ndarray]:
    """Per-frame ``ph_index`` and ``note_index`` (-1 where none), ``note_pitch`` (MIDI, 0 for rests and
    unlabelled frames) and per-phoneme ``ph_dur`` in frames. A phoneme or note ending within a frame of
    the recording's end takes the last frame too, so tiling labels give ``ph_dur.sum() == n_frames``."""

    def span(start: float, end: float, last: bool) -> tuple[int, int]:
        a = min(max(round(start * frames_per_second), 0), n_frames)
        b = min(max(round(end * frames_per_second), a), n_frames)
        if last and b >= n_frames - 1:  # the centred last frame lies half a hop past the final boundary
            b = n_frames
        return a, b

    ph_index = np.full(n_frames, -1, dtype=np.int32)
    ph_dur = np.zeros(len(item.phonemes), dtype=np.int32)
    for k, p in enumerate(item.phonemes):
        a, b = span(p.start, p.end, k == len(item.phonemes) - 1)
        ph_index[a:b] = k
        ph_dur[k] = b - a
    note_index = np.full(n_frames, -1, dtype=np.int32)
    note_pitch = np.zeros(n_frames, dtype=np.float32)
    for k, n in enumerate(item.notes):
        a, b = span(n.start, n.end, k == len(item.notes) - 1)
        note_index[a:b] = k
        note_pitch[a:b] = float(n.pitch) if n.pitch is not None else 0.0
    return {"ph_index": ph_index, "ph_dur": ph_dur, "note_index": note_index, "note_pitch": note_pitch}


# --- the worker --------------------------------------------------------------------------------------------


def _worker_init() -> None:
    # each worker is one process on one core: torch's own threads would only fight over the same cores
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)


def _clipped_fraction(path: Path, level: float) -> float:
    import soundfile as sf

    clipped = total = 0
    with sf.SoundFile(str(path)) as f:
        for block in f.blocks(blocksize=1 << 16, dtype="float32", always_2d=True):
            clipped += int(np.count_nonzero(np.abs(block) >= level))
            total += block.size
    return clipped / total if total else 0.0


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.3g} s"
    return f"{seconds / 60:.1f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def _header_problem(path: Path, config: AudioConfig, checks: Checks) -> tuple[str, str] | None:
    """What the file's header alone rules out (empty, too long, too low a rate), before any sample is read."""
    import soundfile as sf

    if path.stat().st_size == 0:
        return EMPTY, "the file is empty (0 bytes)"
    try:
        info = sf.info(str(path))
    except Exception:  # not audio at all: load_audio says what is wrong with it
        return None
    if info.frames <= 0 or info.samplerate <= 0:
        return EMPTY, "the file holds no samples"
    seconds = info.frames / info.samplerate
    if seconds > checks.max_seconds:
        return TOO_LONG, (
            f"{_duration(seconds)} long by its header; the limit is {_duration(checks.max_seconds)} "
            "(split long recordings into songs or phrases)"
        )
    lowest = checks.min_rate_fraction * config.sample_rate
    if info.samplerate < lowest:
        return LOW_RATE, (
            f"recorded at {info.samplerate} Hz: resampled to the model's {config.sample_rate} Hz it would hold "
            f"nothing above {info.samplerate / 2000:g} kHz (files from {lowest:.0f} Hz up are taken)"
        )
    return None


def _channel_problem(path: Path, checks: Checks) -> tuple[str | None, str | None]:
    """(why a file of several channels is left out, or None; what the report says about it, None for mono).

    Channels are mixed down to mono, which is only right when they carry the same voice: a channel unlike the
    loudest one (correlation below `Checks.min_channel_correlation`) holds another signal, e.g. the
    accompaniment, or is inverted and would cancel the voice in the mix.
    """
    import soundfile as sf

    if sf.info(str(path)).channels < 2:
        return None, None
    data, _ = sf.read(str(path), dtype="float32", always_2d=True)
    data = data[:: max(1, len(data) // 2_000_000)]  # a correlation needs no more samples than this
    data = data - data.mean(axis=0)
    power = (data.astype(np.float64) ** 2).mean(axis=0)
    live = [c for c in range(data.shape[1]) if power[c] > 10 ** (checks.silence_dbfs / 10)]
    note = f"{data.shape[1]} channels mixed down to mono"
    if len(live) < 2:
        return None, note
    ref = max(live, key=lambda c: power[c])
    for c in live:
        if c == ref:
            continue
        corr = float(np.dot(data[:, c], data[:, ref]) / len(data) / np.sqrt(power[c] * power[ref]))
        if corr < checks.min_channel_correlation:
            why = (
                "they would cancel out when mixed (one is inverted)"
                if corr < -checks.min_channel_correlation
                else "they hold different signals (voice and accompaniment?); give the voice channel alone"
            )
            return f"channel {c + 1} is unlike channel {ref + 1} (correlation {corr:.2f}): {why}", note
    return None, note


def _pitch_agreement(f0_hz: np.ndarray, vuv: np.ndarray, note_pitch: np.ndarray, tolerance: float):
    """(share of voiced frames inside notes within ``tolerance`` cents of their note, the same share with
    octaves folded, the number of such frames)."""
    voiced = (vuv > 0.5) & (f0_hz > 0) & (note_pitch > 0)
    n = int(voiced.sum())
    if n == 0:
        return 1.0, 1.0, 0
    cents = 1200 * np.log2(f0_hz[voiced] / (440.0 * 2 ** ((note_pitch[voiced] - 69) / 12)))
    within = float(np.mean(np.abs(cents) <= tolerance))
    folded = float(np.mean(np.abs((cents + 600) % 1200 - 600) <= tolerance))
    return within, folded, n


def _label_end(item: CorpusItem) -> float | None:
    ends = [p.end for p in item.phonemes] or [n.end for n in item.notes]
    return max(ends) if ends else None


def _align(item: CorpusItem, features: Any, config: AudioConfig, use_aligner: bool, seconds: float):
    """``(item, status, note)``: hand-labelled items pass through; score-timed ones go to the aligner."""
    if item.aligned:
        return item, HAND, None
    if not item.phonemes:
        return item, (UNALIGNED if item.notes else NONE), None
    if not use_aligner:
        return item, UNALIGNED, "alignment turned off (--no-align)"
    try:
        from vocalsynth.data.align import align_item
    except ImportError as e:
        return item, UNALIGNED, f"aligner not available ({e})"
    try:
        aligned = align_item(item, features, config)
    except Exception as e:  # a bug or a hopeless recording: keep the item, say so, train on score timings
        return item, UNALIGNED, f"aligner failed: {type(e).__name__}: {e}"
    times = [t for p in aligned.phonemes for t in (p.start, p.end)] if isinstance(aligned, CorpusItem) else []
    if not times or not all(math.isfinite(t) and -1e-3 <= t <= seconds + 0.05 for t in times):
        return item, UNALIGNED, "aligner returned timings outside the recording; score timings kept"
    return replace(aligned, aligned=True), ALIGNER, None


def _summary(item: CorpusItem, f0_hz: np.ndarray, vuv: np.ndarray) -> dict:
    from vocalsynth.audio.pitch import hz_to_midi

    voiced = f0_hz[(vuv > 0.5) & (f0_hz > 0)]
    midi = np.clip(np.round(hz_to_midi(voiced)).astype(np.int64), 0, 127) if voiced.size else np.zeros(0, int)
    phonemes: dict[str, list[float]] = {}
    for p in item.phonemes:
        c = phonemes.setdefault(p.symbol, [0, 0.0])
        c[0] += 1
        c[1] = round(c[1] + max(p.end - p.start, 0.0), 4)
    pitches = [n.pitch for n in item.notes if n.pitch is not None]
    return {
        "pitch_hist": np.bincount(midi, minlength=128).astype(int).tolist(),
        "phonemes": phonemes,
        "note_range": [min(pitches), max(pitches)] if pitches else None,
    }


def _skip(task: dict, reason: str, detail: str) -> dict:
    return {
        "status": "skipped",
        "corpus": task["corpus"],
        "id": task["id"],
        "reason": reason,
        "detail": detail,
        "audio": task["item"]["audio_path"],
        "seconds": 0.0,
    }


def _write_item(path: Path, arrays: dict[str, np.ndarray], item: CorpusItem, meta: dict) -> None:
    payload = dict(arrays)
    payload["item_json"] = np.array(item.to_json())
    payload["meta_json"] = np.array(json.dumps(meta))
    _write_atomic(path, lambda f: np.savez(f, **payload))


def process_item(task: dict) -> dict:
    """Worker: check, analyse, align and cache one item (``task['kind']`` 'new') or realign a cached one
    ('realign'). Never raises for a bad item: the result's ``status`` is 'done' or 'skipped'."""
    try:
        if task["kind"] == "realign":
            return _realign(task)
        return _process_new(task)
    except Exception as e:  # one bad file never stops the run
        return _skip(task, FAILED, f"{type(e).__name__}: {e}")


def _process_new(task: dict) -> dict:
    from vocalsynth.audio.features import extract_features
    from vocalsynth.audio.io import load_audio

    item = CorpusItem.from_dict(task["item"])
    config = AudioConfig.from_dict(task["config"])
    checks = Checks(**task["checks"])
    audio = Path(item.audio_path)
    if not audio.is_file():
        return _skip(task, MISSING_AUDIO, f"no audio file at {audio}")
    problem = _header_problem(audio, config, checks)
    if problem is not None:
        return _skip(task, *problem)
    try:
        x = load_audio(audio, config, max_seconds=checks.max_seconds)
    except AudioError as e:
        return _skip(task, CORRUPT, str(e))
    why, note = _channel_problem(audio, checks)
    if why is not None:
        return _skip(task, CHANNELS_DIFFER, why)
    warnings = [note] if note else []
    seconds = x.size / config.sample_rate
    if seconds < checks.min_seconds:
        return _skip(task, TOO_SHORT, f"{seconds:.2f} s long, shorter than {checks.min_seconds:g} s")
    level = float(np.percentile(np.abs(x), 99.9))
    if level < 10 ** (checks.silence_dbfs / 20):
        return _skip(task, SILENT, f"99.9 % of samples are below {checks.silence_dbfs:g} dBFS")
    clipped = _clipped_fraction(audio, checks.clip_level)
    if clipped > checks.max_clipped_fraction:
        return _skip(task, CLIPPED, f"{100 * clipped:.2f} % of samples at full scale")
    end = _label_end(item)
    if end is not None:
        if end > seconds + checks.length_tolerance + 0.01 * seconds:
            return _skip(
                task, LENGTH_MISMATCH, f"labels run to {end:.2f} s but the audio is {seconds:.2f} s long"
            )
        if item.aligned and item.phonemes and end < seconds - checks.max_unlabelled_tail - 0.1 * seconds:
            return _skip(
                task, LENGTH_MISMATCH, f"labels end at {end:.2f} s but the audio is {seconds:.2f} s long"
            )

    features = extract_features(x, config, task["f0_method"])
    labelled, status, note = _align(item, features, config, task["align"], seconds)
    arrays = features.as_arrays()
    if task["store_audio"]:
        arrays["audio"] = np.round(np.clip(x, -1.0, 1.0) * 32767).astype(np.int16)
    arrays.update(frame_labels(labelled, features.n_frames, config.frames_per_second))
    within, folded, judged = _pitch_agreement(
        features.f0_hz, features.vuv, arrays["note_pitch"], checks.pitch_tolerance_cents
    )
    if judged >= checks.min_judged_frames and within < checks.min_pitch_agreement:
        hint = (
            f"; {100 * folded:.0f} % do an octave away: the notes (or the F0) may be an octave off"
            if folded >= checks.min_pitch_agreement
            else "; the labels may belong to another recording"
        )
        return _skip(
            task,
            MISLABELLED,
            f"the singing does not follow the labelled notes: {100 * within:.0f} % of {judged} voiced frames "
            f"lie within {checks.pitch_tolerance_cents / 100:g} semitones of their note" + hint,
        )
    meta = {
        "format": FORMAT,
        "key": task["key"],
        "audio_config": config.to_dict(),
        "f0_method": task["f0_method"],
        "seconds": seconds,
        "n_frames": features.n_frames,
        "alignment": status,
        "alignment_note": note,
        "clipped_fraction": clipped,
        "warnings": warnings,
        "source_item": item.to_dict() if labelled is not item else None,
        **_summary(labelled, features.f0_hz, features.vuv),
    }
    _write_item(Path(task["path"]), arrays, labelled, meta)
    return {
        "status": "done",
        "corpus": task["corpus"],
        "id": task["id"],
        "seconds": seconds,
        "meta": meta,
        "item": labelled.to_dict(),
    }


def _realign(task: dict) -> dict:
    from vocalsynth.audio.features import Features

    path = Path(task["path"])
    config = AudioConfig.from_dict(task["config"])
    stored = read_item_meta(path)
    if stored is None:
        return _skip(task, FAILED, f"cached file {path} became unreadable")
    item_dict, meta = stored
    arrays = load_item_arrays(path)
    features = Features(**{k: arrays[k] for k in FEATURE_KEYS})
    item = CorpusItem.from_dict(item_dict)
    labelled, status, note = _align(item, features, config, True, meta["seconds"])
    if status != ALIGNER:  # still no luck: leave the file as it is
        meta["alignment_note"] = note
        return {
            "status": "cached",
            "corpus": task["corpus"],
            "id": task["id"],
            "seconds": 0.0,
            "meta": meta,
            "item": item_dict,
        }
    arrays.update(frame_labels(labelled, features.n_frames, config.frames_per_second))
    meta.update(
        alignment=status,
        alignment_note=None,
        source_item=item_dict,
        **_summary(labelled, features.f0_hz, features.vuv),
    )
    _write_item(path, arrays, labelled, meta)
    return {
        "status": "realigned",
        "corpus": task["corpus"],
        "id": task["id"],
        "seconds": 0.0,
        "meta": meta,
        "item": labelled.to_dict(),
    }


# --- split ----------------------------------------------------------------------------------------------


def song_hash(corpus: str, song: str) -> float:
    """A stable number in [0, 1) for a song; the split holds out the songs below the fraction."""
    return int(hashlib.sha1(f"{corpus}/{song}".encode()).hexdigest()[:15], 16) / 16**15


def assign_splits(
    songs_by_corpus: dict[str, Iterable[str]], fraction: float = 0.05, min_songs: int = 10
) -> dict[str, set[str]]:
    """``{corpus: held-out songs}``: songs hashing below ``fraction``, at least one for a corpus of
    ``min_songs`` songs or more; smaller corpora hold nothing out (one song would be too big a share)."""
    held: dict[str, set[str]] = {}
    for corpus, songs in songs_by_corpus.items():
        songs = sorted(set(songs))
        if len(songs) < min_songs:
            held[corpus] = set()
            continue
        chosen = {s for s in songs if song_hash(corpus, s) < fraction}
        held[corpus] = chosen or {min(songs, key=lambda s: song_hash(corpus, s))}
    return held


# --- the run -----------------------------------------------------------------------------------------------


class _Progress:
    """One status line on stderr: items, minutes of audio, skips, speed; redrawn in place on a terminal."""

    def __init__(self, total: int, total_seconds: float, enabled: bool, stream: Any = None):
        self.total, self.total_seconds, self.enabled = total, total_seconds, enabled
        self.stream = stream or sys.stderr
        self.n = self.skipped = 0
        self.seconds = 0.0
        self.start = self.last = time.monotonic()
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def update(self, result: dict) -> None:
        self.n += 1
        self.skipped += result["status"] == "skipped"
        self.seconds += result.get("seconds", 0.0)
        now = time.monotonic()
        if self.enabled and (self.tty or now - self.last > 10 or self.n == self.total):
            self.last = now
            elapsed = max(now - self.start, 1e-9)
            rate = self.seconds / elapsed
            left = max(self.total_seconds - self.seconds, 0.0)
            eta = f", ETA {left / rate / 60:.1f} min" if rate > 0 and self.n < self.total else ""
            line = (
                f"preprocess: {self.n}/{self.total} items, {self.seconds / 60:.1f}/{self.total_seconds / 60:.1f} "
                f"min of audio, {self.skipped} skipped, {rate:.2f}x real time{eta}"
            )
            self.stream.write(("\r" + line + " " * 4) if self.tty else line + "\n")
            self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.tty and self.n:
            self.stream.write("\n")


def _sources(pairs: Sequence[Source | tuple]) -> list[Source]:
    out = []
    for p in pairs:
        if isinstance(p, Source):
            out.append(p)
        elif len(p) == 2:
            out.append(Source(p[0], Path(p[1])))
        elif len(p) == 3:
            out.append(Source(p[0], Path(p[1]), **(p[2] or {})))
        else:
            raise CorpusError(f"expected (corpus, data folder[, options]), got {p!r}")
    return out


def check_cache(out: Path, config: AudioConfig, f0_method: str) -> None:
    """Refuse a cache made with another AudioConfig or F0 method; start a new one when there is none."""
    path = out / "cache.json"
    if path.exists():
        try:
            cache = json.loads(path.read_text(encoding="utf-8"))
            cached = AudioConfig.from_dict(cache["audio_config"], source=str(path))
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise CorpusError(
                f"not a vocalsynth feature cache ({e}); choose another --out", source=str(path)
            ) from None
        cached.check_compatible(config, what_self=f"the cache in {out}", what_other="this run")
        if cache.get("f0_method") != f0_method:
            raise CorpusError(
                f"the cache was made with F0 method {cache.get('f0_method')!r} but this run asks for {f0_method!r}; "
                "use the same method or another --out",
                source=str(path),
            )
        return
    write_json(path, {"format": FORMAT, "audio_config": config.to_dict(), "f0_method": f0_method})


def _aligner_available() -> bool:
    try:
        from vocalsynth.data.align import align_item  # noqa: F401
    except Exception:
        return False
    return True


def _write_labels(out: Path, item: CorpusItem) -> None:
    """``out/labels/<corpus>/<id>.lab``: the phoneme timings the models train on, as HTS mono labels a
    person can open (Audacity, Praat via conversion, any text editor), check and correct; `apply_lab`
    in :mod:`vocalsynth.data.align_lab` reads a corrected file back."""
    from vocalsynth.data.align_lab import format_lab

    path = out / "labels" / item.corpus / f"{item.id}.lab"
    text = format_lab(item, "hts")
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_atomic(path, lambda f: f.write(text), mode="w")


def preprocess(
    pairs: Sequence[Source | tuple],
    out: Path,
    config: AudioConfig | None = None,
    workers: int = 2,
    f0_method: str = "harvest",
    *,
    licence: str | None = None,
    allow_unlicensed: bool = False,
    align: bool = True,
    store_audio: bool = True,
    checks: Checks | None = None,
    validation_fraction: float = 0.05,
    min_songs_for_validation: int = 10,
    progress: bool = True,
    on_item: Callable[[dict], None] | None = None,
) -> PreprocessResult:
    """Read each ``(corpus, data folder)`` pair with its adapter and cache every item's features in ``out``.

    ``pairs``: ``(corpus, data)``, ``(corpus, data, {"licence": ..., "singer": ..., "language": ...})`` or
    `Source`. ``licence`` is used for corpora without one of their own; a corpus still without a licence is
    refused unless ``allow_unlicensed``. ``workers`` processes (spawned, one torch thread each; 1 runs
    in this process). ``on_item(result)`` is called after each item is finished. Raises `CorpusError` for
    an unusable corpus folder or option and `AudioConfigMismatch` for a cache made with other settings;
    single bad items are skipped and reported (``out/skipped.json``).
    """
    t0 = time.monotonic()
    config = config or AudioConfig()
    checks = checks or Checks()
    out = Path(out)
    if f0_method not in F0_METHODS:
        raise CorpusError(f"unknown F0 method {f0_method!r}; choose one of {', '.join(F0_METHODS)}")
    sources = _sources(pairs)
    if not sources:
        raise CorpusError("no corpus given (--corpus NAME --data DIR)")
    corpora: list[tuple[Source, Corpus, str | None]] = []
    for src in sources:
        corpus = get_corpus(src.corpus)
        if not Path(src.data).is_dir():
            raise CorpusError("data folder not found", source=str(src.data), where=f"corpus {src.corpus}")
        lic = src.licence or corpus.licence or licence
        if not lic and not allow_unlicensed:
            raise CorpusError(
                f'corpus {src.corpus!r} has no licence: pass --licence "..." naming the licence of these '
                "recordings (it travels into the manifest and the voice card), or --allow-unlicensed",
                source=str(src.data),
            )
        corpora.append((src, corpus, lic or None))
        data, where = Path(src.data).resolve(), out.resolve()
        if where == data or data in where.parents:
            raise CorpusError(
                f"the output folder {out} is inside the corpus folder: preprocessing never writes into its "
                "inputs; choose an --out elsewhere",
                source=str(src.data),
            )

    # list every item first: a corpus folder that can't be read at all stops here, before any work
    skipped: list[Skipped] = []
    listed: list[tuple[CorpusItem, Source, Corpus]] = []
    seen: set[tuple[str, str]] = set()
    for src, corpus, lic in corpora:

        def skip(item_id: str, reason: str, detail: str, _c: str = src.corpus) -> None:
            skipped.append(Skipped(_c, item_id, reason, detail))

        for item in corpus.read(src.data, skip=skip, language=src.language):
            changes: dict[str, Any] = {"licence": lic or ""}
            if src.singer:
                changes["singer"] = src.singer
            if src.language and "language" not in corpus.options:
                changes["language"] = src.language
            item = replace(item, **changes)
            if (item.corpus, item.id) in seen:
                skipped.append(
                    Skipped(
                        item.corpus,
                        item.id,
                        DUPLICATE,
                        f"a second item with this id ({item.audio_path})",
                        item.audio_path,
                    )
                )
                continue
            seen.add((item.corpus, item.id))
            listed.append((item, src, corpus))

    out.mkdir(parents=True, exist_ok=True)
    check_cache(out, config, f0_method)
    for stale in (out / "items").glob("*/.*.part"):  # half-written files of a killed run
        with contextlib.suppress(OSError):
            stale.unlink()

    use_aligner = align and _aligner_available()
    tasks: list[dict] = []
    finished: dict[tuple[str, str], dict] = {}  # (corpus, id) -> {"meta":..., "item":...}
    for item, _, _ in listed:
        path = item_file(out, item.corpus, item.id)
        key = item_key(item)
        base = {
            "corpus": item.corpus,
            "id": item.id,
            "path": str(path),
            "config": config.to_dict(),
            "f0_method": f0_method,
            "align": align,
            "store_audio": store_audio,
            "checks": vars(checks),
            "key": key,
            "item": item.to_dict(),
        }
        stored = read_item_meta(path) if path.exists() else None
        if stored is not None and stored[1].get("key") == key:
            cached_item, meta = stored
            AudioConfig.from_dict(meta["audio_config"], source=str(path)).check_compatible(
                config, what_self=f"cached item {path}", what_other="this run"
            )
            if use_aligner and meta.get("alignment") == UNALIGNED and cached_item.get("phonemes"):
                tasks.append({**base, "kind": "realign"})
            else:
                finished[(item.corpus, item.id)] = {"meta": meta, "item": cached_item, "status": "cached"}
            continue
        tasks.append({**base, "kind": "new"})

    n_cached = len(finished)
    sizes = {t["path"]: _seconds_hint(t) for t in tasks}
    tasks.sort(key=lambda t: -sizes[t["path"]])  # longest first: the pool ends with short items, evenly
    bar = _Progress(len(tasks), sum(sizes.values()), progress)
    done = realigned = 0
    processed = 0.0

    def handle(result: dict) -> None:
        nonlocal done, realigned, processed
        bar.update(result)
        if result["status"] == "skipped":
            skipped.append(
                Skipped(
                    result["corpus"],
                    result["id"],
                    result["reason"],
                    result["detail"],
                    result.get("audio", ""),
                )
            )
        else:
            finished[(result["corpus"], result["id"])] = result
            done += result["status"] == "done"
            realigned += result["status"] == "realigned"
            processed += result.get("seconds", 0.0)
        if on_item is not None:
            on_item(result)

    try:
        _run_tasks(tasks, workers, handle)
    finally:
        bar.close()

    manifest = build_manifest(
        out,
        listed,
        finished,
        config,
        f0_method,
        corpora,
        checks=checks,
        fraction=validation_fraction,
        min_songs=min_songs_for_validation,
    )
    warnings = [
        {"corpus": c, "id": i, "detail": r["meta"]["alignment_note"]}
        for (c, i), r in sorted(finished.items())
        if r["meta"].get("alignment") == UNALIGNED and r["meta"].get("alignment_note")
    ] + [
        {"corpus": c, "id": i, "detail": note}
        for (c, i), r in sorted(finished.items())
        for note in r["meta"].get("warnings", [])
    ]
    write_json(out / "manifest.json", manifest)
    write_json(out / "skipped.json", {"skipped": [s.to_dict() for s in skipped], "warnings": warnings})
    from vocalsynth.data.stats import compute_stats, write_stats

    metas = {(c, i): r["meta"] for (c, i), r in finished.items()}
    stats = compute_stats(manifest, metas, skipped)
    write_stats(out, stats)
    return PreprocessResult(
        out=out,
        manifest=manifest,
        skipped=skipped,
        warnings=warnings,
        stats=stats,
        done=done,
        cached=n_cached,
        realigned=realigned,
        processed_seconds=processed,
        wall_seconds=time.monotonic() - t0,
    )


def _seconds_hint(task: dict) -> float:
    from vocalsynth.data.corpora._common import audio_seconds

    if task["kind"] == "realign":
        return 0.0
    return audio_seconds(Path(task["item"]["audio_path"])) or 0.0


def _run_tasks(tasks: list[dict], workers: int, handle: Callable[[dict], None]) -> None:
    if not tasks:
        return
    if workers <= 1 or len(tasks) == 1:
        for task in tasks:
            handle(process_item(task))
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    # spawn, not fork: a forked child would inherit torch's thread pools and any open state of the parent
    pool = ProcessPoolExecutor(
        max_workers=min(workers, len(tasks)),
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_worker_init,
    )
    try:
        futures = {pool.submit(process_item, t): t for t in tasks}
        for fut in as_completed(futures):
            try:
                result = fut.result()
            except BrokenProcessPool:
                result = _skip(
                    futures[fut], FAILED, "the worker process died (out of memory?); rerun to retry"
                )
            handle(result)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def build_manifest(
    out: Path,
    listed: list[tuple[CorpusItem, Source, Corpus]],
    finished: dict[tuple[str, str], dict],
    config: AudioConfig,
    f0_method: str,
    corpora: list[tuple[Source, Corpus, str | None]],
    *,
    checks: Checks,
    fraction: float,
    min_songs: int,
) -> dict:
    """The manifest: kept items in listing order with their split, per-corpus totals and the id tables."""
    kept = [(item, corpus) for item, _, corpus in listed if (item.corpus, item.id) in finished]
    songs: dict[str, list[str]] = {}
    for item, corpus in kept:
        songs.setdefault(item.corpus, []).append(corpus.song_of(item.id))
    held = assign_splits(songs, fraction, min_songs)
    entries = []
    for item, corpus in kept:
        r = finished[(item.corpus, item.id)]
        meta, labelled = r["meta"], r["item"]
        song = corpus.song_of(item.id)
        if labelled.get("phonemes"):
            _write_labels(out, CorpusItem.from_dict(labelled))
        entries.append(
            {
                "id": item.id,
                "corpus": item.corpus,
                "song": song,
                "split": VALIDATION if song in held[item.corpus] else TRAIN,
                "path": item_file(out, item.corpus, item.id).relative_to(out).as_posix(),
                "audio": item.audio_path,
                "licence": item.licence or None,
                "language": item.language,
                "singer": item.singer,
                "seconds": round(meta["seconds"], 3),
                "minutes": round(meta["seconds"] / 60, 4),
                "n_frames": meta["n_frames"],
                "aligned": meta["alignment"] in (HAND, ALIGNER),
                "alignment": meta["alignment"],
                "n_notes": len(labelled.get("notes", [])),
                "n_phonemes": len(labelled.get("phonemes", [])),
            }
        )
    summary: dict[str, dict] = {}
    for src, corpus, lic in corpora:
        mine = [e for e in entries if e["corpus"] == src.corpus]
        c = summary.setdefault(
            src.corpus, {"data": [], "licence": lic, "unlicensed": not lic, "description": corpus.description}
        )
        c["data"].append(str(Path(src.data).resolve()))
        c.update(
            items=len(mine),
            minutes=round(sum(e["seconds"] for e in mine) / 60, 3),
            songs=len({e["song"] for e in mine}),
            validation_songs=len({e["song"] for e in mine if e["split"] == VALIDATION}),
        )
    return {
        "format": FORMAT,
        "audio_config": config.to_dict(),
        "f0_method": f0_method,
        "checks": vars(checks),
        "validation_fraction": fraction,
        "corpora": summary,
        "splits": {s: sum(e["split"] == s for e in entries) for s in (TRAIN, VALIDATION)},
        "phonemes": sorted({sym for r in finished.values() for sym in r["meta"].get("phonemes", {})}),
        "singers": sorted({e["singer"] for e in entries}),
        "languages": sorted({e["language"] for e in entries}),
        "items": entries,
    }


# --- command line ------------------------------------------------------------------------------------------


class _SourceAction(argparse.Action):
    """``--corpus`` opens a new source; ``--data``, ``--licence``, ``--singer``, ``--language`` after it
    belong to it (before any ``--corpus`` they are defaults for all)."""

    def __call__(self, parser, namespace, values, option_string=None):
        sources = getattr(namespace, "sources", None) or []
        if self.dest == "corpus":
            sources.append({"corpus": values})
        elif sources:
            if self.dest in sources[-1]:
                parser.error(f"{option_string} given twice for --corpus {sources[-1]['corpus']}")
            sources[-1][self.dest] = values
        elif self.dest == "data":
            parser.error("--data must follow the --corpus it belongs to")
        else:
            setattr(namespace, f"default_{self.dest}", values)
        namespace.sources = sources


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``vocalsynth preprocess`` (see :func:`run`)."""
    from vocalsynth.data.corpora import CORPORA

    parser.set_defaults(sources=[], default_licence=None, default_singer=None, default_language=None)
    parser.add_argument(
        "--corpus",
        action=_SourceAction,
        choices=sorted(CORPORA),
        required=True,
        help="corpus layout; repeat --corpus NAME --data DIR for several corpora",
    )
    parser.add_argument("--data", action=_SourceAction, help="the corpus folder (after its --corpus)")
    parser.add_argument(
        "--licence",
        "--license",
        action=_SourceAction,
        dest="licence",
        help="licence of the recordings (after a --corpus: for it, before: for corpora without one)",
    )
    parser.add_argument("--singer", action=_SourceAction, help="singer name to record for the corpus")
    parser.add_argument(
        "--language",
        action=_SourceAction,
        help="language of the corpus' phonemes (DiffSinger: tags untagged phonemes)",
    )
    parser.add_argument("--out", type=Path, required=True, help="output folder (the cache; resumable)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument(
        "--f0-method",
        choices=F0_METHODS,
        default="harvest",
        help="WORLD F0 tracker: harvest (accurate, slow; default) or dio (fast)",
    )
    parser.add_argument(
        "--audio-config", type=Path, help="YAML/JSON file of AudioConfig fields (default: defaults)"
    )
    parser.add_argument(
        "--no-align", action="store_true", help="keep score timings of unaligned corpora (PJS)"
    )
    parser.add_argument("--allow-unlicensed", action="store_true", help="accept corpora without a licence")
    parser.add_argument(
        "--no-audio", action="store_true", help="don't store the resampled audio (acoustic-only)"
    )
    parser.add_argument("--min-seconds", type=float, default=Checks.min_seconds, help="shortest item kept")
    parser.add_argument("--quiet", action="store_true", help="no progress line")


def _read_audio_config(path: Path | None) -> AudioConfig:
    if path is None:
        return AudioConfig()
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise CorpusError(f"can't read the audio configuration: {e}", source=str(path)) from None
    if isinstance(data, dict) and "audio_config" in data:  # a cache.json or manifest.json
        data = data["audio_config"]
    return AudioConfig.from_dict(data or {}, source=str(path))


def run(args: argparse.Namespace) -> int:
    """``vocalsynth preprocess``: prints the summary (skips, minutes, throughput); 0 on success, 2 on an
    unusable corpus, option or cache (the message says which)."""
    try:
        sources = []
        for s in args.sources:
            if "data" not in s:
                raise CorpusError(f"--corpus {s['corpus']} needs --data DIR after it")
            sources.append(
                Source(
                    s["corpus"],
                    Path(s["data"]),
                    licence=s.get("licence"),
                    singer=s.get("singer") or args.default_singer,
                    language=s.get("language") or args.default_language,
                )
            )
        result = preprocess(
            sources,
            args.out,
            _read_audio_config(args.audio_config),
            workers=args.workers,
            f0_method=args.f0_method,
            licence=args.default_licence,
            allow_unlicensed=args.allow_unlicensed,
            align=not args.no_align,
            store_audio=not args.no_audio,
            checks=Checks(min_seconds=args.min_seconds),
            progress=not args.quiet,
        )
    except (CorpusError, AudioError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(result.summary())
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="vocalsynth preprocess", description=__doc__.split("\n")[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
