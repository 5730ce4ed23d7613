"""Segmental (explicit-duration, semi-Markov) Viterbi: the best cut of T frames into K segments in a fixed order.

Pure numpy. Each segment scores its frames (prefix sums of a per-frame score) plus a log prior on its
length; the search is O(sum of allowed lengths x T) with one vector operation per (segment, length).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_NEG = -1e30


@dataclass
class SegmentModel:
    """Scoring of one segment: frames ``[a, e)`` score ``cum[e] - cum[a] + dur_logp[e - a - min_frames]``.

    - ``cum``: ``(T + 1,)`` prefix sums of the segment's per-frame score (``cum[0] = 0``).
    - ``min_frames``: the shortest allowed length (0 is allowed, for optional edge silences).
    - ``dur_logp``: log prior of each allowed length, ``min_frames`` upwards; its size sets the longest one.
    - ``end_range``: if given, the segment must end at a frame in ``[lo, hi]`` (a search band around an
      earlier alignment, which makes the search much cheaper).
    """

    cum: np.ndarray
    min_frames: int
    dur_logp: np.ndarray
    end_range: tuple[int, int] | None = None  # optional band: the segment must end within [lo, hi]

    @property
    def max_frames(self) -> int:
        return self.min_frames + len(self.dur_logp) - 1


def lognormal_logp(lengths: np.ndarray, mean: float, sigma: float) -> np.ndarray:
    """Unnormalised log-normal log prior ``-0.5 * ((ln d - ln mean) / sigma) ** 2`` (0 at the mean).

    Unnormalised on purpose: the peak is 0 for every segment, so a wide prior is not penalised for its width
    and the weight between frame scores and durations stays one number. ``sigma=inf`` gives a flat prior.
    Length 0 (an empty optional segment) gets the prior of length 1.
    """
    d = np.maximum(np.asarray(lengths, dtype=np.float64), 1.0)
    if not np.isfinite(sigma):
        return np.zeros(d.shape)
    return -0.5 * ((np.log(d) - np.log(max(mean, 1.0))) / sigma) ** 2


def segmental_viterbi(segments: list[SegmentModel], n_frames: int) -> tuple[np.ndarray, float]:
    """Cut ``[0, n_frames)`` into ``len(segments)`` consecutive segments, maximising the total score.

    Returns ``(ends, score)``: ``ends[k]`` is the exclusive end frame of segment ``k`` (``ends[-1] == n_frames``)
    and segment ``k`` starts at ``ends[k - 1]`` (0 for the first). Raises ``ValueError`` when the length
    limits leave no way to cover the frames.
    """
    T = int(n_frames)
    K = len(segments)
    if K == 0:
        raise ValueError("no segments to align")
    min_total = sum(s.min_frames for s in segments)
    max_total = sum(s.max_frames for s in segments)
    if min_total > T:
        raise ValueError(f"the segments need at least {min_total} frames but the audio has {T}")
    if max_total < T:
        raise ValueError(f"the segments can cover at most {max_total} frames but the audio has {T}")
    # the earliest/latest frame each boundary can sit at, from the length limits of what lies on either side
    min_before = np.cumsum([s.min_frames for s in segments])
    max_before = np.cumsum([s.max_frames for s in segments])
    min_after = min_total - min_before
    max_after = max_total - max_before

    prev = np.full(T + 1, _NEG)
    prev[0] = 0.0
    prev_lo, prev_hi = 0, 0
    back = np.zeros((K, T + 1), dtype=np.int32)
    for k, seg in enumerate(segments):
        cum = seg.cum
        if cum.shape[0] != T + 1:
            raise ValueError(f"segment {k}: prefix sums have {cum.shape[0]} values, expected {T + 1}")
        e_lo = max(int(min_before[k]), T - int(max_after[k]))
        e_hi = min(int(max_before[k]), T - int(min_after[k]))
        if seg.end_range is not None:
            e_lo, e_hi = max(e_lo, int(seg.end_range[0])), min(e_hi, int(seg.end_range[1]))
        cur = np.full(T + 1, _NEG)
        best = np.zeros(T + 1, dtype=np.int32)
        for i, d in enumerate(range(seg.min_frames, seg.max_frames + 1)):
            # starts a in [prev_lo, prev_hi] with a + d in [e_lo, e_hi]
            a0 = max(prev_lo, e_lo - d)
            a1 = min(prev_hi, e_hi - d)
            if a1 < a0:
                if e_hi - d < prev_lo:
                    break  # every longer length ends past the last allowed end too
                continue
            starts = slice(a0, a1 + 1)
            ends = slice(a0 + d, a1 + d + 1)
            cand = prev[starts] + (cum[ends] - cum[starts]) + seg.dur_logp[i]
            old = cur[ends]
            better = cand > old
            cur[ends] = np.where(better, cand, old)
            best[ends] = np.where(better, d, best[ends])
        back[k] = best
        prev = cur
        reach = np.flatnonzero(cur > _NEG / 2)
        if reach.size == 0:
            raise ValueError(f"segment {k}: no allowed placement (length limits too tight)")
        prev_lo, prev_hi = int(reach[0]), int(reach[-1])
    if prev[T] <= _NEG / 2:
        raise ValueError("no segmentation covers the whole audio within the length limits")
    ends = np.empty(K, dtype=np.int64)
    e = T
    for k in range(K - 1, -1, -1):
        ends[k] = e
        e -= int(back[k, e])
    if e != 0:  # pragma: no cover - guarded by the checks above
        raise RuntimeError("segmental Viterbi backtrace did not reach frame 0")
    return ends, float(prev[T])
