"""`load_score` / `save_score`: pick the reader or writer for a file, validate, write atomically."""

from __future__ import annotations

import importlib
import io
import os
import tempfile
import zipfile
from pathlib import Path

from vocalsynth.score.errors import ScoreError
from vocalsynth.score.model import Score
from vocalsynth.score.validate import validate

MAX_FILE_BYTES = 16 * 1024 * 1024  # no score file is read beyond this; each reader has its own limit too

# format name -> module under vocalsynth.score; each module has
#   read(data: bytes, *, source: str, verse: int | None = None) -> Score   (all parts in score.parts)
#   dumps(score: Score) -> bytes
FORMATS = {
    "musicxml": "musicxml",
    "midi": "midi",
    "ust": "ust",
    "ustx": "ustx",
    "ds": "ds",
    "text": "notation",
}
EXTENSIONS = {
    ".musicxml": "musicxml",
    ".xml": "musicxml",
    ".mxl": "musicxml",
    ".mid": "midi",
    ".midi": "midi",
    ".kar": "midi",
    ".smf": "midi",
    ".rmi": "midi",
    ".ust": "ust",
    ".ustx": "ustx",
    ".ds": "ds",
    ".txt": "text",
    ".vsn": "text",
}


def _module(fmt: str):
    if fmt not in FORMATS:
        raise ScoreError(f"unknown score format {fmt!r}; known: {', '.join(FORMATS)}")
    return importlib.import_module(f"vocalsynth.score.{FORMATS[fmt]}")


def sniff_format(data: bytes) -> str | None:
    """Guess a format from the first bytes of a file."""
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"MThd") or head.startswith(b"RIFF") and b"RMID" in head[:12]:
        return "midi"
    if head.startswith(b"PK\x03\x04"):
        return "musicxml"
    if head.startswith(b"<"):
        return "musicxml"
    if head.startswith(b"[#"):
        return "ust"
    if head.startswith((b"[", b"{")) and (b"ph_seq" in data[:65536] or b"note_seq" in data[:65536]):
        return "ds"
    if b"ustx_version" in head or b"voice_parts" in data[:65536]:
        return "ustx"
    return None


def _looks_like_path(text: str) -> bool:
    """A string names a file if it exists, or is one token ending in a score extension (so a
    mistyped path gets 'no such file' rather than a notation error). Notation like ``C4/4 la``
    has spaces, so it is never mistaken for a path."""
    if "\n" in text or len(text) > 1024:
        return False
    if os.path.isfile(text):
        return True
    return not any(c.isspace() for c in text.strip()) and Path(text).suffix.lower() in EXTENSIONS


def load_score(
    path_or_str: str | os.PathLike,
    format: str | None = None,
    *,
    part: int | None = None,
    verse: int | None = None,
    language: str | None = None,
    check: bool = True,
) -> Score:
    """Read a score file (MusicXML/.mxl, MIDI/.kar, UST, USTX, .ds) or text notation into a `Score`.

    ``path_or_str`` is a path, or the text notation itself (``"tempo=120 C4/4 twin- C4 -kle"``).
    ``part`` picks a part/track (default: the first that carries lyrics); ``verse`` a lyric
    verse (MusicXML; default: the first verse each note has). ``language`` overrides the
    score's language. Every failure is a `ScoreError` naming the file and the place.
    """
    if isinstance(path_or_str, (bytes, bytearray)):
        raise ScoreError("load_score takes a path or notation text, not bytes")
    is_path = isinstance(path_or_str, os.PathLike) or (
        isinstance(path_or_str, str) and _looks_like_path(path_or_str)
    )
    if is_path:
        path = Path(path_or_str)
        source = str(path)
        if not path.is_file():
            raise ScoreError("no such file", source=source)
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ScoreError(
                f"file is {size / 1e6:.0f} MB; the limit is {MAX_FILE_BYTES / 1e6:.0f} MB", source=source
            )
        data = path.read_bytes()
        if not data.strip():
            raise ScoreError("the file is empty", source=source)
        fmt = format or EXTENSIONS.get(path.suffix.lower()) or sniff_format(data)
        if fmt is None:
            raise ScoreError(
                "unknown score format: give a file ending in " + ", ".join(sorted(EXTENSIONS)),
                source=source,
            )
    else:
        source = "<text>"
        data = str(path_or_str).encode("utf-8")
        if not data.strip():
            raise ScoreError("the score text is empty", source=source)
        fmt = format or "text"
    try:
        score = read_bytes(data, fmt, source=source, verse=verse)
    except ScoreError:
        raise
    # The readers raise only ScoreError (tests/test_fuzz_scores.py holds them to it); this is the last line
    # of defence, so that a bug found later still reaches the user as a message, not a traceback.
    except RecursionError as e:
        raise ScoreError(f"not a readable {fmt} file: nested too deeply", source=source) from e
    except Exception as e:
        raise ScoreError(f"not a readable {fmt} file ({type(e).__name__}: {e})", source=source) from e
    score.source = source
    if part is not None:
        score = score.select_part(part)
    else:
        with_lyrics = [i for i, p in enumerate(score.parts) if p.has_lyrics]
        if with_lyrics and with_lyrics[0] != score.part_index:
            score = score.select_part(with_lyrics[0])
    if language is not None:
        score.language = language
    if check:
        validate(score)
    return score


def read_bytes(data: bytes, format: str, *, source: str = "<bytes>", verse: int | None = None) -> Score:
    """Parse ``data`` with the reader of ``format`` into a `Score` holding every part; not validated.

    Each reader refuses input over its format's size limit (``MAX_BYTES`` in the reader's module), so
    memory and time per file stay bounded. Every fault is a `ScoreError` naming ``source``.
    """
    return _module(format).read(bytes(data), source=source, verse=verse)


def save_score(score: Score, path: str | os.PathLike, format: str | None = None) -> Path:
    """Write ``score`` to ``path`` (format from the extension unless given), atomically."""
    path = Path(path)
    fmt = format or EXTENSIONS.get(path.suffix.lower())
    if fmt is None:
        raise ScoreError(f"can't tell the format to write from {path.name!r}; pass format=")
    data = _module(fmt).dumps(score)
    if path.suffix.lower() == ".mxl":
        data = _zip_mxl(data, path.stem + ".musicxml")
    atomic_write_bytes(path, data)
    return path


def _zip_mxl(xml: bytes, name: str) -> bytes:
    """Wrap a MusicXML document in the compressed .mxl container (zip + META-INF/container.xml)."""
    buf = io.BytesIO()
    container = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<container><rootfiles>'
        f'<rootfile full-path="{name}" media-type="application/vnd.recordare.musicxml+xml"/>'
        "</rootfiles></container>\n"
    )
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("mimetype", "application/vnd.recordare.musicxml", compress_type=zipfile.ZIP_STORED)
        z.writestr("META-INF/container.xml", container)
        z.writestr(name, xml)
    return buf.getvalue()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file beside ``path`` and rename it over, so no half-written file is left."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
