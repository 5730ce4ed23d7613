"""``vocalsynth bench --openutau``: the render speed of a voice exported for OpenUtau, on CPU with
onnxruntime as OpenUtau runs it (duration model, acoustic graph, vocoder at 44.1 kHz), against the same
graphs run eagerly in PyTorch in the same process as the baseline."""

from __future__ import annotations

import statistics
import tempfile
import time
from typing import Any

import numpy as np
import torch

LYRICS = "さくらさくらやよいのそらはみわたすかぎり"
KEYS = (55, 57, 59, 57, 55, 52, 55, 57)  # around G3: inside the default voice's range
NOTE_MS = 500.0


def notes_for(seconds: float):
    from vocalsynth.export.openutau_feed import Note

    n = max(int(round(seconds * 1000 / NOTE_MS)), 1)
    return [
        Note(LYRICS[k % len(LYRICS)], KEYS[k % len(KEYS)], 1000.0 + k * NOTE_MS, NOTE_MS) for k in range(n)
    ]


def _median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def bench_openutau(
    voice: str = "default",
    lengths=(10.0, 30.0),
    *,
    threads: int | None = None,
    repeats: int = 3,
    log=print,
    exported=None,
) -> dict[str, Any]:
    """Export ``voice`` to a temporary folder (or take ``exported``, an `ExportResult` of it) and time
    phrases of ``lengths`` seconds. Returns the export time and, per length, seconds and RTF of each ONNX
    stage, of the same graphs in PyTorch and of the vocoder as ``sing`` runs it."""
    from vocalsynth.export.graphs import AcousticGraph
    from vocalsynth.export.openutau import export_openutau
    from vocalsynth.export.openutau_feed import Voicebank
    from vocalsynth.export.vocoder_graph import VocoderGraph
    from vocalsynth.models.acoustic.model import AcousticModel
    from vocalsynth.models.vocoder import Vocoder
    from vocalsynth.voices import load_voice, resolve_voice

    if threads:
        torch.set_num_threads(threads)
    out: dict[str, Any] = {"voice": str(voice), "threads": threads or torch.get_num_threads(), "lengths": []}
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        result = exported or export_openutau(voice, f"{tmp}/voicebank")
        out["export_seconds"] = None if exported else time.perf_counter() - t
        if not exported:
            log(f"exported in {out['export_seconds']:.1f} s")
        bank = Voicebank(result.folder, threads=threads or torch.get_num_threads())
        loaded = load_voice(resolve_voice(voice))
        model = AcousticModel.load(loaded.acoustic_dir)
        singers = list(model.singers)
        multi = len(singers) > 1
        acoustic = AcousticGraph(
            model, singer=singers.index(result.speakers[0]) if multi else 0, mix_singers=multi
        )
        native = Vocoder.from_pretrained(loaded.vocoder_dir)
        vocoder = VocoderGraph(native)
        order = [singers.index(s) for s in result.speakers]
        for seconds in lengths:
            notes = notes_for(seconds)
            phones, dur_feeds, _ = bank.phonemize(notes)
            feeds = bank.acoustic_feeds(phones, notes)
            audio_s = feeds["f0"].shape[1] * bank.frame_ms / 1000.0
            mel = bank.acoustic.run(None, feeds)[0]  # also the warm-up: a new shape's first run is slow
            bank.vocoder.run(None, {"mel": mel, "f0": feeds["f0"]})
            row: dict[str, Any] = {"seconds": audio_s, "notes": len(notes)}
            row["onnx_duration"] = _median_time(lambda notes=notes: bank.phonemize(notes), repeats)
            row["onnx_acoustic"] = _median_time(lambda f=feeds: bank.acoustic.run(None, f), repeats)
            row["onnx_vocoder"] = _median_time(
                lambda m=mel, f=feeds: bank.vocoder.run(None, {"mel": m, "f0": f["f0"]}), repeats
            )
            tt = {k: torch.from_numpy(v) for k, v in feeds.items()}
            spk = None
            if multi:  # OpenUtau's speaker order -> the model's
                spk = torch.zeros(1, tt["f0"].shape[1], len(singers))
                spk[:, :, order] = tt["spk_embed"]
            with torch.inference_mode():
                acoustic(
                    tt["tokens"], tt["durations"], tt["f0"], tt["gender"], spk
                )  # warm-up, as for onnxruntime
                vocoder(torch.from_numpy(mel), tt["f0"])
                row["torch_acoustic"] = _median_time(
                    lambda tt=tt, spk=spk: acoustic(
                        tt["tokens"], tt["durations"], tt["f0"], tt["gender"], spk
                    ),
                    repeats,
                )
                tmel = torch.from_numpy(mel)
                row["torch_vocoder"] = _median_time(lambda m=tmel, f0=tt["f0"]: vocoder(m, f0), repeats)
                # the vocoder as `sing` runs it (torch.stft/istft, 24 kHz, no resampling): what the
                # convolution STFTs and the 44.1 kHz resampler of the export cost
                log_mel, f0_hz = vocoder.split(tmel, tt["f0"])
                row["native_vocoder"] = _median_time(lambda m=log_mel, f=f0_hz: native(m, f), repeats)
            onnx_total = row["onnx_duration"] + row["onnx_acoustic"] + row["onnx_vocoder"]
            torch_total = row["torch_acoustic"] + row["torch_vocoder"]
            row["onnx_rtf"] = onnx_total / audio_s
            row["onnx_render_rtf"] = (row["onnx_acoustic"] + row["onnx_vocoder"]) / audio_s
            row["torch_render_rtf"] = torch_total / audio_s
            row["onnx_vs_torch"] = (row["onnx_acoustic"] + row["onnx_vocoder"]) / torch_total
            row["native_vocoder_rtf"] = row["native_vocoder"] / audio_s
            out["lengths"].append(row)
            log(f"{audio_s:.1f} s phrase: ONNX RTF {row['onnx_rtf']:.4f}")
    return out


def format_openutau(result: dict[str, Any]) -> str:
    lines = [
        f"OpenUtau voicebank of {result['voice']!r} on CPU (onnxruntime, {result['threads']} thread(s))"
        + (f"; export took {result['export_seconds']:.1f} s" if result["export_seconds"] else ""),
        "| phrase | ONNX RTF (dur + acoustic + vocoder) | ONNX render RTF | PyTorch render RTF (same graphs) "
        "| ONNX / PyTorch | vocoder as `sing` runs it (torch FFT, 24 kHz) RTF |",
        "|---|---|---|---|---|---|",
    ]
    for r in result["lengths"]:
        lines.append(
            f"| {r['seconds']:.1f} s | {r['onnx_rtf']:.4f} ({r['onnx_duration'] / r['seconds']:.4f} + "
            f"{r['onnx_acoustic'] / r['seconds']:.4f} + {r['onnx_vocoder'] / r['seconds']:.4f}) | "
            f"{r['onnx_render_rtf']:.4f} | {r['torch_render_rtf']:.4f} | {r['onnx_vs_torch']:.2f} | "
            f"{r['native_vocoder_rtf']:.4f} |"
        )
    lines.append("RTF: seconds of compute per second of 44.1 kHz audio (median of the repeats).")
    return "\n".join(lines)


__all__ = ["bench_openutau", "format_openutau", "notes_for", "np"]
