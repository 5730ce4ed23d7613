"""OpenUtau ``.ustx`` projects (YAML): read every track's notes, tempo map and metre; write one track back.

Only what a singer needs is kept: tone, timing, lyric and phonetic hints (``yao[ya ao]``).
Pitch curves, vibrato and expressions are rendering details of OpenUtau and are not read.
"""

from __future__ import annotations

import math
import re
from typing import Any

import yaml

from vocalsynth.score.build import MB, check_size, fill_from_beats
from vocalsynth.score.errors import ScoreError
from vocalsynth.score.model import Note, Part, Score, Tempo, TimeSignature
from vocalsynth.score.validate import MAX_NOTES

RESOLUTION = 480
USTX_VERSION = "0.6"
# YAML takes ~100x its size in memory while it is read; OpenUtau projects of whole songs are well under 1 MB
MAX_BYTES = 4 * MB
MAX_TICKS = 2**31 - 1  # OpenUtau keeps ticks in a C# int

_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_BaseDumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_BOOL = "tag:yaml.org,2002:bool"
_STR = "tag:yaml.org,2002:str"
# Fields that are text whatever they look like: YAML 1.1 would turn a lyric `1:20` into 80 or `null` into None.
_TEXT_KEYS = {"lyric", "name", "track_name", "singer", "phoneme", "comment"}
_HINT = re.compile(r"^(.*?)\s*\[([^\[\]]*)\]\s*$", re.DOTALL)


class _Loader(_BaseLoader):
    """SafeLoader whose booleans are only true/false (YAML 1.2), and whose text fields stay text.

    YAML 1.1 reads ``no``, ``yes``, ``on``, ``off``, ``y``, ``n`` as booleans: all of them are lyrics.
    """

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            self.flatten_mapping(node)  # resolve `<<` merges first, so merged-in lyrics stay text too
            for key_node, value_node in node.value:
                if (
                    isinstance(key_node, yaml.ScalarNode)
                    and key_node.value in _TEXT_KEYS
                    and isinstance(value_node, yaml.ScalarNode)
                ):
                    value_node.tag = _STR
        return super().construct_mapping(node, deep=deep)


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != _BOOL]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(_BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))


class _Quoted(str):
    """A string written in double quotes, so no YAML reader (1.1 or 1.2) takes it for anything else."""


class _Dumper(_BaseDumper):
    pass


_Dumper.add_representer(_Quoted, lambda d, s: d.represent_scalar(_STR, str(s), style='"'))


# ---------------------------------------------------------------- reading


def read(data: bytes, *, source: str, verse: int | None = None) -> Score:
    """Parse a USTX project into a `Score` with one `Part` per track (``verse`` is ignored)."""
    check_size(data, MAX_BYTES, source, "a USTX file")
    doc = _load_yaml(data, source)
    if not isinstance(doc, dict) or not ("voice_parts" in doc or "ustx_version" in doc):
        raise ScoreError("not an OpenUtau project: no ustx_version or voice_parts", source=source)
    resolution = _num(doc.get("resolution", RESOLUTION), "resolution", source, positive=True)
    tempo_map_list = _tempos(doc, resolution, source)
    time_sigs = _time_signatures(doc, source)
    tracks = doc.get("tracks") or []
    if not isinstance(tracks, list):
        raise ScoreError("'tracks' is not a list", source=source)
    parts = doc.get("voice_parts") or []
    if not isinstance(parts, list):
        raise ScoreError("'voice_parts' is not a list", source=source)

    by_track: dict[int, list[Note]] = {t: [] for t in range(len(tracks))}
    total = 0
    for p, part in enumerate(parts):
        if not isinstance(part, dict):
            raise ScoreError(f"voice part {p} is not a mapping", source=source)
        pname = str(part.get("name", ""))
        pwhere = f"part {p} {pname!r}"
        t = _int(part.get("track_no", 0), "track_no", source, pwhere, minimum=0)
        offset = _int(part.get("position", 0), "position", source, pwhere, minimum=0)
        notes = part.get("notes") or []
        if not isinstance(notes, list):
            raise ScoreError("'notes' is not a list", source=source, where=pwhere)
        total += len(notes)
        if total > MAX_NOTES:
            raise ScoreError(f"more than {MAX_NOTES} notes", source=source)
        line = by_track.setdefault(t, [])
        for k, raw in enumerate(notes):
            line.append(_note(raw, t, p, pname, k, offset, resolution, source))
    if total == 0:
        raise ScoreError("no notes: the project has no voice parts with notes", source=source)

    score = Score(notes=[], tempos=tempo_map_list, time_signatures=time_sigs, source=source)
    tempo_map = score.tempo_map
    score.parts = [
        Part(_track_name(tracks, t), fill_from_beats(_trim_overlaps(by_track[t]), tempo_map))
        for t in sorted(by_track)
    ]
    name = doc.get("name")
    # "New Project" is OpenUtau's placeholder for a project nobody named.
    score.title = name.strip() if isinstance(name, str) and name.strip() and name != "New Project" else None
    score.notes = score.parts[0].notes
    score.part_index = 0
    return score


def _load_yaml(data: bytes, source: str) -> Any:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        codec, skip = "utf-16", 0
    else:
        codec, skip = "utf-8", 3 if data.startswith(b"\xef\xbb\xbf") else 0
    try:
        text = data[skip:].decode(codec)
    except UnicodeDecodeError as e:
        raise ScoreError(
            f"not UTF-8 text (bad byte at byte offset {e.start + skip})", source=source
        ) from None
    if "\x00" in text:
        raise ScoreError("binary data (a NUL character), not a USTX text file", source=source)
    if "&" in text and "*" in text:
        _refuse_aliases(text, source)
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader subclass
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ScoreError(f"not valid YAML{at}: {e.problem or e.context}", source=source) from None
    except yaml.YAMLError as e:
        raise ScoreError(f"not valid YAML: {e}", source=source) from None
    except RecursionError:
        raise ScoreError("not a readable USTX file: nested too deeply", source=source) from None
    except ValueError as e:  # e.g. an integer of more digits than Python converts (sys.int_info)
        raise ScoreError(f"not a readable USTX file: {e}", source=source) from None


def _refuse_aliases(text: str, source: str) -> None:
    """Refuse YAML aliases (``*name``): OpenUtau never writes them, and a few lines of them can stand for
    billions of values (the "billion laughs"), which printing or walking the document would expand."""
    try:
        for event in yaml.parse(text, Loader=_BaseLoader):
            if isinstance(event, yaml.AliasEvent):
                mark = event.start_mark
                raise ScoreError(
                    f"YAML alias *{str(event.anchor)[:40]} at line {mark.line + 1}: aliases are refused "
                    "(OpenUtau never writes them, and they can make a small file expand without end)",
                    source=source,
                )
    except yaml.YAMLError:
        return  # not valid YAML: yaml.load reports it with its place


def _num(value: Any, what: str, source: str, where: str | None = None, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ScoreError(f"{what} must be a number, got {value!r}", source=source, where=where)
    x = float(value)
    if not math.isfinite(x) or (positive and x <= 0) or abs(x) > MAX_TICKS:
        raise ScoreError(
            f"{what} must be a finite number{' > 0' if positive else ''}, got {value!r}",
            source=source,
            where=where,
        )
    return x


def _int(value: Any, what: str, source: str, where: str | None = None, *, minimum: int | None = None) -> int:
    x = _num(value, what, source, where)
    if x != int(x):
        raise ScoreError(f"{what} must be a whole number of ticks, got {value!r}", source=source, where=where)
    if minimum is not None and x < minimum:
        raise ScoreError(f"{what} must be >= {minimum}, got {value!r}", source=source, where=where)
    return int(x)


def _tempos(doc: dict, resolution: float, source: str) -> list[Tempo]:
    # Since ustx 0.6 the `tempos` list is the tempo map; the top-level `bpm` is a leftover and may disagree.
    raw = doc.get("tempos")
    if raw:
        if not isinstance(raw, list):
            raise ScoreError("'tempos' is not a list", source=source)
        tempos = []
        for i, t in enumerate(raw):
            if not isinstance(t, dict):
                raise ScoreError(f"tempo {i} is not a mapping", source=source)
            where = f"tempo {i}"
            pos = _num(t.get("position", 0), "tempo position", source, where)
            bpm = _num(t.get("bpm"), "bpm", source, where, positive=True)
            tempos.append(Tempo(max(0.0, pos) / resolution, bpm))
        return tempos
    return [Tempo(0.0, _num(doc.get("bpm", 120), "bpm", source, positive=True))]


def _time_signatures(doc: dict, source: str) -> list[TimeSignature]:
    raw = doc.get("time_signatures")
    if not raw:
        num = _int(doc.get("beat_per_bar", 4), "beat_per_bar", source, minimum=1)
        den = _int(doc.get("beat_unit", 4), "beat_unit", source, minimum=1)
        return [TimeSignature(0.0, num, den)]
    if not isinstance(raw, list):
        raise ScoreError("'time_signatures' is not a list", source=source)
    sigs = []
    for i, ts in enumerate(raw):
        if not isinstance(ts, dict):
            raise ScoreError(f"time signature {i} is not a mapping", source=source)
        where = f"time signature {i}"
        bar = _int(ts.get("bar_position", 0), "bar_position", source, where, minimum=0)
        num = _int(ts.get("beat_per_bar", 4), "beat_per_bar", source, where, minimum=1)
        den = _int(ts.get("beat_unit", 4), "beat_unit", source, where, minimum=1)
        sigs.append((bar, num, den))
    # OpenUtau counts time signatures in bars; the model counts in quarter notes from the start.
    out: list[TimeSignature] = []
    beat, last_bar, bar_beats = 0.0, 0, 4.0
    for bar, num, den in sorted(sigs):
        beat += (bar - last_bar) * bar_beats
        out.append(TimeSignature(beat, num, den))
        last_bar, bar_beats = bar, num * 4.0 / den
    if out[0].beat > 0:
        out.insert(0, TimeSignature(0.0))
    return out


def _track_name(tracks: list, t: int) -> str:
    track = tracks[t] if t < len(tracks) and isinstance(tracks[t], dict) else {}
    for key in ("track_name", "singer"):
        name = track.get(key)
        if isinstance(name, str) and name.strip():
            return name.strip()
    return f"track {t}"


def _note(raw: Any, t: int, p: int, pname: str, k: int, offset: int, resolution: float, source: str) -> Note:
    if not isinstance(raw, dict):
        raise ScoreError(f"note {k} is not a mapping", source=source, where=f"track {t}, part {p} {pname!r}")
    rel = raw.get("position", 0)
    pos_text = rel if isinstance(rel, int) and not isinstance(rel, bool) else "?"
    where = f"track {t}, part {p} {pname!r}, note {k} (tick {pos_text})"
    position = _int(rel, "note position", source, where) + offset
    where = f"track {t}, part {p} {pname!r}, note {k} (tick {position})"
    duration = _int(raw.get("duration"), "duration", source, where)
    if duration <= 0:
        raise ScoreError(f"duration must be > 0 ticks, got {duration}", source=source, where=where)
    tone = _int(raw.get("tone"), "tone", source, where)
    if not 0 <= tone <= 127:
        raise ScoreError(f"tone {tone} is outside MIDI 0-127", source=source, where=where)
    lyric_raw = raw.get("lyric", "")
    kind, lyric, phonemes = parse_lyric("" if lyric_raw is None else str(lyric_raw))
    if phonemes:
        phonemes = _apply_overrides(phonemes, raw.get("phoneme_overrides"))
    return Note(
        start=0.0,
        duration=0.0,
        pitch=None if kind == "rest" else tone,
        lyric=lyric,
        start_beat=position / resolution,
        duration_beats=duration / resolution,
        slur=kind == "slur",
        phonemes=phonemes if kind == "sung" else None,
        where=where,
    )


def parse_lyric(raw: str) -> tuple[str, str, list[str] | None]:
    """OpenUtau lyric -> (kind, lyric, phoneme hint); kind is 'rest', 'slur' or 'sung'.

    A leading ``?`` (forced alias) is dropped. ``+`` and anything starting with it (``+~``, ``+*``)
    extends the previous note, as OpenUtau does; ``-`` is taken as a continuation too (several
    phonemizers treat it as a tail, none as a new syllable). ``R``/``r`` is a rest. A phonetic hint
    ``yao[ya ao]`` gives lyric ``yao`` and phonemes ``['ya', 'ao']``.
    """
    s = raw.strip().removeprefix("?").strip()
    if s.startswith("+") or s == "-":
        return "slur", "", None
    if s in ("R", "r"):
        return "rest", "", None
    m = _HINT.match(s)
    if m:
        return "sung", m.group(1).strip(), m.group(2).split() or None
    return "sung", s, None


def _apply_overrides(phonemes: list[str], overrides: Any) -> list[str]:
    """A user's phoneme override (``{index: 0, phoneme: ge}``) replaces that phoneme of the hint, as OpenUtau sings it."""
    out = list(phonemes)
    if isinstance(overrides, list):
        for o in overrides:
            if not isinstance(o, dict):
                continue
            i, ph = o.get("index"), o.get("phoneme")
            if (
                isinstance(i, int)
                and not isinstance(i, bool)
                and 0 <= i < len(out)
                and isinstance(ph, str)
                and ph.strip()
            ):
                out[i] = ph.strip()
    return out


def _trim_overlaps(notes: list[Note]) -> list[Note]:
    """One voice sings one note at a time.

    OpenUtau keeps notes of a part apart, but parts on one track may overlap, and hand-edited files
    can too. Rather than refuse such a file, the earlier note is cut where the later one starts
    (and dropped when both start together), so real projects still read.
    """
    notes = sorted(notes, key=lambda n: n.start_beat)
    out: list[Note] = []
    for n in notes:
        while out and out[-1].end_beat > n.start_beat:
            prev = out[-1]
            if prev.start_beat >= n.start_beat:
                out.pop()
                continue
            prev.duration_beats = n.start_beat - prev.start_beat
            break
        out.append(n)
    return out


# ---------------------------------------------------------------- writing


def dumps(score: Score) -> bytes:
    """Write ``score.notes`` as a one-track USTX 0.6 project (resolution 480).

    Rests are gaps, slurs ``+``, phoneme hints ``lyric[ph ph]``. Text is double-quoted so YAML 1.1
    readers keep lyrics such as ``no`` or ``on`` as text.
    """
    tempos = sorted(score.tempos, key=lambda t: t.beat) or [Tempo(0.0, 120.0)]
    tempo_list = [{"position": max(0, round(t.beat * RESOLUTION)), "bpm": _plain(t.bpm)} for t in tempos]
    if tempo_list[0]["position"] != 0:
        tempo_list.insert(0, {"position": 0, "bpm": _plain(tempos[0].bpm)})
    notes = []
    end = 0
    for n in score.notes:
        if n.is_rest:
            continue
        t0 = round(n.start_beat * RESOLUTION)
        t1 = round(n.end_beat * RESOLUTION)
        if t1 <= t0:
            raise ScoreError(
                "the note is shorter than one tick (1/480 of a quarter note)",
                source=score.source,
                where=n.where or None,
            )
        notes.append(
            {
                "position": t0,
                "duration": t1 - t0,
                "tone": n.pitch,
                "lyric": _Quoted(_lyric_text(n)),
                "pitch": {
                    "data": [{"x": -40, "y": 0, "shape": "io"}, {"x": 40, "y": 0, "shape": "io"}],
                    "snap_first": True,
                },
                "vibrato": {
                    "length": 0,
                    "period": 175,
                    "depth": 25,
                    "in": 10,
                    "out": 10,
                    "shift": 0,
                    "drift": 0,
                    "vol_link": 0,
                },  # fmt: skip
                "phoneme_expressions": [],
                "phoneme_overrides": [],
            }
        )
        end = max(end, t1)
    sigs = _bar_signatures(score.time_signatures)
    doc = {
        "name": _Quoted(score.title or "vocalsynth"),
        "comment": _Quoted(""),
        "output_dir": "Vocal",
        "cache_dir": "UCache",
        "ustx_version": _Quoted(USTX_VERSION),
        "resolution": RESOLUTION,
        "bpm": _plain(tempos[0].bpm),
        "beat_per_bar": sigs[0]["beat_per_bar"],
        "beat_unit": sigs[0]["beat_unit"],
        "key": 0,
        "time_signatures": sigs,
        "tempos": tempo_list,
        "tracks": [
            {
                "singer": _Quoted(""),
                "phonemizer": "OpenUtau.Core.DefaultPhonemizer",
                "track_name": _Quoted(_part_name(score)),
                "mute": False,
                "solo": False,
                "volume": 0,
                "pan": 0,
            }
        ],
        "voice_parts": [
            {
                "duration": end + RESOLUTION,
                "name": _Quoted("vocalsynth"),
                "comment": _Quoted(""),
                "track_no": 0,
                "position": 0,
                "notes": notes,
                "curves": [],
            }
        ],
        "wave_parts": [],
    }
    text = yaml.dump(doc, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=1000)
    return text.encode("utf-8")


def _part_name(score: Score) -> str:
    if 0 <= score.part_index < len(score.parts) and score.parts[score.part_index].name:
        return score.parts[score.part_index].name
    return score.title or "voice"


def _lyric_text(n: Note) -> str:
    if n.slur:
        return "+"
    lyric = " ".join(n.lyric.replace("[", "(").replace("]", ")").split())
    if n.phonemes:
        return f"{lyric}[{' '.join(n.phonemes)}]"
    return lyric


def _plain(x: float) -> int | float:
    return int(x) if float(x).is_integer() else float(x)


def _bar_signatures(sigs: list[TimeSignature]) -> list[dict]:
    """Model time signatures (in quarter notes) -> OpenUtau's (in bars); a change off a barline moves to the next."""
    out: list[dict] = []
    bar, beat, bar_beats = 0, 0.0, 4.0
    for ts in sorted(sigs, key=lambda s: s.beat) or [TimeSignature(0.0)]:
        if out:
            bars = max(0, math.ceil((ts.beat - beat) / bar_beats - 1e-6))
            bar, beat = bar + bars, beat + bars * bar_beats
        entry = {"bar_position": bar, "beat_per_bar": int(ts.numerator), "beat_unit": int(ts.denominator)}
        if out and out[-1]["bar_position"] == bar:
            out[-1] = entry
        else:
            out.append(entry)
        bar_beats = ts.numerator * 4.0 / ts.denominator
    if out[0]["bar_position"] != 0:
        out.insert(0, {"bar_position": 0, "beat_per_bar": 4, "beat_unit": 4})
    return out
