"""Copy-synthesis: analyse a recording (log-mel + WORLD F0) and render it again with a vocoder.

The file-level entry `vocode` labels its output as AI-generated in the file's metadata.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from vocalsynth.audio.config import AudioConfig
from vocalsynth.audio.io import load_audio, save_audio
from vocalsynth.audio.mel import log_mel
from vocalsynth.audio.world import F0Method, extract_f0
from vocalsynth.models.vocoder.base import Vocoder
from vocalsynth.models.vocoder.loading import load_vocoder

WORLD_ANALYSIS = "world-analysis"


def analyse(
    samples: np.ndarray, config: AudioConfig, f0_method: F0Method = "harvest"
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(mel (n_mels, T), f0_hz (T,))`` of mono audio: the vocoder's inputs, as an acoustic model gives them."""
    mel = log_mel(samples, config)
    f0, _ = extract_f0(samples, config, f0_method)
    return mel, torch.from_numpy(f0)


def copy_synthesize(
    samples: np.ndarray,
    vocoder: Vocoder | str,
    config: AudioConfig | None = None,
    f0_method: F0Method = "harvest",
    features: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> np.ndarray:
    """Render mono ``(n,)`` audio again through ``vocoder`` -> ``(n,)`` float32.

    ``vocoder``: a :class:`Vocoder`, a vocoder folder, ``"world"`` (WORLD from the mel + F0, the neural
    vocoder's inputs) or ``"world-analysis"`` (WORLD's own analysis/synthesis of the waveform).
    ``features``: precomputed :func:`analyse` output, to share one analysis between vocoders.
    """
    if isinstance(vocoder, str) and vocoder == WORLD_ANALYSIS:
        from vocalsynth.models.vocoder.world import world_resynthesis

        return world_resynthesis(samples, config or AudioConfig(), f0_method)
    if not isinstance(vocoder, Vocoder):
        vocoder = load_vocoder(vocoder, audio_config=config)
    cfg = vocoder.audio_config
    if config is not None:
        vocoder.check_compatible(config, what_other="the requested audio config")
    mel, f0 = features if features is not None else analyse(samples, cfg, f0_method)
    with torch.inference_mode():
        audio = vocoder(mel[None].float(), f0[None].float())[0]
    return audio[: len(samples)].cpu().numpy().astype(np.float32)


def vocode(
    in_path: str | os.PathLike,
    out_path: str | os.PathLike,
    vocoder: Vocoder | str = "world",
    f0_method: F0Method = "harvest",
) -> Path:
    """Copy-synthesis of the file ``in_path`` into ``out_path`` (WAV or FLAC), labelled as AI-generated.

    ``vocoder``: ``"world"``, ``"world-analysis"``, a vocoder folder or a :class:`Vocoder`. The audio is
    read at the vocoder's sample rate (resampled if needed). Returns ``out_path``.
    """
    if isinstance(vocoder, str) and vocoder not in ("world", WORLD_ANALYSIS):
        vocoder = load_vocoder(vocoder)
    cfg = vocoder.audio_config if isinstance(vocoder, Vocoder) else AudioConfig()
    samples = load_audio(in_path, cfg)
    audio = copy_synthesize(samples, vocoder, cfg, f0_method)
    name = vocoder if isinstance(vocoder, str) else vocoder.kind
    from vocalsynth import __version__

    metadata = {
        "comment": f"AI-generated (vocoder copy-synthesis) by vocalsynth {__version__}, vocoder {name}, "
        f"from {Path(in_path).name}",
        "software": f"vocalsynth {__version__}",
    }
    peak = float(np.abs(audio).max(initial=0.0))
    if (
        peak > 1.0
    ):  # keep a rare overshoot from clipping; copy-synthesis should not change the level otherwise
        audio = audio / peak
    return save_audio(out_path, audio, cfg.sample_rate, metadata=metadata)
