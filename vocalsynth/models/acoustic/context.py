"""What the acoustic model reads besides phoneme ids: roles, note spans and note positions, built the same way
from a `PhonemeSequence` (inference) and from a preprocessed training item (training), plus the placement of
phonemes inside note spans that keeps every note exactly as long as the score says."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from vocalsynth.text.align import roles as group_roles
from vocalsynth.text.sequence import CODA, INNER, NUCLEUS, ONSET

# role ids; 0 is padding
ROLE_IDS = {ONSET: 1, NUCLEUS: 2, INNER: 3, CODA: 4}
N_ROLES = len(ROLE_IDS) + 1
# seconds at which the note-position features saturate (longer notes look alike past this)
POSITION_HORIZON = 2.0


def roles_of(symbols: Sequence[str], note_keys: Sequence[object]) -> list[str]:
    """Onset/nucleus/inner/coda for each phoneme, computed per run of phonemes sharing a note (``note_keys``).

    Symbols outside the inventory (a foreign corpus' set) count as nuclei.
    """
    out: list[str] = []
    start = 0
    for k in range(1, len(symbols) + 1):
        if k == len(symbols) or note_keys[k] != note_keys[start]:
            group = list(symbols[start:k])
            try:
                out.extend(group_roles(group))
            except KeyError:
                out.extend(NUCLEUS for _ in group)
            start = k
    return out


def span_ids(roles: Sequence[str], note_keys: Sequence[object]) -> np.ndarray:
    """Which note span each phoneme is sung in, ``(N,)`` int64 from 0.

    A span runs from one note's onset (its first non-onset phoneme, on the beat) to the next one's. Onset
    consonants belong to the span before their note (the time they borrow from the previous note); onsets of
    the first note form span 0 of their own, the pre-roll before the song's time 0.
    """
    out = np.zeros(len(roles), dtype=np.int64)
    span = 0
    for k in range(len(roles)):
        if k > 0 and roles[k] != ONSET and (note_keys[k] != note_keys[k - 1] or roles[k - 1] == ONSET):
            span += 1
        out[k] = span
    return out


def place_in_spans(weights: np.ndarray, span: np.ndarray, span_frames: np.ndarray) -> np.ndarray:
    """Integer frames per phoneme such that each span's phonemes add up to exactly ``span_frames[s]``.

    ``weights`` ``(N,)``: relative lengths (e.g. predicted durations); ``span`` ``(N,)``: span id per phoneme
    (non-decreasing, 0..S-1); ``span_frames`` ``(S,)``. Frames go by weight (largest remainder), at least one
    a phoneme when its span has room; in a span too short for all, the heaviest phonemes get one frame each
    and the others none.
    """
    weights = np.maximum(np.nan_to_num(np.asarray(weights, dtype=np.float64), nan=1.0), 1e-6)
    span = np.asarray(span, dtype=np.int64)
    span_frames = np.asarray(span_frames, dtype=np.int64)
    out = np.zeros(len(weights), dtype=np.int64)
    for s, total in enumerate(span_frames.tolist()):
        idx = np.flatnonzero(span == s)
        if idx.size == 0 or total <= 0:
            continue
        w = weights[idx]
        if total < idx.size:
            out[idx[np.argsort(-w, kind="stable")[:total]]] = 1
            continue
        share = total * w / w.sum()
        base = np.maximum(np.floor(share), 1).astype(np.int64)
        # largest remainder: hand the frames still missing to those cut shortest, take surplus ones (from
        # phonemes lifted to their one frame) back from those with frames to spare, least deserving first
        while base.sum() < total:
            base[int(np.argmax(share - base))] += 1
        while base.sum() > total:
            spare = np.flatnonzero(base > 1)
            base[spare[int(np.argmin((share - base)[spare]))]] -= 1
        out[idx] = base
    return out


N_NOTE_CONTEXT = 5


def note_context(
    bounds: Sequence[tuple[int, int]], pitches: Sequence[float], n_frames: int, fps: float
) -> np.ndarray:
    """``(N_NOTE_CONTEXT, T)`` float32 per frame, from its note (or rest): seconds since the note started and
    until it ends (both clipped at `POSITION_HORIZON`), the fraction of the note gone, and the intervals
    (octaves) from this note to the previous and to the next note (0 next to a rest); zeros outside every
    note. ``bounds``: frame ``[start, end)`` of each note in time order; ``pitches``: MIDI, 0 for a rest.
    The intervals let the pitch model prepare and overshoot; the positions let vibrato set in late.
    """
    out = np.zeros((N_NOTE_CONTEXT, n_frames), dtype=np.float32)
    for k, (a, b) in enumerate(bounds):
        a, b = max(int(a), 0), min(int(b), n_frames)
        if b <= a:
            continue
        t = np.arange(b - a, dtype=np.float32)
        out[0, a:b] = np.minimum(t / fps, POSITION_HORIZON)
        out[1, a:b] = np.minimum((b - a - t) / fps, POSITION_HORIZON)
        out[2, a:b] = t / (b - a)
        here = pitches[k]
        if here > 0:
            before = pitches[k - 1] if k > 0 else 0.0
            after = pitches[k + 1] if k + 1 < len(pitches) else 0.0
            out[3, a:b] = (before - here) / 12.0 if before > 0 else 0.0
            out[4, a:b] = (after - here) / 12.0 if after > 0 else 0.0
    return out


def item_context(item: dict, n_frames: int, fps: float) -> dict[str, np.ndarray]:
    """Context of a preprocessed training item (the ``item_json`` of a cached npz).

    Returns ``ph_role`` ``(N,)`` int64 role ids, ``ph_note_dur`` ``(N,)`` seconds of the phoneme's note,
    ``ph_span`` ``(N,)`` span ids, and ``note_ctx`` ``(N_NOTE_CONTEXT, T)`` (:func:`note_context`) with note
    frames rounded as :func:`vocalsynth.data.preprocess.frame_labels` does.
    """
    notes = item.get("notes", [])
    phonemes = item.get("phonemes", [])
    keys = [p["note_index"] for p in phonemes]
    roles = roles_of([p["symbol"] for p in phonemes], keys)
    note_dur = [float(notes[k]["end"] - notes[k]["start"]) if 0 <= k < len(notes) else 0.0 for k in keys]
    bounds = []
    for n in notes:
        a = min(max(round(n["start"] * fps), 0), n_frames)
        b = min(max(round(n["end"] * fps), a), n_frames)
        bounds.append((a, n_frames if b >= n_frames - 1 else b))
    return {
        "ph_role": np.asarray([ROLE_IDS[r] for r in roles], dtype=np.int64),
        "ph_note_dur": np.asarray(note_dur, dtype=np.float32),
        "ph_span": span_ids(roles, keys),
        "note_ctx": note_context(
            bounds, [float(n["pitch"]) if n.get("pitch") else 0.0 for n in notes], n_frames, fps
        ),
    }
