"""The ``vocalsynth sing`` and ``vocalsynth voices`` verbs: argument parsers and thin functions over the API.

``vocalsynth.cli`` wires them in: ``add_sing_arguments(p); p.set_defaults(func=sing_main)`` and
``add_voices_arguments(p); p.set_defaults(func=voices_main)``. Each returns the exit status: 0 done,
2 bad input (``error: ...`` on stderr; the output file is written atomically, so never half-written).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TextIO

from vocalsynth.errors import InputError

OUTPUT_SUFFIXES = (".wav", ".flac")
BAR_WIDTH = 24


def add_sing_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("score", help="score file (MusicXML/.mxl, MIDI/.kar, .ust, .ustx, .ds, .txt notation)")
    p.add_argument(
        "-o", "--output", required=True, help="audio file to write: .wav or .flac (labelled AI-generated)"
    )
    p.add_argument(
        "--voice",
        help="installed voice name or voice folder (default: the installed voice whose range fits the melody)",
    )
    p.add_argument("--format", help="score format (default: from the file)")
    p.add_argument("--part", type=int, help="part/track to sing, counted from 0 (default: first with lyrics)")
    p.add_argument("--verse", type=int, help="lyric verse to sing (MusicXML; default: the first)")
    p.add_argument("--lang", choices=["en", "ja", "zh"], help="lyrics language (default: from score/script)")
    p.add_argument("--singer", help="singer of a multi-singer voice (name or index)")
    p.add_argument(
        "--vocoder", help="'world' (the WORLD baseline) or a vocoder folder instead of the voice's own"
    )
    g = p.add_argument_group("controls")
    g.add_argument(
        "--key-shift",
        type=_key_shift,
        default=0.0,
        help="semitones up (negative: down), or 'auto': whole octaves that fit the melody into the voice's range",
    )
    g.add_argument("--tempo", type=float, default=1.0, help="tempo multiplier (1.2 = 20%% faster)")
    g.add_argument("--vibrato", type=float, default=1.0, help="vibrato depth multiplier (0 = none)")
    g.add_argument("--vibrato-rate", type=float, default=1.0, help="vibrato rate multiplier")
    g.add_argument("--breathiness", type=float, default=0.0, help="-3..3; +1 breathier")
    g.add_argument("--tension", type=float, default=0.0, help="-3..3; +1 brighter/pressed, -1 darker")
    g.add_argument("--gender", type=float, default=0.0, help="-2..2; formant shift, +1 = 3 semitones up")
    g.add_argument("--dynamics", type=float, default=0.0, help="loudness offset in dB")
    g.add_argument(
        "--pitch-correction",
        type=float,
        default=0.5,
        help="0..1: move each note's held pitch onto the written one (1), or keep the singer's intonation "
        "(0); default 0.5",
    )
    g.add_argument(
        "--refine-steps",
        type=int,
        default=None,
        help="mel refiner steps for a voice that has one (0: skip it, faster and smoother; default: the voice's)",
    )
    o = p.add_argument_group("output")
    o.add_argument("--trim-pre-roll", action="store_true", help="drop the consonants sung before time 0")
    o.add_argument(
        "--split-rest", type=float, default=0.3, help="render phrase by phrase, cut at rests this long (s)"
    )
    o.add_argument(
        "--f0-method",
        choices=["nccf", "dio", "harvest"],
        default="nccf",
        help="pitch tracker for the report (nccf: each note searched near its written pitch, fast; "
        "harvest: WORLD over the whole song, the old default, many times slower; dio: octave errors)",
    )
    o.add_argument("--no-conformance", action="store_true", help="skip the pitch/onset conformance report")
    o.add_argument("--report", help="also write the conformance report as JSON to this file")
    o.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    o.add_argument(
        "--threads",
        type=int,
        help="torch CPU threads (default: torch's; 1 is often fastest on a busy machine)",
    )


def _progress_bar(stream: TextIO):
    started = time.perf_counter()

    def show(chunk) -> None:
        done = chunk.index + 1
        filled = round(BAR_WIDTH * done / chunk.n_phrases)
        note = " (cached)" if chunk.cached else ""
        stream.write(
            f"\rsinging [{'#' * filled}{'.' * (BAR_WIDTH - filled)}] phrase {done}/{chunk.n_phrases}"
            f" {time.perf_counter() - started:5.1f} s{note}   "
        )
        if done == chunk.n_phrases:
            stream.write("\n")
        stream.flush()

    return show


def _key_shift(text: str) -> float | str:
    if text.strip().lower() == "auto":
        return "auto"
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of semitones or 'auto': {text!r}") from None


def _auto_key_shift(args, synth) -> int:
    """``--key-shift auto``: the whole-octave shift that puts the most notes inside the voice's range."""
    from vocalsynth.score import load_score, pitch_name
    from vocalsynth.synthesis.voice_range import suggest_key_shift, voice_range

    score = load_score(args.score, format=args.format, part=args.part, verse=args.verse, language=args.lang)
    rng = voice_range(synth.card) if synth.card is not None else None
    shift = suggest_key_shift(score, rng)
    where = f"the voice's range {pitch_name(rng[0])}–{pitch_name(rng[1])}" if rng else "no range on the card"
    print(f"key shift auto: {shift:+d} semitones ({where})", file=sys.stderr)
    return shift


def sing_main(args: argparse.Namespace) -> int:
    """``vocalsynth sing``: render a score with a voice to a labelled WAV/FLAC and print a one-line summary."""
    out = Path(args.output)
    if out.suffix.lower() not in OUTPUT_SUFFIXES:
        print(f"error: {out}: write a .wav or .flac file", file=sys.stderr)
        return 2
    if args.threads is not None and args.threads < 1:
        print(f"error: --threads must be at least 1, got {args.threads}", file=sys.stderr)
        return 2
    try:
        from vocalsynth.synth import Synthesizer

        if args.threads:
            import torch

            torch.set_num_threads(args.threads)
        t0 = time.perf_counter()
        if args.voice is None:
            synth = Synthesizer.for_score(args.score, format=args.format, part=args.part, verse=args.verse)
            print(f"{synth.choice.reason} (--voice picks another)", file=sys.stderr)
        else:
            synth = Synthesizer.from_pretrained(args.voice)
        loaded = time.perf_counter() - t0
        key_shift = args.key_shift
        if key_shift == "auto":
            key_shift = _auto_key_shift(args, synth)
        rendering = synth.sing(
            args.score,
            format=args.format,
            part=args.part,
            verse=args.verse,
            lang=args.lang,
            singer=args.singer,
            vocoder=args.vocoder,
            key_shift=key_shift,
            tempo=args.tempo,
            vibrato=args.vibrato,
            vibrato_rate=args.vibrato_rate,
            breathiness=args.breathiness,
            tension=args.tension,
            gender=args.gender,
            dynamics=args.dynamics,
            pitch_correction=args.pitch_correction,
            refine_steps=args.refine_steps,
            trim_pre_roll=args.trim_pre_roll,
            split_rest=args.split_rest if args.split_rest is None or args.split_rest >= 0 else None,
            conformance=not args.no_conformance,
            f0_method=args.f0_method,
            progress=None if args.quiet else _progress_bar(sys.stderr),
        )
        for w in rendering.warnings:
            print(f"warning: {w}", file=sys.stderr)
        rendering.save(out)
        if args.report and rendering.conformance is not None:
            from vocalsynth.score.io import atomic_write_bytes

            text = json.dumps(rendering.conformance.to_dict(), indent=1) + "\n"
            atomic_write_bytes(Path(args.report), text.encode("utf-8"))
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # e.g. the output folder can't be written
        print(f"error: {e.filename or out}: {e.strerror or e}", file=sys.stderr)
        return 2
    seconds = rendering.render_seconds
    rtf = seconds / rendering.duration if rendering.duration else 0.0
    summary = (
        f"wrote {out}: {rendering.duration:.2f} s (pre-roll {rendering.pre_roll:.3f} s), voice {rendering.voice}"
        + (f" as {rendering.singer}" if rendering.singer else "")
        + ", "
        f"{rendering.phrases} phrase(s) rendered in {seconds:.1f} s (real-time factor {rtf:.2f}; voice loaded "
        f"in {loaded:.1f} s)"
    )
    if rendering.conformance is not None:
        summary += f"; {rendering.conformance}"
    print(summary)
    return 0


def add_voices_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dir", help="look for voices in this folder instead of the package's vocalsynth/voices/")
    p.add_argument("--check", action="store_true", help="verify every voice's files against its checksums")
    p.add_argument("--json", action="store_true", help="print the cards as JSON")


def voices_main(args: argparse.Namespace) -> int:
    """``vocalsynth voices``: print the installed voices' cards (or why there are none)."""
    from vocalsynth.voices import list_voices, no_voices_message

    voices = list_voices(args.dir, verify=args.check)
    if args.json:
        print(
            json.dumps(
                [
                    {"name": v.name, "folder": str(v.folder), "problem": v.problem}
                    | ({"card": v.card.to_dict()} if v.card else {})
                    for v in voices
                ],
                indent=1,
                ensure_ascii=False,
            )
        )
        return 0
    if not voices:
        print(no_voices_message(args.dir))
        return 0
    for k, v in enumerate(voices):
        if k:
            print()
        if v.card is None:
            print(f"{v.name}: unusable: {v.problem}")
        else:
            print(
                v.card.summary()
                + (f"\n  folder: {v.folder}" + ("  (checksums verified)" if args.check else ""))
            )
    return 2 if args.check and any(v.card is None for v in voices) else 0
