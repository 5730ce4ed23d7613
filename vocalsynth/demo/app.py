"""The Gradio page: the layout, the wiring of each control to a `Demo` handler, the ``sing`` API endpoint,
and launching it offline on localhost with a bounded queue.

    from vocalsynth.demo.app import build_app, launch
    app = build_app(Demo())                         # a gr.Blocks; launch(...) serves it
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from vocalsynth.demo.handlers import Demo, ScoreView
from vocalsynth.demo.limits import DEFAULT_HOST, DEFAULT_PORT, DemoLimits
from vocalsynth.demo.pianoroll import piano_roll, rendered_update
from vocalsynth.demo.render import CONTROL_RANGES, LANGUAGES, RenderSettings
from vocalsynth.demo.scoring import TABLE_HEADERS, UPLOAD_SUFFIXES, Upload
from vocalsynth.errors import InputError

if TYPE_CHECKING:
    import gradio as gr

RENDER_GROUP = "render"  # the Render button and the `sing` API share one concurrency limit

INTRO = """# vocalsynth — make a vocal
Draw the melody on the **piano roll** and type a syllable on each note (double-click a note; Tab to the next):
with **auto-render** on, each edit is sung again at once, only the phrases it touched re-rendered. Or write it
in the **notation** box, edit the **note table**, or **upload** a MusicXML, MIDI, UST, USTX or DiffSinger `.ds`
score: all of them are views of one melody. Pick a voice, press **Render** for the full report. Notation: `PITCH/LENGTH lyric`, e.g.
`C4/4 hel- D4 -lo E4/2 world` (`/4` a quarter, `/8` an eighth, `R` a rest, `_` holds a syllable over the
next note; settings like `tempo=100 lang=en`; the full guide is `docs/notation.md`). Everything rendered is
labelled as **AI-generated**; each voice's card says whose singing it learned from and under what licence."""

FIT_INFO = (
    "The default voice is low (about A#2–G4) while most tunes are written around C4–C5: with this on, the "
    "melody moves by whole octaves (so it keeps its key) to where most of it lies in the voice's range. "
    "Turn it off to set the key shift yourself."
)
TABLE_INFO = (
    "One row per note: pitch (C4, F#3, R for a rest) or a setting (tempo=90, lang=ja); length (4 quarter, "
    "8 eighth, 4. dotted, 8t triplet, 2+8 a sum, 2~ tied to the next); lyric (hel- / -lo for syllables, "
    '_ or empty to hold the syllable before, "" for no word). Edits update the notation.'
)


def _offline_environment() -> None:
    """No analytics or version checks: the demo talks to nothing but its visitors."""
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"


def _to_gradio_errors(fn: Callable) -> Callable:
    """Turn the handlers' `InputError` (bad score, too long, too big, unknown voice) into a `gr.Error`
    whose message the page shows and an API client receives."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        import gradio as gr

        try:
            return fn(*args, **kwargs)
        except InputError as e:
            raise gr.Error(str(e), print_exception=False) from None

    return wrapper


def _theme():
    """Gradio's default look with system fonts: the stock theme fetches web fonts, which an offline
    machine can't."""
    import gradio as gr

    return gr.themes.Default(
        font=["ui-sans-serif", "system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"]
    )


def build_app(demo: Demo) -> gr.Blocks:
    """The page for ``demo``, its queue set to the demo's limits (concurrency, queue size)."""
    _offline_environment()
    import gradio as gr

    limits = demo.limits
    example_label, first_text = demo.first_song()
    first = demo.view(first_text, None, demo.default_voice, True, 0)

    def slider(name: str, label: str, value: float, step: float, info: str) -> gr.Slider:
        lo, hi = CONTROL_RANGES[name]
        return gr.Slider(lo, hi, value=value, step=step, label=label, info=info, elem_id=f"control-{name}")

    with gr.Blocks(
        title="vocalsynth — make a vocal", analytics_enabled=False, delete_cache=(3600, 3600)
    ) as app:
        upload_state = gr.State(None)
        gr.Markdown(INTRO)
        studio = piano_roll(first.roll, elem_id="studio")
        with gr.Row():
            with gr.Column(scale=3):
                example = gr.Dropdown(
                    list(demo.examples),
                    value=example_label,
                    label="Example songs (English, Japanese, Mandarin)",
                )
                with gr.Tabs():
                    with gr.Tab("Notation"):
                        notation = gr.Textbox(
                            value=first_text,
                            lines=8,
                            max_lines=30,
                            max_length=limits.max_notation_chars,
                            label="Melody and lyrics (text notation)",
                            elem_id="notation",
                        )
                    with gr.Tab("Note table"):
                        table = gr.Dataframe(
                            value=first.rows,
                            headers=TABLE_HEADERS,
                            datatype="str",
                            type="array",
                            interactive=True,
                            label="Notes",
                            elem_id="note-table",
                        )
                        gr.Markdown(TABLE_INFO)
                    with gr.Tab("Upload a score"):
                        upload = gr.File(
                            label=f"MusicXML, MIDI, UST, USTX, .ds or .txt (up to {limits.max_upload_text})",
                            file_types=list(UPLOAD_SUFFIXES),
                            type="filepath",
                            elem_id="upload",
                        )
                status = gr.Markdown(first.status, elem_id="score-status")
                with gr.Row():
                    export = gr.Button("Save the score as written", elem_id="export", size="sm")
                    exported = gr.File(
                        label="MusicXML, MIDI, USTX, .ds, notation",
                        file_count="multiple",
                        interactive=False,
                        elem_id="exported",
                    )
                with gr.Accordion(
                    "The melody against the voice's range (as it will be sung; follows the notation and the table)",
                    open=False,
                ):
                    roll = gr.Plot(
                        first.figure, label="Piano roll (as it will be sung)", elem_id="piano-roll"
                    )
            with gr.Column(scale=2):
                voice = gr.Dropdown(
                    demo.voice_names, value=demo.default_voice, label="Voice", elem_id="voice"
                )
                summary = gr.Markdown(demo.voice_summary(demo.default_voice), elem_id="voice-summary")
                with gr.Accordion("Whole voice card: consent, sources, training cost", open=False):
                    card = gr.Markdown(demo.voice_card(demo.default_voice), elem_id="voice-card")
                language = gr.Dropdown(
                    list(LANGUAGES), value="auto", label="Lyrics language (auto: from the score)"
                )
                fit = gr.Checkbox(True, label="Fit the melody to the voice's range", info=FIT_INFO)
                key = gr.Slider(
                    *CONTROL_RANGES["key_shift"],
                    value=first.key_shift,
                    step=1,
                    label="Key shift (semitones)",
                    interactive=False,
                    elem_id="control-key_shift",
                )
                with gr.Row():
                    tempo = slider("tempo", "Tempo (× the score's)", 1.0, 0.05, "2 = twice as fast")
                    dynamics = slider("dynamics", "Dynamics (dB)", 0.0, 1.0, "loudness offset")
                with gr.Row():
                    vibrato = slider("vibrato", "Vibrato depth", 1.0, 0.1, "× the voice's own; 0 = none")
                    vibrato_rate = slider("vibrato_rate", "Vibrato rate", 1.0, 0.05, "× the voice's own")
                with gr.Row():
                    breathiness = slider("breathiness", "Breathiness", 0.0, 0.1, "+ breathier, − cleaner")
                    gender = slider("gender", "Gender (formants)", 0.0, 0.1, "+1: formants 3 semitones up")
                with gr.Row():
                    tension = slider("tension", "Tension", 0.0, 0.1, "+ brighter and pressed, − darker")
                    pitch_correction = slider(
                        "pitch_correction",
                        "Pitch correction",
                        0.5,
                        0.05,
                        "1: every note on its written pitch",
                    )
                render = gr.Button("Render", variant="primary", elem_id="render")
        audio = gr.Audio(
            label="Rendered vocal (AI-generated)", type="filepath", interactive=False, elem_id="audio"
        )
        plot = gr.Plot(label="Spectrogram, and the sung F0 over the written notes", elem_id="render-plot")
        report = gr.Markdown(elem_id="report")
        downloads = gr.File(
            label="Downloads: WAV (labelled AI-generated), MIDI, USTX, .ds",
            file_count="multiple",
            interactive=False,
            elem_id="downloads",
        )
        with gr.Column(visible=False):  # the `sing` API's own inputs and output
            api_file = gr.File(label="score_file", type="filepath", file_types=list(UPLOAD_SUFFIXES))
            api_notation = gr.Textbox(label="notation", max_length=limits.max_notation_chars)
            api_key = gr.Number(0, label="key_shift", precision=0)
            api_audio = gr.Audio(label="audio", type="filepath")
            api_button = gr.Button("sing")

        controls = [
            language,
            fit,
            key,
            tempo,
            vibrato,
            vibrato_rate,
            breathiness,
            tension,
            gender,
            dynamics,
            pitch_correction,
        ]

        # --- editing the score: fast, off the queue (a busy render queue must not stop typing) ---------------

        def keep(value: Any) -> Any:
            return gr.update() if value is None else value

        def shown(view: ScoreView) -> tuple:
            return keep(view.rows), keep(view.figure), view.status, view.key_shift, keep(view.roll)

        def on_notation(text: str, upload: Upload | None, voice: str, fit: bool, key: float):
            return shown(demo.view(text, upload, voice, fit, key))

        def on_table(rows: list[list[str]], voice: str, fit: bool, key: float):
            text, view = demo.from_table(rows, voice, fit, key)
            return keep(text), keep(view.figure), view.status, view.key_shift, keep(view.roll)

        def on_roll(doc: dict, voice: str, fit: bool, key: float):
            text, view = demo.from_roll(doc, voice, fit, key)
            return keep(text), keep(view.rows), keep(view.figure), view.status, view.key_shift

        @_to_gradio_errors
        def on_upload(path: str | None, voice: str, fit: bool, key: float):
            if not path:
                return gr.update(), gr.update(), gr.update(), gr.update(), gr.update(), None
            state, view = demo.upload(path, voice, fit, key)
            return (state.text, *shown(view), state)

        @_to_gradio_errors
        def on_example(label: str, voice: str, fit: bool, key: float):
            # the voice whose range holds the tune (a high tune gets the high voice, at written pitch)
            text = demo.example_text(label)
            choice = demo.suggest_voice(text)
            if choice is not None and choice.name != voice:
                voice = choice.name
            if choice is not None and choice.inside == 1.0:
                fit = False
            return (
                text,
                *shown(demo.view(text, None, voice, fit, key)),
                None,
                voice,
                gr.update(value=fit),
                demo.voice_summary(voice),
                demo.voice_card(voice),
            )

        @_to_gradio_errors
        def on_voice(name: str, text: str, upload: Upload | None, fit: bool, key: float):
            return (
                demo.voice_summary(name),
                demo.voice_card(name),
                *shown(demo.view(text, upload, name, fit, key)),
            )

        def on_fit(fit: bool, text: str, upload: Upload | None, voice: str, key: float):
            rows, figure, status, key, _ = shown(demo.view(text, upload, voice, fit, key))
            return figure, status, gr.update(value=key, interactive=not fit)

        edit = {"queue": False, "api_visibility": "private", "show_progress": "hidden"}
        view_out = [table, roll, status, key, studio]
        notation.input(
            on_notation,
            [notation, upload_state, voice, fit, key],
            view_out,
            trigger_mode="always_last",
            **edit,
        )
        table.input(
            on_table,
            [table, voice, fit, key],
            [notation, roll, status, key, studio],
            trigger_mode="always_last",
            **edit,
        )
        studio.input(
            on_roll,
            [studio, voice, fit, key],
            [notation, table, roll, status, key],
            trigger_mode="always_last",
            **edit,
        )
        export.click(
            _to_gradio_errors(lambda doc, text, upload: [str(p) for p in demo.export(doc, text, upload)]),
            [studio, notation, upload_state],
            [exported],
            **edit,
        )
        upload.upload(on_upload, [upload, voice, fit, key], [notation, *view_out, upload_state], **edit)
        example.input(
            on_example,
            [example, voice, fit, key],
            [notation, *view_out, upload_state, voice, fit, summary, card],
            **edit,
        )
        voice.input(on_voice, [voice, notation, upload_state, fit, key], [summary, card, *view_out], **edit)
        fit.input(on_fit, [fit, notation, upload_state, voice, key], [roll, status, key], **edit)
        key.release(on_notation, [notation, upload_state, voice, fit, key], view_out, **edit)

        # --- rendering: queued, at most `limits.concurrency` at a time -------------------------------------

        @_to_gradio_errors
        def on_render(doc: dict | None, text: str, upload: Upload | None, voice: str, *values: Any):
            result = demo.render_studio(doc, text, upload, _settings(voice, *values))
            return (
                str(result.wav),
                result.figure,
                result.report,
                [str(p) for p in result.downloads],
                result.key_shift,
                rendered_update(result.overlay),
            )

        def on_quick_render(doc: dict | None, text: str, upload: Upload | None, voice: str, *values: Any):
            try:
                result = demo.render_studio(doc, text, upload, _settings(voice, *values), quick=True)
            except InputError as e:  # the roll shows it; a toast on every edit would be noise
                return rendered_update({"error": str(e)}), gr.update()
            # no downloads: handing Gradio the WAV copies it into its cache on every edit (Render does)
            return rendered_update(result.overlay), result.report

        render.click(
            on_render,
            [studio, notation, upload_state, voice, *controls],
            [audio, plot, report, downloads, key, studio],
            concurrency_limit=limits.concurrency,
            concurrency_id=RENDER_GROUP,
            api_visibility="private",
        )
        studio.submit(
            on_quick_render,
            [studio, notation, upload_state, voice, *controls],
            [studio, report],
            concurrency_limit=limits.concurrency,
            concurrency_id=RENDER_GROUP,
            trigger_mode="always_last",
            api_visibility="private",
            show_progress="hidden",
        )

        @_to_gradio_errors
        def sing(
            score_file: str | None = None,
            notation: str | None = None,
            voice: str = demo.default_voice,
            language: str = "auto",
            fit_range: bool = True,
            key_shift: float = 0.0,
            tempo: float = 1.0,
            vibrato: float = 1.0,
            vibrato_rate: float = 1.0,
            breathiness: float = 0.0,
            tension: float = 0.0,
            gender: float = 0.0,
            dynamics: float = 0.0,
            pitch_correction: float = 0.5,
        ) -> str:
            """Sing a score: an uploaded score file (MusicXML, MIDI, UST, USTX, .ds, .txt) or notation text
            (``C4/4 la D4 la``). fit_range: move the melody by octaves into the voice's range (key_shift is
            then ignored). Returns the rendered WAV, labelled as AI-generated."""
            settings = RenderSettings(
                voice,
                language,
                fit_range,
                key_shift,
                tempo,
                vibrato,
                vibrato_rate,
                breathiness,
                tension,
                gender,
                dynamics,
                pitch_correction,
            )
            return str(demo.sing(score_file, notation, settings))

        api_button.click(
            sing,
            [api_file, api_notation, voice, language, fit, api_key, *controls[3:]],
            [api_audio],
            api_name="sing",
            concurrency_limit=limits.concurrency,
            concurrency_id=RENDER_GROUP,
        )

    app.queue(max_size=limits.queue_size, default_concurrency_limit=limits.concurrency)
    return app


def _settings(voice: str, *values: Any) -> RenderSettings:
    return RenderSettings(voice, *values)


def launch(
    demo: Demo,
    *,
    host: str = DEFAULT_HOST,
    port: int | None = DEFAULT_PORT,
    block: bool = True,
    quiet: bool = False,
) -> gr.Blocks:
    """Serve ``demo`` on ``host:port`` (localhost unless told otherwise), loading the default voice first.
    ``block=False`` returns once serving (for tests); the returned Blocks' ``close()`` stops it."""
    demo.warm_up()
    app = build_app(demo)
    app.launch(
        server_name=host,
        server_port=port,
        max_file_size=demo.limits.max_upload_bytes,
        prevent_thread_lock=not block,
        show_error=True,
        ssr_mode=False,
        quiet=quiet,
        theme=_theme(),
        footer_links=["api"],
        allowed_paths=[str(demo.store.root)],  # the studio's roll plays its renders from there
    )
    return app


__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "DemoLimits", "build_app", "launch"]
