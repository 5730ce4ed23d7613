"""The `Vocoder` interface (mel + F0 -> audio, in torch) and its on-disk form: a folder with ``config.json``
(kind, AudioConfig, hyper-parameters) and, for neural vocoders, ``model.safetensors``."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from vocalsynth.audio.config import MEL_FIELDS, AudioConfig
from vocalsynth.audio.errors import AudioError
from vocalsynth.models.folder import read_model_config
from vocalsynth.models.vocoder.kinds import KINDS, resolve_kind

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
FORMAT = "vocalsynth-vocoder"
FORMAT_VERSION = 1


class VocoderError(AudioError):
    """A vocoder folder that can't be loaded (missing files, bad config, wrong kind, weights that don't fit)."""


class Vocoder(nn.Module):
    """Base class: ``vocoder(mel, f0_hz) -> audio``.

    - ``mel``: ``(B, n_mels, T)`` natural-log mel (:func:`vocalsynth.audio.log_mel` convention).
    - ``f0_hz``: ``(B, T)`` F0 in Hz, 0 where unvoiced.
    - returns ``(B, T * hop_length)`` float32 audio; frame ``i`` is centred on sample ``i * hop_length``,
      so for audio of ``n`` samples (``T = n // hop + 1`` frames) the first ``n`` output samples line up.

    Subclasses set ``kind`` (a key of :data:`vocalsynth.models.vocoder.kinds.KINDS`), keep their constructor arguments in
    ``self.hparams_dict`` (JSON-able) and implement :meth:`forward`.
    """

    kind: ClassVar[str] = ""

    def __init__(self, audio_config: AudioConfig | dict[str, Any] | None = None):
        super().__init__()
        if audio_config is None:
            audio_config = AudioConfig()
        elif not isinstance(audio_config, AudioConfig):
            audio_config = AudioConfig.from_dict(audio_config)
        self.audio_config: AudioConfig = audio_config
        self.hparams_dict: dict[str, Any] = {}

    # ---- inference -------------------------------------------------------------------------------------
    def check_inputs(self, mel: torch.Tensor, f0_hz: torch.Tensor) -> None:
        """Raise ValueError unless ``mel`` is ``(B, n_mels, T)`` and ``f0_hz`` is ``(B, T)`` with T >= 1."""
        n_mels = self.audio_config.n_mels
        if mel.ndim != 3 or mel.shape[1] != n_mels or mel.shape[2] < 1:
            raise ValueError(f"mel must be (B, {n_mels}, T) with T >= 1, got {tuple(mel.shape)}")
        if f0_hz.shape != (mel.shape[0], mel.shape[2]):
            raise ValueError(
                f"f0_hz must be (B, T) = {(mel.shape[0], mel.shape[2])} to match mel, got {tuple(f0_hz.shape)}"
            )

    def forward(self, mel: torch.Tensor, f0_hz: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def check_compatible(self, other: AudioConfig, what_other: str = "the acoustic model") -> None:
        """Raise :class:`AudioConfigMismatch` unless ``other`` means the same mel frames (:data:`MEL_FIELDS`)."""
        self.audio_config.check_compatible(
            other, what_self=f"the {self.kind} vocoder", what_other=what_other, fields=MEL_FIELDS
        )

    # ---- persistence -----------------------------------------------------------------------------------
    def config_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "kind": self.kind,
            "audio_config": self.audio_config.to_dict(),
            "model": dict(self.hparams_dict),
        }

    def save(self, path: str | os.PathLike, extra: dict[str, Any] | None = None) -> Path:
        """Write the folder ``path``: ``config.json`` (plus ``extra``, e.g. training notes) and, when the
        vocoder has parameters, ``model.safetensors``. Files are written atomically. Returns ``path``."""
        from safetensors.torch import save_file

        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        config = self.config_dict()
        if extra:
            config["extra"] = extra
        state = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        if state:
            _atomic(folder / WEIGHTS_FILE, lambda tmp: save_file(state, tmp, metadata={"format": FORMAT}))
        _atomic(
            folder / CONFIG_FILE,
            lambda tmp: Path(tmp).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8"),
        )
        return folder

    @classmethod
    def from_pretrained(
        cls, path: str | os.PathLike, audio_config: AudioConfig | None = None, map_location: str = "cpu"
    ) -> Vocoder:
        """Load a folder written by :meth:`save` (weights from safetensors only, never pickle).

        ``Vocoder.from_pretrained`` returns whatever kind the folder holds; a subclass insists on its own.
        With ``audio_config`` (e.g. the acoustic model's), a vocoder made for other mel frames is refused
        with :class:`vocalsynth.audio.AudioConfigMismatch` naming each differing setting and both values.
        """
        folder = Path(path)
        src = str(folder)
        config_file = folder / CONFIG_FILE if folder.is_dir() else folder
        if config_file.name != CONFIG_FILE or not config_file.is_file():
            raise VocoderError(f"not a vocoder folder: no {CONFIG_FILE} found", source=src)
        folder = config_file.parent
        config = read_model_config(
            config_file, source=src, fmt=FORMAT, version=FORMAT_VERSION, error=VocoderError
        )
        kind = str(config.get("kind"))
        klass = resolve_kind(kind)
        if klass is None:
            raise VocoderError(f"unknown vocoder kind {kind!r}; known: {', '.join(KINDS)}", source=src)
        if cls is not Vocoder and not issubclass(klass, cls):
            raise VocoderError(f"holds a {klass.kind!r} vocoder, not a {cls.kind!r} one", source=src)
        saved_audio = AudioConfig.from_dict(config.get("audio_config", {}), source=f"{src}/{CONFIG_FILE}")
        if audio_config is not None:
            saved_audio.check_compatible(
                audio_config,
                what_self=f"vocoder {src}",
                what_other="the expected audio config",
                fields=MEL_FIELDS,
            )
        hparams = config.get("model", {})
        if not isinstance(hparams, dict):
            raise VocoderError(f"'model' in {CONFIG_FILE} must be a mapping", source=src)
        try:
            model = klass(audio_config=saved_audio, **hparams)
        except TypeError as e:
            raise VocoderError(
                f"hyper-parameters in {CONFIG_FILE} don't fit {klass.__name__}: {e}", source=src
            ) from None
        if model.state_dict():
            weights = folder / WEIGHTS_FILE
            if not weights.is_file():
                raise VocoderError(f"{WEIGHTS_FILE} is missing", source=src)
            from safetensors import SafetensorError
            from safetensors.torch import load_file

            try:
                state = load_file(str(weights), device=map_location)
            except (SafetensorError, OSError) as e:
                raise VocoderError(f"unreadable {WEIGHTS_FILE}: {e}", source=src) from None
            try:
                model.load_state_dict(state, strict=True)
            except RuntimeError as e:
                raise VocoderError(f"{WEIGHTS_FILE} does not fit the config: {e}", source=src) from None
        return model.eval()


def _atomic(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        # mkstemp creates 0600; give the file the permissions a plain open() would (0666 less the umask)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
