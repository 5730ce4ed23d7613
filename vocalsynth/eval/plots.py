"""The evaluation's figures (PNG, matplotlib with the Agg backend): F0 against the notes, and mel spectrograms
of the recording and the renderings side by side."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from vocalsynth.audio.config import AudioConfig
from vocalsynth.audio.pitch import hz_to_midi


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _midi(f0_hz: np.ndarray) -> np.ndarray:
    f0 = np.asarray(f0_hz, dtype=np.float64)
    out = np.full(f0.shape, np.nan)
    out[f0 > 0] = hz_to_midi(f0[f0 > 0])
    return out


def _notes(ax, notes: Sequence[tuple[float, float, int]], offset: float = 0.0, label: str = "notes") -> None:
    for k, (start, end, pitch) in enumerate(notes):
        ax.plot(
            [start + offset, end + offset],
            [pitch, pitch],
            color="0.35",
            lw=5,
            alpha=0.35,
            solid_capstyle="butt",
            label=label if k == 0 else None,
        )


def plot_f0(
    path: str | Path,
    title: str,
    config: AudioConfig,
    *,
    recording_f0: np.ndarray,
    recording_notes: Sequence[tuple[float, float, int]],
    warped: dict[str, tuple[np.ndarray, np.ndarray]],
    voice_f0: np.ndarray,
    voice_model_f0: np.ndarray | None,
    voice_notes: Sequence[tuple[float, float, int]],
    span: tuple[int, int],
) -> Path:
    """Two panels: (top) the recording's F0 and each rendering's F0 warped onto the recording's time by DTW
    (``warped[name] = (recording frames, F0 values)``) over the recording's aligned notes; (bottom) the voice's
    rendering in its own time: F0 measured on the audio, the acoustic model's F0, and the score's notes
    (``(start, end, midi)`` in the rendering's seconds)."""
    plt = _pyplot()
    fps = config.frames_per_second
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(12, 6.5))
    a, b = span
    t = np.arange(recording_f0.size) / fps
    _notes(top, recording_notes, label="notes (aligned to the recording)")
    top.plot(t[a:b], _midi(recording_f0)[a:b], color="k", lw=1.4, label="recording")
    for (name, (frames, values)), colour in zip(
        warped.items(), ("tab:red", "tab:blue", "tab:green"), strict=False
    ):
        top.plot(frames / fps, _midi(values), ".", ms=2, color=colour, label=f"{name} (DTW-warped)")
    top.set_xlim(a / fps, b / fps)
    top.set_ylabel("MIDI note")
    top.set_title(f"{title}: F0 on the recording's time")
    top.legend(loc="upper right", fontsize=8, ncol=2)
    tv = np.arange(voice_f0.size) / fps
    _notes(bottom, voice_notes, label="score notes")
    bottom.plot(tv, _midi(voice_f0), color="tab:red", lw=1.2, label="voice, measured (WORLD Harvest)")
    if voice_model_f0 is not None:
        bottom.plot(
            np.arange(voice_model_f0.size) / fps, _midi(voice_model_f0), "--", color="0.2", lw=0.9,
            label="acoustic model F0",
        )  # fmt: skip
    if voice_notes:
        lo = min(n[0] for n in voice_notes) - 0.3
        hi = max(n[1] for n in voice_notes) + 0.3
        bottom.set_xlim(max(lo, 0.0), hi)
    bottom.set_xlabel("seconds")
    bottom.set_ylabel("MIDI note")
    bottom.set_title("the voice's rendering of the score, in its own time")
    bottom.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_mels(path: str | Path, title: str, config: AudioConfig, signals: dict[str, np.ndarray]) -> Path:
    """One log-mel spectrogram panel per signal (each trimmed to its sung part), stacked; each panel shows the
    ~50 dB below its own loudest bin."""
    from vocalsynth.audio.mel import log_mel

    plt = _pyplot()
    mels = {k: log_mel(np.asarray(v, dtype=np.float32), config).numpy() for k, v in signals.items()}
    fig, axes = plt.subplots(len(mels), 1, figsize=(12, 2.3 * len(mels)), squeeze=False)
    for ax, (name, mel) in zip(axes[:, 0], mels.items(), strict=True):
        hi = float(mel.max())  # each panel to its own loudest bin: the shapes compare, the levels need not
        ax.imshow(
            mel,
            origin="lower",
            aspect="auto",
            vmin=hi - 11.5,  # natural-log mel: about 50 dB of range
            vmax=hi,
            extent=(0, mel.shape[1] / config.frames_per_second, 0, mel.shape[0]),
            cmap="magma",
        )
        ax.set_ylabel("mel band")
        ax.set_title(f"{name} (peak {hi:.1f} ln-mel)", fontsize=9, loc="left")
    axes[-1, 0].set_xlabel("seconds (each from its first sung frame, 0.3 s before)")
    fig.suptitle(f"{title}: log-mel spectrograms")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
