"""The AI-generated label every rendered file carries (RIFF LIST/INFO in WAV, Vorbis comments in FLAC), and
`read_label` that parses it back.

The ``comment`` field holds the whole label as ``AI-generated ... | key=value; key=value`` so one field
survives tools that drop the others; ``software``, ``artist``, ``genre``, ``date`` and ``copyright``
(``license`` in FLAC) repeat the parts players show.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vocalsynth import __version__

MARK = "AI-generated"
TOOL = "vocalsynth"
HEADLINE = f"{MARK} singing: a synthetic voice, not a human recording"
# keys of the comment, in order; values never hold ';' or '|'
KEYS = (
    "tool",
    "voice",
    "voice_version",
    "singer",
    "vocoder",
    "score_sha256",
    "pre_roll",
    "date",
    "controls",
    "licence",
)
MAX_VALUE = 300  # characters per value: WAV INFO fields keep ~2000 bytes


def _clean(value: Any, limit: int = MAX_VALUE) -> str:
    text = " ".join(str(value).split()).replace(";", ",").replace("|", "/")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def label_metadata(
    *,
    voice: str,
    voice_version: str,
    licence: str,
    score_sha256: str,
    pre_roll: float,
    date: str,
    vocoder: str,
    singer: str | None = None,
    title: str | None = None,
    controls: str = "",
    flac: bool = False,
) -> dict[str, str]:
    """The metadata fields for `vocalsynth.audio.save_audio` (``flac=True`` adds the FLAC-only ``license``)."""
    values = {
        "tool": f"{TOOL} {__version__}",
        "voice": voice,
        "voice_version": voice_version,
        "singer": singer or "unnamed",
        "vocoder": vocoder,
        "score_sha256": score_sha256,
        "pre_roll": f"{pre_roll:.6f}",
        "date": date,
        "controls": controls or "default",
        "licence": licence or "unstated",
    }
    comment = HEADLINE + " | " + "; ".join(f"{k}={_clean(values[k])}" for k in KEYS)
    fields = {
        "title": _clean(title or "untitled", 200),
        "artist": _clean(f"{voice} {voice_version} ({MARK} voice, {TOOL})", 200),
        "software": f"{TOOL} {__version__}",
        "date": date,
        "genre": f"{MARK} singing",
        "comment": comment,
        "copyright": _clean(f"{MARK}. Voice licence: {licence or 'unstated'}", 500),
    }
    if flac:
        fields["license"] = _clean(licence or "unstated", 500)
    return fields


def parse_comment(comment: str) -> dict[str, str]:
    """``key=value`` pairs of a label comment ({} when the comment is not a vocalsynth label)."""
    if MARK not in comment or "|" not in comment:
        return {}
    _, _, body = comment.partition("|")
    out = {}
    for item in body.split(";"):
        key, sep, value = item.strip().partition("=")
        if sep and key in KEYS:
            out[key] = value.strip()
    return out


def read_label(path: str | os.PathLike) -> dict[str, Any]:
    """The AI-generated label of a WAV/FLAC file.

    Returns ``ai_generated`` (True when the file says so), ``tool``, ``version``, ``voice``,
    ``voice_version``, ``singer`` (whose singing the voice learned), ``vocoder``, ``score_sha256``, ``pre_roll`` (seconds, float), ``date``,
    ``controls``, ``licence``, ``title``, and ``metadata`` (every text field as read). Fields the file
    lacks are absent. Raises `vocalsynth.audio.AudioError` for a file that isn't readable audio.
    """
    from vocalsynth.audio.io import read_audio_metadata

    meta = read_audio_metadata(Path(path))
    return label_from_metadata(meta)


def label_from_metadata(meta: Mapping[str, str]) -> dict[str, Any]:
    parsed = parse_comment(meta.get("comment", ""))
    out: dict[str, Any] = {
        "ai_generated": MARK in meta.get("comment", "") or MARK in meta.get("genre", ""),
        "metadata": dict(meta),
    }
    for key, value in parsed.items():
        if key == "tool":
            name, _, version = value.partition(" ")
            out["tool"], out["version"] = name, version
        elif key == "pre_roll":
            try:
                out["pre_roll"] = float(value)
            except ValueError:
                out["pre_roll"] = value
        else:
            out[key] = value
    if "title" in meta:
        out["title"] = meta["title"]
    if "license" in meta:  # FLAC keeps the licence whole in its own field
        out["licence"] = meta["license"]
    return out
