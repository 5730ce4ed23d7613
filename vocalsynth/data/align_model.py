"""Frame scores for the aligner: phone kinds, a training-free heuristic model, and the small learned
phone classifier (`AlignerModel`) with its training loop and safe save/load.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from vocalsynth.audio.config import AudioConfig
from vocalsynth.audio.features import Features

FORMAT = "vocalsynth-aligner"
FORMAT_VERSION = 1

# Phone kinds. A note's "nucleus" (vowel, syllabic nasal, the rest's silence) carries its onset time;
# consonants before it are sung ahead of the beat.
KINDS = ("sil", "breath", "closure", "vowel", "nasal", "voiced", "unvoiced")
SILENCES = {"SP", "sil", "pau", "<SP>"}
BREATHS = {"AP", "br", "<AP>"}
# voiced consonants per language (the rest are voiceless); the inventory knows vowels, glides, N and cl
_VOICED = {
    "ja": {"g", "gy", "d", "b", "by", "z", "j", "n", "ny", "m", "my", "r", "ry", "v", "y", "w"},
    "en": {"b", "d", "g", "v", "dh", "z", "zh", "jh", "m", "n", "ng", "l", "r", "dx", "w", "y"},
    "zh": {"m", "n", "l", "r"},
}
_INVENTORY_KINDS = {
    "vowel": "vowel",
    "nasal_coda": "nasal",
    "closure": "closure",
    "rest": "sil",
    "breath": "breath",
    "semivowel": "voiced",
}


def phone_kind(symbol: str) -> str:
    """The broad class of an inventory symbol (``ja/k`` -> ``'unvoiced'``, ``ja/a`` -> ``'vowel'``, ``SP``...).

    One of :data:`KINDS`: the project inventory's kinds with consonants split by voicing. Symbols outside
    the inventory are guessed (a vowel letter first: vowel).
    """
    if symbol in SILENCES:
        return "sil"
    if symbol in BREATHS:
        return "breath"
    from vocalsynth.text import inventory

    lang, _, name = symbol.rpartition("/")
    try:
        kind = inventory.kind(symbol)
    except KeyError:
        kind = None
    if kind in _INVENTORY_KINDS:
        return _INVENTORY_KINDS[kind]
    if kind is None:
        base = name.rstrip("0123456789")  # ARPAbet stress digits
        if base in ("cl", "Q"):
            return "closure"
        if base[:1].lower() in set("aeiou"):
            return "vowel"
        name = base
    voiced = _VOICED.get(lang, {"m", "n", "ng", "l", "r", "w", "y", "b", "d", "g", "v", "z"})
    return "voiced" if name in voiced else "unvoiced"


# ---------------------------------------------------------------------------------------------------------
# Frame inputs and the heuristic (training-free) model


def _energy_levels(energy: np.ndarray) -> tuple[float, float]:
    """(floor, loud) levels in dB: the recording's noise floor and its loud sung level."""
    loud = float(np.percentile(energy, 95))
    floor = float(np.percentile(energy, 3))
    # a clip with no silence at all (or digital silence) still needs a sane range
    floor = min(floor, loud - 20.0)
    return floor, loud


def frame_inputs(features: Features) -> np.ndarray:
    """Classifier input ``(86, T)`` float32: per-clip normalised log-mel, level, voicing and aperiodicity.

    The mel is centred on the median of the clip's loud frames so that the recording chain and the singer's
    timbre matter less; the level is relative to the clip's loud level.
    """
    mel = np.asarray(features.mel, dtype=np.float32)
    energy = np.asarray(features.energy, dtype=np.float32)
    floor, loud = _energy_levels(energy)
    active = energy > loud - 30.0
    centre = np.median(mel[:, active] if active.sum() >= 10 else mel, axis=1, keepdims=True)
    level = (energy - loud) / 20.0
    ap = 2.0 * np.asarray(features.aperiodicity, dtype=np.float32) - 1.0
    vuv = 2.0 * np.asarray(features.vuv, dtype=np.float32) - 1.0
    x = np.concatenate([(mel - centre) / 2.0, level[None], ap, vuv[None]], axis=0)
    return np.ascontiguousarray(x, dtype=np.float32)


def _augment_mel(mel: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random vocal-tract-length-like warp of the mel axis and a random spectral tilt, ``(n_mels, T)``."""
    n = mel.shape[0]
    alpha = float(rng.uniform(0.9, 1.1))
    pos = np.clip(np.arange(n) * alpha, 0, n - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, n - 1)
    w = (pos - lo)[:, None]
    warped = mel[lo] * (1 - w) + mel[hi] * w
    tilt = float(rng.uniform(-0.25, 0.25)) * np.linspace(-1.0, 1.0, n)[:, None]
    return (warped + tilt).astype(np.float32)


# (mean, sd) of the level between noise floor (0) and loud singing (1), and P(voiced), per kind: rough values
# read off NIT-SONG070 and PJS, enough to bootstrap the classifier. "breath" is wide: PJS breaths at rests
# reach consonant loudness, and they are unvoiced noise.
_HEURISTIC = {
    "sil": (0.05, 0.10, 0.08),
    "closure": (0.12, 0.14, 0.30),
    "breath": (0.40, 0.25, 0.10),
    "unvoiced": (0.30, 0.25, 0.30),
    "voiced": (0.55, 0.20, 0.90),
    "nasal": (0.75, 0.15, 0.99),
    "vowel": (0.85, 0.15, 0.995),
}


def heuristic_kind_scores(features: Features) -> dict[str, np.ndarray]:
    """Per-frame log-likelihood ``(T,)`` of each phone kind from level and voicing alone (no training).

    A rest (``sil``) is silence or a breath: singers breathe in the rests the score writes.
    """
    energy = np.asarray(features.energy, dtype=np.float64)
    floor, loud = _energy_levels(energy)
    level = np.clip((energy - floor) / (loud - floor), -0.2, 1.2)
    voiced = np.asarray(features.vuv) > 0.5
    out = {}
    for kind, (mean, sd, p_voiced) in _HEURISTIC.items():
        ll = -0.5 * ((level - mean) / sd) ** 2 - math.log(sd)
        ll += np.where(voiced, math.log(p_voiced), math.log(1.0 - p_voiced))
        out[kind] = ll
    out["sil"] = np.logaddexp(out["sil"], out["breath"] + math.log(0.3)) - math.log(1.3)
    return out


# ---------------------------------------------------------------------------------------------------------
# The learned phone classifier


class PhoneClassifier(nn.Module):
    """Dilated 1-D conv net over frames: ``(B, n_inputs, T)`` -> phone logits ``(B, n_classes, T)``.

    About 0.1 M parameters with a receptive field of ~±150 ms: enough context for a consonant and its vowel.
    """

    def __init__(
        self, n_inputs: int, n_classes: int, channels: int = 64, dilations: Sequence[int] = (1, 2, 4, 8)
    ):
        super().__init__()
        self.inp = nn.Conv1d(n_inputs, channels, 3, padding=1)
        self.blocks = nn.ModuleList(
            nn.Sequential(
                nn.GELU(),
                nn.Conv1d(channels, channels, 5, padding=2 * d, dilation=d),
                nn.GroupNorm(1, channels),
                nn.Dropout(0.1),
            )
            for d in dilations
        )
        self.out = nn.Conv1d(channels, n_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.inp(x)
        for block in self.blocks:
            h = h + block(h)
        return self.out(nn.functional.gelu(h))


@dataclass
class AlignerModel:
    """A trained phone classifier plus what alignment learns about the corpus.

    - ``symbols``: the classifier's classes (inventory symbols, ``SP`` included).
    - ``log_prior``: ``(n_classes,)`` log frequency of each class in training, to turn posteriors into
      scaled likelihoods.
    - ``durations``: typical length in seconds of consonants and other non-nucleus phones, per symbol.
    - ``audio``: the :class:`AudioConfig` the features were made with (checked when aligning).
    """

    symbols: list[str]
    classifier: PhoneClassifier
    log_prior: np.ndarray
    durations: dict[str, float] = field(default_factory=dict)
    audio: AudioConfig = field(default_factory=AudioConfig)
    arch: dict = field(default_factory=dict)

    @classmethod
    def create(
        cls, symbols: Sequence[str], audio: AudioConfig, n_inputs: int, channels: int = 64, seed: int = 0
    ) -> AlignerModel:
        torch.manual_seed(seed)
        arch = {"n_inputs": int(n_inputs), "channels": int(channels)}
        clf = PhoneClassifier(n_inputs, len(symbols), channels)
        return cls(list(symbols), clf, np.zeros(len(symbols)), {}, audio, arch)

    def index(self) -> dict[str, int]:
        return {s: i for i, s in enumerate(self.symbols)}

    @torch.no_grad()
    def log_posteriors(self, features: Features) -> np.ndarray:
        """``(n_classes, T)`` float64 log posteriors of each class per frame."""
        x = torch.from_numpy(frame_inputs(features))[None]
        if x.shape[1] != self.arch["n_inputs"]:
            raise ValueError(
                f"features give {x.shape[1]} inputs per frame but the aligner model was trained on "
                f"{self.arch['n_inputs']} (different n_mels or aperiodicity bands)"
            )
        self.classifier.eval()
        logits = self.classifier(x)[0]
        return torch.log_softmax(logits, dim=0).double().numpy()

    def save(self, path: str | Path) -> Path:
        """Write a ``torch.save`` file of tensors and plain values only (loads with ``weights_only=True``)."""
        path = Path(path)
        blob = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "symbols": list(self.symbols),
            "log_prior": torch.from_numpy(np.asarray(self.log_prior, dtype=np.float32)),
            "durations": {k: float(v) for k, v in self.durations.items()},
            "audio_config": self.audio.to_dict(),
            "arch": dict(self.arch),
            "state_dict": {k: v.detach().clone() for k, v in self.classifier.state_dict().items()},
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(blob, path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> AlignerModel:
        """Read a file written by :meth:`save`; never unpickles arbitrary objects."""
        path = Path(path)
        try:
            blob = torch.load(path, map_location="cpu", weights_only=True)
        except FileNotFoundError:
            raise ValueError(f"{path}: aligner model file not found") from None
        except Exception as e:  # a truncated file, another format, a pickle with code in it...
            raise ValueError(f"{path}: not a readable aligner model ({type(e).__name__}: {e})") from None
        if not isinstance(blob, dict) or blob.get("format") != FORMAT:
            raise ValueError(f"{path}: not a vocalsynth aligner model (format field missing or different)")
        if blob.get("version") != FORMAT_VERSION:
            raise ValueError(
                f"{path}: aligner model version {blob.get('version')}, this code reads {FORMAT_VERSION}"
            )
        arch = dict(blob["arch"])
        symbols = list(blob["symbols"])
        clf = PhoneClassifier(int(arch["n_inputs"]), len(symbols), int(arch["channels"]))
        try:
            clf.load_state_dict(blob["state_dict"])
        except RuntimeError as e:
            raise ValueError(f"{path}: weights do not fit the stored architecture: {e}") from None
        return cls(
            symbols=symbols,
            classifier=clf,
            log_prior=blob["log_prior"].double().numpy(),
            durations=dict(blob["durations"]),
            audio=AudioConfig.from_dict(blob["audio_config"], source=str(path)),
            arch=arch,
        )


def fit_classifier(
    model: AlignerModel,
    inputs: Sequence[np.ndarray],
    labels: Sequence[np.ndarray],
    *,
    steps: int,
    batch: int = 16,
    crop: int = 256,
    lr: float = 2e-3,
    augment: bool = True,
    seed: int = 0,
    log: Callable[[str], None] | None = None,
) -> None:
    """Train ``model.classifier`` in place on frame labels (``-1`` = ignore) and set ``model.log_prior``.

    ``inputs[i]`` is ``(n_inputs, T_i)`` from :func:`frame_inputs`, ``labels[i]`` ``(T_i,)`` class indices.
    Classes are weighted by ``count ** -0.5`` so short consonants are not drowned by vowels and silence.
    ``augment`` warps the mel axis (+-10 %) and tilts the spectrum at random, as another singer or
    microphone would, so that a model trained on one singer carries over to others.
    """
    n_classes = len(model.symbols)
    counts = np.zeros(n_classes)
    for y in labels:
        counts += np.bincount(y[y >= 0], minlength=n_classes)
    if counts.sum() == 0:
        raise ValueError("no labelled frames to train the phone classifier on")
    model.log_prior = np.log(np.maximum(counts, 1.0) / counts.sum())
    weight = np.where(counts > 0, np.maximum(counts, 1.0) ** -0.5, 0.0)
    weight = weight / (weight * counts).sum() * counts.sum()
    loss_fn = nn.CrossEntropyLoss(weight=torch.tensor(weight, dtype=torch.float32), ignore_index=-1)

    rng = np.random.default_rng(seed)
    lengths = np.array([y.shape[0] for y in labels], dtype=np.float64)
    p_clip = lengths / lengths.sum()
    n_in = inputs[0].shape[0]
    n_mels = model.audio.n_mels  # frame_inputs puts the mel rows first
    clf = model.classifier
    clf.train()
    opt = torch.optim.AdamW(clf.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(steps, 1), pct_start=0.15)
    xb = np.zeros((batch, n_in, crop), dtype=np.float32)
    yb = np.full((batch, crop), -1, dtype=np.int64)
    running = 0.0
    for step in range(steps):
        xb.fill(0.0)
        yb.fill(-1)
        for b, i in enumerate(rng.choice(len(labels), size=batch, p=p_clip)):
            T = labels[i].shape[0]
            a = int(rng.integers(0, max(T - crop, 0) + 1))
            n = min(crop, T - a)
            xb[b, :, :n] = inputs[i][:, a : a + n]
            yb[b, :n] = labels[i][a : a + n]
            if augment:
                xb[b, :n_mels, :n] = _augment_mel(xb[b, :n_mels, :n], rng)
        logits = clf(torch.from_numpy(xb))
        loss = loss_fn(logits, torch.from_numpy(yb))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        value = float(loss.detach())
        running = 0.9 * running + 0.1 * value if step else value
        if log is not None and (step + 1) % 100 == 0:
            log(f"  step {step + 1}/{steps}: loss {running:.3f}")
    clf.eval()
