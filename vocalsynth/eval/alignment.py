"""Phoneme-alignment accuracy: boundary-error metrics and the NIT-SONG070 evaluation against hand labels.

``python -m vocalsynth.eval.alignment --data ../shared/data/nit_song070 [--pjs ../shared/data/pjs]`` prints
the table: median / 95th-percentile absolute boundary error and the share within 20/50/100 ms, for the
naive score timing and for the aligner.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from vocalsynth.audio.config import AudioConfig
from vocalsynth.audio.features import Features, extract_features
from vocalsynth.audio.io import load_audio
from vocalsynth.data.align import AlignerModel, AlignParams, align_item, score_timing, train_aligner
from vocalsynth.data.items import CorpusItem, NoteLabel, PhoneLabel

NIT_SONGS = ("004", "007")
NIT_SELF_TRAIN = ("004", "007")
HTS_UNITS = 1e7  # HTS label times are in 100 ns units

Segment = tuple[float, float, str]


# ---------------------------------------------------------------------------------------------------------
# Metrics


def boundary_times(phones: Sequence[Segment]) -> np.ndarray:
    """The inner boundaries of a phone sequence: the end of each phone but the last, seconds."""
    return np.array([p[1] for p in phones[:-1]], dtype=np.float64)


def boundary_errors(reference: Sequence[Segment], hypothesis: Sequence[Segment]) -> np.ndarray:
    """Absolute error in seconds of each inner boundary, ``(len - 1,)``; both must hold the same phones.

    Phones are ``(start, end, symbol)``. Raises ``ValueError`` naming the first difference otherwise.
    """
    if len(reference) != len(hypothesis):
        raise ValueError(f"reference has {len(reference)} phones, hypothesis {len(hypothesis)}")
    for i, (r, h) in enumerate(zip(reference, hypothesis, strict=True)):
        if r[2] != h[2]:
            raise ValueError(f"phone {i} differs: reference {r[2]!r}, hypothesis {h[2]!r}")
    return np.abs(boundary_times(hypothesis) - boundary_times(reference))


def boundary_stats(errors_s: np.ndarray | Sequence[float]) -> dict[str, float]:
    """Summary of absolute boundary errors (seconds in): count, median/mean/p95 in ms, % within 20/50/100 ms."""
    e = np.abs(np.asarray(errors_s, dtype=np.float64)) * 1000.0
    if e.size == 0:
        raise ValueError("no boundary errors to summarise")
    return {
        "n": int(e.size),
        "median_ms": float(np.median(e)),
        "p95_ms": float(np.percentile(e, 95)),
        "mean_ms": float(e.mean()),
        "within_20ms": float(100.0 * np.mean(e <= 20.0)),
        "within_50ms": float(100.0 * np.mean(e <= 50.0)),
        "within_100ms": float(100.0 * np.mean(e <= 100.0)),
    }


def item_phones(item: CorpusItem) -> list[Segment]:
    return [(p.start, p.end, p.symbol) for p in item.phonemes]


# ---------------------------------------------------------------------------------------------------------
# NIT-SONG070: HTS full-context labels -> the reference and a score-only CorpusItem

_PHONE_RE = re.compile(r"^[^@]*@[^\^]*\^[^-]*-([^+]+)\+")
_E_RE = re.compile(r"/E:([^\]]+)\][^\^]*\^[^=]*=[^~]*~([^!]+)![^@]*@[^#]*#([^+]+)\+")
_NOTE_KEY_RE = re.compile(r"/D:.*?/F:[^/]*")
_PITCH_RE = re.compile(r"^([A-G])([#b]?)(-?\d+)$")
_SEMITONE = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}


def _pitch_number(name: str) -> int | None:
    if name == "xx":
        return None
    m = _PITCH_RE.match(name)
    if m is None:
        raise ValueError(f"unreadable note pitch {name!r}")
    letter, accidental, octave = m.groups()
    return 12 * (int(octave) + 1) + _SEMITONE[letter] + {"": 0, "#": 1, "b": -1}[accidental]


def _nit_symbol(phone: str) -> str:
    if phone in ("sil", "pau"):
        return "SP"
    if phone == "br":
        return "AP"
    return f"ja/{phone}"


def read_hts_song(path: str | Path, item_id: str | None = None) -> tuple[CorpusItem, list[Segment]]:
    """A NIT-SONG070 full-context label file -> (score-only item, hand-aligned reference phones).

    The item holds what a MIDI file and lyrics would give: note pitches, note *lengths* from the label's note
    context (``e8``, 96th notes, at tempo ``e5``) laid end to end from 0 s, and the phoneme sequence
    (``sil``/``pau`` -> ``SP``, ``br`` -> ``AP``, others ``ja/<phone>``) placed by :func:`score_timing`.
    Adjacent rests (``sil pau``, ``pau sil``) become one ``SP`` and one rest note, in both.
    """
    path = Path(path)
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            start, end, ctx = line.split(maxsplit=2)
            phone = _PHONE_RE.match(ctx).group(1)  # type: ignore[union-attr]
            e = _E_RE.search(ctx)
            key = _NOTE_KEY_RE.search(ctx).group(0)  # type: ignore[union-attr]
            pitch_name, tempo, length96 = e.groups()  # type: ignore[union-attr]
            pitch = _pitch_number(pitch_name)
            seconds = int(length96) / 24.0 * 60.0 / float(tempo)
        except (AttributeError, ValueError) as err:
            raise ValueError(f"{path.name}: line {n}: not an HTS full-context label line ({err})") from None
        rows.append((int(start) / HTS_UNITS, int(end) / HTS_UNITS, _nit_symbol(phone), key, pitch, seconds))

    notes: list[NoteLabel] = []
    phones: list[PhoneLabel] = []
    reference: list[Segment] = []
    t = 0.0
    prev_key = None
    for start, end, symbol, key, pitch, seconds in rows:
        rest = pitch is None
        if key != prev_key:
            if rest and notes and notes[-1].pitch is None:
                notes[-1].end += seconds  # two rests in a row: one rest
                t += seconds
            else:
                notes.append(NoteLabel(pitch=pitch, start=t, end=t + seconds))
                t += seconds
            prev_key = key
        if symbol == "SP" and reference and reference[-1][2] == "SP":
            reference[-1] = (reference[-1][0], end, "SP")
            continue
        reference.append((start, end, symbol))
        phones.append(PhoneLabel(symbol, 0.0, 0.0, len(notes) - 1))
    stem = path.stem
    item = CorpusItem(
        id=item_id or f"nit_song070/{stem}",
        corpus="nit_song070",
        audio_path="",
        language="ja",
        singer="nit_f001",
        licence="CC-BY-3.0",
        notes=notes,
        phonemes=phones,
        aligned=False,
    )
    return score_timing(item), reference


def nit_song_paths(data_dir: str | Path, song: str) -> tuple[Path, Path]:
    data_dir = Path(data_dir)
    lab = data_dir / "lab_full_aligned" / f"nitech_jp_song070_f001_{song}.lab"
    wav = data_dir / "wav" / f"nitech_jp_song070_f001_{song}.flac"
    for p in (lab, wav):
        if not p.is_file():
            raise FileNotFoundError(f"{p}: missing (NIT-SONG070 song {song})")
    return lab, wav


# ---------------------------------------------------------------------------------------------------------
# PJS


def pjs_items(pjs_dir: str | Path) -> list[CorpusItem]:
    """PJS songs as score-timed items, from the corpus adapter (:mod:`vocalsynth.data.corpora.pjs`)."""
    from vocalsynth.data.corpora import pjs

    return list(pjs.items(Path(pjs_dir)))


# ---------------------------------------------------------------------------------------------------------
# Features with an optional on-disk cache


def cached_features(
    audio_path: str | Path, config: AudioConfig, cache_dir: str | Path | None, f0_method: str = "harvest"
) -> Features:
    """Features of a file, read from / written to ``cache_dir/<stem>.<f0_method>.npz`` when a cache is given."""
    cache = Path(cache_dir) / f"{Path(audio_path).stem}.{f0_method}.npz" if cache_dir else None
    if cache is not None and cache.is_file():
        with np.load(cache) as z:
            return Features(**{k: z[k] for k in z.files})
    feats = extract_features(load_audio(audio_path, config), config, f0_method)  # type: ignore[arg-type]
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, **feats.as_arrays())
    return feats


# ---------------------------------------------------------------------------------------------------------
# The evaluation


def evaluate_nit_song070(
    data_dir: str | Path,
    *,
    pjs_dir: str | Path | None = None,
    model: AlignerModel | None = None,
    songs: Sequence[str] = NIT_SONGS,
    self_train: bool = True,
    config: AudioConfig | None = None,
    params: AlignParams | None = None,
    cache_dir: str | Path | None = None,
    f0_method: str = "harvest",
    jobs: int = 1,
    save_pjs_model: str | Path | None = None,
    log: Callable[[str], None] | None = None,
) -> dict:
    """Align NIT-SONG070 songs from their phoneme sequence and score note lengths; compare to the hand labels.

    Methods (rows): ``naive`` (score timing, :func:`score_timing`), ``naive+offset`` (the same shifted by the
    song's median error: an oracle that removes any constant offset), ``aligner/heuristic`` (no classifier),
    ``aligner/self-trained`` (classifier trained by :func:`train_aligner` on the NIT recordings themselves,
    from their score only: no hand timings), ``aligner/pjs`` (trained on PJS, when ``pjs_dir`` is given) and
    ``aligner/given-model`` (``model``, e.g. one trained on PJS earlier). Returns ``{"input": ..., "songs": ..., "results": {method:
    {"all": stats, song: stats}}, "seconds": {method: s}}`` with stats from :func:`boundary_stats`.
    """
    config = config or AudioConfig()
    say = log or (lambda _m: None)
    data = []
    for song in songs:
        lab, wav = nit_song_paths(data_dir, song)
        item, reference = read_hts_song(lab)
        item.audio_path = str(wav)
        data.append((song, item, reference, cached_features(wav, config, cache_dir, f0_method)))

    models: dict[str, AlignerModel | None] = {"aligner/heuristic": None}
    seconds: dict[str, float] = {}
    if self_train:
        t0 = time.perf_counter()
        train = [(it, f) for s, it, _, f in data if s in NIT_SELF_TRAIN]
        models["aligner/self-trained"] = train_aligner(train, config, params=params, jobs=jobs, log=log)
        seconds["aligner/self-trained (training)"] = time.perf_counter() - t0
    if pjs_dir is not None:
        t0 = time.perf_counter()
        pjs = [
            (it, cached_features(it.audio_path, config, cache_dir, f0_method)) for it in pjs_items(pjs_dir)
        ]
        say(f"PJS features: {time.perf_counter() - t0:.1f} s")
        models["aligner/pjs"] = train_aligner(pjs, config, params=params, jobs=jobs, log=log)
        seconds["aligner/pjs (features + training)"] = time.perf_counter() - t0
        if save_pjs_model is not None:
            models["aligner/pjs"].save(save_pjs_model)
    if model is not None:
        models["aligner/given-model"] = model

    results: dict[str, dict] = {}
    errors: dict[str, list[np.ndarray]] = {}
    for song, item, reference, feats in data:
        hyps = {"naive": item, "naive+offset": _shifted(item, reference)}
        for name, m in models.items():
            t0 = time.perf_counter()
            hyps[name] = align_item(item, feats, config, m, params=params)
            seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - t0
        for name, hyp in hyps.items():
            err = boundary_errors(reference, item_phones(hyp))
            errors.setdefault(name, []).append(err)
            results.setdefault(name, {})[song] = boundary_stats(err)
    for name, errs in errors.items():
        results[name]["all"] = boundary_stats(np.concatenate(errs))
    return {
        "input": (
            "phoneme sequence (sil/pau -> SP, br -> AP) and notes (pitch; lengths from the labels' note "
            "context e8 at tempo e5, laid end to end from 0 s) only; no hand timings"
        ),
        "songs": list(songs),
        "results": results,
        "seconds": seconds,
    }


def _shifted(item: CorpusItem, reference: Sequence[Segment]) -> CorpusItem:
    """``item`` moved in time by the median signed boundary error against ``reference`` (an oracle offset)."""
    signed = boundary_times(reference) - boundary_times(item_phones(item))
    shift = float(np.median(signed))
    out = CorpusItem.from_dict(item.to_dict())
    for x in [*out.notes, *out.phonemes]:
        x.start, x.end = max(x.start + shift, 0.0), max(x.end + shift, 0.0)
    return out


def format_table(report: dict) -> str:
    """The evaluation as a plain-text table (one row per method, all songs pooled, then per song)."""
    head = (
        f"{'method':<24} {'songs':<6} {'n':>4} {'median ms':>10} {'p95 ms':>8} {'mean ms':>8} "
        f"{'<=20ms':>7} {'<=50ms':>7} {'<=100ms':>8}"
    )
    lines = [head, "-" * len(head)]
    for name, per in report["results"].items():
        for song in ["all", *report["songs"]]:
            s = per[song]
            lines.append(
                f"{name:<24} {song:<6} {s['n']:>4} {s['median_ms']:>10.1f} {s['p95_ms']:>8.1f} {s['mean_ms']:>8.1f} "
                f"{s['within_20ms']:>6.1f}% {s['within_50ms']:>6.1f}% {s['within_100ms']:>7.1f}%"
            )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m vocalsynth.eval.alignment", description=__doc__)
    ap.add_argument("--data", required=True, help="the nit_song070 folder")
    ap.add_argument("--pjs", help="the PJS folder: also train the classifier on PJS and evaluate that")
    ap.add_argument("--model", help="an aligner model file to evaluate as well")
    ap.add_argument("--save-pjs-model", help="where to save the PJS-trained model")
    ap.add_argument("--no-self-train", action="store_true", help="skip the model self-trained on NIT-SONG070")
    ap.add_argument("--cache", help="folder to cache features in")
    ap.add_argument("--f0", default="harvest", choices=("harvest", "dio"))
    ap.add_argument("--jobs", type=int, default=1, help="processes for the alignment passes of training")
    ap.add_argument("--json", action="store_true", help="print the full report as JSON after the table")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    model = AlignerModel.load(args.model) if args.model else None

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    report = evaluate_nit_song070(
        args.data,
        pjs_dir=args.pjs,
        model=model,
        self_train=not args.no_self_train,
        cache_dir=args.cache,
        f0_method=args.f0,
        jobs=args.jobs,
        save_pjs_model=args.save_pjs_model,
        log=log,
    )
    print("NIT-SONG070 phoneme boundaries vs hand labels; input: " + report["input"])
    print(format_table(report))
    print("seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in report["seconds"].items()))
    if args.json:
        print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
