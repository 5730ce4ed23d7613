"""One render of the demo: settings in, the labelled WAV, the score downloads (MIDI, USTX, .ds), the
spectrogram/F0 figure and the conformance report out. Calls the Python API only (`Synthesizer.sing`,
`Rendering.save`, `save_score`)."""

from __future__ import annotations

import atexit
import dataclasses
import math
import re
import shutil
import tempfile
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vocalsynth.demo.limits import DemoError, DemoLimits
from vocalsynth.demo.scoring import NOTATION_SOURCE, TABLE_SOURCE, suggest_key_shift
from vocalsynth.demo.voices import SynthesizerPool, voice_range
from vocalsynth.score import Score, pitch_name, save_score

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from vocalsynth.synthesis.rendering import Rendering

LANGUAGES = ("auto", "en", "ja", "zh")
SCORE_DOWNLOADS = (".mid", ".ustx", ".ds")
# the demo's control ranges (a subset of what `Controls` allows: the part a listener would try)
CONTROL_RANGES: dict[str, tuple[float, float]] = {
    "key_shift": (-24.0, 24.0),
    "tempo": (0.5, 2.0),
    "vibrato": (0.0, 3.0),
    "vibrato_rate": (0.5, 2.0),
    "breathiness": (-2.0, 2.0),
    "tension": (-2.0, 2.0),
    "gender": (-2.0, 2.0),
    "dynamics": (-20.0, 10.0),
    "pitch_correction": (0.0, 1.0),
}


@dataclass(frozen=True)
class RenderSettings:
    """What the visitor chose: the voice, the lyrics' language (``"auto"``: from the score), whether to fit
    the key to the voice's range (then ``key_shift`` is ignored and the suggested octave shift used), and
    the controls, each within `CONTROL_RANGES`."""

    voice: str
    language: str = "auto"
    fit_range: bool = True
    key_shift: float = 0.0
    tempo: float = 1.0
    vibrato: float = 1.0
    vibrato_rate: float = 1.0
    breathiness: float = 0.0
    tension: float = 0.0
    gender: float = 0.0
    dynamics: float = 0.0
    pitch_correction: float = 0.5

    def checked(self) -> RenderSettings:
        """Self with numbers as floats; `DemoError` naming the control that is missing or out of range."""
        if self.language not in LANGUAGES:
            raise DemoError(
                f"must be one of {', '.join(LANGUAGES)}, got {self.language!r}", source="language"
            )
        values: dict[str, Any] = {}
        for name, (lo, hi) in CONTROL_RANGES.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise DemoError(f"must be a number, got {value!r}", source="controls", where=name)
            if not lo <= value <= hi:
                raise DemoError(
                    f"must be from {lo:g} to {hi:g}, got {value:g}", source="controls", where=name
                )
            values[name] = float(value)
        if values["key_shift"] != round(values["key_shift"]):
            raise DemoError(
                f"must be whole semitones, got {values['key_shift']:g}", source="controls", where="key_shift"
            )
        return dataclasses.replace(self, fit_range=bool(self.fit_range), **values)


@dataclass
class RenderResult:
    """A finished render: the `Rendering`, the song as sung (key shift and tempo applied, what the score
    downloads hold), the key shift used, the labelled WAV and the score files, the report and the figure."""

    rendering: Rendering
    song: Score
    key_shift: int
    wav: Path
    downloads: list[Path]
    report: str
    figure: Figure | None = None
    overlay: dict | None = None
    """What the piano roll draws of this render (`vocalsynth.demo.roll.render_overlay`)."""


class OutputStore:
    """Folders for render outputs under one root, the oldest removed beyond ``keep`` (Gradio serves its own
    copies, so these only need to outlive the request)."""

    def __init__(self, root: str | Path | None = None, keep: int = 32):
        if root is None:  # a folder of our own, removed when the server exits
            root = tempfile.mkdtemp(prefix="vocalsynth-demo-")
            atexit.register(shutil.rmtree, root, ignore_errors=True)
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.keep = keep
        self._lock = threading.Lock()

    def new(self) -> Path:
        with self._lock:
            folders = sorted((p for p in self.root.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
            for old in folders[: max(0, len(folders) - self.keep + 1)]:
                shutil.rmtree(old, ignore_errors=True)
            folder = self.root / uuid.uuid4().hex
            folder.mkdir()
            return folder


def file_stem(score: Score) -> str:
    """A safe file name for downloads: the ASCII letters and digits of the title, else 'song'."""
    stem = re.sub(r"[^A-Za-z0-9]+", "_", score.title or "").strip("_")[:40]
    return stem or "song"


def transpose(score: Score, semitones: int) -> Score:
    """``score`` with every sung note ``semitones`` higher (its current part's notes too)."""
    if not semitones:
        return score
    notes = [n if n.is_rest else n.replace(pitch=n.pitch + semitones) for n in score.notes]
    parts = list(score.parts)
    if 0 <= score.part_index < len(parts):
        parts[score.part_index] = dataclasses.replace(parts[score.part_index], notes=notes)
    return dataclasses.replace(score, notes=notes, parts=parts)


def render_song(
    score: Score,
    settings: RenderSettings,
    pool: SynthesizerPool,
    store: OutputStore,
    limits: DemoLimits,
    *,
    figure: bool = True,
    conformance: bool = True,
    score_files: bool = True,
    note_pitch_curves: dict[int, list[float]] | None = None,
) -> RenderResult:
    """Sing ``score`` with ``settings``: checks (controls, song length), renders under the voice's lock,
    writes ``<title>.wav`` (labelled AI-generated) and the score as sung to MIDI, USTX and .ds.
    ``figure`` draws the spectrogram figure and ``conformance`` measures the sung pitch on the audio: the
    studio's quick render (the piano roll's) skips both, as they take seconds on a long song, and the score
    files (``score_files``: ~0.4 s for a 3-minute song; the studio saves those on request).
    ``note_pitch_curves`` (``{score.notes index: cents}``) are the studio's per-note pitch controls."""
    from vocalsynth.synth import scale_tempo

    settings = settings.checked()
    option = pool.option(settings.voice)
    rng = voice_range(option.card)
    key = suggest_key_shift(score, rng) if settings.fit_range else int(settings.key_shift)
    limits.check_song_seconds(score.duration / settings.tempo, score.source)
    low = min(n.pitch for n in score.sung_notes) + key
    high = max(n.pitch for n in score.sung_notes) + key
    if low < 0 or high > 127:
        raise DemoError(
            f"key shift {key:+d} takes the melody outside MIDI 0-127 ({low}..{high})", source="controls"
        )
    if score.source in (
        NOTATION_SOURCE,
        TABLE_SOURCE,
    ):  # typed, not a file: no file name for the label's title
        score = dataclasses.replace(score, source=f"<{score.source}>")
    synth = pool.get(settings.voice)
    with pool.lock(settings.voice):
        rendering = synth.sing(
            score,
            lang=None if settings.language == "auto" else settings.language,
            tempo=settings.tempo,
            key_shift=key,
            vibrato=settings.vibrato,
            vibrato_rate=settings.vibrato_rate,
            breathiness=settings.breathiness,
            tension=settings.tension,
            gender=settings.gender,
            dynamics=settings.dynamics,
            pitch_correction=settings.pitch_correction,
            conformance=conformance,
            note_pitch_curves=note_pitch_curves or None,
        )
    song = scale_tempo(transpose(score, key), settings.tempo)
    folder = store.new()
    stem = file_stem(score)
    wav = rendering.save(folder / f"{stem}.wav")
    downloads = [wav] + [
        save_score(song, folder / f"{stem}{ext}") for ext in (SCORE_DOWNLOADS if score_files else ())
    ]
    fig = None
    if figure:
        from vocalsynth.demo.plots import rendering_figure

        fig = rendering_figure(rendering, song)
    return RenderResult(rendering, song, key, wav, downloads, report_markdown(rendering, song, key, rng), fig)


def report_markdown(rendering: Rendering, song: Score, key_shift: int, rng: tuple[int, int] | None) -> str:
    """The page's report: what was rendered, the AI-generated label, and the conformance table."""
    r = rendering
    rtf = r.render_seconds / r.duration if r.duration else 0.0
    lines = [
        f"**{r.duration:.2f} s** of audio (pre-roll {r.pre_roll:.3f} s), voice **{r.voice}** {r.voice_version}, "
        f"{r.phrases} phrase(s) rendered in {r.render_seconds:.1f} s (real-time factor {rtf:.2f}), "
        f"key shift {key_shift:+d}"
        + (f" (voice range {pitch_name(rng[0])}–{pitch_name(rng[1])})" if rng else ""),
        "",
        f"The WAV is labelled **AI-generated** (voice, licence, score SHA-256 `{r.score_sha256[:12]}…`, date). "
        "The MIDI, USTX and .ds files hold the score as sung (key shift and tempo applied).",
        "",
        f"Voice licence: {r.licence}",
    ]
    for w in r.warnings:
        lines += ["", f"⚠ {w}"]
    report = r.conformance
    if report is None:
        return "\n".join(lines)
    lines += ["", f"**Conformance** ({report.method} pitch tracker on the audio): {report}", ""]
    lines += ["| # | where | written | sung | cents | onset ms |", "|---|---|---|---|---|---|"]
    for n in report.notes:
        note = song.notes[n.index]
        sung = "unvoiced" if n.unvoiced else f"{n.sung_hz:.0f} Hz"
        cents = "" if n.unvoiced else f"{n.cents:+.0f}"
        onset = "" if n.onset_ms is None else f"{n.onset_ms:+.0f}"
        lines.append(
            f"| {n.index} | {n.where or '-'} | {note.name} {note.lyric or ''} | {sung} | {cents} | {onset} |"
        )
    return "\n".join(lines)
