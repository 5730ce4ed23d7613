"""``vocalsynth eval``: sing held-out songs from their scores with a voice and compare them with the recordings,
side by side with vocoder copy-synthesis and the WORLD baseline; JSON + Markdown report with plots.

    vocalsynth eval --voice default --corpus pjs --data ../shared/data [--cache PREP] [--songs N] --out DIR

Systems (rows of the report):

- ``voice``: the voice as shipped (acoustic model + its vocoder), sung from the score at the written pitch;
- ``voice+WORLD``: the same acoustic model's mel + F0 rendered by the WORLD vocoder (the WORLD baseline fed
  by the model);
- ``copy:vocoder``: the voice's vocoder re-rendering the recording from its log-mel and Harvest F0;
- ``copy:WORLD``: WORLD analysis/resynthesis of the recording (Harvest, CheapTrick, D4C): what WORLD can do
  with perfect features;
- ``recording``: the real singing, the reference for naturalness and periodicity.

Per song and system: MCD / F0 RMSE / V/UV error after DTW (:mod:`vocalsynth.eval.compare`), score
conformance by PESTO (the independent judge) and by WORLD Harvest, DNSMOS P.808 and band periodicity
(:mod:`vocalsynth.eval.naturalness`), timing errors against the reference alignment, intelligibility (Whisper
base's character error rate against the lyrics' reading, :mod:`vocalsynth.eval.intelligibility`); then English
lines sung by the voice, judged by the same recognizer.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REAL = "recording"
SYSTEMS = {
    "voice": "the voice as shipped (acoustic model + its vocoder), sung from the score, key shift 0",
    "voice+WORLD": "the same acoustic model's mel + F0 rendered by the WORLD vocoder",
    "copy:vocoder": "the voice's vocoder re-rendering the recording from its log-mel + Harvest F0",
    "copy:WORLD": "WORLD analysis/resynthesis of the recording (Harvest F0, CheapTrick, D4C)",
}
RENDERED = ("voice", "voice+WORLD")
COPIES = ("copy:vocoder", "copy:WORLD")
NO_REFINER = "voice, refiner off"


def rendered_variants(synth) -> dict[str, dict[str, Any]]:
    """The renderings of a song: name -> ``sing`` keywords. A voice whose acoustic model has a mel refiner
    is also rendered without it (``refine_steps=0``), so its gain and its time cost stand side by side."""
    variants: dict[str, dict[str, Any]] = {"voice": {}, "voice+WORLD": {"vocoder": "world"}}
    if getattr(synth.acoustic, "refiner", None) is not None:
        variants[NO_REFINER] = {"refine_steps": 0}
    return variants


def system_descriptions(synth) -> dict[str, str]:
    out = dict(SYSTEMS)
    if NO_REFINER in rendered_variants(synth):
        out[NO_REFINER] = "the voice with its mel refiner skipped (refine_steps=0): what the refiner adds"
    return out


def _clean(value: Any) -> Any:
    """JSON-safe: NaN/inf -> None, numpy scalars -> Python, recursively."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(float(value)) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def _conformance_counts(report) -> dict[str, Any]:
    return {
        "n_notes": report.n_notes,
        "within": report.within,
        "unvoiced": len(report.unvoiced),
        "median_abs_cents": report.median_abs_cents,
    }


# ---- one song ----------------------------------------------------------------------------------------------
def evaluate_song(synth, song, out_dir: Path, log: Callable[[str], None], seed: int = 0) -> dict[str, Any]:
    """All systems on one held-out song (see the module docstring); writes its plots and renderings.
    ``seed``: torch's seed before each rendering (the vocoders' noise)."""
    import torch

    from vocalsynth.audio.mel import log_mel
    from vocalsynth.eval.compare import analyse, match, timing_errors, written_pitch_rmse
    from vocalsynth.eval.intelligibility import judge, score_reading
    from vocalsynth.eval.naturalness import band_periodicity, dnsmos
    from vocalsynth.eval.pitch_judge import judge_conformance, track_pitch
    from vocalsynth.eval.plots import plot_f0, plot_mels
    from vocalsynth.eval.songs import build_score
    from vocalsynth.eval.vocoder_metrics import mcd as aligned_mcd
    from vocalsynth.models.vocoder.copy_synthesis import copy_synthesize
    from vocalsynth.models.vocoder.world import world_resynthesis
    from vocalsynth.synthesis.conformance import measure

    cfg = synth.audio_config
    sr = cfg.sample_rate
    t0 = time.perf_counter()
    x = song.load_audio(cfg)
    renders = {}
    # the recording's own singer where the voice has learned it, else the voice's default singer
    singer = song.item.singer if song.item.singer in getattr(synth.acoustic, "singers", ()) else None
    for name, options in rendered_variants(synth).items():
        torch.manual_seed(seed)  # the vocoders draw noise: the same seed, the same figures
        renders[name] = synth.sing(song.score, singer=singer, conformance=False, **options)
    analysed = {REAL: analyse(x, cfg)}
    f0_np = analysed[REAL].f0_hz  # Harvest + D4C: the copy-synthesis F0, as `vocalsynth vocode` analyses it
    features = (log_mel(x, cfg), torch.from_numpy(f0_np.astype(np.float32)))
    torch.manual_seed(seed)
    signals: dict[str, np.ndarray] = {
        REAL: x,
        **{name: r.samples for name, r in renders.items()},
        "copy:vocoder": copy_synthesize(x, synth.vocoder, cfg, features=features),
        "copy:WORLD": world_resynthesis(x, cfg, f0_hz=f0_np),
    }
    analysed.update({k: analyse(v, cfg) for k, v in signals.items() if k != REAL})
    for name in COPIES:  # a copy lies on the recording's time: cut it where the recording is cut
        analysed[name].span = analysed[REAL].span
    reference_score = build_score(song.reference)[0] if song.reference is not None else song.score
    sung_reference = [(i, n) for i, n in enumerate(reference_score.notes) if not n.is_rest]
    result: dict[str, Any] = {
        "id": song.id,
        "seconds": x.size / sr,
        "sung_seconds": (analysed[REAL].span[1] - analysed[REAL].span[0]) / cfg.frames_per_second,
        "notes": sum(1 for n in song.score.notes if not n.is_rest),
        "reference_alignment": song.reference_source,
        "singer": singer or (synth.card.default_singer if synth.card else None),
        "systems": {},
    }
    language, lyrics_reading = score_reading(song.score)
    matches = {}
    for name, samples in signals.items():
        a = analysed[name]
        row: dict[str, Any] = {}
        if name != REAL:
            matches[name] = match(analysed[REAL], a, same_timeline=name in COPIES)
            row.update(matches[name].to_dict())
        if name in COPIES:
            row["mcd_time_aligned_db"] = aligned_mcd(x, samples, cfg, f0_np)
        track = track_pitch(samples, sr)
        # WORLD's judgement is the synthesizer's own conformance measure (Harvest + D4C voicing), run on the
        # analysis already made; renderings against the score, the rest against the notes as sung
        world_track = (a.f0_hz, (a.f0_hz > 0).astype(np.float64))
        if name in renders:
            rendering = renders[name]
            sung_score = [(i, n) for i, n in enumerate(song.score.notes) if not n.is_rest]
            by_world = measure(
                samples, cfg, sung_score, pre_roll=rendering.pre_roll, f0_track=world_track, method="harvest"
            )
            by_pesto = judge_conformance(rendering, song.score, key_shift=0.0, track=track, config=cfg)
            row["timing"] = timing_errors(song, rendering.phonemes)
            row["render_seconds"] = rendering.render_seconds
            row["audio_seconds"] = samples.size / sr
        else:
            by_world = measure(
                samples, cfg, sung_reference, pre_roll=0.0, f0_track=world_track, method="harvest"
            )
            by_pesto = judge_conformance(samples, reference_score, sample_rate=sr, track=track, config=cfg)
        row["conformance"] = {"pesto": _conformance_counts(by_pesto), "world": _conformance_counts(by_world)}
        row["dnsmos_p808"] = dnsmos(a.trimmed_samples(cfg), sr)["p808"]
        row["intelligibility"] = judge(samples, sr, lyrics_reading, language).to_dict()
        row["periodicity"] = band_periodicity(samples, sr, a.f0_hz, 1.0 / cfg.frames_per_second)
        result["systems"][name] = row
    real = result["systems"][REAL]
    real["written_pitch_f0_rmse_cents"] = written_pitch_rmse(
        analysed[REAL].f0_hz, [(n.start, n.end, n.pitch) for _, n in sung_reference], cfg.frames_per_second
    )
    for name in (n for n in result["systems"] if n != REAL):
        row = result["systems"][name]
        row["dnsmos_p808_minus_recording"] = row["dnsmos_p808"] - real["dnsmos_p808"]
        row["periodicity_high_minus_recording"] = row["periodicity"]["high"] - real["periodicity"]["high"]

    # figures and renderings to listen to
    voice = renders["voice"]
    pre = voice.pre_roll
    voice_notes = [(n.start + pre, n.end + pre, n.pitch) for n in song.score.notes if not n.is_rest]
    ref_notes = [(n.start, n.end, n.pitch) for n in reference_score.notes if not n.is_rest]
    plots = out_dir / "plots"
    f0_png = plot_f0(
        plots / f"{song.id}_f0.png",
        song.id,
        cfg,
        recording_f0=analysed[REAL].f0_hz,
        recording_notes=ref_notes,
        warped={k: matches[k].warp(analysed[k].f0_hz) for k in RENDERED},
        voice_f0=analysed["voice"].f0_hz,
        voice_model_f0=voice.frames.f0_hz,
        voice_notes=voice_notes,
        span=analysed[REAL].span,
    )
    order = (REAL, "copy:vocoder", "voice", "voice+WORLD")
    mel_png = plot_mels(
        plots / f"{song.id}_mel.png", song.id, cfg, {k: analysed[k].trimmed_samples(cfg) for k in order}
    )
    result["plots"] = [f0_png.relative_to(out_dir).as_posix(), mel_png.relative_to(out_dir).as_posix()]
    audio = out_dir / "audio"
    audio.mkdir(parents=True, exist_ok=True)
    for name, rendering in renders.items():
        rendering.save(audio / f"{song.id}.{name.replace(', ', '_').replace(' ', '_')}.wav")
    result["eval_seconds"] = time.perf_counter() - t0
    v = result["systems"]["voice"]
    log(
        f"{song.id}: {result['sung_seconds']:.1f} s sung, voice MCD {v['mcd_db']:.2f} dB, "
        f"F0 RMSE {v['f0_rmse_cents']:.0f} c, V/UV {v['vuv_error_pct']:.1f} %, "
        f"CER {v['intelligibility']['cer']:.2f} (recording {real['intelligibility']['cer']:.2f}), "
        f"{result['eval_seconds']:.0f} s to evaluate"
    )
    return result


# ---- English -----------------------------------------------------------------------------------------------
def evaluate_english(
    synth, out_dir: Path, key_shift: float = 0.0, seed: int = 0, n_lines: int | None = None
) -> dict[str, Any]:
    """Sing ``ENGLISH_LINES`` (the first ``n_lines``) with the voice and through WORLD, and judge each with the
    recognizer: CER of what it hears against the line's letters."""
    import torch

    from vocalsynth.eval.intelligibility import ENGLISH_LINES, english_reading, judge, pooled_cer

    chosen = ENGLISH_LINES[: max(1, n_lines)] if n_lines is not None else ENGLISH_LINES
    out: dict[str, Any] = {"lines": [text for text, _ in chosen], "key_shift": key_shift}
    audio = out_dir / "audio"
    audio.mkdir(parents=True, exist_ok=True)
    for name, vocoder in (("voice", None), ("voice+WORLD", "world")):
        results = []
        for k, (text, notation) in enumerate(chosen):
            torch.manual_seed(seed)
            rendering = synth.sing(notation, key_shift=key_shift, vocoder=vocoder, conformance=False)
            if name == "voice":
                rendering.save(audio / f"en{k + 1}.voice.wav")
            heard = judge(rendering.samples, rendering.sample_rate, english_reading(text), "en")
            results.append({"line": text, **heard.to_dict()})
        out[name] = {"cer": pooled_cer(results), "lines": results}
    return out


# ---- the whole evaluation ----------------------------------------------------------------------------------
def _weighted(rows: list[dict], key: str, weight: str) -> float | None:
    pairs = [(r[key], r[weight]) for r in rows if r.get(key) is not None and r.get(weight)]
    if not pairs:
        return None
    return float(sum(v * w for v, w in pairs) / sum(w for _, w in pairs))


def _system_names(songs: list[dict]) -> list[str]:
    """The systems the songs were judged on, the recording last."""
    return [n for n in songs[0]["systems"] if n != REAL] + [REAL]


def summarise(songs: list[dict]) -> dict[str, dict[str, Any]]:
    """Per system: means over songs (MCD, F0 RMSE, V/UV, DNSMOS, periodicity), conformance pooled over all
    notes, timing errors weighted by their counts."""
    out: dict[str, dict[str, Any]] = {}
    for name in _system_names(songs):
        rows = [s["systems"][name] for s in songs]
        summary: dict[str, Any] = {}
        for key in (
            "mcd_db",
            "mcd_time_aligned_db",
            "f0_rmse_cents",
            "vuv_error_pct",
            "written_pitch_f0_rmse_cents",
        ):
            values = [r[key] for r in rows if r.get(key) is not None]
            if values:
                summary[key] = float(np.nanmean(values))
        for judge in ("pesto", "world"):
            n = sum(r["conformance"][judge]["n_notes"] for r in rows)
            within = sum(r["conformance"][judge]["within"] for r in rows)
            summary[f"within_50c_{judge}_pct"] = 100.0 * within / n if n else None
            summary[f"unvoiced_notes_{judge}"] = sum(r["conformance"][judge]["unvoiced"] for r in rows)
        summary["notes"] = sum(r["conformance"]["pesto"]["n_notes"] for r in rows)
        if all(r.get("render_seconds") is not None and r.get("audio_seconds") for r in rows):
            summary["render_rtf"] = sum(r["render_seconds"] for r in rows) / sum(
                r["audio_seconds"] for r in rows
            )
        heard = [r["intelligibility"] for r in rows if r.get("intelligibility")]
        if heard:
            from vocalsynth.eval.intelligibility import pooled_cer

            summary["cer"] = pooled_cer(heard)
        for key in ("dnsmos_p808", "dnsmos_p808_minus_recording", "periodicity_high_minus_recording"):
            values = [r[key] for r in rows if r.get(key) is not None]
            if values:
                summary[key] = float(np.nanmean(values))
        bands = rows[0]["periodicity"].keys()
        summary["periodicity"] = {b: float(np.nanmean([r["periodicity"][b] for r in rows])) for b in bands}
        if "timing" in rows[0]:
            timing = [r["timing"] for r in rows]
            summary["timing"] = {
                "phoneme_onset_mae_ms": _weighted(timing, "phoneme_onset_mae_ms", "phonemes"),
                "note_onset_mae_ms": _weighted(timing, "note_onset_mae_ms", "notes"),
                "singer_vs_score_mae_ms": _weighted(timing, "singer_vs_score_mae_ms", "notes"),
                "phonemes": sum(t["phonemes"] for t in timing),
                "notes": sum(t["notes"] for t in timing),
            }
        out[name] = summary
    return out


def evaluate(
    synth,
    songs: list,
    out_dir: str | Path,
    *,
    corpus: str,
    english: bool = True,
    english_key_shift: float = 0.0,
    english_lines: int | None = None,
    seed: int = 0,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Evaluate ``synth`` on ``songs`` (`HeldOutSong` list); writes plots and renderings under ``out_dir`` and
    returns the report (the JSON document: settings, per-song results, summary, English). ``seed``:
    torch's seed before every rendering, so a rerun gives the same figures."""
    import torch

    say = log or (lambda _m: None)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    per_song = [evaluate_song(synth, song, out, say, seed) for song in songs]
    report: dict[str, Any] = {
        "format": "vocalsynth-eval/1",
        "voice": {"name": synth.name, "version": synth.version, "vocoder": synth.vocoder_name},
        "corpus": corpus,
        "songs": [s["id"] for s in per_song],
        "systems": {**system_descriptions(synth), REAL: "the real recording"},
        "settings": {
            "torch_threads": torch.get_num_threads(),
            "seed": seed,
            "f0": "WORLD Harvest + D4C voicing (MCD, F0 RMSE, V/UV; WORLD conformance)",
            "pitch_judge": "PESTO mir-1k_g7 at 16 kHz, 10 ms, voiced when confidence >= 0.5",
            "mcep": "34th-order mel-cepstrum of CheapTrick's envelope, alpha 0.466 at 24 kHz, c0 excluded",
            "dtw": "Euclidean on mel-cepstra c1-c34, sung spans, no band",
            "dnsmos": "P.808 on 16 kHz audio normalised to -23 LUFS (BS.1770), sung span",
            "intelligibility": "Whisper base (faster-whisper, int8, beam 5, seeded temperature fallback, no cut-offs); CER of "
            "the transcript's romaji (pykakasi + the frontend's kana table) against the lyrics' phonemes as "
            "romaji, pooled over songs",
        },
        "per_song": per_song,
        "summary": summarise(per_song),
    }
    if english:
        say("English lines: Whisper CER")
        report["english"] = evaluate_english(synth, out, english_key_shift, seed, english_lines)
    report["seconds"] = time.perf_counter() - started
    return _clean(report)


# ---- Markdown ----------------------------------------------------------------------------------------------
def _f(value: Any, digits: int = 2, signed: bool = False) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def markdown(report: dict[str, Any]) -> str:
    """The report as Markdown: the side-by-side table, timing, periodicity by band, per song, English, plots."""
    s = report["summary"]
    voice = report["voice"]
    lines = [
        f"# Evaluation of voice `{voice['name']}` {voice['version']} on held-out {report['corpus']} songs",
        "",
        f"Songs ({len(report['songs'])}): {', '.join(report['songs'])}. "
        f"Reference alignment: {', '.join(sorted({str(p['reference_alignment']) for p in report['per_song']}))}. "
        f"Torch threads: {report['settings']['torch_threads']}. Took {report['seconds']:.0f} s.",
        "",
        "| system | MCD (dB, DTW) | F0 RMSE (cents) | V/UV err (%) | notes within 50 c: PESTO | : WORLD "
        "| DNSMOS P.808 | Δ P.808 vs rec. | Whisper CER | CER ÷ rec. | high-band periodicity | Δ vs rec. |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    real_cer = s[REAL].get("cer")
    names = list(s)  # the systems in the order they were judged, the recording last
    for name in names:
        r = s[name]
        lines.append(
            f"| {name} | {_f(r.get('mcd_db'))} | {_f(r.get('f0_rmse_cents'), 0)} | {_f(r.get('vuv_error_pct'), 1)} "
            f"| {_f(r.get('within_50c_pesto_pct'), 1)} | {_f(r.get('within_50c_world_pct'), 1)} "
            f"| {_f(r.get('dnsmos_p808'))} | {_f(r.get('dnsmos_p808_minus_recording'), 2, True) if name != REAL else '—'} "
            f"| {_f(r.get('cer'))} | {_f(r['cer'] / real_cer) if r.get('cer') is not None and real_cer else '—'} "
            f"| {_f(r['periodicity'].get('high'))} "
            f"| {_f(r.get('periodicity_high_minus_recording'), 2, True) if name != REAL else '—'} |"
        )
    floor = s[REAL].get("written_pitch_f0_rmse_cents")
    if floor is not None:
        lines += [
            "",
            f"The written pitches laid on the recordings' own note timing (the reference alignment) are {floor:.0f} "
            "cents RMSE from their F0 (mean over songs): what singing every note exactly at its written pitch, "
            "in the singer's time, would score -- the singer's intonation, vibrato and glides, which no score "
            "carries.",
        ]
    lines += ["", "Systems:"]
    lines += [f"- **{k}**: {v}" for k, v in report["systems"].items()]
    timed = [n for n in names if s[n].get("render_rtf") is not None]
    if timed:
        lines += [
            "",
            "Render time (real-time factor: render seconds per second of audio, "
            f"{report['settings']['torch_threads']} torch thread(s)): "
            + ", ".join(f"{n} {s[n]['render_rtf']:.3f}" for n in timed)
            + ".",
        ]
    copies = [n for n in COPIES if s[n].get("mcd_time_aligned_db") is not None]
    if copies:
        lines += [
            "",
            "Copy-synthesis MCD without DTW (same timeline, both envelopes analysed with the recording's F0): "
            + ", ".join(f"{n} {_f(s[n]['mcd_time_aligned_db'])} dB" for n in copies)
            + ".",
        ]
    lines += [
        "",
        "## Timing against the reference alignment",
        "",
        "| system | phoneme onset error in its note (ms, mean abs) | phonemes | note onset error (ms) | notes "
        "| singer vs score (ms) |",
        "|---|---|---|---|---|---|",
    ]
    for name in (n for n in names if "timing" in s[n]):
        t = s[name].get("timing") or {}
        lines.append(
            f"| {name} | {_f(t.get('phoneme_onset_mae_ms'), 1)} | {t.get('phonemes', 0)} "
            f"| {_f(t.get('note_onset_mae_ms'), 1)} | {t.get('notes', 0)} | {_f(t.get('singer_vs_score_mae_ms'), 1)} |"
        )
    bands = list(s[REAL]["periodicity"].keys())
    lines += [
        "",
        "## Periodicity by band (0 noise .. 1 periodic; buzz reads above the recording in the upper bands)",
        "",
        "| system | " + " | ".join(bands) + " |",
        "|---" * (len(bands) + 1) + "|",
    ]
    for name in names:
        lines.append(f"| {name} | " + " | ".join(_f(s[name]["periodicity"][b]) for b in bands) + " |")
    lines += [
        "",
        "## Per song",
        "",
        "| song | sung s | notes | system | MCD | F0 RMSE | V/UV % | within 50 c PESTO | WORLD | Δ P.808 | CER |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for p in report["per_song"]:
        for name in (n for n in names if n != REAL):
            r = p["systems"][name]
            cp, cw = r["conformance"]["pesto"], r["conformance"]["world"]
            lines.append(
                f"| {p['id']} | {p['sung_seconds']:.1f} | {p['notes']} | {name} | {_f(r['mcd_db'])} "
                f"| {_f(r['f0_rmse_cents'], 0)} | {_f(r['vuv_error_pct'], 1)} | {cp['within']}/{cp['n_notes']} "
                f"| {cw['within']}/{cw['n_notes']} | {_f(r['dnsmos_p808_minus_recording'], 2, True)} "
                f"| {_f((r.get('intelligibility') or {}).get('cer'))} |"
            )
        heard = p["systems"][REAL].get("intelligibility")
        if heard:
            lines.append(f"| {p['id']} | | | recording | | | | | | | {_f(heard['cer'])} |")
    english = report.get("english")
    if english:
        n = len(english["lines"])
        lines += [
            "",
            f"## English intelligibility ({n} lines, Whisper base CER on letters)",
            "",
            f"Key shift {english['key_shift']:g}. voice: CER {_f(english['voice']['cer'])}; "
            f"voice+WORLD: CER {_f(english['voice+WORLD']['cer'])}.",
            "",
            "| line | the voice was heard as | CER |",
            "|---|---|---|",
        ]
        for r in english["voice"]["lines"]:
            lines.append(f"| {r['line']} | {r['transcript'] or '(nothing)'} | {_f(r['cer'])} |")
    lines += ["", "## Plots", ""]
    for p in report["per_song"]:
        lines += [f"![{p['id']} F0]({p['plots'][0]})", "", f"![{p['id']} mel]({p['plots'][1]})", ""]
    lines += [
        "## How the figures are made",
        "",
        "- MCD, F0 RMSE, V/UV: each signal analysed on its own (WORLD Harvest F0 + D4C voicing; 34th-order "
        "mel-cepstra of CheapTrick's envelope), cut to its sung span, aligned to the recording by DTW on "
        "c1-c34; MCD over pairs whose recording frame is within 40 dB of its loudest, F0 RMSE over pairs voiced "
        "in both, V/UV over the active pairs.",
        "- Conformance: share of notes whose median F0 over the middle 60 % is within 50 cents of the written "
        "pitch (unvoiced notes count as misses); renderings against the score, the recording and its copies "
        "against the notes as the reference alignment places them. PESTO is an independent neural tracker; "
        "WORLD Harvest is the tracker the synthesizer reports with.",
        "- DNSMOS P.808: speech-trained MOS predictor, on each signal's sung span; compare with the recording.",
        "- Whisper CER: Whisper base transcribes each whole signal (Japanese forced, no no-speech or "
        "log-probability cut-offs, not conditioned on earlier text, seeded temperature fallback); the transcript is read as "
        "romaji (pykakasi, then the frontend's kana table) and compared with the lyrics' phonemes as romaji; "
        "edits over characters, pooled over songs. The recording's own CER is the floor a voice is held to.",
        "- Periodicity: normalised cross-correlation one period apart in each band, median over voiced frames.",
        "- Timing: phoneme onsets relative to their note (rendering vs reference alignment); note onsets "
        "relative to the score (rendering vs the singer, the singer's median offset removed).",
    ]
    return "\n".join(lines) + "\n"


def write_report(
    report: dict[str, Any], out_dir: str | Path, json_path: str | Path | None = None
) -> list[Path]:
    """``out_dir/report.json`` and ``out_dir/report.md`` (and ``json_path`` too when given)."""
    out = Path(out_dir)
    text = json.dumps(report, indent=1, ensure_ascii=False) + "\n"
    paths = [out / "report.json", out / "report.md"]
    paths[0].write_text(text, encoding="utf-8")
    paths[1].write_text(markdown(report), encoding="utf-8")
    if json_path is not None:
        Path(json_path).parent.mkdir(parents=True, exist_ok=True)
        Path(json_path).write_text(text, encoding="utf-8")
        paths.append(Path(json_path))
    return paths


# ---- command line ------------------------------------------------------------------------------------------
def add_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of ``vocalsynth eval``."""
    p.add_argument(
        "--voice", default="default", help="installed voice name or voice folder (default: default)"
    )
    p.add_argument("--corpus", default="pjs", help="corpus layout of the held-out songs (default: pjs)")
    p.add_argument(
        "--data",
        help="the corpus folder, or a folder holding it as <corpus>/ (../shared/data); needed unless --scores",
    )
    p.add_argument(
        "--scores",
        nargs="+",
        metavar="SCORE",
        help="instead of held-out recordings: sing these score files and report only score conformance "
        "(notes within 50 cents, by PESTO and WORLD)",
    )
    p.add_argument(
        "--key-shift",
        type=float,
        help="with --scores: semitones for every score (default: whole octaves into the voice's range)",
    )
    p.add_argument(
        "--cache",
        help="preprocessed cache: its validation songs are held out and its alignment is the reference",
    )
    p.add_argument("--singer", help="with --scores: the singer of a multi-singer voice (default: the card's)")
    p.add_argument("--song", action="append", default=[], help="sing this item id (repeatable; any split)")
    p.add_argument("--songs", type=int, help="only the first N held-out songs")
    p.add_argument(
        "--out", help="folder for report.md, report.json, plots/ and audio/ (needed unless --scores)"
    )
    p.add_argument("--json", help="also write the JSON report here")
    p.add_argument("--no-english", action="store_true", help="skip the English lines (Whisper CER)")
    p.add_argument("--english-key-shift", type=float, default=0.0, help="semitones for the English lines")
    p.add_argument("--english-lines", type=int, help="sing only the first N English lines")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1; DNSMOS runs on one)")


def main(args: argparse.Namespace) -> int:
    """``vocalsynth eval``: prints the Markdown summary table and where the report went; 0 done, 2 bad input."""
    import torch

    from vocalsynth import Synthesizer
    from vocalsynth.errors import InputError
    from vocalsynth.eval.songs import held_out_songs

    if args.threads < 1:
        print("error: --threads must be at least 1", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    if args.scores:
        return _main_scores(args, log)
    if not args.data or not args.out:
        print("error: --data and --out are needed (or --scores FILE ...)", file=sys.stderr)
        return 2
    try:
        songs = held_out_songs(
            args.corpus, args.data, cache=args.cache, songs=args.song or None, limit=args.songs
        )
        if not songs:
            raise InputError("no songs to evaluate (--songs 0?)")
        synth = Synthesizer.from_pretrained(args.voice)
        log(f"evaluating voice {synth.name!r} on {len(songs)} song(s): {', '.join(s.id for s in songs)}")
        report = evaluate(
            synth,
            songs,
            args.out,
            corpus=args.corpus,
            english=not args.no_english,
            english_key_shift=args.english_key_shift,
            english_lines=args.english_lines,
            log=log,
        )
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    paths = write_report(report, args.out, args.json)
    text = markdown(report)
    print(text.split("\nSystems:")[0].rstrip())
    print("\nwrote " + ", ".join(str(p) for p in paths))
    return 0


def _main_scores(args: argparse.Namespace, log: Callable[[str], None]) -> int:
    """``vocalsynth eval --scores ...``: score conformance only; prints the table, writes ``--json``."""
    from vocalsynth import Synthesizer
    from vocalsynth.errors import InputError
    from vocalsynth.eval.scores import markdown as scores_markdown
    from vocalsynth.eval.scores import score_conformance

    try:
        synth = Synthesizer.from_pretrained(args.voice)
        report = score_conformance(synth, args.scores, key_shift=args.key_shift, singer=args.singer, log=log)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(scores_markdown(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
        print(f"\nwrote {args.json}")
    return 0
