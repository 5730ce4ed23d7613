"""Corpus statistics of a preprocessed dataset: minutes by corpus/language/singer/alignment, sung pitch range
and histogram (from the cached F0), phoneme coverage; written as stats.json, stats.md and a PNG."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from vocalsynth.score.model import pitch_name


def _range(hist: np.ndarray, frame_seconds: float) -> dict[str, Any] | None:
    """Pitch range of a per-semitone histogram of voiced frames: extremes and percentiles, as MIDI numbers."""
    total = int(hist.sum())
    if total == 0:
        return None
    cum = np.cumsum(hist)

    def pct(q: float) -> int:
        return int(np.searchsorted(cum, q * total, side="left"))

    nz = np.nonzero(hist)[0]
    values = {
        "min": int(nz[0]),
        "p1": pct(0.01),
        "p5": pct(0.05),
        "median": pct(0.5),
        "p95": pct(0.95),
        "p99": pct(0.99),
        "max": int(nz[-1]),
    }
    out: dict[str, Any] = {"voiced_minutes": round(total * frame_seconds / 60, 3), **values}
    out["names"] = {k: pitch_name(v) for k, v in values.items()}
    return out


def _inventory_symbols(languages: list[str]) -> dict[str, list[str]] | None:
    try:  # the inventory belongs to vocalsynth.text; statistics still work without it
        from vocalsynth.text.inventory import symbols
    except Exception:
        return None
    out = {}
    for lang in languages:
        try:
            syms = list(symbols(lang))
        except Exception:
            syms = []
        if syms:
            out[lang] = syms
    return out


def compute_stats(manifest: dict, metas: dict[tuple[str, str], dict], skipped: list[Any] = ()) -> dict:
    """Statistics of the manifest's items; ``metas`` maps ``(corpus, id)`` to the cached item's meta JSON."""
    cfg = manifest["audio_config"]
    frame_seconds = cfg["hop_length"] / cfg["sample_rate"]
    items = manifest["items"]

    def minutes_by(key: str) -> dict[str, dict]:
        table: dict[str, dict] = {}
        for e in items:
            row = table.setdefault(
                str(e[key]), {"items": 0, "minutes": 0.0, "train_minutes": 0.0, "validation_minutes": 0.0}
            )
            row["items"] += 1
            row["minutes"] += e["seconds"] / 60
            row[f"{e['split']}_minutes"] += e["seconds"] / 60
        return {
            k: {kk: round(vv, 3) if isinstance(vv, float) else vv for kk, vv in v.items()}
            for k, v in sorted(table.items())
        }

    hists: dict[str, np.ndarray] = {}
    note_range: dict[str, list[int]] = {}
    phonemes: dict[str, dict] = {}
    for e in items:
        meta = metas.get((e["corpus"], e["id"]), {})
        h = np.asarray(meta.get("pitch_hist") or np.zeros(128), dtype=np.int64)
        hists[e["corpus"]] = hists.get(e["corpus"], np.zeros(128, np.int64)) + h
        if meta.get("note_range"):
            lo, hi = meta["note_range"]
            old = note_range.get(e["corpus"], [lo, hi])
            note_range[e["corpus"]] = [min(old[0], lo), max(old[1], hi)]
        for sym, (count, seconds) in (meta.get("phonemes") or {}).items():
            row = phonemes.setdefault(sym, {"count": 0, "seconds": 0.0, "items": 0})
            row["count"] += int(count)
            row["seconds"] = round(row["seconds"] + float(seconds), 3)
            row["items"] += 1
    all_hist = sum(hists.values(), np.zeros(128, np.int64))
    languages = sorted({s.split("/")[0] for s in phonemes if "/" in s})
    inventory = _inventory_symbols(languages)
    known = {s for syms in (inventory or {}).values() for s in syms} | {"SP", "AP"}
    for sym, row in phonemes.items():
        row["in_inventory"] = None if inventory is None else sym in known
    reasons: dict[str, int] = {}
    for s in skipped:
        reason = s.reason if hasattr(s, "reason") else s["reason"]
        reasons[reason] = reasons.get(reason, 0) + 1
    return {
        "total": {
            "items": len(items),
            "minutes": round(sum(e["seconds"] for e in items) / 60, 3),
            "train_items": manifest["splits"].get("train", 0),
            "validation_items": manifest["splits"].get("validation", 0),
        },
        "by_corpus": minutes_by("corpus"),
        "by_language": minutes_by("language"),
        "by_singer": minutes_by("singer"),
        "by_alignment": minutes_by("alignment"),
        "pitch": {
            "all": _range(all_hist, frame_seconds),
            **{c: _range(h, frame_seconds) for c, h in sorted(hists.items())},
        },
        "score_note_range": {
            c: {"min": lo, "max": hi, "names": f"{pitch_name(lo)}-{pitch_name(hi)}"}
            for c, (lo, hi) in sorted(note_range.items())
        },
        "pitch_histogram_seconds": {
            c: (h * frame_seconds).round(2).tolist() for c, h in sorted(hists.items())
        },
        "phonemes": dict(sorted(phonemes.items(), key=lambda kv: (-kv[1]["count"], kv[0]))),
        "inventory_unseen": None
        if inventory is None
        else {lang: sorted(s for s in syms if s not in phonemes) for lang, syms in inventory.items()},
        "skipped": dict(sorted(reasons.items())),
    }


def to_markdown(stats: dict) -> str:
    """stats.md: the tables a person reads before training."""
    lines = [
        "# Dataset statistics",
        "",
        f"{stats['total']['items']} items, {stats['total']['minutes']:.1f} min "
        f"({stats['total']['train_items']} train, {stats['total']['validation_items']} validation items)",
        "",
    ]
    for title, key in (
        ("Corpus", "by_corpus"),
        ("Language", "by_language"),
        ("Singer", "by_singer"),
        ("Alignment", "by_alignment"),
    ):
        lines += [
            f"## Minutes by {title.lower()}",
            "",
            f"| {title} | items | minutes | train | validation |",
            "|---|---:|---:|---:|---:|",
        ]
        for name, r in stats[key].items():
            lines.append(
                f"| {name} | {r['items']} | {r['minutes']:.2f} | {r['train_minutes']:.2f} | "
                f"{r['validation_minutes']:.2f} |"
            )
        lines.append("")
    lines += [
        "## Sung pitch (WORLD F0, voiced frames)",
        "",
        "| corpus | voiced min | min | 1 % | median | 99 % | max |",
        "|---|---:|---|---|---|---|---|",
    ]
    for name, r in stats["pitch"].items():
        if r:
            n = r["names"]
            lines.append(
                f"| {name} | {r['voiced_minutes']:.2f} | {n['min']} | {n['p1']} | {n['median']} | "
                f"{n['p99']} | {n['max']} |"
            )
    if stats["score_note_range"]:
        lines += [
            "",
            "Written note range: "
            + ", ".join(f"{c} {r['names']}" for c, r in stats["score_note_range"].items()),
        ]
    lines += [
        "",
        "![pitch histogram](pitch_histogram.png)",
        "",
        "## Phoneme coverage",
        "",
        "| phoneme | count | seconds | items | in inventory |",
        "|---|---:|---:|---:|---|",
    ]
    for sym, r in stats["phonemes"].items():
        inv = {True: "yes", False: "**no**", None: "?"}[r["in_inventory"]]
        lines.append(f"| {sym} | {r['count']} | {r['seconds']:.2f} | {r['items']} | {inv} |")
    for lang, unseen in (stats.get("inventory_unseen") or {}).items():
        lines += ["", f"Inventory symbols of `{lang}` never seen: " + (", ".join(unseen) or "none")]
    if stats["skipped"]:
        lines += ["", "## Skipped", ""] + [f"- {reason}: {n}" for reason, n in stats["skipped"].items()]
    return "\n".join(lines) + "\n"


def plot_pitch_histogram(stats: dict, path: Path) -> Path | None:
    """Seconds of voiced singing per semitone, stacked by corpus; None when there is no voiced frame."""
    hists = {c: np.asarray(h) for c, h in stats["pitch_histogram_seconds"].items() if np.asarray(h).sum() > 0}
    if not hists:
        return None
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    total = sum(hists.values())
    nz = np.nonzero(total)[0]
    lo, hi = max(int(nz[0]) - 2, 0), min(int(nz[-1]) + 3, 128)
    x = np.arange(lo, hi)
    fig, ax = plt.subplots(figsize=(10, 4))
    try:
        bottom = np.zeros(len(x))
        for corpus, h in hists.items():
            ax.bar(x, h[lo:hi], bottom=bottom, width=0.9, label=corpus)
            bottom += h[lo:hi]
        ticks = [m for m in x if m % 12 == 0] or list(x[:: max(len(x) // 8, 1)])
        ax.set_xticks(ticks, [pitch_name(int(m)) for m in ticks])
        ax.set_xlabel("sung pitch (nearest semitone)")
        ax.set_ylabel("seconds of voiced frames")
        ax.set_title("Pitch histogram")
        ax.legend()
        fig.tight_layout()
        from vocalsynth.data.files import write_atomic as _write_atomic

        _write_atomic(Path(path), lambda f: fig.savefig(f, format="png", dpi=100))
    finally:
        plt.close(fig)
    return path


def write_stats(out: Path, stats: dict) -> None:
    """stats.json, stats.md and pitch_histogram.png in ``out`` (each written atomically)."""
    from vocalsynth.data.files import write_atomic as _write_atomic
    from vocalsynth.data.files import write_json

    out = Path(out)
    write_json(out / "stats.json", stats)
    _write_atomic(out / "stats.md", lambda f: f.write(to_markdown(stats)), mode="w")
    try:
        plot_pitch_histogram(stats, out / "pitch_histogram.png")
    except ImportError:  # matplotlib is optional for preprocessing
        pass
