"""The `vocalsynth` command: each verb is a thin layer over a function of the Python API."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vocalsynth import __version__
from vocalsynth.errors import InputError
from vocalsynth.score import load_score, save_score
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
    mapping: dict[str, tuple[str, ...]] = {}
    if args.voice:
        from vocalsynth.synth import Synthesizer
        from vocalsynth.text.crosslingual import map_to_voice, voice_mapping

        known = Synthesizer.from_pretrained(args.voice).known_phonemes
        mapping = voice_mapping(known, sorted({p.symbol for p in seq}))
        seq = map_to_voice(seq, known)
    if args.json:
        print(seq.to_json())
    else:
        title = score.title or Path(score.source).name
        part = score.parts[score.part_index].name
        print(
            f"# {title} — part {score.part_index} {part!r}, {len(score.sung_notes)} notes, {score.duration:.2f} s"
        )
        print(seq.table())
        if args.voice:
            print(f"# sung by voice {args.voice!r}: " + ("every phoneme as written" if not mapping else ""))
            for symbol, target in mapping.items():
                print(f"#   {symbol} -> {' + '.join(target)}")
    for w in [*score.warnings, *seq.warnings]:
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
    p.add_argument(
        "--voice",
        help="show the phonemes as this voice sings them: each one it lacks mapped onto its nearest",
    )
    p.set_defaults(func=cmd_phonemize)

    p = sub.add_parser("convert", help="convert a score to another format (by the output's extension)")
    _add_score_args(p)
    p.add_argument("-o", "--output", required=True, help="output file: " + ", ".join(sorted(EXTENSIONS)))
    p.set_defaults(func=cmd_convert)
    from vocalsynth.synthesis.cli import add_sing_arguments, add_voices_arguments, sing_main, voices_main

    p = sub.add_parser("sing", help="sing a score with a voice to a labelled WAV/FLAC")
    add_sing_arguments(p)
    p.set_defaults(func=sing_main)

    p = sub.add_parser("voices", help="list installed voices and their cards")
    add_voices_arguments(p)
    p.set_defaults(func=voices_main)

    p = sub.add_parser("vocode", help="copy-synthesis: analyse a recording, render it back with a vocoder")
    p.add_argument("input", help="a WAV/FLAC recording")
    p.add_argument("-o", "--output", required=True, help="output WAV/FLAC (labelled as AI-generated)")
    p.add_argument(
        "--vocoder",
        default="world",
        help="'world' (mel + F0), 'world-analysis' (WORLD's own analysis) or a vocoder folder",
    )
    p.add_argument("--f0-method", choices=["harvest", "dio"], default="harvest")
    p.set_defaults(func=cmd_vocode)

    p = sub.add_parser(
        "train",
        help="train a model with LightningCLI: train {acoustic,vocoder} --config YAML [--ckpt_path last] ...",
    )
    p.add_argument("model", choices=["acoustic", "vocoder"])
    p.add_argument("args", nargs=argparse.REMAINDER, help="LightningCLI arguments (--config, overrides)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("preprocess", help="turn corpora into a training feature cache (resumable)")
    from vocalsynth.data.preprocess import add_arguments as add_preprocess_arguments

    add_preprocess_arguments(p)
    p.set_defaults(func=cmd_preprocess)

    p = sub.add_parser(
        "eval", help="quality: sing held-out songs, compare with the recordings (JSON + Markdown)"
    )
    from vocalsynth.eval.report import add_arguments as add_eval_arguments
    from vocalsynth.eval.report import main as eval_main

    add_eval_arguments(p)
    p.set_defaults(func=eval_main)

    p = sub.add_parser("bench", help="speed: render RTF by stage vs WORLD, memory, training throughput")
    from vocalsynth.eval.bench import add_arguments as add_bench_arguments

    add_bench_arguments(p)
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser(
        "export-openutau", help="write a voice as an OpenUtau DiffSinger voicebank folder (ONNX, checked)"
    )
    p.add_argument(
        "--voice", default="default", help="installed voice name or voice folder (default: default)"
    )
    p.add_argument(
        "-o", "--output", required=True, help="the voicebank folder to write (refused if not empty)"
    )
    p.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    p.set_defaults(func=cmd_export_openutau)

    p = sub.add_parser("demo", help="serve the vocal-creation web demo (Gradio) on this machine")
    from vocalsynth.demo.cli import add_arguments as add_demo_arguments
    from vocalsynth.demo.cli import run as demo_main

    add_demo_arguments(p)
    p.set_defaults(func=demo_main)
    return parser


def cmd_vocode(args) -> int:
    from vocalsynth.models.vocoder import vocode

    out = vocode(args.input, args.output, vocoder=args.vocoder, f0_method=args.f0_method)
    print(f"wrote {out}")
    return 0


def cmd_train(args) -> int:
    if args.model == "acoustic":
        from vocalsynth.train.acoustic import train_main
    else:
        from vocalsynth.train.vocoder import train_main
    # LightningCLI gets its arguments explicitly; an untouched sys.argv would make it warn about both
    sys.argv = [f"{sys.argv[0]} train {args.model}"]
    return train_main(args.args) or 0


def cmd_bench(args) -> int:
    from vocalsynth.eval.bench import main as bench_main

    return bench_main(args)


def cmd_export_openutau(args) -> int:
    from vocalsynth.export import export_openutau

    result = export_openutau(args.voice, args.output, overwrite=args.overwrite)
    print(result.summary())
    return 0


def cmd_preprocess(args) -> int:
    from vocalsynth.data.preprocess import run

    return run(args)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except InputError as e:  # scores, audio, corpora, voices: the message names the input and the place
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
