"""Register shift: recordings moved into another register by WORLD analysis/synthesis, written as a *derived
corpus* folder that keeps the source's timing and labels (the notes moved by the same interval).

The F0 is multiplied by ``2 ** (semitones / 12)`` and the spectral envelope is warped along frequency so that
the formants rise by ``formant_factor`` (a smaller vocal tract, as a higher voice has); the aperiodicity is
kept. Timing does not change, so the source's alignment stays valid: this is how a lawful high training
singer is made from a low one (docs/quality.md, "The high voice"). The output folder (read by the ``derived`` corpus adapter)::

    source.json        what was derived from what, how, and under which licence
    items.jsonl        one `CorpusItem` per line (notes shifted, ``aligned`` as in the source cache)
    audio/<id>.flac    the transformed recordings (16-bit)

A finished item is never recomputed; files are written atomically, so a killed run resumes.

    python -m vocalsynth.data.register --cache PREP --corpus pjs --semitones 12 --formants 1.25 \\
        --singer pjs_up12 --out DERIVED
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from vocalsynth.audio.config import AudioConfig
from vocalsynth.data.items import CorpusItem

FORMAT = 1
SOURCE_FILE = "source.json"
ITEMS_FILE = "items.jsonl"


class RegisterError(ValueError):
    """A register-shift request that can't be carried out (bad factor, nothing to derive, mixed settings)."""


def warp_envelope(envelope: np.ndarray, formant_factor: float) -> np.ndarray:
    """``(T, K)`` spectral envelope (power, bins 0..Nyquist) warped so a peak at bin ``k`` moves to
    ``k * formant_factor``; interpolated in the log domain, the top bins held at the last value."""
    if formant_factor <= 0:
        raise RegisterError(f"formant_factor must be > 0, got {formant_factor}")
    if formant_factor == 1.0:
        return envelope
    k = envelope.shape[1]
    source = np.arange(k) / formant_factor
    i0 = np.clip(np.floor(source).astype(np.int64), 0, k - 1)
    i1 = np.clip(i0 + 1, 0, k - 1)
    w = np.clip(source - i0, 0.0, 1.0)[None, :]
    log_env = np.log(np.maximum(envelope, 1e-16))
    return np.exp(log_env[:, i0] * (1 - w) + log_env[:, i1] * w)


def shift_register(
    samples: np.ndarray,
    f0_hz: np.ndarray,
    config: AudioConfig,
    semitones: float,
    formant_factor: float,
) -> np.ndarray:
    """``(n,)`` audio at ``config.sample_rate`` with ``f0_hz`` ``(T,)`` on its frame grid (0 = unvoiced) ->
    the same length of audio sung ``semitones`` higher with formants raised by ``formant_factor``."""
    import pyworld

    x = np.ascontiguousarray(samples, dtype=np.float64)
    f0 = np.ascontiguousarray(f0_hz, dtype=np.float64)
    fs = config.sample_rate
    times = np.arange(f0.size, dtype=np.float64) * config.hop_length / fs
    fft_size = pyworld.get_cheaptrick_fft_size(fs, config.f0_min)
    envelope = pyworld.cheaptrick(x, f0, times, fs, fft_size=fft_size)
    aperiodicity = pyworld.d4c(x, f0, times, fs, fft_size=fft_size)
    shifted_f0 = np.where(f0 > 0, f0 * 2.0 ** (semitones / 12.0), 0.0)
    y = pyworld.synthesize(
        shifted_f0,
        np.ascontiguousarray(warp_envelope(envelope, formant_factor)),
        aperiodicity,
        fs,
        config.frame_period_ms,
    )
    y = y[: x.size] if y.size >= x.size else np.pad(y, (0, x.size - y.size))
    # keep the source's loudness: WORLD's output level follows the warped envelope, not the recording
    peak = float(np.max(np.abs(y))) or 1.0
    target = float(np.sqrt(np.mean(x**2))) / max(float(np.sqrt(np.mean(y**2))), 1e-9)
    return (y * min(target, 0.98 / peak)).astype(np.float32)


def shifted_item(item: CorpusItem, semitones: int, corpus: str, singer: str, audio_path: str) -> CorpusItem:
    """The item's labels for the shifted recording: same timing, every note ``semitones`` higher."""
    notes = [replace(n, pitch=None if n.pitch is None else n.pitch + semitones) for n in item.notes]
    bad = [n.pitch for n in notes if n.pitch is not None and not 0 <= n.pitch <= 127]
    if bad:
        raise RegisterError(
            f"item {item.id}: shifting by {semitones} puts notes outside MIDI 0-127 ({bad[0]})"
        )
    return replace(
        item,
        id=f"{item.corpus}_{item.id}_{'up' if semitones >= 0 else 'down'}{abs(semitones)}",
        corpus=corpus,
        singer=singer,
        audio_path=audio_path,
        notes=notes,
    )


def derive(
    cache: Path,
    out: Path,
    *,
    corpora: list[str],
    semitones: int,
    formant_factor: float,
    singer: str,
    splits: tuple[str, ...] = ("train",),
    progress: bool = True,
) -> dict:
    """Write the derived corpus of the ``corpora`` items in the preprocessed ``cache`` (its aligned items of
    ``splits``; by default training songs only, so the cache's validation songs stay unseen in every
    register) to ``out``. Returns the ``source.json`` record. Raises `RegisterError` for a bad request or a
    folder made with other settings."""
    from vocalsynth.audio.io import save_audio
    from vocalsynth.data.preprocess import load_item_arrays, read_item_meta, write_json

    if not -24 <= semitones <= 24:
        raise RegisterError(f"semitones must be within -24..24, got {semitones}")
    if not 0.5 <= formant_factor <= 2.0:
        raise RegisterError(f"formant_factor must be within 0.5..2, got {formant_factor}")
    cache, out = Path(cache), Path(out)
    manifest_path = cache / "manifest.json"
    if not manifest_path.is_file():
        raise RegisterError(f"{manifest_path}: no manifest; run `vocalsynth preprocess --out {cache}` first")
    manifest = json.loads(manifest_path.read_text())
    config = AudioConfig.from_dict(manifest["audio_config"])
    entries = [
        e for e in manifest["items"] if e["corpus"] in corpora and e["split"] in splits and e.get("aligned")
    ]
    if not entries:
        raise RegisterError(
            f"{manifest_path}: no aligned {'/'.join(splits)} items of corpus {', '.join(corpora)} "
            f"(it has {', '.join(sorted(manifest['corpora']))})"
        )
    licences = sorted({e["licence"] or "unknown" for e in entries})
    record = {
        "format": FORMAT,
        "singer": singer,
        "transformation": {
            "method": "WORLD (pyworld) CheapTrick + D4C on the cached F0, resynthesised",
            "semitones": semitones,
            "formant_factor": formant_factor,
        },
        "source_cache": str(cache.resolve()),
        "source_corpora": {c: manifest["corpora"][c] for c in corpora if c in manifest["corpora"]},
        "splits": list(splits),
        "licence": "; ".join(licences) + " (derived: the source recordings' licence applies)",
        "audio_config": config.to_dict(),
    }
    out.mkdir(parents=True, exist_ok=True)
    old = out / SOURCE_FILE
    if old.is_file():
        before = json.loads(old.read_text())
        keys = ("singer", "transformation", "audio_config")
        if any(before.get(k) != record[k] for k in keys):
            raise RegisterError(
                f"{out} holds a corpus derived with other settings ({before.get('transformation')}, singer "
                f"{before.get('singer')}); choose another --out"
            )
    lines: list[str] = []
    t0, done = time.monotonic(), 0
    for n, entry in enumerate(entries, 1):
        stored = read_item_meta(cache / entry["path"])
        if stored is None:
            raise RegisterError(f"{cache / entry['path']}: cached item unreadable; rerun preprocess")
        item = CorpusItem.from_dict(stored[0])
        audio_rel = f"audio/{item.corpus}_{item.id}.flac"
        new = shifted_item(item, semitones, "derived", singer, audio_rel)
        target = out / audio_rel
        if not target.is_file():
            arrays = load_item_arrays(cache / entry["path"], ("audio", "f0_hz", "vuv"))
            x = arrays["audio"].astype(np.float32) / 32767.0
            f0 = np.where(arrays["vuv"] > 0.5, arrays["f0_hz"], 0.0)
            y = shift_register(x, f0, config, semitones, formant_factor)
            comment = f"derived from {item.corpus}/{item.id}: {semitones:+d} st, formants x{formant_factor:g}"
            save_audio(target, y, config.sample_rate, metadata={"comment": comment})
            done += 1
        lines.append(new.to_json())
        if progress:
            print(
                f"register: {n}/{len(entries)} items ({done} new, {time.monotonic() - t0:.0f} s)",
                file=sys.stderr,
            )
    text = "\n".join(lines) + "\n"
    from vocalsynth.data.preprocess import _write_atomic

    _write_atomic(out / ITEMS_FILE, lambda f: f.write(text), mode="w")
    write_json(out / SOURCE_FILE, record)
    return record


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m vocalsynth.data.register", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("--cache", type=Path, required=True, help="a folder `vocalsynth preprocess` wrote")
    p.add_argument("--corpus", action="append", required=True, help="corpus of the cache to derive from")
    p.add_argument("--semitones", type=int, required=True, help="pitch shift, e.g. 12")
    p.add_argument("--formants", type=float, default=1.0, help="formant factor, e.g. 1.25")
    p.add_argument("--singer", required=True, help="singer name of the derived recordings")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--with-validation", action="store_true", help="derive the cache's validation songs too")
    args = p.parse_args(argv)
    splits = ("train", "validation") if args.with_validation else ("train",)
    try:
        record = derive(
            args.cache,
            args.out,
            corpora=args.corpus,
            semitones=args.semitones,
            formant_factor=args.formants,
            singer=args.singer,
            splits=splits,
        )
    except RegisterError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(record["transformation"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
