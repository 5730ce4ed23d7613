"""Audio files: load as float32 mono at the config's rate, save WAV/FLAC atomically with text metadata."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import soxr

from vocalsynth.audio.config import AudioConfig
from vocalsynth.audio.errors import AudioError

# extension -> (libsndfile format, default subtype, allowed subtypes)
WRITE_FORMATS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    ".wav": ("WAV", "PCM_16", ("PCM_16", "PCM_24", "FLOAT")),
    ".flac": ("FLAC", "PCM_16", ("PCM_16", "PCM_24")),
}

# Text fields libsndfile stores: RIFF INFO chunks in WAV, Vorbis comments in FLAC. WAV has no licence field.
METADATA_FIELDS: dict[str, tuple[str, ...]] = {
    "WAV": ("title", "artist", "album", "date", "comment", "copyright", "software", "genre", "tracknumber"),
    "FLAC": (
        "title",
        "artist",
        "album",
        "date",
        "comment",
        "copyright",
        "software",
        "genre",
        "tracknumber",
        "license",
    ),
}
_ALL_FIELDS = METADATA_FIELDS["FLAC"]

# libsndfile appends its own version to the software field it writes; we give back what the caller wrote.
_LIBSNDFILE_SUFFIX = re.compile(r" \(libsndfile-[^)]*\)$")


def _source(path: Path) -> str:
    return str(path)


def _open_for_reading(path: str | os.PathLike) -> tuple[Path, sf.SoundFile]:
    """Open ``path`` with soundfile, turning every way it can fail into an AudioError naming the file."""
    path = Path(path)
    src = _source(path)
    if not path.exists():
        raise AudioError("file not found", source=src)
    if not path.is_file():
        raise AudioError("not a file", source=src)
    if path.stat().st_size == 0:
        raise AudioError("file is empty (0 bytes)", source=src)
    try:
        return path, sf.SoundFile(path)
    except sf.LibsndfileError as e:
        raise AudioError(
            f"not a readable audio file (libsndfile: {e.error_string}); expected WAV, FLAC, OGG or another "
            "format libsndfile reads",
            source=src,
        ) from None
    except Exception as e:  # anything else from the C library is still a bad file, not a crash
        raise AudioError(f"can't open as audio: {type(e).__name__}: {e}", source=src) from None


def resample(samples: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Resample ``(n,)`` or ``(n, channels)`` float audio with soxr (high quality); no-op when rates match."""
    if from_rate == to_rate:
        return samples
    return soxr.resample(samples, from_rate, to_rate, quality="HQ")


def load_audio(
    path: str | os.PathLike, config: AudioConfig, *, max_seconds: float | None = None
) -> np.ndarray:
    """Read an audio file as float32 mono at ``config.sample_rate``, shape ``(n,)``.

    Channels are averaged; another sample rate is resampled with soxr. ``max_seconds`` rejects longer
    files before reading them (for uploads). Raises :class:`AudioError` naming the file when it is
    missing, empty, not audio, corrupt, holds no samples, or holds NaN/infinite samples.
    """
    path, f = _open_for_reading(path)
    src = _source(path)
    with f:
        rate = f.samplerate
        if max_seconds is not None and f.frames > max_seconds * rate:
            raise AudioError(
                f"{f.frames / rate:.1f} s long, more than the {max_seconds:g} s allowed", source=src
            )
        try:
            data = f.read(dtype="float32", always_2d=True)
        except Exception as e:  # a header that promises more than the data holds, a broken FLAC frame...
            raise AudioError(f"corrupt audio data: {type(e).__name__}: {e}", source=src) from None
    if data.shape[0] == 0:
        raise AudioError("holds no samples (zero-length audio)", source=src)
    bad = ~np.isfinite(data)
    if bad.any():
        i, ch = (int(v) for v in np.argwhere(bad)[0])
        kind = "NaN" if np.isnan(data[i, ch]) else "infinite"
        raise AudioError(f"value is {kind}", source=src, where=f"sample {i} ({i / rate:.3f} s), channel {ch}")
    mono = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    mono = resample(mono, rate, config.sample_rate)
    if mono.size == 0:
        raise AudioError(f"too short to resample from {rate} Hz to {config.sample_rate} Hz", source=src)
    return np.ascontiguousarray(mono, dtype=np.float32)


def read_audio_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The text metadata of a WAV/FLAC file (title, artist, comment, software...), non-empty fields only."""
    _, f = _open_for_reading(path)
    with f:
        return _metadata_of(f)


def _metadata_of(f: sf.SoundFile) -> dict[str, str]:
    out = {}
    for name in _ALL_FIELDS:
        value = getattr(f, name)
        if name == "software":
            value = _LIBSNDFILE_SUFFIX.sub("", value)
        if value:
            out[name] = value
    return out


def _as_array(samples: Any, src: str) -> np.ndarray:
    if hasattr(samples, "detach"):  # a torch tensor, without importing torch here
        samples = samples.detach().cpu().numpy()
    try:
        data = np.asarray(samples, dtype=np.float32)
    except (TypeError, ValueError) as e:
        raise AudioError(f"samples are not a numeric array: {e}", source=src) from None
    if data.ndim not in (1, 2):
        raise AudioError(f"samples must be (n,) or (n, channels), got shape {data.shape}", source=src)
    if data.shape[0] == 0 or data.size == 0:
        raise AudioError("no samples to write", source=src)
    if not np.isfinite(data).all():
        i = int(np.argwhere(~np.isfinite(data))[0][0])
        raise AudioError("samples contain NaN or infinite values", source=src, where=f"sample {i}")
    return data


def save_audio(
    path: str | os.PathLike,
    samples: Any,
    sample_rate: int,
    *,
    metadata: Mapping[str, str] | None = None,
    subtype: str | None = None,
) -> Path:
    """Write ``samples`` (``(n,)`` or ``(n, channels)``, float in [-1, 1]) as WAV or FLAC, by extension.

    ``subtype``: WAV ``PCM_16`` (default), ``PCM_24`` or ``FLOAT``; FLAC ``PCM_16`` (default) or ``PCM_24``.
    PCM output is clipped to [-1, 1]. ``metadata`` maps field names from :data:`METADATA_FIELDS`
    (``title``, ``artist``, ``comment``, ``software``...) to text; it is read back before the file is
    renamed into place, so a value the format can't hold (over ~2000 bytes in a WAV field, over ~100
    characters in ``software``) is an error rather than a silent loss. The file is written to a
    temporary name beside ``path`` and renamed over it, so readers never see half a file.
    """
    path = Path(path)
    src = _source(path)
    spec = WRITE_FORMATS.get(path.suffix.lower())
    if spec is None:
        raise AudioError(
            f"can't tell the format from the extension; use one of {', '.join(WRITE_FORMATS)}", source=src
        )
    fmt, default_subtype, subtypes = spec
    subtype = (subtype or default_subtype).upper()
    if subtype not in subtypes:
        raise AudioError(
            f"{fmt} can't be written as {subtype}; choose one of {', '.join(subtypes)}", source=src
        )
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0:
        raise AudioError(f"sample_rate must be a positive integer, got {sample_rate!r}", source=src)
    data = _as_array(samples, src)
    if subtype.startswith("PCM"):
        data = np.clip(data, -1.0, 1.0)
    fields = {k: v for k, v in (metadata or {}).items() if v != ""}
    unsupported = sorted(k for k in fields if k not in METADATA_FIELDS[fmt])
    if unsupported:
        raise AudioError(
            f"{fmt} files can't hold metadata field(s) {', '.join(unsupported)}; "
            f"fields: {', '.join(METADATA_FIELDS[fmt])}",
            source=src,
        )
    for k, v in fields.items():
        if not isinstance(v, str):
            raise AudioError(f"metadata field {k!r} must be text, got {type(v).__name__}", source=src)

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    try:
        channels = 1 if data.ndim == 1 else data.shape[1]
        try:
            with sf.SoundFile(tmp, "w", int(sample_rate), channels, subtype=subtype, format=fmt) as f:
                for k, v in fields.items():
                    setattr(f, k, v)
                f.write(data)
        except sf.LibsndfileError as e:  # e.g. a sample rate or channel count FLAC does not allow
            raise AudioError(f"libsndfile can't write this {fmt}: {e.error_string}", source=src) from None
        with sf.SoundFile(tmp) as f:
            written = _metadata_of(f)
        for k, v in fields.items():
            if written.get(k) != v:
                raise AudioError(
                    f"metadata field {k!r} ({len(v.encode('utf-8'))} bytes) did not survive writing {fmt}; "
                    "shorten it (WAV keeps ~2000 bytes a field, 'software' ~100 characters)",
                    source=src,
                )
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path
