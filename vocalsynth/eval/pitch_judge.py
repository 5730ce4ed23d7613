"""An independent pitch judge: PESTO (pesto-pitch; its weights ship inside the wheel), F0 and voicing confidence
on a 10 ms grid, and score conformance measured with it instead of WORLD.

The synthesizer's own conformance report measures pitch with WORLD Harvest, a tracker from the same family as
the features the voice was trained on; this judge is a separately trained neural tracker (Riou et al., 2023,
the MIR-1K model), so "the notes were sung in tune" does not rest on one tool agreeing with itself. Measured
here: harmonic tones on its 1/3-semitone grid read within 1 cent, between grid points up to ~18 cents off;
pure sine tones below 200 Hz read 25-65 cents sharp (it was trained on voices, which have harmonics).

pesto-pitch's package ``__init__`` imports torchaudio (for reading files), which does not load with the CPU
torch here, so the model is built from its submodules without running that ``__init__``; its checkpoint is
read with ``torch.load(weights_only=True)``, allowing only the plain containers it is pickled with.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import sys
import types
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vocalsynth.errors import InputError

if TYPE_CHECKING:
    from vocalsynth.audio.config import AudioConfig
    from vocalsynth.score.model import Score
    from vocalsynth.synthesis.conformance import ConformanceReport
    from vocalsynth.synthesis.rendering import Rendering

MODEL = "mir-1k_g7"
JUDGE_SAMPLE_RATE = 16000  # MIR-1K, PESTO's training data, is 16 kHz
STEP_MS = 10.0
# Confidence above which a frame counts as voiced, on levelled audio (:func:`level`). Measured on PJS pjs040
# (8 s) and NIT-SONG070 029 (first 20 s): frames WORLD calls unvoiced have a median confidence of 0.10 (95th
# percentile 0.11-0.16), voiced frames 1.0 (10th percentile 0.12 on PJS, 1.0 on NIT); 0.5 agrees with WORLD's
# voicing on 91 % and 97.5 % of the frames (with a plain -23 LUFS normalisation instead: 86 % and 64 %).
VOICED_CONFIDENCE = 0.5
LEVEL_WINDOW = 0.2  # seconds of the RMS envelope that levelling follows
LEVEL_RANGE_DB = (
    30.0  # passages quieter than this below the loudest are lifted no further (silence stays low)
)
LEVEL_RMS = 0.1


class PitchJudgeError(InputError):
    """The pitch judge can't run (pesto-pitch missing or unreadable) or was given unusable audio."""


@dataclass
class PitchTrack:
    """F0 estimate and voicing confidence every ``step`` seconds from time 0 (frame ``i`` at ``i * step``)."""

    f0_hz: np.ndarray
    confidence: np.ndarray
    step: float
    threshold: float = VOICED_CONFIDENCE

    @property
    def times(self) -> np.ndarray:
        return np.arange(self.f0_hz.size) * self.step

    @property
    def voiced(self) -> np.ndarray:
        return self.confidence >= self.threshold

    def on_grid(self, n_frames: int, frame_step: float) -> tuple[np.ndarray, np.ndarray]:
        """``(f0_hz, vuv)`` ``(n_frames,)`` float64 on another grid (frame ``k`` at ``k * frame_step``),
        nearest frame; F0 is 0 where unvoiced."""
        k = np.clip(np.round(np.arange(n_frames) * frame_step / self.step).astype(np.int64), 0, None)
        k = np.minimum(k, self.f0_hz.size - 1)
        vuv = self.voiced[k].astype(np.float64)
        return np.where(vuv > 0, self.f0_hz[k], 0.0).astype(np.float64), vuv


def _pesto_package() -> tuple[Any, Any, Path]:
    """``(pesto.data, pesto.model, weights folder)``; when pesto's ``__init__`` fails (torchaudio), from a bare
    package module standing in for it."""
    spec = importlib.util.find_spec("pesto")
    if spec is None or not spec.submodule_search_locations:
        raise PitchJudgeError("the pitch judge needs pesto-pitch (pip install pesto-pitch)")
    root = Path(list(spec.submodule_search_locations)[0])
    try:
        importlib.import_module("pesto")  # where torchaudio loads, the package as published
    except (ImportError, OSError):
        package = types.ModuleType("pesto")
        package.__path__ = [str(root)]
        package.__spec__ = spec
        package.__file__ = str(root / "__init__.py")
        sys.modules["pesto"] = package  # the submodules' relative imports resolve against it
    return importlib.import_module("pesto.data"), importlib.import_module("pesto.model"), root / "weights"


@functools.lru_cache(maxsize=2)
def load_judge(model: str = MODEL, step_ms: float = STEP_MS):
    """The PESTO model ``model`` (a checkpoint shipped with pesto-pitch) at ``step_ms`` hops, for 16 kHz audio."""
    import torch

    data, net, weights = _pesto_package()
    path = weights / f"{model}.ckpt"
    if not path.is_file():
        known = sorted(p.stem for p in weights.glob("*.ckpt"))
        raise PitchJudgeError(f"no PESTO checkpoint {model!r}; pesto-pitch ships {', '.join(known)}")
    try:
        from omegaconf.base import ContainerMetadata, Metadata
        from omegaconf.dictconfig import DictConfig
        from omegaconf.listconfig import ListConfig
        from omegaconf.nodes import AnyNode
    except ImportError as e:
        raise PitchJudgeError(f"reading the PESTO checkpoint needs omegaconf ({e})") from None
    import collections
    import typing

    # the checkpoint's training-loop state is pickled as omegaconf containers: data, not code
    allowed = [ListConfig, DictConfig, ContainerMetadata, Metadata, AnyNode, typing.Any]
    allowed += [list, dict, int, collections.defaultdict]
    with torch.serialization.safe_globals(allowed):
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    hparams = checkpoint["hparams"]
    preprocessor = data.Preprocessor(
        hop_size=float(step_ms), sampling_rate=JUDGE_SAMPLE_RATE, **dict(checkpoint["hcqt_params"])
    )
    model_ = net.PESTO(
        net.Resnet1d(**dict(hparams["encoder"])),
        preprocessor=preprocessor,
        crop_kwargs=dict(hparams["pitch_shift"]),
        reduction=hparams["reduction"],
    )
    # the CQT kernels are rebuilt from the parameters, not loaded: the only keys the checkpoint lacks
    result = model_.load_state_dict(checkpoint["state_dict"], strict=False)
    unexpected = [k for k in result.missing_keys if not k.startswith("preprocessor.")]
    if unexpected or result.unexpected_keys:
        raise PitchJudgeError(f"PESTO checkpoint {path.name} does not fit the model: {result}")
    return model_.eval()


def level(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """``samples`` with every passage brought to the same RMS (``LEVEL_RMS``): divided by their RMS envelope
    over ``LEVEL_WINDOW`` seconds, which is floored at ``LEVEL_RANGE_DB`` below its maximum; peak <= 0.99."""
    from scipy.ndimage import uniform_filter1d

    x = np.asarray(samples, dtype=np.float64)
    envelope = np.sqrt(uniform_filter1d(x * x, max(int(LEVEL_WINDOW * sample_rate), 1)) + 1e-20)
    envelope = np.maximum(envelope, envelope.max() * 10 ** (-LEVEL_RANGE_DB / 20))
    y = x * (LEVEL_RMS / envelope)
    peak = float(np.abs(y).max())
    return (y * (0.99 / peak) if peak > 0.99 else y).astype(np.float32)


def track_pitch(
    samples: np.ndarray,
    sample_rate: int,
    *,
    model: str = MODEL,
    step_ms: float = STEP_MS,
    threshold: float = VOICED_CONFIDENCE,
    normalise: bool = True,
) -> PitchTrack:
    """PESTO's F0 and confidence for mono ``(n,)`` audio (resampled to 16 kHz), one frame every ``step_ms``.

    PESTO's confidence grows with the input level (the same song 12 dB quieter loses most of its voiced
    frames, and so do the quiet verses of a loud song), so the audio is first levelled (:func:`level`).
    """
    import torch

    from vocalsynth.audio.io import resample

    x = np.asarray(samples, dtype=np.float32)
    if x.ndim != 1 or x.size == 0:
        raise PitchJudgeError(f"expected mono audio of shape (n,) with n > 0, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise PitchJudgeError("audio contains NaN or infinite samples")
    x16 = resample(x, int(sample_rate), JUDGE_SAMPLE_RATE)
    if normalise:
        x16 = level(x16, JUDGE_SAMPLE_RATE)
    x16 = np.ascontiguousarray(x16, dtype=np.float32)
    judge = load_judge(model, float(step_ms))
    with torch.inference_mode():
        f0, confidence, _vol, _act = judge(torch.from_numpy(x16), sr=JUDGE_SAMPLE_RATE, convert_to_freq=True)
    return PitchTrack(
        f0.numpy().astype(np.float64), confidence.numpy().astype(np.float64), step_ms / 1000.0, threshold
    )


def judge_conformance(
    rendering_or_audio: Rendering | np.ndarray,
    score: Score | str,
    *,
    sample_rate: int | None = None,
    pre_roll: float | None = None,
    key_shift: float | None = None,
    config: AudioConfig | None = None,
    track: PitchTrack | None = None,
) -> ConformanceReport:
    """Score conformance (:func:`vocalsynth.synthesis.conformance.measure`) with PESTO's F0 as the pitch.

    ``rendering_or_audio``: a `Rendering` (its samples, rate and pre-roll are used) or mono samples at
    ``sample_rate`` whose sample ``round(pre_roll * sample_rate)`` is score time 0 (default 0). ``score``:
    the `Score` as sung (after tempo changes), a score file or notation text. ``key_shift``: semitones the
    notes were sung shifted by; default: read off a rendering's own conformance report, else 0. ``track``:
    a PESTO track of the same audio already computed. The report's ``method`` is ``"pesto"``.
    """
    from vocalsynth.audio.config import AudioConfig
    from vocalsynth.score import load_score
    from vocalsynth.synthesis.conformance import measure

    if hasattr(rendering_or_audio, "samples"):
        rendering = rendering_or_audio
        samples = np.asarray(rendering.samples)
        rate = int(rendering.sample_rate)
        pre = float(rendering.pre_roll) if pre_roll is None else float(pre_roll)
        if key_shift is None and rendering.conformance is not None and rendering.conformance.notes:
            first = rendering.conformance.notes[0]
            song = score if not isinstance(score, str) else load_score(score)
            key_shift = first.target_midi - float(song.notes[first.index].pitch)
    else:
        if sample_rate is None:
            raise PitchJudgeError("give the sample_rate of the audio")
        samples, rate, pre = np.asarray(rendering_or_audio), int(sample_rate), float(pre_roll or 0.0)
    song = load_score(score) if isinstance(score, str) else score
    cfg = config or AudioConfig()  # only its frame rate matters here: the pitch comes from the track
    track = track or track_pitch(samples, rate)
    n_frames = int(samples.size / rate * cfg.frames_per_second) + 1
    f0, vuv = track.on_grid(n_frames, 1.0 / cfg.frames_per_second)
    sung = [(i, n) for i, n in enumerate(song.notes) if not n.is_rest]
    return measure(
        samples,
        cfg,
        sung,
        pre_roll=pre,
        key_shift=float(key_shift or 0.0),
        method="pesto",
        f0_track=(f0, vuv),
    )
