"""One performance against another: a rendering of a held-out song against its recording.

The two are not sample-aligned (PJS recordings open with 1.7-5 s of silence, and the singer is ~0.1 s off
the MIDI per note), so each signal is analysed on its own -- WORLD Harvest F0 with D4C voicing, 34th-order
mel-cepstra of CheapTrick's envelope, active frames (within 40 dB of the loudest) -- trimmed to its sung
span (first to last run of 10+ voiced frames, 0.3 s around), and the two are aligned by DTW on the mel-cepstra (``c0``, the loudness, left out). Along the path:

- **MCD** (dB): mean over pairs whose recording frame is active;
- **F0 RMSE** (cents): over pairs voiced in both;
- **V/UV error** (%): pairs whose recording frame is active and whose voicing decisions differ.

Timing cannot be read off a DTW path (it warps the timing differences away), so it is compared on the score's
axis against the reference alignment of the recording (:func:`timing_errors`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from vocalsynth.audio.config import AudioConfig
from vocalsynth.audio.pitch import cents, midi_to_hz
from vocalsynth.eval.mcep import WarpPath, active_frames, dtw, mcd_db, world_mcep

MIN_VOICED_RUN = 10  # frames of voicing in a row that count as singing (PJS has 9-frame hums)
TRIM_MARGIN_S = 0.3  # seconds kept before the first and after the last voiced frame (consonants, breaths)


@dataclass
class Analysed:
    """One signal, analysed: ``f0_hz`` (0 = unvoiced), ``mcep`` ``(T, 35)``, ``active`` ``(T,)`` and the sung
    span ``[start, stop)`` of frames, all on the config's frame grid."""

    samples: np.ndarray
    f0_hz: np.ndarray
    mcep: np.ndarray
    active: np.ndarray
    span: tuple[int, int]

    @property
    def n_frames(self) -> int:
        return int(self.f0_hz.size)

    def trimmed_samples(self, config: AudioConfig) -> np.ndarray:
        a, b = self.span
        return self.samples[a * config.hop_length : b * config.hop_length]


def analyse(samples: np.ndarray, config: AudioConfig, f0_method: str = "harvest") -> Analysed:
    """F0 (WORLD ``f0_method`` + D4C voicing), mel-cepstra and active frames of mono ``samples``."""
    from vocalsynth.audio.world import extract_f0

    x = np.ascontiguousarray(samples, dtype=np.float64)
    f0 = extract_f0(x, config, f0_method)[0].astype(np.float64)  # type: ignore[arg-type]
    active = active_frames(x, config, f0.size)
    # the sung part: a recording's noise floor can lie within the active range, and stray voiced frames in
    # its silences (PJS has some) are shorter than a sung note
    voiced = (f0 > 0).astype(np.int64)
    runs = np.convolve(voiced, np.ones(MIN_VOICED_RUN, dtype=np.int64), mode="valid") == MIN_VOICED_RUN
    starts = np.nonzero(runs)[0]
    idx = np.array([starts[0], starts[-1] + MIN_VOICED_RUN - 1]) if starts.size else np.zeros(0, dtype=int)
    if idx.size == 0:
        idx = np.nonzero(active)[0]
    margin = int(round(TRIM_MARGIN_S * config.frames_per_second))
    span = (max(int(idx[0]) - margin, 0), min(int(idx[-1]) + 1 + margin, f0.size))
    return Analysed(x.astype(np.float32), f0, world_mcep(x, config, f0), active, span)


@dataclass
class Match:
    """A synthesis against a reference along their DTW path (indices into each one's full frame arrays)."""

    mcd_db: float
    f0_rmse_cents: float
    vuv_error_pct: float
    path_ref: np.ndarray
    path_syn: np.ndarray

    def to_dict(self) -> dict[str, float]:
        return {
            "mcd_db": self.mcd_db,
            "f0_rmse_cents": self.f0_rmse_cents,
            "vuv_error_pct": self.vuv_error_pct,
            "path_frames": int(self.path_ref.size),
        }

    def warp(self, syn_values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(reference frame, synthesis value)`` pairs along the path, for plotting on the reference's time."""
        return self.path_ref, np.asarray(syn_values)[self.path_syn]


def match(
    reference: Analysed, synthesis: Analysed, *, same_timeline: bool = False, band: float | None = None
) -> Match:
    """DTW-match ``synthesis`` to ``reference`` and measure it along the path (see the module docstring).

    ``same_timeline``: the synthesis is a copy of the recording on its time axis (copy-synthesis), so it is
    cut to the recording's sung span rather than its own (stray voicing in a copy must not move its span);
    DTW still runs, so copies and renderings are measured the same way."""
    ra, rb = reference.span
    sa, sb = (ra, min(rb, synthesis.n_frames)) if same_timeline else synthesis.span
    path: WarpPath = dtw(reference.mcep[ra:rb, 1:], synthesis.mcep[sa:sb, 1:], band)
    i, j = path.a + ra, path.b + sa
    act = reference.active[i]
    mcd = float(np.mean(mcd_db(reference.mcep[i[act]], synthesis.mcep[j[act]]))) if act.any() else math.nan
    fr, fs = reference.f0_hz[i], synthesis.f0_hz[j]
    both = (fr > 0) & (fs > 0)
    rmse = float(np.sqrt(np.mean(cents(fs[both], fr[both]) ** 2))) if both.any() else math.nan
    vuv = float(100.0 * np.mean((fr[act] > 0) != (fs[act] > 0))) if act.any() else math.nan
    return Match(mcd, rmse, vuv, i, j)


def written_pitch_rmse(f0_hz: np.ndarray, notes, frames_per_second: float) -> float:
    """F0 RMSE (cents) of a recording against its written pitches laid on its own note timing: ``notes``
    ``(start s, end s, MIDI pitch)`` as the reference alignment places them, over the voiced frames inside
    them. What a voice that sang every note exactly at its written pitch, in the singer's time, would
    score: the part of F0 RMSE that is the singer's intonation, vibrato and glides, which a score lacks."""
    errors = []
    for start, end, pitch in notes:
        a, b = int(round(start * frames_per_second)), int(round(end * frames_per_second))
        f = np.asarray(f0_hz[a:b], dtype=np.float64)
        f = f[f > 0]
        if pitch is not None and f.size:
            errors.append(cents(f, midi_to_hz(pitch)))
    return float(np.sqrt(np.mean(np.concatenate(errors) ** 2))) if errors else math.nan


def timing_errors(song, phonemes) -> dict[str, float | int | None]:
    """How a rendering's timeline compares with the singer's, on the score's axis.

    ``song``: a :class:`vocalsynth.eval.songs.HeldOutSong` with a reference alignment; ``phonemes``: the
    rendering's `SungPhoneme` timeline (song seconds; ``note_index`` = score note). Two figures:

    - **phoneme onset error** (ms): each phoneme's start relative to its note's start (the note starts at its
      first nucleus, the corpus convention), rendering vs recording, for every phoneme but that first
      nucleus (whose offset is 0 by definition in both): leading consonants, codas, second vowels. It judges
      the duration model's placement inside notes. Notes whose phonemes differ are skipped.
    - **note onset error** (ms): the rendering's note onsets minus the score's, against the recording's
      minus the score's after removing their median (a constant offset between the files). A renderer that
      follows the score exactly scores the singer's own deviation from it.

    Returns means and medians of absolute errors with their counts; None where nothing could be compared.
    """
    ref = song.reference
    if ref is None:
        return {"phoneme_onset_mae_ms": None, "note_onset_mae_ms": None, "phonemes": 0, "notes": 0}
    rendered: dict[int, list] = {}
    for p in phonemes:
        if p.note_index is not None:
            rendered.setdefault(p.note_index, []).append(p)
    reference: dict[int, list] = {}
    for p in ref.phonemes:
        if p.symbol not in ("SP", "AP"):
            reference.setdefault(p.note_index, []).append(p)
    ph_err, render_dev, ref_dev = [], [], []
    for i, note in enumerate(song.score.notes):
        k = song.note_origin[i]
        if note.is_rest or k is None or i not in rendered or k not in reference:
            continue
        mine, theirs = rendered[i], reference[k]
        first = next((n for n, p in enumerate(mine) if p.role != "onset"), None)
        if first is None:
            continue
        render_dev.append(mine[first].start - note.start)
        ref_dev.append(ref.notes[k].start - song.item.notes[k].start)
        if [p.symbol for p in mine] != [p.symbol for p in theirs]:
            continue
        for n, (a, b) in enumerate(zip(mine, theirs, strict=True)):
            if n != first:
                ph_err.append((a.start - note.start) - (b.start - ref.notes[k].start))
    out: dict[str, float | int | None] = {"phonemes": len(ph_err), "notes": len(render_dev)}
    e = 1000 * np.abs(np.asarray(ph_err))
    out["phoneme_onset_mae_ms"] = float(e.mean()) if e.size else None
    out["phoneme_onset_median_ms"] = float(np.median(e)) if e.size else None
    if render_dev:
        singer = np.asarray(ref_dev) - float(np.median(ref_dev))
        n = 1000 * np.abs(np.asarray(render_dev) - singer)
        out["note_onset_mae_ms"] = float(n.mean())
        out["note_onset_median_ms"] = float(np.median(n))
        out["singer_vs_score_mae_ms"] = float(1000 * np.abs(singer).mean())
    else:
        out["note_onset_mae_ms"] = out["note_onset_median_ms"] = out["singer_vs_score_mae_ms"] = None
    return out
