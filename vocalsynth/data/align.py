"""Score-informed phoneme alignment of sung recordings: where each note and phoneme of a `CorpusItem` is sung.

The known phoneme sequence is cut into segments by an explicit-duration (semi-Markov) Viterbi search
(:mod:`.align_hsmm`) whose frame scores come from a phone classifier (:mod:`.align_model`, or a
training-free level/voicing heuristic) plus the sung F0 against each note's pitch, and whose duration
priors come from the score's note lengths scaled by the singer's tempo. Consonants are sung ahead of
the note onset, so a note starts where its vowel (its "nucleus") starts.

Use: ``align_item(item, features, config)`` works untrained; for a corpus, train the classifier on the
corpus itself first (no hand labels: it bootstraps from its own alignments) and align with it::

    model = train_aligner(pairs, config, jobs=2)      # pairs: [(CorpusItem, Features)], minutes on a CPU
    model.save("aligner.pt")                          # AlignerModel.load() reads it back (weights only)
    aligned = [align_item(item, f, config, model) for item, f in pairs]
"""

from __future__ import annotations

import copy
import math
import multiprocessing
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np

from vocalsynth.audio.config import AudioConfig
from vocalsynth.audio.features import Features
from vocalsynth.data.align_hsmm import SegmentModel, lognormal_logp, segmental_viterbi
from vocalsynth.data.align_model import (
    AlignerModel,
    fit_classifier,
    frame_inputs,
    heuristic_kind_scores,
    phone_kind,
)
from vocalsynth.data.items import CorpusItem, NoteLabel, PhoneLabel

__all__ = [
    "AlignParams",
    "AlignerModel",
    "AlignmentError",
    "add_edge_rests",
    "align_item",
    "align_items",
    "make_pool",
    "phone_kind",
    "score_timing",
    "train_aligner",
]

# Typical lengths (seconds) of phones that are not a note's nucleus, before anything is learned.
DEFAULT_DURATIONS = {
    "unvoiced": 0.08,
    "voiced": 0.06,
    "closure": 0.10,
    "breath": 0.25,
    "sil": 0.15,
    "nasal": 0.08,
    "vowel": 0.10,
}
_NUCLEUS_KINDS = ("vowel", "nasal")
_REST_KINDS = ("sil", "breath", "closure")
_VOICED_KINDS = ("vowel", "nasal", "voiced")


class AlignmentError(ValueError):
    """An item that cannot be aligned (inconsistent notes/phonemes, audio too short for its phonemes)."""

    def __init__(self, message: str, *, source: str | None = None, where: str | None = None):
        self.source = source
        self.where = where
        self.detail = message
        super().__init__(": ".join([p for p in (source, where, message) if p]))


@dataclass(frozen=True)
class AlignParams:
    """Weights of the alignment score. Frame scores are summed over frames, duration priors once a segment.

    - ``w_phone``: classifier log-posterior (minus ``prior_scale`` x log class prior) per frame.
    - ``w_heuristic``: the level/voicing heuristic per frame when no model is given (or for unknown kinds).
    - ``w_pitch``, ``pitch_sd``: sung F0 against the note pitch (semitones) on voiced frames of voiced phones.
    - ``w_dur`` and the ``sigma_*``: log-normal duration priors (log-domain sd) of nuclei, rests, consonants.
    - ``passes``: later passes re-estimate tempo (per note, smoothed) and tuning from the one before and
      search within ``band`` seconds of its boundaries.
    """

    w_phone: float = 0.5
    prior_scale: float = 0.3
    phone_floor: float = -5.0
    w_heuristic: float = 0.3
    w_heuristic_with_model: float = 0.3
    w_pitch: float = 0.5
    pitch_sd: float = 0.8
    w_dur: float = 3.0
    sigma_nucleus: float = 0.35
    sigma_rest: float = 0.7
    sigma_consonant: float = 0.6
    passes: int = 2
    band: float = 0.6


@dataclass
class _Seg:
    symbol: str
    kind: str
    note: int  # index into item.notes; -1 for an implicit edge silence
    phone: int  # index into item.phonemes; -1 when the segment has no phoneme of its own
    role: str  # 'onset' (before the nucleus), 'nucleus', 'coda', 'edge'


# ---------------------------------------------------------------------------------------------------------
# Segments from the item


def _nucleus_index(kinds: list[str]) -> int:
    for group in (_NUCLEUS_KINDS, _REST_KINDS):
        for i, k in enumerate(kinds):
            if k in group:
                return i
    return 0  # a consonant-only note (a devoiced mora): its first phone carries the onset


def _build_segments(item: CorpusItem) -> list[_Seg]:
    if not item.notes:
        raise AlignmentError("has no notes", source=item.id)
    if not item.phonemes:
        raise AlignmentError("has no phonemes", source=item.id)
    by_note: list[list[int]] = [[] for _ in item.notes]
    last = -1
    for j, ph in enumerate(item.phonemes):
        if not 0 <= ph.note_index < len(item.notes):
            raise AlignmentError(
                f"note_index {ph.note_index} outside the {len(item.notes)} notes",
                source=item.id,
                where=f"phoneme {j} ({ph.symbol})",
            )
        if ph.note_index < last:
            raise AlignmentError(
                f"note_index {ph.note_index} goes back from {last}; phonemes must follow the notes",
                source=item.id,
                where=f"phoneme {j} ({ph.symbol})",
            )
        last = ph.note_index
        by_note[ph.note_index].append(j)

    segs: list[_Seg] = []
    for i, note in enumerate(item.notes):
        js = by_note[i]
        if not js:
            if note.pitch is None:
                segs.append(_Seg("SP", "sil", i, -1, "nucleus"))
            elif segs:  # a melisma: the previous phoneme (normally the vowel) goes on through this note
                prev = segs[-1]
                segs.append(_Seg(prev.symbol, prev.kind, i, prev.phone, "nucleus"))
            else:
                raise AlignmentError("the first note has no phonemes", source=item.id, where="note 0")
            continue
        kinds = [phone_kind(item.phonemes[j].symbol) for j in js]
        nuc = _nucleus_index(kinds)
        for n, (j, kind) in enumerate(zip(js, kinds, strict=True)):
            role = "onset" if n < nuc else "nucleus" if n == nuc else "coda"
            segs.append(_Seg(item.phonemes[j].symbol, kind, i, j, role))
    if segs[0].kind not in ("sil", "breath"):
        segs.insert(0, _Seg("SP", "sil", -1, -1, "edge"))
    if segs[-1].kind not in ("sil", "breath"):
        segs.append(_Seg("SP", "sil", -1, -1, "edge"))
    return segs


def _nominal_durations(
    segs: list[_Seg], item: CorpusItem, tempo: np.ndarray, durations: dict[str, float]
) -> np.ndarray:
    """Expected length in seconds of each segment: score note lengths x tempo, minus the consonants that
    the next note sings ahead of its onset."""
    n_notes = len(item.notes)
    nominal = np.zeros(len(segs))
    side = np.zeros(n_notes)  # seconds taken by each note's own onset consonants
    codas = np.zeros(n_notes)  # ... and by the phones after its nucleus (cl, a breath)
    for k, s in enumerate(segs):
        if s.role in ("onset", "coda"):
            nominal[k] = durations.get(s.symbol, DEFAULT_DURATIONS[s.kind])
            (side if s.role == "onset" else codas)[s.note] += nominal[k]
    next_onset = np.zeros(n_notes)
    for i in range(n_notes - 1):
        next_onset[i] = side[i + 1]
    for k, s in enumerate(segs):
        if s.role != "nucleus":
            continue
        note = item.notes[s.note]
        span = max(note.end - note.start, 0.0) * tempo[s.note]
        nominal[k] = max(span - codas[s.note] - next_onset[s.note], 0.3 * span, 0.02)
    return nominal


def _segment_models(
    segs: list[_Seg],
    item: CorpusItem,
    n_frames: int,
    fps: float,
    nominal: np.ndarray,
    frame_scores: list[np.ndarray],
    params: AlignParams,
) -> list[SegmentModel]:
    first_note = min(s.note for s in segs if s.note >= 0)
    last_note = max(s.note for s in segs)
    models = []
    for k, s in enumerate(segs):
        mean = nominal[k] * fps
        flat = s.role == "edge" or (
            s.role == "nucleus" and s.kind in _REST_KINDS and s.note in (first_note, last_note)
        )
        if flat:
            lo, hi, sigma = (0 if s.role == "edge" else 1), n_frames, math.inf
        elif s.role == "nucleus" and s.kind in _REST_KINDS:
            lo, hi, sigma = 1, int(max(4 * mean, mean + 200)), params.sigma_rest
        elif s.role == "nucleus":
            lo, hi, sigma = 2, int(max(3 * mean, mean + 150)), params.sigma_nucleus
        else:
            lo, hi, sigma = 1, int(max(4 * mean, 30)), params.sigma_consonant
        hi = max(min(hi, n_frames), lo)
        lengths = np.arange(lo, hi + 1)
        dur = params.w_dur * lognormal_logp(lengths, mean, sigma)
        cum = np.concatenate([[0.0], np.cumsum(frame_scores[k])])
        models.append(SegmentModel(cum=cum, min_frames=lo, dur_logp=dur))
    return models


# ---------------------------------------------------------------------------------------------------------
# Frame scores


_FALLBACK = {
    "breath": ("sil",),
    "closure": ("sil", "unvoiced"),
    "nasal": ("voiced", "vowel"),
    "voiced": ("nasal", "vowel"),
    "unvoiced": ("breath", "sil"),
    "vowel": ("nasal", "voiced"),
    "sil": ("breath", "closure"),
}


class _PhoneScorer:
    """Per-frame phone scores of one clip, by symbol: classifier scaled likelihoods, else the heuristic."""

    def __init__(self, features: Features, model: AlignerModel | None, params: AlignParams):
        self.params = params
        self.heur = heuristic_kind_scores(features)
        self.model = model
        self.cache: dict[str, np.ndarray] = {}
        if model is not None:
            lp = model.log_posteriors(features)
            # a floor: where the classifier is confidently wrong (another singer, a rare phone), the pitch,
            # level and duration evidence can still win
            self.scaled = np.maximum(lp - params.prior_scale * model.log_prior[:, None], params.phone_floor)
            self.idx = model.index()
            self.by_kind: dict[str, list[int]] = {}
            for i, sym in enumerate(model.symbols):
                self.by_kind.setdefault(phone_kind(sym), []).append(i)

    def __call__(self, symbol: str, kind: str) -> np.ndarray:
        if symbol in self.cache:
            return self.cache[symbol]
        p = self.params
        if self.model is None:
            out = p.w_heuristic * self.heur[kind]
        elif symbol in self.idx:
            out = p.w_phone * self.scaled[self.idx[symbol]]
        else:  # not in the classifier's inventory: the average of its kind (or a related kind)
            rows = None
            for k in (kind, *_FALLBACK[kind]):
                if k in self.by_kind:
                    rows = self.scaled[self.by_kind[k]]
                    break
            if rows is None:
                out = p.w_heuristic * self.heur[kind]
            else:
                m = rows.max(axis=0)
                out = p.w_phone * (m + np.log(np.exp(rows - m).mean(axis=0)))
        if self.model is not None and p.w_heuristic_with_model > 0:
            out = out + p.w_heuristic_with_model * self.heur[kind]
        self.cache[symbol] = out
        return out


def _sung_midi(features: Features) -> np.ndarray:
    f0 = np.asarray(features.f0_hz, dtype=np.float64)
    voiced = (np.asarray(features.vuv) > 0.5) & (f0 > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(voiced, 69.0 + 12.0 * np.log2(np.where(voiced, f0, 1.0) / 440.0), np.nan)


def _pitch_score(midi: np.ndarray, pitch: float, params: AlignParams) -> np.ndarray:
    """Log-likelihood ratio of the sung pitch against ``pitch`` vs. anywhere within an octave either way."""
    eps = 0.05
    d = (midi - pitch) / params.pitch_sd
    dens = (1 - eps) * np.exp(-0.5 * d * d) / (params.pitch_sd * math.sqrt(2 * math.pi)) + eps / 24.0
    return np.where(np.isnan(midi), 0.0, np.log(np.where(np.isnan(midi), 1.0, dens) * 24.0))


def _segment_frame_scores(
    segs: list[_Seg],
    item: CorpusItem,
    phones: _PhoneScorer,
    midi: np.ndarray,
    offset: float,
    params: AlignParams,
) -> list[np.ndarray]:
    pitch_cache: dict[int, np.ndarray] = {}
    out = []
    for s in segs:
        score = phones(s.symbol, s.kind)
        pitch = item.notes[s.note].pitch if s.note >= 0 else None
        if pitch is not None and s.kind in _VOICED_KINDS and params.w_pitch > 0:
            if pitch not in pitch_cache:
                pitch_cache[pitch] = _pitch_score(midi, pitch + offset, params)
            # onset consonants glide in from the previous note: trust their pitch less
            weight = params.w_pitch * (1.0 if s.role in ("nucleus", "coda") else 0.5)
            score = score + weight * pitch_cache[pitch]
        out.append(score)
    return out


# ---------------------------------------------------------------------------------------------------------
# Tempo and tuning


def _score_span(item: CorpusItem) -> tuple[int, int]:
    """Indices of the first and last sung (pitched) notes."""
    sung = [i for i, n in enumerate(item.notes) if n.pitch is not None]
    if not sung:
        raise AlignmentError("has no pitched note", source=item.id)
    return sung[0], sung[-1]


def _initial_tempo_and_offset(item: CorpusItem, features: Features, midi: np.ndarray) -> tuple[float, float]:
    energy = np.asarray(features.energy, dtype=np.float64)
    loud = np.percentile(energy, 95)
    floor = min(np.percentile(energy, 3), loud - 20)
    active = (energy - floor) / (loud - floor) > 0.45
    first, last = _score_span(item)
    score_span = item.notes[last].end - item.notes[first].start
    idx = np.flatnonzero(active)
    tempo = 1.0
    if idx.size >= 2 and score_span > 0:
        tempo = float(np.clip((idx[-1] - idx[0]) / 100.0 / score_span, 0.6, 1.6))
    sung = midi[active & ~np.isnan(midi)]
    pitches = np.array([n.pitch for n in item.notes if n.pitch is not None], dtype=np.float64)
    weights = np.array([n.end - n.start for n in item.notes if n.pitch is not None])
    offset = 0.0
    if sung.size > 20 and weights.sum() > 0:
        order = np.argsort(pitches)
        cw = np.cumsum(weights[order])
        score_median = pitches[order][np.searchsorted(cw, cw[-1] / 2)]
        offset = float(np.median(sung) - score_median)
    return tempo, offset


def _refine_tempo_and_offset(
    item: CorpusItem, segs: list[_Seg], bounds: np.ndarray, midi: np.ndarray, fps: float, default: float
) -> tuple[np.ndarray, float]:
    onsets = _note_onsets(segs, bounds, len(item.notes))
    n = len(item.notes)
    ratio = np.full(n, np.nan)
    for i in range(n - 1):
        score = item.notes[i].end - item.notes[i].start
        if (
            item.notes[i].pitch is not None
            and score > 0
            and onsets[i] is not None
            and onsets[i + 1] is not None
        ):
            ratio[i] = (onsets[i + 1] - onsets[i]) / fps / score
    tempo = np.full(n, default)
    for i in range(n):
        window = ratio[max(0, i - 3) : i + 4]
        window = window[~np.isnan(window)]
        if window.size:
            tempo[i] = float(np.clip(np.median(window), 0.5, 2.0))
    deltas = []
    for k, s in enumerate(segs):
        if s.role == "nucleus" and s.note >= 0 and item.notes[s.note].pitch is not None:
            a, b = bounds[k], bounds[k + 1]
            m = midi[a + (b - a) // 4 : b - (b - a) // 4]  # the steady middle of the note
            m = m[~np.isnan(m)]
            if m.size:
                deltas.append(m - item.notes[s.note].pitch)
    offset = float(np.median(np.concatenate(deltas))) if deltas else 0.0
    return tempo, offset


def _note_onsets(segs: list[_Seg], bounds: np.ndarray, n_notes: int) -> list[int | None]:
    onsets: list[int | None] = [None] * n_notes
    for k, s in enumerate(segs):
        if s.role == "nucleus" and s.note >= 0 and onsets[s.note] is None:
            onsets[s.note] = int(bounds[k])
    return onsets


# ---------------------------------------------------------------------------------------------------------
# Public entry points


def align_item(
    item: CorpusItem,
    features: Features,
    config: AudioConfig,
    model: AlignerModel | None = None,
    *,
    params: AlignParams | None = None,
) -> CorpusItem:
    """Find where each note and phoneme of ``item`` is sung in the recording ``features`` were made from.

    Uses the item's phoneme sequence, each phoneme's ``note_index``, note pitches, slur flags and the *lengths*
    of its notes (score/MIDI timing; their absolute positions are not trusted: recordings may start with
    seconds of silence). Returns a copy with sung timings and ``aligned=True``; the same notes and phonemes
    in the same order. A note starts where its nucleus (vowel, syllabic nasal, or the rest's silence)
    starts and ends where the next note starts; consonants before the vowel lie ahead of the note onset.
    Silence before the first and after the last phoneme is left outside (see :func:`add_edge_rests`).

    ``model``: a trained :class:`AlignerModel` (see :func:`train_aligner`); without one a level/voicing
    heuristic stands in for the phone classifier (good for notes, rough for consonants).
    """
    p = params or AlignParams()
    if model is not None:
        model.audio.check_compatible(config, what_self="the aligner model", what_other="the features' config")
    fps = config.frames_per_second
    T = features.n_frames
    segs = _build_segments(item)
    midi = _sung_midi(features)
    phones = _PhoneScorer(features, model, p)
    durations = model.durations if model is not None else {}
    tempo0, offset = _initial_tempo_and_offset(item, features, midi)
    tempo = np.full(len(item.notes), tempo0)
    bounds = None
    for _ in range(max(p.passes, 1)):
        if bounds is not None:
            tempo, offset = _refine_tempo_and_offset(item, segs, bounds, midi, fps, tempo0)
        nominal = _nominal_durations(segs, item, tempo, durations)
        scores = _segment_frame_scores(segs, item, phones, midi, offset, p)
        models = _segment_models(segs, item, T, fps, nominal, scores, p)
        if bounds is not None:
            w = int(round(p.band * fps))
            for k, m in enumerate(models):
                m.end_range = (int(bounds[k + 1]) - w, int(bounds[k + 1]) + w)
        try:
            ends, _ = segmental_viterbi(models, T)
        except ValueError as e:
            raise AlignmentError(str(e), source=item.id) from None
        bounds = np.concatenate([[0], ends])
    return _to_item(item, segs, bounds, config)


def _frame_to_time(b: int, config: AudioConfig, n_frames: int) -> float:
    # frame t is centred at t * hop; a boundary before frame b lies half a hop earlier
    hop_s = config.hop_length / config.sample_rate
    return float(min(max((b - 0.5) * hop_s, 0.0), (n_frames - 1) * hop_s))


def _to_item(item: CorpusItem, segs: list[_Seg], bounds: np.ndarray, config: AudioConfig) -> CorpusItem:
    T = int(bounds[-1])
    times = [_frame_to_time(int(b), config, T) for b in bounds]
    out = copy.deepcopy(item)
    starts: dict[int, float] = {}
    ends: dict[int, float] = {}
    for k, s in enumerate(segs):
        if s.phone >= 0:
            starts.setdefault(s.phone, times[k])
            ends[s.phone] = times[k + 1]
    for j, ph in enumerate(out.phonemes):
        ph.start, ph.end = starts[j], ends[j]
    _notes_from_segments(out, [(s.note, s.role) for s in segs], times)
    out.aligned = True
    return out


def _notes_from_segments(item: CorpusItem, seg_info: list[tuple[int, str]], times: list[float]) -> None:
    n = len(item.notes)
    onset: list[float | None] = [None] * n
    last_end: list[float | None] = [None] * n
    for k, (note, role) in enumerate(seg_info):
        if note < 0:
            continue
        if role == "nucleus" and onset[note] is None:
            onset[note] = times[k]
        last_end[note] = times[k + 1]
    for i in range(n):
        if onset[i] is None:  # cannot happen for segments from _build_segments; kept for hand-edited labels
            onset[i] = last_end[i - 1] if i else 0.0
    for i, note in enumerate(item.notes):
        note.start = onset[i]
        note.end = onset[i + 1] if i + 1 < n else last_end[i]
        note.end = max(note.end, note.start)


def score_timing(item: CorpusItem, *, durations: dict[str, float] | None = None) -> CorpusItem:
    """The naive baseline: phonemes placed from the score's note times alone, as a synthesizer would.

    Each note's nucleus starts at the note's start, its leading consonants sit just before it with typical
    lengths (``durations`` per symbol, else :data:`DEFAULT_DURATIONS` per kind), trailing phones (``cl``,
    breath) end the note before the next note's consonants. ``aligned`` stays as it was.
    """
    segs = [s for s in _build_segments(item) if s.role != "edge"]
    nominal = _nominal_durations(segs, item, np.ones(len(item.notes)), durations or {})
    out = copy.deepcopy(item)
    # place segment boundaries: a nucleus starts at its note start; onsets before it, the rest after
    n = len(segs)
    start = np.zeros(n)
    for k, s in enumerate(segs):
        if s.role == "nucleus" and (k == 0 or segs[k - 1].note != s.note or segs[k - 1].role != "nucleus"):
            start[k] = item.notes[s.note].start
        elif s.role == "nucleus":
            start[k] = item.notes[s.note].start  # a melisma continuation: its own note's start
        elif s.role == "coda":
            start[k] = start[k - 1] + nominal[k - 1]
    for k in range(n - 1, -1, -1):  # onsets: back from the following segment
        if segs[k].role == "onset":
            start[k] = start[k + 1] - nominal[k]
    ends = np.append(start[1:], item.notes[segs[-1].note].end)
    start = np.maximum.accumulate(np.maximum(start, 0.0))
    ends = np.maximum(np.minimum(ends, np.append(start[1:], np.inf)), start)
    s_by_phone: dict[int, float] = {}
    e_by_phone: dict[int, float] = {}
    for k, s in enumerate(segs):
        if s.phone >= 0:
            s_by_phone.setdefault(s.phone, float(start[k]))
            e_by_phone[s.phone] = float(ends[k])
    for j, ph in enumerate(out.phonemes):
        ph.start, ph.end = s_by_phone[j], e_by_phone[j]
    return out


def add_edge_rests(item: CorpusItem, duration: float) -> CorpusItem:
    """A copy with a rest note + ``SP`` covering the silence before the first and after the last note.

    ``duration`` is the recording's length in seconds. Note indices of the phonemes shift by one when a
    leading rest is added. Edges shorter than 10 ms are left alone.
    """
    out = copy.deepcopy(item)
    if not out.notes:
        return out
    first = min(n.start for n in out.notes)
    if out.phonemes:
        first = min(first, min(p.start for p in out.phonemes))
    last = max(n.end for n in out.notes)
    if first >= 0.01:
        out.notes.insert(0, NoteLabel(pitch=None, start=0.0, end=first))
        for ph in out.phonemes:
            ph.note_index += 1
        out.phonemes.insert(0, PhoneLabel("SP", 0.0, first, 0))
    if duration - last >= 0.01:
        out.notes.append(NoteLabel(pitch=None, start=last, end=duration))
        out.phonemes.append(PhoneLabel("SP", last, duration, len(out.notes) - 1))
    return out


# ---------------------------------------------------------------------------------------------------------
# Training


def _frame_labels(item: CorpusItem, T: int, index: dict[str, int], config: AudioConfig) -> np.ndarray:
    """Class per frame from an aligned item: phones' symbols, SP outside them, -1 near boundaries."""
    fps = config.frames_per_second
    y = np.full(T, index["SP"], dtype=np.int64)
    edges = []
    for ph in item.phonemes:
        a = int(round(ph.start * fps + 0.5))
        b = int(round(ph.end * fps + 0.5))
        y[max(a, 0) : min(b, T)] = index.get(ph.symbol, -1)
        edges += [a, b]
    for e in edges:  # the frames either side of a boundary are the least certain
        y[max(e - 1, 0) : min(e + 1, T)] = -1
    return y


def _learned_durations(items: Sequence[CorpusItem]) -> dict[str, float]:
    """Median length of each non-nucleus symbol (consonants, cl, breath) in aligned items."""
    lengths: dict[str, list[float]] = {}
    for item in items:
        for s in _build_segments(item):
            if s.role in ("onset", "coda") and s.phone >= 0:
                ph = item.phonemes[s.phone]
                lengths.setdefault(ph.symbol, []).append(ph.end - ph.start)
    return {sym: float(np.median(v)) for sym, v in lengths.items() if len(v) >= 3}


def _one_thread() -> None:
    import torch

    torch.set_num_threads(1)


def _align_chunk(
    chunk: list[tuple[CorpusItem, Features]],
    config: AudioConfig,
    model: AlignerModel | None,
    params: AlignParams | None,
) -> list[CorpusItem]:
    return [align_item(item, f, config, model, params=params) for item, f in chunk]


def align_items(
    data: Sequence[tuple[CorpusItem, Features]],
    config: AudioConfig,
    model: AlignerModel | None = None,
    *,
    params: AlignParams | None = None,
    pool: ProcessPoolExecutor | None = None,
) -> list[CorpusItem]:
    """:func:`align_item` over many items, in the worker processes of ``pool`` when one is given."""
    if pool is None:
        return _align_chunk(list(data), config, model, params)
    n_chunks = min(len(data), 16)  # several chunks a worker even out unequal song lengths
    chunks = [list(data[i::n_chunks]) for i in range(n_chunks)]
    results = list(
        pool.map(_align_chunk, chunks, [config] * n_chunks, [model] * n_chunks, [params] * n_chunks)
    )
    out: list[CorpusItem | None] = [None] * len(data)
    for i, res in enumerate(results):
        out[i::n_chunks] = res
    return out  # type: ignore[return-value]


def make_pool(jobs: int) -> ProcessPoolExecutor | None:
    """A process pool of ``jobs`` single-threaded workers for :func:`align_items` (None for ``jobs <= 1``).

    Workers are spawned, not forked: forking a process whose torch thread pool is running can hang.
    """
    if jobs <= 1:
        return None
    return ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"), initializer=_one_thread)


def train_aligner(
    data: Sequence[tuple[CorpusItem, Features]],
    config: AudioConfig,
    *,
    rounds: int = 3,
    steps: Sequence[int] = (500, 250, 250),
    channels: int = 64,
    min_frames: int = 50,
    max_epochs: float = 30.0,
    params: AlignParams | None = None,
    jobs: int = 1,
    seed: int = 0,
    log: Callable[[str], None] | None = None,
) -> AlignerModel:
    """Train the phone classifier on the corpus itself: no hand labels needed.

    Round 0 aligns every item with the level/voicing heuristic; each round then trains the classifier on
    the current alignments (frames next to boundaries ignored) and re-aligns everything with it. Symbols
    with fewer than ``min_frames`` frames get no class of their own (they borrow their kind's score).
    ``steps[r]``: optimiser steps in round ``r`` (batches of 16 x 256 frames; the last value repeats), at most
    ``max_epochs`` passes over the data.
    ``jobs``: processes for the alignment passes (training itself uses torch's own threads).
    """
    if not data:
        raise ValueError("train_aligner needs at least one (item, features) pair")
    pool = make_pool(jobs)
    try:
        return _train(
            list(data), config, rounds, steps, channels, min_frames, max_epochs, params, pool, seed, log
        )
    finally:
        if pool is not None:
            pool.shutdown()


def _train(
    data: list[tuple[CorpusItem, Features]],
    config: AudioConfig,
    rounds: int,
    steps: Sequence[int],
    channels: int,
    min_frames: int,
    max_epochs: float,
    params: AlignParams | None,
    pool: ProcessPoolExecutor | None,
    seed: int,
    log: Callable[[str], None] | None,
) -> AlignerModel:
    say = log or (lambda _msg: None)
    t0 = time.perf_counter()
    inputs = [frame_inputs(f) for _, f in data]
    aligned = align_items(data, config, None, params=params, pool=pool)
    say(f"round 0 (heuristic) aligned {len(data)} items in {time.perf_counter() - t0:.1f} s")

    counts: dict[str, int] = {"SP": min_frames}
    fps = config.frames_per_second
    for item in aligned:
        for ph in item.phonemes:
            counts[ph.symbol] = counts.get(ph.symbol, 0) + int(round((ph.end - ph.start) * fps))
    symbols = sorted(s for s, c in counts.items() if c >= min_frames)
    model = AlignerModel.create(symbols, config, inputs[0].shape[0], channels, seed)
    model.durations = _learned_durations(aligned)
    index = model.index()
    for r in range(max(rounds, 1)):
        labels = [
            _frame_labels(it, f.n_frames, index, config) for it, (_, f) in zip(aligned, data, strict=True)
        ]
        # small corpora get fewer steps: past ~max_epochs passes the classifier learns its own mistakes
        n_frames = sum(f.n_frames for _, f in data)
        n_steps = min(int(steps[min(r, len(steps) - 1)]), math.ceil(max_epochs * n_frames / (16 * 256)))
        fit_classifier(model, inputs, labels, steps=n_steps, seed=seed + r, log=log)
        aligned = align_items(data, config, model, params=params, pool=pool)
        model.durations = _learned_durations(aligned)
        say(f"round {r + 1}: trained {n_steps} steps and re-aligned, {time.perf_counter() - t0:.1f} s so far")
    return model
