"""Where a voice loses to its recordings, rung by rung (``python -m vocalsynth.eval.ladder``).

`vocalsynth eval` measures the voice sung from the score against the recording. This module takes the same
held-out songs from the preprocessed cache (their features and reference alignment) and feeds the voice more
and more of its own predictions, measuring each rung the way the eval does (WORLD analysis, DTW on
34th-order mel-cepstra; :mod:`vocalsynth.eval.compare`):

1. ``copy``: the voice's vocoder on the recording's own log-mel and F0 (the cache's): the vocoder's part;
2. ``teacher-forced``: the acoustic model's decoder given the recording's phoneme durations, F0, energy and
   breathiness (aperiodicity), as in training: what the decoder itself loses;
3. ``own energy+breathiness``: the same with the model's predicted energy and aperiodicity;
4. ``own F0``: everything after the durations predicted (default controls), on the recording's durations;
5. ``from the score``: ``Synthesizer.sing`` on the score, as `vocalsynth eval`'s ``voice`` row.

Rungs 1-4 lie on the recording's time axis, so they are cut to its sung span (as copy-synthesis is).
Each rung's vocoder noise is drawn from the same seed. Every rung, and the recording itself, is also heard by
the intelligibility judge (Whisper base CER against the song's lyrics, :mod:`vocalsynth.eval.intelligibility`),
so each rung's cost in clarity is measured; "own F0"'s F0 RMSE is the pitch error with the recording's own
timing (durations taken from the recording).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

RUNGS = {
    "copy": "the voice's vocoder on the recording's log-mel and F0",
    "teacher-forced": "acoustic decoder on the recording's durations, F0, energy and breathiness",
    "own energy+breathiness": "... with the model's own energy and breathiness",
    "own F0": "... and the model's own F0 (default controls): all but the durations predicted",
    "from the score": "Synthesizer.sing on the score (the eval's voice row)",
}
METRICS = ("mcd_db", "f0_rmse_cents", "vuv_error_pct")
RECORDING = "recording"


def _song_items(cache: Path, acoustic, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Whole (uncropped) training items of the songs ``ids`` from the preprocessed ``cache``, batched for
    ``acoustic`` (its phoneme ids; singer ids by name from its table)."""
    from vocalsynth.data.corpora import CorpusError
    from vocalsynth.train.acoustic import AcousticDataset, item_batch

    out: dict[str, dict[str, Any]] = {}
    for split in ("validation", "train"):
        ds = AcousticDataset(cache, split, random_crop=False, preload=False, phoneme_table=acoustic.phonemes)
        for i, entry in enumerate(ds.entries):
            if entry["id"] in ids and entry["id"] not in out:
                out[entry["id"]] = item_batch(ds, i, acoustic)
    missing = [i for i in ids if i not in out]
    if missing:
        raise CorpusError(
            f"no aligned item for {', '.join(missing)} in the cache", source=str(cache / "manifest.json")
        )
    return out


def measure_song(synth, song, batch: dict[str, Any], seed: int = 0) -> dict[str, dict[str, float]]:
    """Every rung of one held-out ``song`` (a :class:`~vocalsynth.eval.songs.HeldOutSong`) with its cached,
    collated ``batch``: rung -> MCD / F0 RMSE / V/UV error against the recording."""
    import torch

    from vocalsynth.eval.compare import analyse, match
    from vocalsynth.eval.intelligibility import judge, score_reading
    from vocalsynth.models.acoustic.controls import Controls

    cfg = synth.audio_config
    x = song.load_audio(cfg)
    reference = analyse(x, cfg)
    net = synth.acoustic
    n = int(batch["mel"].shape[-1])
    if abs(n - reference.n_frames) > 1:
        raise ValueError(
            f"{song.id}: the cache has {n} frames but the recording {reference.n_frames}: a different file?"
        )
    singer = net.singers[int(batch["singer_id"][0])]
    with torch.inference_mode():
        h, _ = net.encode(batch)
        args = (batch["note_pitch"], batch["note_ctx"], batch["mask"], batch["singer_id"])
        predicted = net.generate(h, batch["ph_dur"], *args, controls=Controls())
        inputs = {
            "copy": (batch["mel"], batch["f0_hz"]),
            "teacher-forced": (net(batch)["mel"], batch["f0_hz"]),
            "own energy+breathiness": (net(batch, torch.tensor([True]))["mel"], batch["f0_hz"]),
            "own F0": (predicted["mel"], predicted["f0_hz"]),
        }
        signals = {}
        for name, (mel, f0) in inputs.items():
            torch.manual_seed(seed)
            signals[name] = synth.vocoder(mel.float(), f0.float())[0].cpu().numpy()[: x.size]
    torch.manual_seed(seed)
    signals["from the score"] = synth.sing(song.score, singer=singer, conformance=False).samples
    language, lyrics = score_reading(song.score)
    out = {}
    for name, y in signals.items():
        a = analyse(y, cfg)
        same_time = name != "from the score"
        if same_time:
            a.span = reference.span
        figures = match(reference, a, same_timeline=same_time).to_dict()
        out[name] = {k: figures[k] for k in METRICS}
        out[name]["heard"] = judge(y, cfg.sample_rate, lyrics, language).to_dict()
    out[RECORDING] = {"heard": judge(x, cfg.sample_rate, lyrics, language).to_dict()}
    return out


def format_table(report: dict[str, Any]) -> str:
    lines = [
        f"Voice {report['voice']}, {len(report['songs'])} held-out song(s): {' '.join(report['songs'])}",
        "",
        "| rung | MCD (dB) | F0 RMSE (c) | V/UV (%) | Whisper CER | what the voice is given |",
        "|---|---|---|---|---|---|",
        f"| {RECORDING} | — | — | — | {report['cer'][RECORDING]:.3f} | the singer's own recording |",
    ]
    for rung, figures in report["mean"].items():
        cells = " | ".join(f"{figures[k]:.2f}" if k == "mcd_db" else f"{figures[k]:.1f}" for k in METRICS)
        lines.append(f"| {rung} | {cells} | {report['cer'][rung]:.3f} | {RUNGS[rung]} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m vocalsynth.eval.ladder",
        description="Where a voice loses to its recordings: vocoder, decoder, predicted energy/breathiness, "
        "predicted F0, the score.",
    )
    parser.add_argument("--voice", default="default", help="voice name or folder (default: default)")
    parser.add_argument("--corpus", default="pjs", help="corpus adapter of the held-out songs (default: pjs)")
    parser.add_argument(
        "--data", required=True, help="the data folder (holding CORPUS/) or the corpus folder"
    )
    parser.add_argument("--cache", required=True, help="the preprocessed folder the voice trained from")
    parser.add_argument(
        "--song", action="append", help="song id (repeatable; default: the cache's validation)"
    )
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    import torch

    from vocalsynth import Synthesizer
    from vocalsynth.eval.songs import held_out_songs

    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        synth = Synthesizer.from_pretrained(args.voice, cache_size=0)
        songs = held_out_songs(args.corpus, args.data, cache=args.cache, songs=args.song)
        batches = _song_items(Path(args.cache), synth.acoustic, [s.id for s in songs])
        per_song = {}
        for song in songs:
            per_song[song.id] = measure_song(synth, song, batches[song.id], args.seed)
            cells = ", ".join(
                f"{r} {v['mcd_db']:.2f} dB CER {v['heard']['cer']:.2f}"
                for r, v in per_song[song.id].items()
                if r != RECORDING
            )
            heard = per_song[song.id][RECORDING]["heard"]
            print(f"{song.id}: recording CER {heard['cer']:.2f}; {cells}", file=sys.stderr, flush=True)
    except (ValueError, OSError) as e:  # InputError (bad corpus, cache, voice) is a ValueError
        print(f"error: {e}", file=sys.stderr)
        return 2
    from vocalsynth.eval.intelligibility import pooled_cer

    mean = {
        rung: {k: float(np.mean([per_song[s][rung][k] for s in per_song])) for k in METRICS} for rung in RUNGS
    }
    cer = {rung: pooled_cer(per_song[s][rung]["heard"] for s in per_song) for rung in (RECORDING, *RUNGS)}
    card = synth.card
    report = {
        "voice": f"{card.name} {card.version}" if card else str(args.voice),
        "songs": list(per_song),
        "rungs": RUNGS,
        "mean": mean,
        "cer": cer,
        "per_song": per_song,
    }
    print(format_table(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1, allow_nan=True) + "\n", encoding="utf-8")
    return 0 if all(math.isfinite(v["mcd_db"]) for v in mean.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
