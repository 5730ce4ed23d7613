"""Voice folders: the `voice.yaml` card (who sings, from what data, under what licence and consent, at what
energy cost), the checks a folder must pass before any weight is read, and `package_voice` that builds one.

A voice folder::

    voice.yaml                  the card, with the sha256 of every file below
    acoustic/config.json        AcousticModel.save output (AudioConfig, phoneme table, singers, languages)
    acoustic/model.safetensors
    vocoder/config.json         Vocoder.save output (kind, AudioConfig)
    vocoder/model.safetensors   (absent for the WORLD vocoder, which has no weights)

Nothing here imports torch: a folder is checked from its card and JSON configs, then the synthesizer loads it.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import struct
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from vocalsynth.audio.config import MEL_FIELDS, AudioConfig, AudioConfigMismatch
from vocalsynth.audio.errors import AudioError
from vocalsynth.errors import InputError

CARD_FILE = "voice.yaml"
CARD_FORMAT = "vocalsynth-voice"
CARD_FORMAT_VERSION = 1
ACOUSTIC_DIR = "acoustic"
VOCODER_DIR = "vocoder"
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
DEFAULT_PHONEME_SET = "vocalsynth/1 (docs/phonemes.md)"
MAX_CARD_BYTES = 1024 * 1024
MAX_CONFIG_BYTES = 1024 * 1024  # a model folder's config.json
MAX_SAFETENSORS_HEADER = 100 * 1024 * 1024  # the safetensors library's own limit on the JSON header

# Files a card may list. Weights are safetensors only: the pickle formats below can run code when loaded.
ALLOWED_SUFFIXES = frozenset({".safetensors", ".json", ".yaml", ".yml", ".txt", ".md"})
PICKLE_SUFFIXES = frozenset({".ckpt", ".pt", ".pth", ".bin", ".pkl", ".pickle", ".joblib", ".npy", ".npz"})

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
SHA256 = re.compile(r"[0-9a-f]{64}")
REQUIRED = (
    "name",
    "version",
    "languages",
    "phoneme_set",
    "singers",
    "audio",
    "training_data",
    "licence",
    "consent",
    "training",
    "evaluation",
    "reproduce",
    "files",
)
TRAINING_FIELDS = ("hardware", "hours", "energy_kwh", "co2_kg")
DATA_FIELDS = ("corpus", "url", "licence")
REPRODUCE_FIELDS = ("recipe", "config", "commit")


class VoiceError(InputError):
    """A voice folder that can't be used: a card field missing or absurd, a file missing, outside the folder,
    altered (checksum) or a pickle, or an acoustic model and vocoder made for different audio."""


class _CardLoader(yaml.SafeLoader):
    """SafeLoader that refuses aliases (``*name``): a few lines of them can stand for billions of values
    (the "billion laughs"), which printing the card would expand. No card written by vocalsynth has one."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None,
                None,
                f"found the alias *{event.anchor}: aliases are refused in a voice card",
                event.start_mark,
            )
        return super().compose_node(parent, index)


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# --- the card -------------------------------------------------------------------------------------------------


@dataclass
class VoiceCard:
    """What ``voice.yaml`` says about a voice. ``files`` maps each path inside the folder to its sha256."""

    name: str
    version: str
    languages: list[str]
    phoneme_set: str
    singers: list[dict[str, str]]
    audio: AudioConfig
    training_data: list[dict[str, str]]
    licence: str
    consent: str
    training: dict[str, Any]
    evaluation: dict[str, Any]
    reproduce: dict[str, str]
    files: dict[str, str]
    description: str = ""
    default_singer: str | None = None  # the singer a render uses when none is asked for (None: the first)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def singer_names(self) -> list[str]:
        return [s["name"] for s in self.singers]

    @property
    def licence_note(self) -> str:
        """One short line for file labels: the voice's licence."""
        return " ".join(self.licence.split())

    @classmethod
    def from_dict(cls, data: Any, *, source: str = CARD_FILE) -> VoiceCard:
        """Check every field (present, right type, sane values); `VoiceError` names the field."""
        if not isinstance(data, Mapping):
            raise VoiceError("the card is not a YAML mapping of fields", source=source)
        if data.get("format", CARD_FORMAT) != CARD_FORMAT:
            raise VoiceError(f"format is {data.get('format')!r}, not {CARD_FORMAT!r}", source=source)
        fv = data.get("format_version", CARD_FORMAT_VERSION)
        if not isinstance(fv, int) or fv > CARD_FORMAT_VERSION:
            raise VoiceError(
                f"card format_version {fv!r}; this vocalsynth reads version {CARD_FORMAT_VERSION}",
                source=source,
            )
        missing = [k for k in REQUIRED if k not in data]
        if missing:
            raise VoiceError(f"required field(s) missing: {', '.join(missing)}", source=source)

        def bad(where: str, what: str) -> VoiceError:
            return VoiceError(what, source=source, where=where)

        name = data["name"]
        if not isinstance(name, str) or not NAME.fullmatch(name):
            raise bad("name", f"must be 1-64 letters, digits, '.', '_' or '-', got {name!r}")
        version = str(data["version"]).strip() if isinstance(data["version"], (str, int, float)) else ""
        if not version or len(version) > 32:
            raise bad("version", f"must be a short version string, got {data['version']!r}")
        languages = data["languages"]
        if not _str_list(languages) or not languages:
            raise bad("languages", "must be a non-empty list of language codes (en, ja, zh)")
        unknown = [lang for lang in languages if lang not in ("en", "ja", "zh")]
        if unknown:
            raise bad("languages", f"{', '.join(map(repr, unknown))} not sung by vocalsynth (en, ja, zh)")
        phoneme_set = data["phoneme_set"]
        if not isinstance(phoneme_set, str) or not phoneme_set.strip():
            raise bad("phoneme_set", "must name the phoneme set, e.g. " + repr(DEFAULT_PHONEME_SET))
        singers = _singers(data["singers"], bad)
        default_singer = data.get("default_singer")
        if default_singer is not None and default_singer not in [s["name"] for s in singers]:
            raise bad("default_singer", f"{default_singer!r} is not one of the voice's singers")
        try:
            audio = AudioConfig.from_dict(data["audio"], source=f"{source}: audio")
        except AudioError as e:
            raise VoiceError(str(e)) from None
        training_data = data["training_data"]
        if not isinstance(training_data, list) or not training_data:
            raise bad(
                "training_data", "must list the corpora the voice was trained on (corpus, url, licence)"
            )
        for i, item in enumerate(training_data):
            _require_text(item, DATA_FIELDS, f"training_data[{i}]", bad)
        for key in ("licence", "consent"):
            if not isinstance(data[key], str) or len(data[key].strip()) < 3:
                raise bad(key, "must be a statement in words")
        training = data["training"]
        if not isinstance(training, Mapping):
            raise bad("training", f"must be a mapping with {', '.join(TRAINING_FIELDS)}")
        lacking = [k for k in TRAINING_FIELDS if k not in training]
        if lacking:
            raise bad("training", f"missing {', '.join(lacking)}")
        if not isinstance(training["hardware"], str) or not training["hardware"].strip():
            raise bad("training.hardware", "must say what the voice was trained on")
        for k in ("hours", "energy_kwh", "co2_kg"):
            v = training[k]
            if not _number(v) or v < 0 or v > 1e7:
                raise bad(f"training.{k}", f"must be a number >= 0, got {v!r}")
        evaluation = data["evaluation"]
        if not isinstance(evaluation, Mapping):
            raise bad("evaluation", "must be a mapping of metric name to figure")
        reproduce = data["reproduce"]
        _require_text(reproduce, REPRODUCE_FIELDS, "reproduce", bad)
        files = data["files"]
        if not isinstance(files, Mapping) or not files:
            raise bad("files", "must map every file of the voice to its sha256")
        for rel, digest in files.items():
            if not isinstance(rel, str) or not isinstance(digest, str) or not SHA256.fullmatch(digest):
                raise bad(f"files[{rel!r}]", "must be a path and a sha256 of 64 lowercase hex digits")
        description = data.get("description", "") or ""
        known = {*REQUIRED, "format", "format_version", "description", "default_singer"}
        return cls(
            name=name,
            version=version,
            languages=list(languages),
            phoneme_set=phoneme_set.strip(),
            singers=singers,
            audio=audio,
            training_data=[{str(k): v for k, v in item.items()} for item in training_data],
            licence=data["licence"].strip(),
            consent=data["consent"].strip(),
            training=dict(training),
            evaluation=dict(evaluation),
            reproduce={str(k): v for k, v in reproduce.items()},
            files=dict(files),
            description=str(description).strip(),
            default_singer=default_singer,
            extra={k: v for k, v in data.items() if k not in known},
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": CARD_FORMAT,
            "format_version": CARD_FORMAT_VERSION,
            "name": self.name,
            "version": self.version,
            "description": self.description,
            "languages": list(self.languages),
            "phoneme_set": self.phoneme_set,
            "singers": [dict(s) for s in self.singers],
            **({"default_singer": self.default_singer} if self.default_singer else {}),
            "audio": self.audio.to_dict(),
            "licence": self.licence,
            "consent": self.consent,
            "training_data": [dict(d) for d in self.training_data],
            "training": dict(self.training),
            "evaluation": dict(self.evaluation),
            "reproduce": dict(self.reproduce),
            **self.extra,
            "files": dict(self.files),
        }

    def summary(self) -> str:
        """The card as a few readable lines (what `vocalsynth voices` prints)."""
        t = self.training
        data = "; ".join(
            f"{d['corpus']} ({d['licence']}, {d['url']})"
            + (f" — {d['citation']}" if d.get("citation") else "")
            for d in self.training_data
        )
        evaluation = ", ".join(f"{k} {v}" for k, v in self.evaluation.items()) or "none recorded"
        lines = [
            f"{self.name} {self.version}" + (f" — {self.description}" if self.description else ""),
            f"  languages: {', '.join(self.languages)}; singers: {', '.join(self.singer_names)}"
            + (f" (default {self.default_singer})" if self.default_singer else "")
            + "; "
            f"phonemes: {self.phoneme_set}",
            f"  audio: {self.audio.sample_rate} Hz, hop {self.audio.hop_length}, {self.audio.n_mels} mels",
            f"  trained on: {data}",
            f"  licence: {self.licence_note}",
            f"  consent: {' '.join(self.consent.split())}",
            f"  training: {t['hardware']}, {t['hours']:g} h, {t['energy_kwh']:g} kWh, {t['co2_kg']:g} kg CO2",
            f"  evaluation: {evaluation}",
            f"  reproduce: {self.reproduce['recipe']} with {self.reproduce['config']} at {self.reproduce['commit']}",
        ]
        return "\n".join(lines)


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _str_list(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) and x.strip() for x in v)


def _require_text(item: Any, keys: Sequence[str], where: str, bad) -> None:
    if not isinstance(item, Mapping):
        raise bad(where, f"must be a mapping with {', '.join(keys)}")
    for k in keys:
        v = item.get(k)
        if not isinstance(v, (str, int, float)) or isinstance(v, bool) or not str(v).strip():
            raise bad(f"{where}.{k}", "missing or empty")


def _singers(value: Any, bad) -> list[dict[str, str]]:
    if not isinstance(value, list) or not value:
        raise bad("singers", "must list the voice's singers (names, or mappings with a name)")
    out = []
    for i, s in enumerate(value):
        entry = {"name": s} if isinstance(s, str) else s
        if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str) or not entry["name"]:
            raise bad(f"singers[{i}]", "must be a name or a mapping with a 'name'")
        out.append({str(k): str(v) for k, v in entry.items()})
    names = [s["name"] for s in out]
    if len(set(names)) != len(names):
        raise bad("singers", "names must be unique")
    return out


def read_card(folder: str | os.PathLike) -> VoiceCard:
    """Parse and check ``folder/voice.yaml`` (fields only; :func:`load_voice` checks the files too)."""
    folder = Path(folder)
    card_path = folder / CARD_FILE
    src = str(card_path)
    if not folder.is_dir():
        raise VoiceError("not a voice folder (no such directory)", source=str(folder))
    if not card_path.is_file():
        raise VoiceError(f"not a voice folder: no {CARD_FILE}", source=str(folder))
    root = folder.resolve()
    if card_path.resolve().parent != root:
        raise VoiceError(
            f"refused: {CARD_FILE} is a link to {card_path.resolve()}, outside the folder", source=src
        )
    if card_path.stat().st_size > MAX_CARD_BYTES:
        raise VoiceError(f"the card is larger than {MAX_CARD_BYTES // 1024} KB", source=src)
    try:
        data = yaml.load(card_path.read_text(encoding="utf-8"), Loader=_CardLoader)  # noqa: S506 - a SafeLoader
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise VoiceError(f"unreadable YAML: {e}", source=src) from None
    except (ValueError, RecursionError) as e:  # an integer of thousands of digits, nesting thousands deep
        raise VoiceError(f"unreadable YAML: {type(e).__name__}: {str(e)[:200]}", source=src) from None
    return VoiceCard.from_dict(data, source=src)


# --- the folder -----------------------------------------------------------------------------------------------


@dataclass
class Voice:
    """A voice folder whose card (and, after :func:`load_voice`, files) passed the checks."""

    folder: Path
    card: VoiceCard

    @property
    def name(self) -> str:
        return self.card.name

    @property
    def acoustic_dir(self) -> Path:
        return self.folder / ACOUSTIC_DIR

    @property
    def vocoder_dir(self) -> Path:
        return self.folder / VOCODER_DIR


def _inside(folder: Path, rel: str, src: str) -> Path:
    """``folder/rel`` if ``rel`` is a plain relative path that stays inside ``folder`` (symlinks followed)."""
    where = f"files[{rel!r}]"
    pure = PurePosixPath(rel)
    if not rel or "\\" in rel or pure.is_absolute() or re.match(r"[A-Za-z]:", rel) or ".." in pure.parts:
        raise VoiceError("refused: the path must stay inside the voice folder", source=src, where=where)
    root = folder.resolve()
    path = (folder / pure).resolve()
    if path != root and root not in path.parents:
        raise VoiceError(
            f"refused: resolves to {path}, outside the voice folder {root}", source=src, where=where
        )
    return folder / pure


def check_safetensors(path: Path, what: str, src: str) -> None:
    """Refuse a weight file that is not safetensors (e.g. a pickle renamed ``.safetensors``) from its header
    alone, before any library reads it: 8 bytes of header length, a JSON header of tensors whose data lies
    inside the file."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise VoiceError(f"{what} is not a safetensors file: only {len(head)} bytes", source=src)
        if head.startswith(b"PK\x03\x04") or head[:1] == b"\x80":
            kind = "a torch.save zip archive" if head.startswith(b"PK") else "a Python pickle"
            raise VoiceError(
                f"refused: {what} is {kind}, not safetensors; pickles can run code when loaded",
                source=src,
            )
        (n,) = struct.unpack("<Q", head)
        if n > MAX_SAFETENSORS_HEADER or 8 + n > size:
            raise VoiceError(
                f"{what} is not a safetensors file: its header claims {n} bytes, the file has {size}",
                source=src,
            )
        try:
            header = json.loads(f.read(n).decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            header = None
    if not isinstance(header, dict):
        raise VoiceError(f"{what} is not a safetensors file: its header is not a JSON object", source=src)
    for name, spec in header.items():
        if name == "__metadata__":
            continue
        offsets = spec.get("data_offsets") if isinstance(spec, dict) else None
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
            or not 0 <= offsets[0] <= offsets[1] <= size - 8 - n
        ):
            raise VoiceError(f"{what} is damaged: tensor {name[:60]!r} lies outside the file", source=src)


def _audio_of(path: Path, what: str, src: str) -> tuple[dict[str, Any], AudioConfig]:
    if path.is_file() and path.stat().st_size > MAX_CONFIG_BYTES:
        raise VoiceError(f"{what} is larger than {MAX_CONFIG_BYTES // 1024} KB", source=src)
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as e:  # ValueError: JSON or digits
        raise VoiceError(f"{what} is unreadable: {type(e).__name__}: {str(e)[:200]}", source=src) from None
    if not isinstance(config, dict):
        raise VoiceError(f"{what} is not a JSON object", source=src)
    try:
        return config, AudioConfig.from_dict(config.get("audio_config", {}), source=what)
    except AudioError as e:
        raise VoiceError(str(e), source=src) from None


def load_voice(folder: str | os.PathLike, *, verify: bool = True) -> Voice:
    """Check a voice folder before anything is loaded from it and return it as a `Voice`.

    The card's fields must be present and sane; every file it lists must exist inside the folder (a path
    that escapes it is refused), be a safetensors/JSON/text file (pickles such as ``.ckpt``/``.pt``/``.bin``
    are refused, and so is a ``.safetensors`` file whose header shows it is not one: `check_safetensors`)
    and, with ``verify``, match its sha256 (a mismatch names the file and both hashes). The
    files the loaders read must all be listed. The acoustic model's AudioConfig must equal the vocoder's
    and the card's (the error names both values). Raises `VoiceError`.
    """
    folder = Path(folder)
    card = read_card(folder)
    src = str(folder)
    for rel, expected in card.files.items():
        suffix = PurePosixPath(rel).suffix.lower()
        if suffix in PICKLE_SUFFIXES:
            raise VoiceError(
                f"refused: {suffix} files are pickles that can run code when loaded; weights must be .safetensors",
                source=src,
                where=f"files[{rel!r}]",
            )
        if suffix not in ALLOWED_SUFFIXES:
            raise VoiceError(
                f"refused: unexpected file type {suffix or '(none)'}; allowed: {', '.join(sorted(ALLOWED_SUFFIXES))}",
                source=src,
                where=f"files[{rel!r}]",
            )
        path = _inside(folder, rel, src)
        if not path.is_file():
            raise VoiceError("listed in the card but missing from the folder", source=src, where=rel)
        if verify:
            actual = sha256_file(path)
            if actual != expected:
                raise VoiceError(
                    f"checksum mismatch: the card says sha256 {expected}, the file has {actual} "
                    "(altered or corrupted)",
                    source=src,
                    where=rel,
                )
        if suffix == ".safetensors":
            check_safetensors(path, rel, src)
    listed = {str(PurePosixPath(rel)) for rel in card.files}
    needed = [
        f"{ACOUSTIC_DIR}/{CONFIG_FILE}",
        f"{ACOUSTIC_DIR}/{WEIGHTS_FILE}",
        f"{VOCODER_DIR}/{CONFIG_FILE}",
    ]
    if (folder / VOCODER_DIR / WEIGHTS_FILE).exists():
        needed.append(f"{VOCODER_DIR}/{WEIGHTS_FILE}")
    for rel in needed:
        if not (folder / rel).is_file():
            raise VoiceError(f"{rel} is missing", source=src)
        if rel not in listed:
            raise VoiceError(f"{rel} is not listed (with its sha256) in the card's files", source=src)

    acoustic_what, vocoder_what = f"{ACOUSTIC_DIR}/{CONFIG_FILE}", f"{VOCODER_DIR}/{CONFIG_FILE}"
    acoustic, acoustic_audio = _audio_of(folder / acoustic_what, acoustic_what, src)
    _, vocoder_audio = _audio_of(folder / vocoder_what, vocoder_what, src)
    try:
        acoustic_audio.check_compatible(
            vocoder_audio,
            what_self=f"the acoustic model ({acoustic_what})",
            what_other=f"the vocoder ({vocoder_what})",
            fields=MEL_FIELDS,
        )
        card.audio.check_compatible(
            acoustic_audio,
            what_self=f"the card ({CARD_FILE}: audio)",
            what_other=f"the acoustic model ({acoustic_what})",
        )
    except AudioConfigMismatch as e:
        raise VoiceError(str(e), source=src) from e
    model_singers = acoustic.get("singers")
    if isinstance(model_singers, list) and model_singers != card.singer_names:
        raise VoiceError(
            f"the card's singers {card.singer_names} differ from the acoustic model's {model_singers}",
            source=src,
            where=f"{CARD_FILE}: singers",
        )
    model_languages = acoustic.get("languages")
    if isinstance(model_languages, list):
        missing = [lang for lang in card.languages if lang not in model_languages]
        if missing:
            raise VoiceError(
                f"the card lists {', '.join(missing)} but the acoustic model was trained on "
                f"{', '.join(map(str, model_languages))}",
                source=src,
                where=f"{CARD_FILE}: languages",
            )
    return Voice(folder=folder, card=card)


# --- building a folder ----------------------------------------------------------------------------------------


def _copy_model_dir(source: Path, dest: Path, what: str) -> None:
    """Copy the safetensors and JSON files of a saved model folder (nothing else: no pickles, no caches)."""
    if not (source / CONFIG_FILE).is_file():
        raise VoiceError(f"not a saved {what} folder: no {CONFIG_FILE}", source=str(source))
    dest.mkdir(parents=True)
    for path in sorted(source.iterdir()):
        if path.is_file() and path.suffix.lower() in (".safetensors", ".json"):
            shutil.copy2(path, dest / path.name)


def package_voice(
    acoustic_dir: str | os.PathLike,
    vocoder_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    name: str,
    version: str,
    licence: str,
    consent: str,
    training_data: Sequence[Mapping[str, str]],
    training: Mapping[str, Any],
    reproduce: Mapping[str, str],
    evaluation: Mapping[str, Any] | None = None,
    description: str = "",
    languages: Sequence[str] | None = None,
    singers: Sequence[str | Mapping[str, str]] | None = None,
    default_singer: str | None = None,
    phoneme_set: str = DEFAULT_PHONEME_SET,
    extra: Mapping[str, Any] | None = None,
    overwrite: bool = False,
) -> Voice:
    """Build a voice folder at ``out_dir`` from a saved acoustic model folder and a saved vocoder folder
    (``vocoder_dir="world"`` writes a WORLD vocoder config instead), write ``voice.yaml`` with the sha256
    of every copied file, check the result with :func:`load_voice` and return it.

    ``languages`` and ``singers`` default to the acoustic model's; ``default_singer``: the singer a render
    uses unless asked for another (None: the model's first); ``training`` needs ``hardware``, ``hours``,
    ``energy_kwh``, ``co2_kg``; each ``training_data`` entry ``corpus``, ``url``, ``licence`` (and
    ``citation``); ``reproduce`` ``recipe``, ``config``, ``commit``. ``extra``: further card fields (e.g.
    ``range``, ``character``, ``design``), written after ``default_singer``. The folder appears complete or not at
    all (built beside ``out_dir`` and renamed into place); an existing ``out_dir`` needs ``overwrite=True``.
    """
    out = Path(out_dir)
    if out.exists() and not overwrite:
        raise VoiceError("already exists; pass overwrite=True to replace it", source=str(out))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; a voice folder is package data others read
    try:
        _copy_model_dir(Path(acoustic_dir), tmp / ACOUSTIC_DIR, "acoustic model")
        acoustic, audio = _audio_of(
            tmp / ACOUSTIC_DIR / CONFIG_FILE, f"{acoustic_dir}/{CONFIG_FILE}", str(acoustic_dir)
        )
        if str(vocoder_dir) == "world":
            from vocalsynth.models.vocoder.world import WorldVocoder

            WorldVocoder(audio_config=audio).save(tmp / VOCODER_DIR)
        else:
            _copy_model_dir(Path(vocoder_dir), tmp / VOCODER_DIR, "vocoder")
        files = {
            path.relative_to(tmp).as_posix(): sha256_file(path)
            for sub in (ACOUSTIC_DIR, VOCODER_DIR)
            for path in sorted((tmp / sub).iterdir())
            if path.is_file()
        }
        card = {
            "format": CARD_FORMAT,
            "format_version": CARD_FORMAT_VERSION,
            "name": name,
            "version": str(version),
            "description": description,
            "languages": list(languages if languages is not None else acoustic.get("languages", [])),
            "phoneme_set": phoneme_set,
            "singers": [
                dict(s) if isinstance(s, Mapping) else {"name": s}
                for s in (singers if singers is not None else acoustic.get("singers", []))
            ],
            **({"default_singer": default_singer} if default_singer else {}),
            **dict(extra or {}),
            "audio": audio.to_dict(),
            "licence": licence,
            "consent": consent,
            "training_data": [dict(d) for d in training_data],
            "training": dict(training),
            "evaluation": dict(evaluation or {}),
            "reproduce": dict(reproduce),
            "files": files,
        }
        VoiceCard.from_dict(card, source=f"{out}/{CARD_FILE}")  # refuse a card that would not load
        (tmp / CARD_FILE).write_text(
            yaml.safe_dump(card, sort_keys=False, allow_unicode=True, width=100), encoding="utf-8"
        )
        load_voice(tmp)
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return load_voice(out, verify=False)
