"""Rule-based singing timing: places each note's phonemes on the timeline (the duration model refines it).

The first vowel of a note starts on the note onset; consonants before it take their time from the
previous note (never more than half of it; the first note may start up to `MAX_PRE_ROLL` before 0);
codas end the note; several nuclei on one note share it equally, each inner consonant taken from the
nucleus before it. The phonemes cover the timeline from ``-pre_roll`` to the last note's end, no gaps.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from vocalsynth.text import inventory
from vocalsynth.text.sequence import CODA, INNER, NUCLEUS, ONSET, Phoneme

MAX_PRE_ROLL = 0.5  # seconds the first note's consonants may start before time 0
MAX_BORROW = 0.5  # share of the previous note the next note's onset may take
MAX_TAIL = 0.6  # share of a note its coda plus the next note's onset may take together
MAX_INNER = 0.5  # share of a nucleus' part an inner consonant may take
# nuclei that close a syllable when they follow a vowel (さん, もっ): their length as a coda
CODA_LENGTH = {inventory.NASAL_CODA: 0.12, inventory.CLOSURE: 0.08}


@dataclass
class Ph:
    """An untimed phoneme of a note group; ``length`` overrides the default consonant length (seconds)."""

    symbol: str
    language: str | None
    tone: int | None = None
    length: float | None = None


@dataclass
class Group:
    """What one note (or an inserted rest, ``note_index`` None) sings, from ``start`` to ``end`` seconds."""

    note_index: int | None
    start: float
    end: float
    pitch: int | None
    phones: list[Ph] = field(default_factory=list)
    slur: bool = False


def roles(symbols: list[str]) -> list[str]:
    """Onset / nucleus / inner / coda for each phoneme of a group.

    Nuclei are vowels, ja/N, ja/cl, SP and AP; a ja/N or ja/cl after a vowel, at the end, is a coda.
    A group without any nucleus is sung from the beat: every phoneme counts as a nucleus.
    """
    kinds = [inventory.kind(s) for s in symbols]
    nuclei = [i for i, k in enumerate(kinds) if k in inventory.NUCLEUS_KINDS]
    if not nuclei:
        return [NUCLEUS] * len(symbols)
    # trailing N/cl after a vowel close the syllable
    while len(nuclei) > 1 and kinds[nuclei[-1]] in CODA_LENGTH:
        if not any(kinds[j] == inventory.VOWEL for j in nuclei[:-1]):
            break
        nuclei.pop()
    first, last = nuclei[0], nuclei[-1]
    out = []
    for i in range(len(symbols)):
        if i in nuclei:
            out.append(NUCLEUS)
        elif i < first:
            out.append(ONSET)
        elif i > last:
            out.append(CODA)
        else:
            out.append(INNER)
    return out


def _length(ph: Ph) -> float:
    if ph.length is not None and ph.length > 0:
        return ph.length
    p = inventory.get(ph.symbol)
    return p.length or CODA_LENGTH.get(p.kind, 0.0)


def _spread(t0: float, t1: float, weights: list[float]) -> list[float]:
    """Boundaries (len(weights)+1 of them) splitting [t0, t1] in proportion to ``weights`` (equal if all 0)."""
    total = sum(weights)
    if total <= 0:
        weights = [1.0] * len(weights)
        total = float(len(weights))
    out = [t0]
    acc = 0.0
    for w in weights[:-1]:
        acc += w
        out.append(t0 + (t1 - t0) * acc / total)
    out.append(t1)
    return out


def time_groups(groups: list[Group]) -> tuple[list[Phoneme], float]:
    """Time every group's phonemes; returns (phonemes in time order, pre-roll seconds).

    ``groups`` cover the song without gaps: each group ends where the next starts (the frontend
    inserts rests for gaps); group 0 starts at 0.
    """
    n = len(groups)
    if n == 0:
        return [], 0.0
    starts = [g.start for g in groups]
    ends = [groups[i + 1].start for i in range(n - 1)] + [groups[-1].end]
    durs = [max(e - s, 0.0) for s, e in zip(starts, ends, strict=True)]
    group_roles = [roles([p.symbol for p in g.phones]) for g in groups]

    def total(i: int, role: str) -> float:
        return sum(_length(p) for p, r in zip(groups[i].phones, group_roles[i], strict=True) if r == role)

    coda = [total(i, CODA) for i in range(n)]
    borrowed = [0.0] * (n + 1)  # time group i takes before its own start; borrowed[n] = 0
    for i in range(n):
        want = total(i, ONSET)
        if want <= 0:
            continue
        limit = MAX_PRE_ROLL + starts[0] if i == 0 else MAX_BORROW * durs[i - 1]
        borrowed[i] = min(want, limit)
    for i in range(n):
        # a note's coda and the next note's onset together leave the note's own nuclei at least 40 %
        c, b = coda[i], borrowed[i + 1]
        limit = MAX_TAIL * durs[i]
        if c + b > limit > 0:
            scale = limit / (c + b)
            coda[i], borrowed[i + 1] = c * scale, b * scale

    out: list[Phoneme] = []
    for i, g in enumerate(groups):
        r = group_roles[i]
        times: list[tuple[float, float]] = [(0.0, 0.0)] * len(g.phones)
        body_start, tail_end = starts[i], ends[i] - borrowed[i + 1]
        body_end = tail_end - coda[i]
        onset = [k for k, x in enumerate(r) if x == ONSET]
        if onset:
            b = _spread(starts[i] - borrowed[i], starts[i], [_length(g.phones[k]) for k in onset])
            for j, k in enumerate(onset):
                times[k] = (b[j], b[j + 1])
        codas = [k for k, x in enumerate(r) if x == CODA]
        if codas:
            b = _spread(body_end, tail_end, [_length(g.phones[k]) for k in codas])
            for j, k in enumerate(codas):
                times[k] = (b[j], b[j + 1])
        nuclei = [k for k, x in enumerate(r) if x == NUCLEUS]
        if all(x == NUCLEUS for x in r) and any(
            inventory.kind(p.symbol) not in inventory.NUCLEUS_KINDS for p in g.phones
        ):
            # no vowel at all (a hummed 'm'): the phonemes share the note by their lengths
            b = _spread(body_start, tail_end, [_length(p) for p in g.phones])
            times = [(b[k], b[k + 1]) for k in range(len(g.phones))]
        elif nuclei:
            # nuclei share the note equally, or by the source's lengths when every one has one
            given = [g.phones[k].length for k in nuclei]
            weights = [float(x) for x in given] if all(x and x > 0 for x in given) else [1.0] * len(nuclei)
            bounds = _spread(body_start, body_end, weights)
            for j, k in enumerate(nuclei):
                part = bounds[j + 1] - bounds[j]
                nxt = nuclei[j + 1] if j + 1 < len(nuclei) else None
                end = bounds[j + 1]
                if nxt is not None:
                    inner = list(range(k + 1, nxt))
                    if inner:
                        want = sum(_length(g.phones[m]) for m in inner)
                        take = min(want, MAX_INNER * part)
                        b = _spread(end - take, end, [_length(g.phones[m]) for m in inner])
                        for q, m in enumerate(inner):
                            times[m] = (b[q], b[q + 1])
                        end -= take
                times[k] = (bounds[j], end)
        for k, (p, (t0, t1)) in enumerate(zip(g.phones, times, strict=True)):
            silent = inventory.kind(p.symbol) in (inventory.REST, inventory.BREATH)
            out.append(
                Phoneme(
                    symbol=p.symbol,
                    language=None if silent else p.language,
                    note_index=g.note_index,
                    note_pitch=None if silent else g.pitch,
                    note_duration=g.end - g.start,
                    position=k,
                    role=r[k],
                    slur=g.slur,
                    start=t0,
                    duration=t1 - t0,
                    tone=p.tone,
                )
            )
    pre_roll = max(0.0, -out[0].start) if out else 0.0
    return out, pre_roll
