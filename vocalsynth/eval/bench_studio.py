"""The studio's edit-to-audio time: a song of a few minutes opened in the demo's piano roll, rendered once,
then single-note edits (a note moved up a whole tone), each timed from the edit reaching the server to the
labelled WAV written and the roll's overlay ready, through the very handler the page calls
(`Demo.render_studio`, quick path). The first, cold render of the whole song is the baseline in the same run.

    python -m vocalsynth.eval.bench_studio [--seconds 180] [--edits 8] [--threads 2] [--voice default]
                                           [--browser]

The browser's own share (the request, fetching the WAV from localhost, decoding it until it can play) is
not in these figures; the studio shows the whole of it on the page ("heard N s after the edit"), and
``--browser`` reads that: the song uploaded into the demo in headless Chromium (Debian's ``chromium`` and
``chromium-driver``, and selenium), rendered once, then notes dragged up a whole tone with the mouse.
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
        log("the same song again: every phrase from the cache (the fixed cost of a render)")
        fixed, _ = render(doc)
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
            "fixed_seconds": fixed,
            "edits": rows,
            "edit_median": statistics.median(r["seconds"] for r in rows),
            "edit_max": max(r["seconds"] for r in rows),
        }


def run_browser(
    seconds: float = 180.0, edits: int = 4, *, voice: str = "default", threads: int | None = None, log=print
) -> dict[str, Any]:
    """The studio page in headless Chromium: upload a ``seconds`` song, render it, drag ``edits`` notes of
    the first screen up a whole tone with the mouse; each edit's time from the mouse release to the audio
    playable in the page, as the page measures it."""
    import json
    import shutil
    import socket
    from pathlib import Path

    import torch

    from vocalsynth.demo.app import launch
    from vocalsynth.demo.handlers import Demo
    from vocalsynth.demo.limits import DemoLimits
    from vocalsynth.eval.bench_render import song_text

    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait
    except ImportError as e:
        raise BenchStudioError("--browser needs selenium (pip install selenium)") from e
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if not (chromium and driver_path):
        raise BenchStudioError("--browser needs chromium and chromedriver (Debian: chromium chromium-driver)")
    if threads:
        torch.set_num_threads(threads)
    example = load_example()
    song = bench_song(example, seconds, start=phrase_starts(example)[0])
    with tempfile.TemporaryDirectory(prefix="vocalsynth-bench-studio-") as out:
        path = Path(out) / "song.txt"
        path.write_text(song_text(song), encoding="utf-8")
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        demo = Demo(DemoLimits(max_song_seconds=seconds + 60), voice=voice, output_dir=Path(out) / "renders")
        app = launch(demo, port=port, block=False, quiet=True)
        options = webdriver.ChromeOptions()
        for arg in (
            "--headless=new",
            "--no-sandbox",
            "--disable-dev-shm-usage",
            "--window-size=1400,1800",
            "--autoplay-policy=no-user-gesture-required",
        ):
            options.add_argument(arg)
        options.binary_location = chromium
        browser = webdriver.Chrome(service=Service(driver_path), options=options)
        try:
            wait = WebDriverWait(browser, 600)
            url = f"http://127.0.0.1:{port}/"
            browser.get(url)
            wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#studio canvas[data-view]"))
            browser.execute_script("localStorage.clear()")
            browser.refresh()
            wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#studio canvas[data-view]"))
            browser.find_element(By.XPATH, "//button[@role='tab' and contains(., 'Upload')]").click()
            browser.find_element(By.CSS_SELECTOR, "#upload input[type=file]").send_keys(str(path))
            status = browser.find_element(By.CSS_SELECTOR, "#studio .vs-status")
            n = len(song.sung_notes)
            wait.until(lambda d: status.text.startswith(f"{n} notes"))

            def heard(previous: str) -> float:
                wait.until(lambda d: (v := status.get_attribute("data-latency")) and v != previous)
                return float(status.get_attribute("data-latency"))

            log("cold render in the page")
            browser.find_element(By.CSS_SELECTOR, "#studio .vs-render").click()
            cold = heard("")
            canvas = browser.find_element(By.CSS_SELECTOR, "#studio canvas")
            browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", canvas)
            view = json.loads(canvas.get_attribute("data-view"))
            last_beat = (canvas.size["width"] - view["keyw"]) / view["ppb"] + view["x0"] - 1
            shown = [x for x in song.sung_notes if x.start_beat + x.duration_beats < last_beat]
            rows, previous = [], f"{cold:.3f}"
            for k in range(edits):
                note = shown[(k * len(shown)) // max(edits, 1)]
                x = view["keyw"] + (note.start_beat + note.duration_beats / 2 - view["x0"]) * view["ppb"]
                y = view["ruler"] + (view["top"] - note.pitch + 0.5) * view["rowH"]
                x, y = round(x - canvas.size["width"] / 2), round(y - canvas.size["height"] / 2)
                ActionChains(browser).move_to_element_with_offset(
                    canvas, x, y
                ).click_and_hold().move_by_offset(0, -view["rowH"]).move_by_offset(
                    0, -view["rowH"]
                ).release().perform()
                wall = heard(previous)
                previous = f"{wall:.3f}"
                rerendered = json.loads(status.get_attribute("data-rerendered"))
                synth = float(status.get_attribute("data-synth"))
                answered = float(status.get_attribute("data-answered"))
                handler = float(status.get_attribute("data-handler"))
                started = float(status.get_attribute("data-started") or "nan")
                rows.append(
                    {
                        "note": note.where,
                        "seconds": wall,
                        "rerendered": len(rerendered),
                        "synth": synth,
                        "answered": answered,
                        "handler": handler,
                    }
                )
                log(
                    f"edit {k + 1}: {wall:.3f} s from the mouse release to playable audio, "
                    f"{len(rerendered)} phrase(s) re-rendered, {synth:.3f} s of it in Synthesizer.sing, "
                    f"the handler {handler:.3f} s starting {started:.3f} s after the edit, the answer in the page after {answered:.3f} s"
                )
            return {"cold_seconds": cold, "edits": rows, "phrases": int(status.get_attribute("data-phrases"))}
        finally:
            browser.quit()
            app.close()


class BenchStudioError(InputError):
    """The browser benchmark can't run here (the message says what is missing)."""


def format_report(result: dict[str, Any]) -> str:
    lines = [
        f"studio edit -> audio, {result['song_seconds']:.1f} s song, {result['notes']} notes, "
        f"{result['phrases']} phrases, {result['threads']} torch thread(s)",
        f"cold render of the whole song (baseline): {result['cold_seconds']:.2f} s",
        f"nothing changed, every phrase cached (fixed cost: WAV, overlay): {result['fixed_seconds']:.3f} s",
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
    parser.add_argument(
        "--browser", action="store_true", help="also time edits in the page (headless Chromium)"
    )
    parser.add_argument("--browser-only", action="store_true", help="only the page's figures")
    args = parser.parse_args(argv)
    if not (10 <= args.seconds <= 1200) or not (1 <= args.edits <= 100):
        print("error: --seconds must be 10-1200 and --edits 1-100", file=sys.stderr)
        return 2

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    try:
        result = (
            None
            if args.browser_only
            else run(
                args.seconds,
                args.edits,
                voice=args.voice,
                threads=args.threads,
                log=log,
            )
        )
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if result is not None:
        print(format_report(result))
    if args.browser or args.browser_only:
        try:
            page = run_browser(
                args.seconds,
                min(args.edits, 4),
                voice=args.voice,
                threads=args.threads,
                log=log,
            )
        except InputError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        times = [r["seconds"] for r in page["edits"]]
        print(
            f"\nin the page (headless Chromium): cold render to playable audio {page['cold_seconds']:.2f} s; "
            f"edit (mouse release) to playable audio: "
            + ", ".join(f"{t:.2f}" for t in times)
            + f" s (median {statistics.median(times):.2f} s; Synthesizer.sing "
            + ", ".join(f"{r['synth']:.2f}" for r in page["edits"])
            + " s of them; the render's answer in the page after "
            + ", ".join(f"{r['answered']:.2f}" for r in page["edits"])
            + " s; "
            + ", ".join(str(r["rerendered"]) for r in page["edits"])
            + f" of {page['phrases']} phrases re-rendered)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
