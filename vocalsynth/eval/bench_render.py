"""Rendering speed for `vocalsynth bench`: benchmark songs made from an example melody, and per-stage
real-time factors, time to the first phrase's audio and peak memory of one `Synthesizer.sing` call.

Stage times come from `Rendering.stage_seconds` (the synthesizer's own per-stage clock: ``frontend`` =
reading the score + phrases + phonemes, ``acoustic`` = `AcousticModel.infer`, ``vocoder``); ``other`` is
the rest of the call (joining phrases, cache keys). A real-time factor (RTF) is seconds of compute per
second of audio. Memory: peak resident set (RSS) of the process during the call and its growth over the
RSS before it (Linux: the kernel's high-water mark ``VmHWM``, reset through ``/proc/self/clear_refs``, so
the peak is exact; elsewhere ``ru_maxrss``, the process's peak since it started), and, in a separate
render, the peak of Python-heap allocations under `tracemalloc` (NumPy arrays included; torch tensors
are not traced, as torch allocates outside Python's allocator).
"""

from __future__ import annotations

import math
import os
import resource
import statistics
import sys
import time
import tracemalloc
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vocalsynth.errors import InputError
from vocalsynth.score import Note, Score, Tempo, load_score
from vocalsynth.score.notation import dumps

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sakura_ja.txt"
EXAMPLE_KEY_SHIFT = -12  # the example is written around C5; the default voice sings A#2-G4
GAP_BEATS = 1.0  # rest between two repeats of the melody
GRID = 8  # song lengths are rounded to 1/8 of a quarter note, a length the notation writes exactly
STAGES = ("frontend", "acoustic", "vocoder")
MB = 1024 * 1024


class BenchError(InputError):
    """A benchmark setting or song that can't be used (the message names it)."""


# --- songs --------------------------------------------------------------------------------------------------


def load_example(path: str | os.PathLike | None = None) -> Score:
    """The melody the benchmark songs repeat (default: ``examples/sakura_ja.txt`` of a source checkout)."""
    path = Path(path) if path is not None else EXAMPLE
    if not path.is_file():
        raise BenchError(
            "example song not found (it ships with a source checkout, not the wheel); pass --song FILE",
            source=str(path),
        )
    score = load_score(path)
    if len({t.bpm for t in score.tempos}) != 1:
        raise BenchError(
            "a benchmark song is repeated at one tempo; this song changes tempo", source=str(path)
        )
    return score


def phrase_starts(example: Score) -> list[int]:
    """Indices of the example's notes that begin a phrase: the first note and each sung note after a rest."""
    notes = example.notes
    starts = [0]
    for i in range(1, len(notes)):
        if notes[i - 1].is_rest and not notes[i].is_rest and not notes[i].slur:
            starts.append(i)
    return starts


def bench_song(
    example: Score, seconds: float, *, transpose: int = 0, start: int = 0, lead_rest: bool = False
) -> Score:
    """A song of ``seconds`` (rounded to a 32nd note) of score time: ``example``'s notes from note ``start``
    on, cycled with a one-beat rest between repeats and shifted by ``transpose`` semitones, cut before the
    first note that would not fit, then a rest up to the length. ``lead_rest`` starts it with a one-beat rest.
    """
    if not math.isfinite(seconds) or seconds <= 0:
        raise BenchError(f"a song length must be a positive number of seconds, got {seconds!r}")
    source = example.notes
    if not source or not any(not n.is_rest for n in source):
        raise BenchError("the example has no sung notes", source=example.source)
    if not 0 <= start < len(source) or source[start].slur:
        raise BenchError(f"note {start} does not start a phrase", source=example.source)
    bpm = example.tempos[0].bpm
    total = max(1, round(seconds * bpm / 60 * GRID)) / GRID  # beats
    notes: list[Note] = []
    beat = 0.0

    def add(note: Note | None, length: float, where: str) -> None:
        nonlocal beat
        if note is None or note.is_rest:
            if notes and notes[-1].is_rest:  # one rest, not two in a row
                last = notes[-1]
                notes[-1] = last.replace(
                    duration=last.duration + length * 60 / bpm, duration_beats=last.duration_beats + length
                )
            else:
                notes.append(Note(beat * 60 / bpm, length * 60 / bpm, None, "", beat, length, where=where))
        else:
            notes.append(
                note.replace(
                    start=beat * 60 / bpm,
                    duration=length * 60 / bpm,
                    start_beat=beat,
                    duration_beats=length,
                    pitch=note.pitch + transpose,
                    phoneme_durations=None,
                    where=where,
                )
            )
        beat += length

    if lead_rest and total > GAP_BEATS:
        add(None, GAP_BEATS, "lead rest")
    k, repeat = start, 1
    while True:
        note = source[k]
        if beat + note.duration_beats > total + 1e-9:
            break
        add(note, note.duration_beats, f"repeat {repeat}, {note.where or f'note {k + 1}'}")
        k += 1
        if k == len(source):
            k, repeat = 0, repeat + 1
            if beat + GAP_BEATS > total + 1e-9:
                break
            add(None, GAP_BEATS, f"rest after repeat {repeat - 1}")
    if total - beat > 1e-9:
        add(None, total - beat, "closing rest")
    if not any(not n.is_rest for n in notes):
        raise BenchError(
            f"{seconds:g} s is shorter than the example's first note ({source[start].duration:.2f} s)",
            source=example.source,
        )
    title = f"{example.title or Path(example.source).stem} ({seconds:g} s, vocalsynth bench)"
    return Score(
        notes=notes,
        tempos=[Tempo(0.0, bpm)],
        time_signatures=example.time_signatures[:1],
        title=title,
        language=example.language,
        source=f"<bench song {seconds:g} s>",
    )


def song_text(song: Score) -> str:
    """``song`` in the text notation: what the benchmark hands to `Synthesizer.sing`, so the frontend time
    includes reading the score."""
    return dumps(song).decode("utf-8")


# --- memory -------------------------------------------------------------------------------------------------

_CLEAR_REFS = Path("/proc/self/clear_refs")
_STATUS = Path("/proc/self/status")


def _status_kb(field_name: str) -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def _ru_maxrss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # kB on Linux, bytes on macOS


class PeakRSS:
    """Peak resident set of this process over a ``with`` block: ``peak_mb``, ``before_mb``, ``method``.

    Linux: the high-water mark ``VmHWM`` is reset by writing ``5`` to ``/proc/self/clear_refs`` on entry
    and read on exit (exact, no sampling). Elsewhere, or where the reset is refused: ``ru_maxrss``, the
    peak since the process started, which a larger earlier peak hides.
    """

    def __init__(self) -> None:
        self.method = "ru_maxrss (process peak since start)"
        self.before_mb = math.nan
        self.peak_mb = math.nan

    def __enter__(self) -> PeakRSS:
        rss = _status_kb("VmRSS")
        try:
            _CLEAR_REFS.write_text("5")
            if rss is not None and _status_kb("VmHWM") is not None:
                self.method = "VmHWM reset via /proc/self/clear_refs"
        except OSError:
            pass
        self.before_mb = rss / 1024 if rss is not None else _ru_maxrss_bytes() / MB
        return self

    def __exit__(self, *exc: Any) -> None:
        hwm = _status_kb("VmHWM") if self.method.startswith("VmHWM") else None
        self.peak_mb = hwm / 1024 if hwm is not None else _ru_maxrss_bytes() / MB

    @property
    def growth_mb(self) -> float:
        return self.peak_mb - self.before_mb


# --- one render ---------------------------------------------------------------------------------------------


@dataclass
class RenderRun:
    """One song rendered with one vocoder (the repeat with the median wall time, of ``walls``)."""

    vocoder: str
    audio_seconds: float
    phrases: int
    wall_seconds: float
    stage_seconds: dict[str, float]
    first_audio_seconds: float
    peak_rss_mb: float
    rss_growth_mb: float
    python_peak_mb: float | None
    walls: list[float] = field(default_factory=list)

    def rtf(self, stage: str | None = None) -> float:
        """Real-time factor of ``stage`` (``frontend``, ``acoustic``, ``vocoder``, ``other``; None: all)."""
        seconds = self.wall_seconds if stage is None else self.stage_seconds[stage]
        return seconds / self.audio_seconds if self.audio_seconds > 0 else math.nan

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["rtf"] = {"total": self.rtf(), **{s: self.rtf(s) for s in self.stage_seconds}}
        return out


def _timed_render(synth: Any, text: str, vocoder: str | None) -> tuple[Any, float, float, PeakRSS]:
    """Render ``text`` from an empty phrase cache: (rendering, wall seconds, seconds to the first phrase's
    audio, memory). The first phrase's time is taken when `sing` hands its first chunk to ``progress``:
    the moment `Synthesizer.sing_iter` would yield it (both run the same phrase loop)."""
    synth.clear_cache()
    first: list[float] = []
    with PeakRSS() as memory:
        t0 = time.perf_counter()
        rendering = synth.sing(
            text,
            vocoder=vocoder,
            conformance=False,
            progress=lambda chunk: first.append(time.perf_counter()) if not first else None,
        )
        wall = time.perf_counter() - t0
    return rendering, wall, (first[0] - t0) if first else math.nan, memory


def measure_render(
    synth: Any, text: str, vocoder: str | None = None, *, repeats: int = 3, trace_python: bool = True
) -> RenderRun:
    """Render ``text`` ``repeats`` times from an empty phrase cache with ``vocoder`` (None: the voice's,
    "world": the WORLD baseline), conformance off, and keep the repeat with the median wall time; then, with
    ``trace_python``, once more under `tracemalloc` for the Python-heap peak (timings of that render unused)."""
    runs = [_timed_render(synth, text, vocoder) for _ in range(max(1, repeats))]
    walls = [w for _, w, _, _ in runs]
    rendering, wall, first, memory = sorted(runs, key=lambda r: r[1])[(len(runs) - 1) // 2]
    stages = {s: float(rendering.stage_seconds.get(s, 0.0)) for s in STAGES}
    stages["other"] = max(0.0, wall - sum(stages.values()))
    python_peak = None
    if trace_python:
        synth.clear_cache()
        tracemalloc.start()
        try:
            synth.sing(text, vocoder=vocoder, conformance=False)
            python_peak = tracemalloc.get_traced_memory()[1] / MB
        finally:
            tracemalloc.stop()
    return RenderRun(
        vocoder=rendering.vocoder,
        audio_seconds=rendering.duration,
        phrases=rendering.phrases,
        wall_seconds=wall,
        stage_seconds=stages,
        first_audio_seconds=first,
        peak_rss_mb=memory.peak_mb,
        rss_growth_mb=memory.growth_mb,
        python_peak_mb=python_peak,
        walls=walls,
    )


def measure_conformance(synth: Any, text: str, f0_method: str = "nccf", repeats: int = 1) -> dict[str, Any]:
    """Time the conformance measurement alone: `sing` with conformance on, right after a render of the same
    song (every phrase then comes from the cache, and ``stage_seconds["conformance"]`` is the measurement);
    the median of ``repeats`` such measurements."""
    times = []
    rendering = None
    for _ in range(max(1, repeats)):
        rendering = synth.sing(text, conformance=True, f0_method=f0_method)
        times.append(float(rendering.stage_seconds.get("conformance", math.nan)))
    assert rendering is not None
    report = rendering.conformance
    seconds = float(statistics.median(times))
    return {
        "method": f0_method,
        "seconds": seconds,
        "repeats": len(times),
        "rtf": seconds / rendering.duration if rendering.duration else math.nan,
        "within_50_cents": None if report is None or not report.notes else report.within_fraction,
        "notes": 0 if report is None else report.n_notes,
    }


def ratios(neural: RenderRun, world: RenderRun) -> dict[str, float]:
    """neural / WORLD for the total and per-stage RTF, the first phrase's time and the memory figures."""

    def ratio(a: float | None, b: float | None) -> float:
        if a is None or b is None or not b or not math.isfinite(a) or not math.isfinite(b):
            return math.nan
        return a / b

    out = {"total": ratio(neural.rtf(), world.rtf())}
    out.update({s: ratio(neural.rtf(s), world.rtf(s)) for s in STAGES})
    out["first_audio"] = ratio(neural.first_audio_seconds, world.first_audio_seconds)
    out["peak_rss"] = ratio(neural.peak_rss_mb, world.peak_rss_mb)
    out["python_peak"] = ratio(neural.python_peak_mb, world.python_peak_mb)
    return out
