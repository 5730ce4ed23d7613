"""The studio's edit-to-audio time: a song of a few minutes opened in the demo's piano roll, rendered once,
then single-note edits (a note moved up a whole tone), each timed from the edit reaching the server to the
labelled WAV written and the roll's overlay ready, through the very handler the page calls
(`Demo.render_studio`, quick path). The first, cold render of the whole song is the baseline in the same run.

    python -m vocalsynth.eval.bench_studio [--seconds 180] [--edits 8] [--threads 2] [--voice default]

The browser's own share (the request, fetching the WAV from localhost, decoding it until it can play) is
not in these figures; the studio shows the whole of it on the page ("heard N s after the edit").
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import tempfile
import time
from typing import Any

from vocalsynth.errors import InputError
from vocalsynth.eval.bench_render import EXAMPLE_KEY_SHIFT, bench_song, load_example, phrase_starts


def _edit_targets(doc: dict, count: int) -> list[int]:
    """``count`` note indices spread over the song, each the middle note of its phrase's first notes."""
    notes = doc["notes"]
    step = max(1, len(notes) // (count + 1))
    return [min(len(notes) - 1, step * (k + 1)) for k in range(count)]


def run(
    seconds: float = 180.0,
    edits: int = 8,
    *,
    voice: str = "default",
    threads: int | None = None,
    log=lambda msg: None,
) -> dict[str, Any]:
    """Open a ``seconds`` song in the studio, render it, then time ``edits`` single-note edits."""
    import torch

    from vocalsynth.demo.handlers import Demo
    from vocalsynth.demo.limits import DemoLimits
    from vocalsynth.demo.render import RenderSettings
    from vocalsynth.demo.roll import score_to_roll

    if threads:
        torch.set_num_threads(threads)
    example = load_example()
    song = bench_song(example, seconds, start=phrase_starts(example)[0])
    doc = score_to_roll(song)
    with tempfile.TemporaryDirectory(prefix="vocalsynth-bench-studio-") as out:
        demo = Demo(DemoLimits(max_song_seconds=seconds + 60), voice=voice, output_dir=out)
        log(f"loading voice {demo.default_voice}")
        demo.warm_up()
        settings = RenderSettings(demo.default_voice, fit_range=False, key_shift=EXAMPLE_KEY_SHIFT)

        def render(d: dict) -> tuple[float, Any]:
            t0 = time.perf_counter()
            result = demo.render_studio(d, "", None, settings, quick=True)
            return time.perf_counter() - t0, result

        log(f"cold render of the whole song ({len(doc['notes'])} notes)")
        cold, first = render(doc)
        rows = []
        for k, index in enumerate(_edit_targets(doc, edits)):
            doc = copy.deepcopy(doc)
            doc["notes"][index]["pitch"] += 2
            wall, result = render(doc)
            r = result.rendering
            rows.append(
                {
                    "note": index,
                    "seconds": wall,
                    "synth_seconds": r.render_seconds,
                    "rerendered": len(r.rerendered),
                    "phrases": r.phrases,
                }
            )
            log(f"edit {k + 1}: note {index} up a whole tone: {wall:.3f} s, {len(r.rerendered)} phrase(s)")
        return {
            "song_seconds": first.rendering.duration,
            "notes": len(doc["notes"]),
            "phrases": first.rendering.phrases,
            "threads": torch.get_num_threads(),
            "cold_seconds": cold,
            "edits": rows,
            "edit_median": statistics.median(r["seconds"] for r in rows),
            "edit_max": max(r["seconds"] for r in rows),
        }


def format_report(result: dict[str, Any]) -> str:
    lines = [
        f"studio edit -> audio, {result['song_seconds']:.1f} s song, {result['notes']} notes, "
        f"{result['phrases']} phrases, {result['threads']} torch thread(s)",
        f"cold render of the whole song (baseline): {result['cold_seconds']:.2f} s",
        "",
        "| edit | note | phrases re-rendered | synth s | edit -> WAV + overlay s | x cold |",
        "|---|---|---|---|---|---|",
    ]
    for k, r in enumerate(result["edits"], 1):
        lines.append(
            f"| {k} | {r['note']} | {r['rerendered']} of {r['phrases']} | {r['synth_seconds']:.3f} | "
            f"{r['seconds']:.3f} | {r['seconds'] / result['cold_seconds']:.3f} |"
        )
    lines += [
        "",
        f"edit -> audio: median {result['edit_median']:.3f} s, max {result['edit_max']:.3f} s "
        f"({result['edit_median'] / result['cold_seconds']:.3f} of the cold render)",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m vocalsynth.eval.bench_studio", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--seconds", type=float, default=180.0, help="song length (default 180)")
    parser.add_argument("--edits", type=int, default=8, help="single-note edits timed (default 8)")
    parser.add_argument("--voice", default="default", help="installed voice name or folder")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    args = parser.parse_args(argv)
    if not (10 <= args.seconds <= 1200) or not (1 <= args.edits <= 100):
        print("error: --seconds must be 10-1200 and --edits 1-100", file=sys.stderr)
        return 2
    try:
        result = run(
            args.seconds,
            args.edits,
            voice=args.voice,
            threads=args.threads,
            log=lambda msg: print(msg, file=sys.stderr, flush=True),
        )
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(format_report(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
