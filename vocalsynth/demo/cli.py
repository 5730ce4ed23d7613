"""The ``vocalsynth demo`` verb (also ``python demo/app.py`` and ``python -m vocalsynth.demo``): its
arguments and a thin function that builds the `Demo` and serves it."""

from __future__ import annotations

import argparse
import signal
import sys

from vocalsynth.demo.limits import DEFAULT_HOST, DEFAULT_PORT, MB, DemoLimits
from vocalsynth.errors import InputError

_DEFAULTS = DemoLimits()


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help=f"address to serve on (default {DEFAULT_HOST}: this machine only)",
    )
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    p.add_argument(
        "--voice",
        action="append",
        default=[],
        help="voice to open with: an installed name or a voice folder (repeat to offer several folders)",
    )
    g = p.add_argument_group("limits")
    g.add_argument(
        "--max-upload-mb",
        type=float,
        default=_DEFAULTS.max_upload_bytes / MB,
        help="largest score upload (MB)",
    )
    g.add_argument(
        "--max-seconds",
        type=float,
        default=_DEFAULTS.max_song_seconds,
        help="longest song rendered (seconds)",
    )
    g.add_argument("--concurrency", type=int, default=_DEFAULTS.concurrency, help="renders running at once")
    g.add_argument(
        "--queue-size",
        type=int,
        default=_DEFAULTS.queue_size,
        help="requests waiting at most; more are told 'busy'",
    )
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")


def run(args: argparse.Namespace) -> int:
    """Serve the demo until interrupted; 2 with a message for bad arguments or an unusable voice."""
    from vocalsynth.demo.app import launch
    from vocalsynth.demo.handlers import Demo

    try:
        if args.threads is not None:
            if args.threads < 1:
                raise InputError(f"must be at least 1, got {args.threads}", source="--threads")
            import torch

            torch.set_num_threads(args.threads)
        limits = DemoLimits(
            max_upload_bytes=max(1, int(args.max_upload_mb * MB)),
            max_song_seconds=args.max_seconds,
            concurrency=args.concurrency,
            queue_size=args.queue_size,
        )
        voices = list(args.voice)
        demo = Demo(limits, voices=voices[1:], voice=voices[0] if voices else None)
        print(
            f"vocalsynth demo: voices {', '.join(demo.voice_names)}; loading {demo.default_voice}...",
            flush=True,
        )
        # a service manager's SIGTERM stops the server like Ctrl-C: Gradio closes, temporary files go
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        launch(demo, host=args.host, port=args.port)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python demo/app.py`` / ``python -m vocalsynth.demo`` / ``vocalsynth demo``."""
    parser = argparse.ArgumentParser(prog="vocalsynth demo", description="The vocal-creation demo (Gradio).")
    add_arguments(parser)
    return run(parser.parse_args(argv))
