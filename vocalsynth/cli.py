"""The `vocalsynth` command: each verb is a thin layer over a function of the Python API."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vocalsynth import __version__
from vocalsynth.score import ScoreError, load_score, save_score
from vocalsynth.score.io import EXTENSIONS, FORMATS


def _add_score_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("score", help="score file (MusicXML/.mxl, MIDI/.kar, .ust, .ustx, .ds, .txt notation)")
    p.add_argument("--format", choices=sorted(FORMATS), help="score format (default: from the file)")
    p.add_argument("--part", type=int, help="part/track to sing, counted from 0 (default: first with lyrics)")
    p.add_argument("--verse", type=int, help="lyric verse to sing (MusicXML; default: the first)")
    p.add_argument("--lang", choices=["en", "ja", "zh"], help="lyrics language (default: from score/script)")


def _load(args) -> object:
    return load_score(args.score, format=args.format, part=args.part, verse=args.verse, language=args.lang)


def cmd_phonemize(args) -> int:
    from vocalsynth.text import phonemize_score

    score = _load(args)
    seq = phonemize_score(score, language=args.lang, strict=args.strict)
    if args.json:
        print(seq.to_json())
    else:
        title = score.title or Path(score.source).name
        part = score.parts[score.part_index].name
        print(
            f"# {title} — part {score.part_index} {part!r}, {len(score.sung_notes)} notes, {score.duration:.2f} s"
        )
        print(seq.table())
    for w in seq.warnings:
        print(f"warning: {w}", file=sys.stderr)
    return 0


def cmd_convert(args) -> int:
    score = _load(args)
    out = save_score(score, args.output)
    print(f"wrote {out} ({len(score.sung_notes)} notes, {score.duration:.2f} s)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vocalsynth", description="Neural singing voice synthesizer.")
    parser.add_argument("--version", action="version", version=f"vocalsynth {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("phonemize", help="print the note/phoneme table of a score")
    _add_score_args(p)
    p.add_argument("--json", action="store_true", help="print the PhonemeSequence as JSON")
    p.add_argument("--strict", action="store_true", help="fail on a lyric the G2P can't read")
    p.set_defaults(func=cmd_phonemize)

    p = sub.add_parser("convert", help="convert a score to another format (by the output's extension)")
    _add_score_args(p)
    p.add_argument("-o", "--output", required=True, help="output file: " + ", ".join(sorted(EXTENSIONS)))
    p.set_defaults(func=cmd_convert)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ScoreError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
