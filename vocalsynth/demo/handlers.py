"""What the demo does for each thing a visitor does, as plain functions of plain values: no Gradio here,
so every handler runs (and is tested) in-process. `vocalsynth.demo.app` wires them to the page.

    demo = Demo()                                   # installed voices, default limits
    view = demo.view("tempo=100 C4/4 la D4 la E4/2 la", None, "default", fit_range=True, key_shift=0)
    result = demo.render(text, None, RenderSettings(voice="default"))
    wav = demo.sing(None, text, RenderSettings(voice="default"))     # the `sing` API endpoint
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from vocalsynth.demo import scoring
from vocalsynth.demo.limits import DemoError, DemoLimits
from vocalsynth.demo.render import OutputStore, RenderResult, RenderSettings, file_stem, render_song
from vocalsynth.demo.roll import ROLL_SOURCE, render_overlay, roll_to_score, score_to_roll, straight_notes
from vocalsynth.demo.scoring import Upload
from vocalsynth.demo.voices import (
    SynthesizerPool,
    available_voices,
    card_markdown,
    card_summary,
    default_voice_name,
    voice_range,
)
from vocalsynth.errors import InputError
from vocalsynth.score import Score, save_score
from vocalsynth.synthesis.voice_range import VoiceChoice, pick_voice

if TYPE_CHECKING:
    from matplotlib.figure import Figure

EXPORT_SUFFIXES = (".musicxml", ".mid", ".ustx", ".ds", ".txt")


def _same_roll(a: dict, b: dict) -> bool:
    """Two roll documents hold the same song (the page's JSON may turn 1.0 into 1)."""
    import json

    def norm(doc: dict) -> str:
        notes = doc.get("notes") if isinstance(doc, dict) else None
        if not isinstance(notes, list):
            return ""
        return json.dumps(
            {
                "notes": sorted(
                    (
                        [float(n.get("start", 0)), float(n.get("len", 0)), n.get("pitch"), n.get("lyric", "")]
                        for n in notes
                        if isinstance(n, dict)
                    ),
                    key=lambda n: n[0],
                ),
                "tempos": [[float(v) for v in t] for t in doc.get("tempos") or []],
                "time": doc.get("time"),
                "title": doc.get("title") or None,
                "lang": doc.get("lang") or None,
            },
            sort_keys=True,
            default=str,
        )

    try:
        return norm(a) == norm(b)
    except (TypeError, ValueError):
        return False


@dataclass
class ScoreView:
    """What the page shows of the score being edited: the note table, the piano roll, a status line and
    the key shift (the suggested one when fitting to the voice). On a score error, ``score``, ``rows`` and
    ``figure`` are None and ``status`` says what is wrong (the page keeps what it showed before)."""

    score: Score | None
    rows: list[list[str]] | None
    figure: Figure | None
    status: str
    key_shift: float
    roll: dict | None = None
    """The piano roll's document of ``score`` (`vocalsynth.demo.roll`)."""

    @property
    def ok(self) -> bool:
        return self.score is not None


class Demo:
    """The demo's state: its limits, the voices on offer (a `SynthesizerPool` that loads each once), the
    example songs, and a folder for render outputs."""

    def __init__(
        self,
        limits: DemoLimits | None = None,
        *,
        voices: Sequence[str | os.PathLike] = (),
        voice: str | os.PathLike | None = None,
        examples_dir: str | os.PathLike | None = None,
        output_dir: str | os.PathLike | None = None,
    ):
        self.limits = limits or DemoLimits()
        extra = [*voices, *([voice] if voice is not None else [])]
        self.pool = SynthesizerPool(available_voices(extra))
        self.default_voice = default_voice_name(self.pool.voices, voice)
        self.examples = scoring.example_songs(examples_dir)
        self.store = OutputStore(output_dir)

    # --- voices --------------------------------------------------------------------------------------------

    @property
    def voice_names(self) -> list[str]:
        return list(self.pool.voices)

    def warm_up(self) -> None:
        """Load the default voice now, so the first visitor doesn't wait for it."""
        self.pool.get(self.default_voice)

    def voice_card(self, voice: str) -> str:
        """The whole card (licence, consent, data sources, training cost) as Markdown."""
        return card_markdown(self.pool.option(voice).card)

    def voice_summary(self, voice: str) -> str:
        """The card's essentials (range, licence, data sources) as Markdown."""
        return card_summary(self.pool.option(voice).card)

    def voice_range(self, voice: str) -> tuple[int, int] | None:
        return voice_range(self.pool.option(voice).card)

    def suggest_voice(self, text: str) -> VoiceChoice | None:
        """The voice on offer whose range holds the melody of ``text`` best (the rule `vocalsynth sing` uses
        when no voice is named), or None for notation that doesn't read."""
        try:
            score = scoring.parse_notation(text, self.limits)
        except InputError:
            return None
        voices = [(name, option.card) for name, option in self.pool.voices.items()]
        return pick_voice(score, voices, self.default_voice)

    # --- the score -----------------------------------------------------------------------------------------

    def first_song(self) -> tuple[str | None, str]:
        """The example the page opens with (its label, its text), or the fallback melody."""
        if not self.examples:
            return None, scoring.FALLBACK_SONG
        label, path = next(iter(self.examples.items()))
        return label, path.read_text(encoding="utf-8")

    def example_text(self, label: str) -> str:
        if label not in self.examples:
            raise DemoError(f"no example {label!r}; there are: {', '.join(self.examples)}", source="examples")
        return self.examples[label].read_text(encoding="utf-8")

    def current_score(self, text: str, upload: Upload | None) -> Score:
        """The score to sing: the uploaded file while the notation box still shows it, else the notation."""
        if upload is not None and text == upload.text:
            return scoring.load_upload(upload.path, self.limits, name=upload.name)
        return scoring.parse_notation(text, self.limits)

    def view(
        self, text: str, upload: Upload | None, voice: str, fit_range: bool, key_shift: float
    ) -> ScoreView:
        """Read the notation (or upload) and lay it out; a score error goes into the status, not raised."""
        try:
            score = self.current_score(text, upload)
        except InputError as e:
            return ScoreView(None, None, None, f"⚠ {e}", key_shift)
        return self._view(score, voice, fit_range, key_shift)

    def from_table(
        self, rows: list[list[str]], voice: str, fit_range: bool, key_shift: float
    ) -> tuple[str | None, ScoreView]:
        """The note table was edited: the notation text it makes (None on an error) and the view."""
        try:
            score = scoring.table_score(rows, self.limits)
        except InputError as e:
            return None, ScoreView(None, None, None, f"⚠ {e}", key_shift)
        text = scoring.score_to_notation(score)
        view = self._view(score, voice, fit_range, key_shift)
        view.rows = None  # the table already shows what the visitor typed
        return text, view

    def from_roll(
        self, doc: dict, voice: str, fit_range: bool, key_shift: float
    ) -> tuple[str | None, ScoreView]:
        """The piano roll was edited: the notation text it makes (None on an error) and the view (the note
        table's rows included; the roll itself already shows the edit)."""
        try:
            score = roll_to_score(doc)
            text = scoring.score_to_notation(score)
            self.limits.check_notation(text, ROLL_SOURCE)
        except InputError as e:
            return None, ScoreView(None, None, None, f"⚠ {e}", key_shift)
        view = self._view(score, voice, fit_range, key_shift, figure=False)
        view.roll = None
        return text, view

    def upload(
        self, path: str | os.PathLike, voice: str, fit_range: bool, key_shift: float
    ) -> tuple[Upload, ScoreView]:
        """A score file was uploaded: read it (raises `InputError` if it can't be), show it as notation."""
        name = Path(path).name  # Gradio keeps the visitor's file name
        score = scoring.load_upload(path, self.limits, name=name)
        upload = Upload(str(path), name, scoring.score_to_notation(score))
        view = self._view(score, voice, fit_range, key_shift)
        view.status = (
            f"from {name}: {view.status} (rendered from the file itself until you edit the notation)"
        )
        return upload, view

    def _view(
        self, score: Score, voice: str, fit_range: bool, key_shift: float, *, figure: bool = True
    ) -> ScoreView:
        """``figure=False`` leaves the piano-roll picture out: drawing and sending it costs ~0.5 s on a
        3-minute song, which a roll edit (whose render is waiting) should not pay for a picture of itself."""
        from vocalsynth.demo.plots import piano_roll

        rng = self.voice_range(voice)
        key = scoring.suggest_key_shift(score, rng) if fit_range else key_shift
        status = scoring.describe(score, key, rng)
        if fit_range and key:
            status += f". Fitted to the voice: {abs(key) // 12} octave(s) {'down' if key < 0 else 'up'}"
        rows = scoring.score_rows(score)
        picture = piano_roll(score, key, rng) if figure else None
        return ScoreView(score, rows, picture, status, key, score_to_roll(score))

    # --- rendering -----------------------------------------------------------------------------------------

    def render(self, text: str, upload: Upload | None, settings: RenderSettings) -> RenderResult:
        """The Render button: sing the current score; raises `InputError` with a message for the visitor."""
        score = self.current_score(text, upload)
        return render_song(score, settings, self.pool, self.store, self.limits)

    def studio_score(self, doc: dict | None, text: str, upload: Upload | None) -> Score:
        """The score the studio sings. The notation box (or the upload it shows) when the roll shows that
        very score: a file keeps what the roll can't show (phoneme hints, parts). Otherwise the roll, whose
        every edit rewrites the notation box: they differ only for a moment after a roll edit. A mistake in
        the notation box raises its error (every roll edit would have replaced it)."""
        if doc is not None and upload is None and not (text or "").strip():
            return roll_to_score(doc)  # nothing typed: the roll is the song
        score = self.current_score(text, upload)
        if doc is None or _same_roll(score_to_roll(score), doc):
            return score
        return roll_to_score(doc)

    def render_studio(
        self,
        doc: dict | None,
        text: str,
        upload: Upload | None,
        settings: RenderSettings,
        *,
        quick: bool = False,
    ) -> RenderResult:
        """Render for the studio page: the Render button (``quick=False``: the spectrogram figure and the
        conformance measured on the audio) or the roll's own render after an edit (``quick=True``: neither,
        so only the changed phrases cost time). The result carries the roll's overlay (rendered F0, each
        note's sung pitch, the audio's timing)."""
        started = time.perf_counter()
        written = self.studio_score(doc, text, upload)
        sung = [i for i, n in enumerate(written.notes) if not n.is_rest]
        straight = straight_notes(doc) if isinstance(doc, dict) else []
        curves = {sung[k]: [0.0] for k in straight if k < len(sung)}  # on the pitch, no vibrato
        result = render_song(
            written,
            settings,
            self.pool,
            self.store,
            self.limits,
            figure=not quick,
            conformance=not quick,
            score_files=not quick,
            note_pitch_curves=curves,
        )
        result.overlay = render_overlay(
            result.rendering, result.song, written, result.key_shift, settings.checked().tempo
        )
        r = result.rendering
        result.overlay.update(
            url=f"/gradio_api/file={result.wav}",  # launch() lets Gradio serve the render folder
            doc=doc if isinstance(doc, dict) else score_to_roll(written),  # what the roll sent, as sung
            phrases=r.phrases,
            rerendered=list(r.rerendered),
            render_seconds=round(r.render_seconds, 3),
            handler_seconds=round(time.perf_counter() - started, 3),
            handler_started_ms=round((time.time() - (time.perf_counter() - started)) * 1000),
        )
        return result

    def export(self, doc: dict | None, text: str, upload: Upload | None) -> list[Path]:
        """The score as written (no key shift or tempo control) in every format the studio saves: MusicXML,
        MIDI, USTX, DiffSinger .ds and the text notation."""
        score = self.studio_score(doc, text, upload)
        folder = self.store.new()
        stem = file_stem(score)
        return [save_score(score, folder / f"{stem}{ext}") for ext in EXPORT_SUFFIXES]

    def sing(
        self, score_file: str | os.PathLike | None, notation: str | None, settings: RenderSettings
    ) -> Path:
        """The ``sing`` API: a score file (uploaded) or notation text, and the controls; the labelled WAV."""
        if score_file:
            score = scoring.load_upload(score_file, self.limits, name=Path(score_file).name)
        elif notation and notation.strip():
            score = scoring.parse_notation(notation, self.limits)
        else:
            raise DemoError("give a score file or notation text to sing", source="sing")
        return render_song(score, settings, self.pool, self.store, self.limits, figure=False).wav
