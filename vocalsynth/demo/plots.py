"""The demo's two pictures, drawn with matplotlib's object API (no pyplot: safe from server threads):
the piano roll of a score, and a rendering's spectrogram above its sung F0 drawn over the written notes."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from vocalsynth.audio.pitch import hz_to_midi
from vocalsynth.score import Score, pitch_name

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from vocalsynth.synthesis.rendering import Rendering

NOTE_COLOR = "#7aa6da"
RANGE_COLOR = "#e8f0e0"
IN_TUNE, OFF_PITCH, UNVOICED = "#5cb85c", "#d9534f", "#aaaaaa"
F0_COLOR = "#111111"
MAX_LYRICS = 120  # more notes than this: the lyrics would overlap, leave them off
# fonts that draw kana and hanzi, used when installed (Debian: fonts-noto-cjk, fonts-wqy-microhei, fonts-ipafont)
CJK_FONTS = (
    "Noto Sans CJK JP",
    "Noto Sans CJK SC",
    "WenQuanYi Micro Hei",
    "IPAGothic",
    "Droid Sans Fallback",
)


def _figure(height: float, rows: int = 1, ratios: list[float] | None = None) -> tuple[Figure, list[Axes]]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, height), dpi=100, layout="constrained")
    axes = fig.subplots(rows, 1, sharex=True, gridspec_kw={"height_ratios": ratios} if ratios else None)
    return fig, list(np.atleast_1d(axes))


def _pitch_axis(ax: Axes, low: float, high: float) -> None:
    """Y axis in MIDI numbers labelled with note names (every semitone over a small span, the natural
    notes over two octaves or so, else the Cs), a faint line per semitone like a piano roll's keys."""
    lo, hi = int(np.floor(low)), int(np.ceil(high))
    ax.set_ylim(lo - 0.5, hi + 0.5)
    span = hi - lo
    naturals = {0, 2, 4, 5, 7, 9, 11}
    ticks = [
        p for p in range(lo, hi + 1) if span <= 14 or (p % 12 in naturals if span <= 30 else p % 12 == 0)
    ]
    ax.set_yticks(ticks or [lo], [pitch_name(p) for p in ticks or [lo]], fontsize=8)
    for p in range(lo, hi + 1):
        ax.axhline(p - 0.5, color="#eeeeee", linewidth=0.5, zorder=0)
    ax.set_axisbelow(True)


@functools.lru_cache(maxsize=1)
def _fonts() -> tuple[list[str], frozenset[int]]:
    """The font families to draw lyrics with (matplotlib's default, then any CJK font installed) and the
    code points they can draw between them."""
    from matplotlib import font_manager, ft2font, rcParams

    families, chars = [], set()
    for family in [*rcParams["font.sans-serif"][:1], *CJK_FONTS]:
        try:
            path = font_manager.findfont(
                font_manager.FontProperties(family=family), fallback_to_default=False
            )
        except ValueError:
            continue
        families.append(family)
        chars |= set(ft2font.FT2Font(path).get_charmap())
    return families, frozenset(chars)


def _drawable(text: str) -> bool:
    chars = _fonts()[1]
    return all(ord(c) in chars or c.isspace() for c in text)


def lyric_labels(score: Score, phonemes: Callable[[], dict[int, list[str]]] | None = None) -> dict[int, str]:
    """What to write above each sung note: its lyric, or, when no installed font can draw it (kana or
    hanzi without a CJK font), the phonemes sung on it (``phonemes()``: note index -> symbols; default
    the frontend's). Melisma notes get none."""
    labels = {i: n.lyric for i, n in enumerate(score.notes) if not n.is_rest and n.lyric and not n.slur}
    if all(_drawable(text) for text in labels.values()):
        return labels
    sung = phonemes() if phonemes is not None else _frontend_phonemes(score)
    for i, text in labels.items():
        if not _drawable(text):
            labels[i] = "".join(s.split("/", 1)[-1] for s in sung.get(i, [])) or "?"
    return labels


def _frontend_phonemes(score: Score) -> dict[int, list[str]]:
    from vocalsynth.text import phonemize_score

    out: dict[int, list[str]] = {}
    for p in phonemize_score(score).phonemes:
        if p.note_index is not None and p.symbol not in ("SP", "AP"):
            out.setdefault(p.note_index, []).append(p.symbol)
    return out


def _notes(
    ax: Axes,
    score: Score,
    key_shift: float,
    labels: dict[int, str],
    colors: dict[int, str] | None = None,
) -> None:
    sung = [(i, n) for i, n in enumerate(score.notes) if not n.is_rest]
    families = _fonts()[0]
    for i, n in sung:
        y = n.pitch + key_shift
        color = (colors or {}).get(i, NOTE_COLOR)
        ax.add_patch(_rect(n.start, y - 0.4, n.duration, 0.8, color))
        if len(sung) <= MAX_LYRICS and labels.get(i):
            ax.text(
                n.start + 0.02,
                y + 0.5,
                labels[i],
                fontsize=8,
                va="bottom",
                ha="left",
                clip_on=True,
                fontfamily=families or None,
            )


def _rect(x: float, y: float, w: float, h: float, color: str):
    from matplotlib.patches import Rectangle

    return Rectangle((x, y), w, h, facecolor=color, edgecolor="#333333", linewidth=0.5, alpha=0.85)


def piano_roll(score: Score, key_shift: float = 0.0, voice_range: tuple[int, int] | None = None) -> Figure:
    """The score's notes as sung (after ``key_shift``) against time, lyrics above them, with the voice's
    range shaded when known."""
    fig, (ax,) = _figure(3.2)
    pitches = [n.pitch + key_shift for n in score.sung_notes]
    low, high = min(pitches) - 2, max(pitches) + 2
    if voice_range is not None:
        ax.axhspan(
            voice_range[0] - 0.5, voice_range[1] + 0.5, color=RANGE_COLOR, zorder=0, label="voice range"
        )
        low, high = min(low, voice_range[0] - 1), max(high, voice_range[1] + 1)
    _notes(ax, score, key_shift, lyric_labels(score))
    ax.set_xlim(0, max(score.duration, 0.5))
    _pitch_axis(ax, low, high)
    ax.set_xlabel("time (s)")
    title = score.title if score.title and _drawable(score.title) else "score"
    ax.set_title(f"{title}" + (f" — key shift {key_shift:+g}" if key_shift else ""), fontsize=10)
    if voice_range is not None:
        ax.legend(loc="upper right", fontsize=8)
    return fig


def rendering_figure(rendering: Rendering, song: Score) -> Figure:
    """Top: the log-mel spectrogram of ``rendering``. Bottom: the written notes of ``song`` (the score as
    sung: key shift and tempo applied), coloured by the conformance report (green within tolerance, red
    off pitch, grey unvoiced), and the F0 the voice sang drawn over them. Both against song time."""
    from vocalsynth.models.acoustic.controls import mel_center_frequencies

    frames = rendering.frames
    times = frames.times()
    t0, t1 = float(times[0]), float(times[-1]) if times.size else 1.0
    fig, (top, bottom) = _figure(6.0, rows=2, ratios=[1.0, 1.3])

    centres = mel_center_frequencies(frames.audio_config)
    top.imshow(
        frames.mel,
        origin="lower",
        aspect="auto",
        extent=(t0, t1, 0, frames.mel.shape[0]),
        cmap="magma",
        vmin=float(np.percentile(frames.mel, 5)),
        vmax=float(frames.mel.max()),
        interpolation="nearest",
    )
    ticks = [k for k in range(0, len(centres), max(1, len(centres) // 6))]
    top.set_yticks(
        ticks, [f"{centres[k] / 1000:.1f}k" if centres[k] >= 1000 else f"{centres[k]:.0f}" for k in ticks]
    )
    top.set_ylabel("mel band (Hz)")
    top.set_title("spectrogram (log-mel)", fontsize=10)

    colors: dict[int, str] = {}
    if rendering.conformance is not None:
        tol = rendering.conformance.tolerance_cents
        for n in rendering.conformance.notes:
            colors[n.index] = UNVOICED if n.unvoiced else IN_TUNE if abs(n.cents) <= tol else OFF_PITCH

    def sung_phonemes() -> dict[int, list[str]]:
        out: dict[int, list[str]] = {}
        for p in rendering.phonemes:
            if p.note_index is not None and p.symbol not in ("SP", "AP"):
                out.setdefault(p.note_index, []).append(p.symbol)
        return out

    _notes(bottom, song, 0.0, lyric_labels(song, sung_phonemes), colors)
    f0 = hz_to_midi(np.where(frames.vuv > 0.5, frames.f0_hz, 0.0))
    bottom.plot(times, f0, color=F0_COLOR, linewidth=1.2, label="sung F0")
    pitches = [n.pitch for n in song.sung_notes]
    voiced = f0[np.isfinite(f0)]
    low = min(pitches + ([float(np.percentile(voiced, 1))] if voiced.size else [])) - 2
    high = max(pitches + ([float(np.percentile(voiced, 99))] if voiced.size else [])) + 2
    _pitch_axis(bottom, low, high)
    bottom.set_xlim(t0, t1)
    bottom.set_xlabel("time (s; 0 = the score's first beat)")
    bottom.set_title(
        "sung F0 over the written notes (green: within tolerance, red: off, grey: unvoiced)", fontsize=10
    )
    bottom.legend(loc="upper right", fontsize=8)
    return fig


def figure_png(fig: Figure) -> bytes:
    """The figure as PNG bytes (for tests and for saving)."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
