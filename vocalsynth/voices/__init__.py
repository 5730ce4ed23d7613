"""Voices: the folders under this package (``vocalsynth/voices/<name>/``, each a `voice.yaml` card plus
``acoustic/`` and ``vocoder/`` safetensors), finding them by name, listing them, and packaging new ones.

    from vocalsynth.voices import list_voices, resolve_voice
    for voice in list_voices():
        print(voice.card.summary())

Nothing is ever downloaded: a name is a folder shipped in the package, anything else a path.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from vocalsynth.voices.card import (
    CARD_FILE,
    NAME,
    Voice,
    VoiceCard,
    VoiceError,
    load_voice,
    package_voice,
    read_card,
    sha256_file,
)

VOICES_DIR = Path(__file__).resolve().parent
DEFAULT_VOICE = "default"


def installed_names(directory: str | os.PathLike | None = None) -> list[str]:
    """Names of the voice folders (those holding a `voice.yaml`) in ``directory`` (default: the package's)."""
    root = Path(directory) if directory is not None else VOICES_DIR
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and (p / CARD_FILE).is_file())


def no_voices_message(directory: str | os.PathLike | None = None) -> str:
    root = Path(directory) if directory is not None else VOICES_DIR
    return (
        f"no voices installed in {root} yet: the trained default voice is added there by a recipe's last "
        "stage (vocalsynth.voices.package_voice); meanwhile pass the path of a voice folder"
    )


def resolve_voice(name_or_path: str | os.PathLike, directory: str | os.PathLike | None = None) -> Path:
    """The folder of a voice: an installed name (``"default"``) if there is one, else an existing folder path.

    Raises `VoiceError` listing the installed voices (or saying there are none yet) when neither fits.
    """
    root = Path(directory) if directory is not None else VOICES_DIR
    text = os.fspath(name_or_path)
    if isinstance(name_or_path, str) and NAME.fullmatch(text) and (root / text / CARD_FILE).is_file():
        return root / text
    path = Path(text)
    if path.is_dir():
        return path
    names = installed_names(root)
    if isinstance(name_or_path, str) and NAME.fullmatch(text) and not any(s in text for s in "/\\"):
        known = f"installed voices: {', '.join(names)}" if names else no_voices_message(root)
        raise VoiceError(f"no voice named {text!r} ({known})")
    raise VoiceError("no such voice folder", source=text)


@dataclass
class VoiceListing:
    """One entry of :func:`list_voices`: the folder, its card, or what is wrong with it."""

    name: str
    folder: Path
    card: VoiceCard | None
    problem: str | None = None


def list_voices(directory: str | os.PathLike | None = None, *, verify: bool = False) -> list[VoiceListing]:
    """The installed voices with their cards (an empty list when there are none yet: see
    :func:`no_voices_message`). A voice whose card (or, with ``verify``, files) fails its checks is listed
    with ``card=None`` and the ``problem``."""
    root = Path(directory) if directory is not None else VOICES_DIR
    out = []
    for name in installed_names(root):
        folder = root / name
        try:
            voice = load_voice(folder, verify=True) if verify else Voice(folder, read_card(folder))
            out.append(VoiceListing(name, folder, voice.card))
        except VoiceError as e:
            out.append(VoiceListing(name, folder, None, str(e)))
    return out


__all__ = [
    "CARD_FILE",
    "DEFAULT_VOICE",
    "VOICES_DIR",
    "Voice",
    "VoiceCard",
    "VoiceError",
    "VoiceListing",
    "installed_names",
    "list_voices",
    "load_voice",
    "no_voices_message",
    "package_voice",
    "read_card",
    "resolve_voice",
    "sha256_file",
]
