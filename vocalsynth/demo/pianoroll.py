"""The studio's editable piano roll as a Gradio component: a `gr.HTML` whose template, style and script are
the plain files in `vocalsynth/demo/studio/` (no build step, nothing fetched from elsewhere).

Its value is the roll document (`vocalsynth.demo.roll`); the page hears of each edit as an ``input`` event
and of a render request as a ``submit`` event; a render is handed back in its ``rendered`` property
(`rendered_update`).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import gradio as gr

ASSETS = Path(__file__).resolve().parent / "studio"


@cache
def _asset(name: str) -> str:
    return (ASSETS / name).read_text(encoding="utf-8")


def piano_roll(value: dict | None, **kwargs: Any) -> gr.HTML:
    """The roll showing ``value`` (a roll document)."""
    import gradio as gr

    return gr.HTML(
        value=value,
        html_template=_asset("roll.html"),
        css_template=_asset("roll.css"),
        js_on_load=_asset("roll.js"),
        rendered=None,
        apply_default_css=False,
        **kwargs,
    )


def rendered_update(overlay: dict) -> Any:
    """An output update that hands a render's overlay (or ``{"error": message}``) to the roll."""
    import gradio as gr

    return gr.update(rendered=overlay)
