"""Vocoder copy-synthesis metrics: MCD, F0 RMSE, V/UV error, multi-resolution STFT distance, RTF, and the
side-by-side report (`copy_synthesis_report`; ``python -m vocalsynth.eval.vocoder_metrics``).

Definitions (reference = the recording, synthesis = the vocoder's copy of it; both are time-aligned, so no DTW):

- **MCD** (dB): ``10 / ln 10 * sqrt(2 * sum_{d=1}^{34} (mc_d - mc'_d)^2)`` averaged over *active* frames
  (reference frame energy within 40 dB of its loudest frame). ``mc`` is the 34th-order mel-cepstrum of
  WORLD's CheapTrick envelope of each signal, both analysed with the reference's F0
  (:mod:`vocalsynth.eval.mcep`: SPTK's ``sp2mc`` without pysptk, all-pass constant 0.466 at 24 kHz).
- **F0 RMSE** (cents): over frames voiced in both, F0 from :func:`vocalsynth.audio.extract_f0` of each.
- **V/UV error** (%): active frames whose voicing decision differs.
- **STFT distance**: spectral convergence + log-magnitude L1, mean over 4 resolutions (the training loss).
- **RTF**: seconds to render / seconds of audio, measured here on this process's torch threads; analysis
  (mel + F0 of the reference) is shared and not counted, except that ``world-analysis`` counts its own
  CheapTrick + D4C.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vocalsynth.audio.config import AudioConfig
from vocalsynth.eval.mcep import MCEP_ORDER, active_frames, mcd_db, mcep_alpha, mel_cepstrum, world_mcep

__all__ = [
    "MCEP_ORDER",
    "CopySynthesisReport",
    "copy_synthesis_report",
    "f0_metrics",
    "mcd",
    "mcep_alpha",
    "mel_cepstrum",
    "stft_distance",
]


# ---- metrics -----------------------------------------------------------------------------------------------
def _reference_f0(x: np.ndarray, config: AudioConfig, f0_hz: np.ndarray | None) -> np.ndarray:
    from vocalsynth.audio.world import extract_f0

    if f0_hz is None:
        return extract_f0(x, config)[0].astype(np.float64)
    f0 = np.ascontiguousarray(f0_hz, dtype=np.float64)
    if f0.shape != (config.n_frames(x.size),):
        raise ValueError(
            f"reference F0 has shape {f0.shape} but {x.size} samples have {config.n_frames(x.size)} frames"
        )
    return f0


def mcd(
    reference: np.ndarray, synthesis: np.ndarray, config: AudioConfig, f0_hz: np.ndarray | None = None
) -> float:
    """Mel-cepstral distortion in dB (see the module docstring); ``f0_hz`` is the reference's F0 if known."""
    x = np.ascontiguousarray(reference, dtype=np.float64)
    y = np.zeros_like(x)
    n = min(x.size, len(synthesis))
    y[:n] = synthesis[:n]
    f0 = _reference_f0(x, config, f0_hz)
    active = active_frames(x, config, f0.size)
    return float(np.mean(mcd_db(world_mcep(x, config, f0)[active], world_mcep(y, config, f0)[active])))


def f0_metrics(
    reference: np.ndarray,
    synthesis: np.ndarray,
    config: AudioConfig,
    f0_ref: np.ndarray | None = None,
) -> tuple[float, float]:
    """``(F0 RMSE in cents over frames voiced in both, V/UV error in % of active frames)``."""
    from vocalsynth.audio.pitch import cents
    from vocalsynth.audio.world import extract_f0

    x = np.asarray(reference, dtype=np.float64)
    y = np.zeros_like(x)
    n = min(x.size, len(synthesis))
    y[:n] = synthesis[:n]
    fx = _reference_f0(x, config, f0_ref)
    fy = extract_f0(y, config)[0]
    both = (fx > 0) & (fy > 0)
    rmse = float(np.sqrt(np.mean(cents(fy[both], fx[both]) ** 2))) if both.any() else math.nan
    active = active_frames(x, config, fx.size)
    vuv = float(100.0 * np.mean((fx[active] > 0) != (fy[active] > 0))) if active.any() else math.nan
    return rmse, vuv


def stft_distance(reference: np.ndarray, synthesis: np.ndarray) -> float:
    """Multi-resolution STFT distance (spectral convergence + log-magnitude L1) of two ``(n,)`` signals."""
    import torch

    from vocalsynth.models.vocoder.losses import MultiResolutionSTFTLoss

    n = min(len(reference), len(synthesis))
    x = torch.as_tensor(np.asarray(reference[:n], dtype=np.float32))[None]
    y = torch.as_tensor(np.asarray(synthesis[:n], dtype=np.float32))[None]
    with torch.no_grad():
        return float(MultiResolutionSTFTLoss().distance(y, x))


# ---- report ------------------------------------------------------------------------------------------------
COLUMNS = ("mcd_db", "f0_rmse_cents", "vuv_error_pct", "stft_distance", "rtf")
HEADERS = ("MCD (dB)", "F0 RMSE (cents)", "V/UV err (%)", "MR-STFT dist", "RTF")


@dataclass
class CopySynthesisReport:
    """Per-file and mean metrics for each vocoder; ``str(report)`` is a Markdown table."""

    vocoders: list[str]
    files: list[str]
    per_file: dict[str, list[dict[str, float]]] = field(default_factory=dict)
    threads: int = 1
    seconds: float = 0.0

    def mean(self, vocoder: str) -> dict[str, float]:
        rows = self.per_file[vocoder]
        out = {k: float(np.nanmean([r[k] for r in rows])) for k in COLUMNS if k != "rtf"}
        # RTF over the whole set: total render time / total audio
        out["rtf"] = float(sum(r["render_s"] for r in rows) / max(sum(r["audio_s"] for r in rows), 1e-9))
        return out

    def __str__(self) -> str:
        lines = [
            f"Copy-synthesis of {len(self.files)} file(s), {self.seconds:.1f} s of audio, "
            f"RTF on {self.threads} torch thread(s)",
            "",
            "| vocoder | " + " | ".join(HEADERS) + " |",
            "|---" * (len(HEADERS) + 1) + "|",
        ]
        for v in self.vocoders:
            m = self.mean(v)
            cells = [f"{m['mcd_db']:.2f}", f"{m['f0_rmse_cents']:.1f}", f"{m['vuv_error_pct']:.2f}"]
            cells += [f"{m['stft_distance']:.3f}", f"{m['rtf']:.4f}"]
            lines.append(f"| {v} | " + " | ".join(cells) + " |")
        return "\n".join(lines)


def copy_synthesis_report(
    files: Sequence[str | os.PathLike],
    vocoders: Sequence[str],
    config: AudioConfig | None = None,
    out_dir: str | os.PathLike | None = None,
    seed: int = 0,
) -> CopySynthesisReport:
    """Copy-synthesise each file with each vocoder and score it against the recording.

    ``vocoders``: vocoder folders, ``"world"`` (WORLD from mel + F0: the neural vocoder's inputs) and/or
    ``"world-analysis"`` (WORLD's own analysis/synthesis). All are timed in this run, on the same threads.
    ``out_dir``: also write each rendering there as ``<file stem>.<vocoder label>.wav`` (labelled
    AI-generated).
    """
    import torch

    from vocalsynth.audio.io import load_audio, save_audio
    from vocalsynth.models.vocoder.copy_synthesis import WORLD_ANALYSIS, analyse
    from vocalsynth.models.vocoder.loading import load_vocoder
    from vocalsynth.models.vocoder.world import world_resynthesis

    cfg = config or AudioConfig()
    labels = _unique([_label(v) for v in vocoders])
    models = {
        lab: (None if v == WORLD_ANALYSIS else load_vocoder(v, audio_config=cfg))
        for lab, v in zip(labels, vocoders, strict=True)
    }
    report = CopySynthesisReport(
        labels, [str(f) for f in files], {lab: [] for lab in labels}, torch.get_num_threads()
    )
    for f in files:
        x = load_audio(f, cfg)
        report.seconds += x.size / cfg.sample_rate
        mel, f0 = analyse(x, cfg)
        f0_np = f0.numpy()
        for lab in labels:
            model = models[lab]
            torch.manual_seed(seed)
            t0 = time.perf_counter()
            if model is None:
                y = world_resynthesis(x, cfg, f0_hz=f0_np)
            else:
                with torch.inference_mode():
                    y = model(mel[None], f0[None])[0, : x.size].numpy()
            render_s = time.perf_counter() - t0
            rmse, vuv = f0_metrics(x, y, cfg, f0_np)
            report.per_file[lab].append(
                {
                    "mcd_db": mcd(x, y, cfg, f0_np),
                    "f0_rmse_cents": rmse,
                    "vuv_error_pct": vuv,
                    "stft_distance": stft_distance(x, y),
                    "rtf": render_s / (x.size / cfg.sample_rate),
                    "render_s": render_s,
                    "audio_s": x.size / cfg.sample_rate,
                }
            )
            if out_dir is not None:
                peak = max(1.0, float(np.abs(y).max(initial=0.0)))
                slug = re.sub(r"[^A-Za-z0-9_-]+", "_", lab).strip("_")
                save_audio(
                    Path(out_dir) / f"{Path(f).stem}.{slug}.wav",
                    y / peak,
                    cfg.sample_rate,
                    metadata={"comment": f"AI-generated (vocoder copy-synthesis, {lab}) from {Path(f).name}"},
                )
    return report


def _unique(labels: list[str]) -> list[str]:
    """Labels made distinct (``x``, ``x #2``...): two folders named alike must not share a report row."""
    seen: dict[str, int] = {}
    out = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        out.append(label if seen[label] == 1 else f"{label} #{seen[label]}")
    return out


def _label(vocoder: str) -> str:
    if vocoder in ("world", "world-analysis"):
        return f"{vocoder} (WORLD)" if vocoder == "world-analysis" else "world (mel + F0)"
    p = Path(vocoder)
    return f"neural ({p.parent.name}/{p.name})" if p.parent.name else f"neural ({p.name})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m vocalsynth.eval.vocoder_metrics",
        description="Copy-synthesis metrics of vocoders side by side (MCD, F0 RMSE, V/UV, MR-STFT, RTF).",
    )
    parser.add_argument("--vocoder", action="append", default=[], help="vocoder folder (repeatable)")
    parser.add_argument("--no-world", action="store_true", help="leave out the two WORLD baselines")
    parser.add_argument("--files", nargs="+", required=True, help="reference recordings")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--out-dir", help="also write the renderings here")
    parser.add_argument("--per-file", action="store_true", help="print per-file rows too")
    parser.add_argument("--json", help="also write the mean figures per vocoder to this JSON file")
    args = parser.parse_args(argv)
    import torch

    from vocalsynth.audio.errors import AudioError

    if args.threads:
        torch.set_num_threads(args.threads)
    vocoders = list(args.vocoder) + ([] if args.no_world else ["world", "world-analysis"])
    if not vocoders:
        parser.error("nothing to compare: give --vocoder or drop --no-world")
    try:
        report = copy_synthesis_report(args.files, vocoders, out_dir=args.out_dir)
    except AudioError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(report)
    if args.json:
        import json

        means = {v: report.mean(v) for v in report.vocoders}
        Path(args.json).write_text(json.dumps({"files": report.files, "vocoders": means}, indent=1) + "\n")
    if args.per_file:
        for v in report.vocoders:
            for f, r in zip(report.files, report.per_file[v], strict=True):
                cells = " ".join(f"{k}={r[k]:.3f}" for k in COLUMNS)
                print(f"{v}\t{Path(f).name}\t{cells}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
