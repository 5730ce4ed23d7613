"""Alignments as label files a person can open, check and correct: HTS mono labels (``start end phoneme``
in 100 ns units) or Audacity label tracks (``start<TAB>end<TAB>phoneme`` in seconds), and back into an item.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Literal

from vocalsynth.data.align import _build_segments, _notes_from_segments
from vocalsynth.data.items import CorpusItem

LabFormat = Literal["hts", "audacity"]
HTS_UNITS = 10_000_000  # 100 ns per unit


class LabError(ValueError):
    """A label file that cannot be read, or labels that do not fit an item; says which file and line."""

    def __init__(self, message: str, *, source: str | None = None, where: str | None = None):
        self.source = source
        self.where = where
        self.detail = message
        super().__init__(": ".join([p for p in (source, where, message) if p]))


def format_lab(item: CorpusItem, fmt: LabFormat = "hts") -> str:
    """The item's phonemes as label text, one ``start end symbol`` line each."""
    lines = []
    for ph in item.phonemes:
        if fmt == "hts":
            lines.append(f"{round(ph.start * HTS_UNITS)} {round(ph.end * HTS_UNITS)} {ph.symbol}")
        elif fmt == "audacity":
            lines.append(f"{ph.start:.6f}\t{ph.end:.6f}\t{ph.symbol}")
        else:
            raise ValueError(f"unknown label format {fmt!r}; use 'hts' or 'audacity'")
    return "\n".join(lines) + "\n"


def write_lab(path: str | Path, item: CorpusItem, fmt: LabFormat = "hts") -> Path:
    """Write the item's phoneme timings to ``path`` (see :func:`format_lab`); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(format_lab(item, fmt), encoding="utf-8")
    return path


def parse_lab(text: str, *, source: str = "<labels>") -> list[tuple[float, float, str]]:
    """Label text -> ``[(start_s, end_s, symbol)]``. Integer times are HTS 100 ns units, decimals seconds.

    Blank lines and Audacity's ``\\`` spectral-selection lines are skipped; HTS full-context labels give the
    phoneme between ``-`` and ``+``.
    """
    out: list[tuple[float, float, str]] = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("\\"):
            continue
        fields = line.split(maxsplit=2)
        where = f"line {n}"
        if len(fields) != 3:
            raise LabError(f"expected 'start end phoneme', got {line.strip()!r}", source=source, where=where)
        a, b, sym = fields[0], fields[1], fields[2].strip()
        try:
            if a.lstrip("-").isdigit() and b.lstrip("-").isdigit():
                start, end = int(a) / HTS_UNITS, int(b) / HTS_UNITS
            else:
                start, end = float(a), float(b)
        except ValueError:
            raise LabError(f"times {a!r} {b!r} are not numbers", source=source, where=where) from None
        if "-" in sym and "+" in sym:  # a full-context label
            sym = sym.split("-", 1)[1].split("+", 1)[0]
        if not start == start or not end == end or start < 0 or end < start:  # NaN, negative or reversed
            raise LabError(f"bad span {start:g}..{end:g} s", source=source, where=where)
        if out and start < out[-1][1] - 1e-6:
            raise LabError(
                f"starts at {start:g} s, before the previous label ends ({out[-1][1]:g} s)",
                source=source,
                where=where,
            )
        out.append((start, end, sym))
    return out


def read_lab(path: str | Path) -> list[tuple[float, float, str]]:
    """Read a label file written by :func:`write_lab` (or edited by hand, or an HTS/Audacity label)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise LabError(f"cannot read: {e}", source=str(path)) from None
    return parse_lab(text, source=str(path))


def apply_lab(
    item: CorpusItem, labels: list[tuple[float, float, str]], *, source: str = "<labels>"
) -> CorpusItem:
    """A copy of ``item`` with the phoneme timings of ``labels`` (e.g. corrected by hand) and notes re-derived.

    The labels must hold the item's phonemes in order. Notes start at their nucleus as in
    :func:`vocalsynth.data.align.align_item`; a melisma note inside a phoneme keeps its relative place.
    """
    if len(labels) != len(item.phonemes):
        raise LabError(f"{len(labels)} labels for the item's {len(item.phonemes)} phonemes", source=source)
    for j, (lab, ph) in enumerate(zip(labels, item.phonemes, strict=True)):
        if lab[2] != ph.symbol:
            raise LabError(
                f"label {lab[2]!r} where the item has {ph.symbol!r}", source=source, where=f"label {j + 1}"
            )
    segs = [s for s in _build_segments(item) if s.role != "edge"]
    out = copy.deepcopy(item)
    # each segment's time span: a phoneme's own, split at the old note boundaries for melisma notes
    times: list[float] = []
    info: list[tuple[int, str]] = []
    k = 0
    while k < len(segs):
        j = segs[k].phone
        group = [segs[k]]
        while k + len(group) < len(segs) and j >= 0 and segs[k + len(group)].phone == j:
            group.append(segs[k + len(group)])
        if j < 0:  # a rest note without a phoneme: between its neighbours
            start = (
                labels[segs[k - 1].phone][1]
                if k and segs[k - 1].phone >= 0
                else item.notes[segs[k].note].start
            )
            times.append(start)
        else:
            new_s, new_e = labels[j][0], labels[j][1]
            old_s, old_e = item.phonemes[j].start, item.phonemes[j].end
            for g, seg in enumerate(group):
                if g == 0:
                    times.append(new_s)
                    continue
                old_b = item.notes[seg.note].start
                frac = (old_b - old_s) / (old_e - old_s) if old_e > old_s else g / len(group)
                times.append(new_s + min(max(frac, 0.0), 1.0) * (new_e - new_s))
        info += [(s.note, s.role) for s in group]
        k += len(group)
    last = segs[-1]
    times.append(labels[last.phone][1] if last.phone >= 0 else item.notes[last.note].end)
    for j, ph in enumerate(out.phonemes):
        ph.start, ph.end = labels[j][0], labels[j][1]
    _notes_from_segments(out, info, times)
    out.aligned = True
    return out
