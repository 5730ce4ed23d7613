"""The score a visitor hands the demo: notation text, the note table (one row per note or setting) kept in
step with it, an uploaded score file, the example songs, and the key shift that fits a melody to a voice.

Text is only ever read as notation and a file only ever comes from an upload, so no visitor can make the
demo open a path on the server.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from vocalsynth.demo.limits import DemoError, DemoLimits
from vocalsynth.score import Score, ScoreError, load_score, notation, pitch_name, validate
from vocalsynth.score.io import EXTENSIONS
from vocalsynth.synthesis.voice_range import suggest_key_shift  # noqa: F401 (the demo's API)

NOTATION_SOURCE = "notation"
TABLE_SOURCE = "note table"
TABLE_HEADERS = ["pitch or setting", "length", "lyric"]
UPLOAD_SUFFIXES = tuple(sorted(EXTENSIONS))
EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "examples"  # a source checkout's examples/
# what the notation box holds when there are no example songs (an installed package has none)
FALLBACK_SONG = 'title="Scale" tempo=100 lang=ja\nC4/4 ど D4 れ E4 み F4 ふぁ | G4/2 そ R/2 |\n'

# a token of notation text: runs of non-space characters and quoted strings (which may hold spaces)
_TOKEN = re.compile(r'(?:"(?:\\.|[^"\\])*"?|[^\s"])+')
_REST = re.compile(r"[Rr](?:/.*)?")
_LINE = re.compile(r"\bline (\d+)")


@dataclass(frozen=True)
class Upload:
    """A score file a visitor uploaded: where the server keeps it, the name the visitor gave it, and the
    notation text it was shown as (the render sings the file itself while the text is left as shown)."""

    path: str
    name: str
    text: str


# --- reading -----------------------------------------------------------------------------------------------


def parse_notation(text: str, limits: DemoLimits, *, source: str = NOTATION_SOURCE) -> Score:
    """Read ``text`` as vocalsynth notation (never as a file name) into a checked `Score`."""
    if not isinstance(text, str) or not text.strip():
        raise DemoError("empty: type a melody, e.g. C4/4 la D4 la E4/2 la", source=source)
    limits.check_notation(text, source)
    score = notation.read(text.encode("utf-8"), source=source)
    return validate(score)


def load_upload(path: str | os.PathLike, limits: DemoLimits, *, name: str | None = None) -> Score:
    """Read an uploaded score file; errors name the file as the visitor called it, not the server's copy."""
    name = name or Path(path).name
    suffix = Path(name).suffix.lower()
    if suffix not in EXTENSIONS:
        raise DemoError(
            "not a score file the demo reads: upload MusicXML (.musicxml .xml .mxl), MIDI (.mid .kar), "
            "UTAU .ust, OpenUtau .ustx, DiffSinger .ds or notation .txt",
            source=name,
        )
    limits.check_upload(path, name)
    try:
        score = load_score(Path(path), format=EXTENSIONS[suffix])
    except ScoreError as e:
        raise ScoreError(e.detail, source=name, where=e.where) from None
    score.source = name
    return score


def score_to_notation(score: Score) -> str:
    """``score`` as notation text (what the notation box shows for an upload or an edited table)."""
    return notation.dumps(score).decode("utf-8")


# --- the note table ----------------------------------------------------------------------------------------


def score_rows(score: Score) -> list[list[str]]:
    """The note table of ``score``: one ``[pitch or setting, length, lyric]`` row per note, rest or setting.

    Lengths are written out on every row (``4`` a quarter, ``8.`` a dotted eighth, ``2+8``, ``2~`` tied to
    the next row); lyrics as in the notation (``hel-`` / ``-lo`` syllables, ``_`` a melisma, ``""`` no word).
    """
    rows: list[list[str]] = []
    tokens = [t for t in _TOKEN.findall(score_to_notation(score)) if t != "|"]
    length = "4"
    tied = False  # the previous note was tied to this one
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        i += 1
        if "=" in tok.split('"', 1)[0]:  # a setting (tempo=, time=, lang=, key=, title=)
            rows.append([tok, "", ""])
            continue
        head, _, written = tok.partition("/")
        length = written.rstrip("~") or length
        tie = "~" if tok.endswith("~") else ""
        if _REST.fullmatch(tok):
            rows.append(["R", length, ""])
        elif tied:  # the tied-on piece of a note: the writer gives it no lyric
            rows.append([head.rstrip("~"), length + tie, ""])
        else:
            # the writer puts a lyric after every other note ('""' for none, '_' for a melisma)
            lyric = tokens[i] if i < len(tokens) else '""'
            i += 1
            rows.append([head.rstrip("~"), length + tie, lyric])
        tied = bool(tie)
    return rows


def rows_to_notation(rows: list[list[str]], limits: DemoLimits) -> str:
    """Notation text for the note table: one row per line (so a reader's 'line N' is table row N)."""
    lines = []
    for k, row in enumerate(rows or [], 1):
        cells = [("" if c is None else str(c)).strip() for c in list(row)[:3]] + ["", "", ""]
        pitch, length, lyric = cells[:3]
        if not (pitch or length or lyric):
            lines.append("")  # an empty row (just added): keep the numbering
            continue
        if not pitch:
            raise DemoError(
                "the pitch is missing (C4, F#3, R for a rest, or a setting like tempo=90)",
                source=TABLE_SOURCE,
                where=f"row {k}",
            )
        if "=" in pitch.split('"', 1)[0]:
            if length or lyric:
                raise DemoError(
                    "a setting row (tempo=, time=, lang=, key=, title=) takes no length or lyric",
                    source=TABLE_SOURCE,
                    where=f"row {k}",
                )
            lines.append(pitch)
            continue
        token = pitch + ("/" + length.lstrip("/") if length else "")
        if lyric and not lyric.startswith('"') and (any(c.isspace() for c in lyric) or '"' in lyric):
            lyric = '"' + lyric.replace("\\", "\\\\").replace('"', '\\"') + '"'
        lines.append(f"{token} {lyric}".strip())
    text = "\n".join(lines) + "\n"
    limits.check_notation(text, TABLE_SOURCE)
    return text


def table_score(rows: list[list[str]], limits: DemoLimits) -> Score:
    """Read the note table into a checked `Score`; an error names the table row."""
    text = rows_to_notation(rows, limits)
    try:
        return parse_notation(text, limits, source=TABLE_SOURCE)
    except ScoreError as e:
        where = _LINE.sub(lambda m: f"row {m.group(1)}", e.where) if e.where else e.where
        raise ScoreError(e.detail, source=TABLE_SOURCE, where=where) from None


# --- examples ----------------------------------------------------------------------------------------------


def example_songs(directory: str | os.PathLike | None = None) -> dict[str, Path]:
    """The example songs (``examples/*.txt`` of a source checkout), labelled ``file — title (language)``."""
    root = Path(directory) if directory is not None else EXAMPLES_DIR
    out: dict[str, Path] = {}
    for path in sorted(root.glob("*.txt")) if root.is_dir() else []:
        try:
            score = load_score(path)
        except ScoreError:
            continue  # an example that doesn't read is not offered
        label = f"{path.name} — {score.title or path.stem}" + (
            f" ({score.language})" if score.language else ""
        )
        out[label] = path
    return out


# --- fitting a melody to a voice ---------------------------------------------------------------------------


def pitch_span(score: Score, key_shift: float = 0.0) -> tuple[int, int]:
    """Lowest and highest sung MIDI pitch of ``score`` after ``key_shift`` semitones."""
    pitches = [n.pitch for n in score.sung_notes]
    return round(min(pitches) + key_shift), round(max(pitches) + key_shift)


def describe(score: Score, key_shift: float, voice_range: tuple[int, int] | None) -> str:
    """One line about the score for the page: notes, length, range as written and as sung."""
    low, high = pitch_span(score)
    text = (
        f"{len(score.sung_notes)} notes, {score.duration:.1f} s"
        + (f", language {score.language}" if score.language else "")
        + f"; written {pitch_name(low)}–{pitch_name(high)}"
    )
    if key_shift:
        s_low, s_high = pitch_span(score, key_shift)
        text += f", sung {pitch_name(s_low)}–{pitch_name(s_high)} (key shift {key_shift:+g})"
    if voice_range is not None:
        s_low, s_high = pitch_span(score, key_shift)
        inside = voice_range[0] <= s_low and s_high <= voice_range[1]
        text += f"; voice range {pitch_name(voice_range[0])}–{pitch_name(voice_range[1])}" + (
            "" if inside else " — some notes fall outside it"
        )
    return text
