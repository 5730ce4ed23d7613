"""Outside scores (no recordings needed): sing each score with a voice and count the notes whose sung F0 lies
within 50 cents of the written pitch, by PESTO (the independent judge) and by WORLD Harvest (the measure `sing`
reports), the notes left unvoiced, naturalness (DNSMOS P.808) and intelligibility (Whisper base CER against the
lyrics' reading). Each score is moved by whole octaves into the voice's range, as the demo does, unless a fixed
key shift is given.

    vocalsynth eval --scores a.musicxml b.mid ... [--key-shift N] [--json FILE]
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any


def score_conformance(
    synth,
    files: Sequence[str | Path],
    *,
    key_shift: float | None = None,
    singer: str | None = None,
    seed: int = 0,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Per score and in total: notes within 50 cents by PESTO and by WORLD, unvoiced notes, audio length and
    render time. ``key_shift`` None: the octave shift that fits each melody into the voice's range. ``singer``:
    one of a multi-singer voice's singers (None: the card's default singer)."""
    import torch

    from vocalsynth.eval.intelligibility import judge, pooled_cer, score_reading
    from vocalsynth.eval.naturalness import dnsmos
    from vocalsynth.eval.pitch_judge import judge_conformance
    from vocalsynth.score import load_score
    from vocalsynth.synthesis.voice_range import suggest_key_shift, voice_range

    say = log or (lambda _m: None)
    rng = voice_range(synth.card) if synth.card is not None else None
    rows = []
    for f in files:
        score = load_score(f)
        shift = suggest_key_shift(score, rng) if key_shift is None else key_shift
        torch.manual_seed(seed)
        started = time.perf_counter()
        rendering = synth.sing(score, key_shift=shift, singer=singer)
        seconds = time.perf_counter() - started
        pesto = judge_conformance(rendering, score, key_shift=shift)
        language, lyrics = score_reading(score)
        world = rendering.conformance
        row = {
            "score": str(f),
            "key_shift": shift,
            "audio_seconds": round(rendering.duration, 2),
            "render_seconds": round(seconds, 2),
            "notes": pesto.n_notes,
            "within_pesto": pesto.within,
            "within_world": world.within if world is not None else None,
            "unvoiced_pesto": len(pesto.unvoiced),
            "dnsmos_p808": dnsmos(rendering.samples, rendering.sample_rate)["p808"],
            "intelligibility": judge(rendering.samples, rendering.sample_rate, lyrics, language).to_dict(),
        }
        rows.append(row)
        say(
            f"{Path(f).name}: key shift {shift:+g}, {row['audio_seconds']:.1f} s, "
            f"PESTO {pesto.within}/{pesto.n_notes}, WORLD {row['within_world']}/{pesto.n_notes}, "
            f"DNSMOS {row['dnsmos_p808']:.2f}, CER {row['intelligibility']['cer']:.2f}"
        )
    notes = sum(r["notes"] for r in rows)
    total = {
        "notes": notes,
        "within_pesto": sum(r["within_pesto"] for r in rows),
        "within_world": sum(r["within_world"] or 0 for r in rows),
    }
    for k in ("pesto", "world"):
        total[f"fraction_{k}"] = total[f"within_{k}"] / notes if notes else None
    total["unvoiced_pesto"] = sum(r["unvoiced_pesto"] for r in rows)
    total["dnsmos_p808"] = sum(r["dnsmos_p808"] for r in rows) / len(rows) if rows else None
    total["cer"] = pooled_cer(r["intelligibility"] for r in rows)
    report = {"format": "vocalsynth-score-conformance/1", "voice": synth.name, "scores": rows, "total": total}
    if singer is not None:
        report["singer"] = singer
    return report


def markdown(report: dict[str, Any]) -> str:
    """The report as a Markdown table, one row per score and the total."""
    lines = [
        f"Score conformance of voice `{report['voice']}`"
        + (f" as `{report['singer']}`" if report.get("singer") else "")
        + ": notes within 50 cents of the written pitch",
        "",
        "| score | key shift | audio (s) | notes | PESTO | WORLD | unvoiced | DNSMOS P.808 | Whisper CER |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["scores"]:
        n = max(r["notes"], 1)
        world = "—" if r["within_world"] is None else f"{100 * r['within_world'] / n:.1f} %"
        lines.append(
            f"| {Path(r['score']).name} | {r['key_shift']:+g} | {r['audio_seconds']:.1f} | {r['notes']} "
            f"| {100 * r['within_pesto'] / n:.1f} % | {world} | {r['unvoiced_pesto']} | {r['dnsmos_p808']:.2f} "
            f"| {r['intelligibility']['cer']:.2f} |"
        )
    t = report["total"]
    pct = {
        k: "—" if t[f"fraction_{k}"] is None else f"{100 * t[f'fraction_{k}']:.1f} %"
        for k in ("pesto", "world")
    }
    dns = "—" if t["dnsmos_p808"] is None else f"{t['dnsmos_p808']:.2f}"
    cer = "—" if t["cer"] is None else f"{t['cer']:.2f}"
    lines.append(
        f"| **all** | | | {t['notes']} | **{pct['pesto']}** | {pct['world']} | {t['unvoiced_pesto']} | {dns} "
        f"| {cer} |"
    )
    return "\n".join(lines)
