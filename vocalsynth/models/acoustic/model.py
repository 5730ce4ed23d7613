"""`AcousticModel`: `PhonemeSequence` -> `Frames` (mel, F0, voicing, timing); its hyper-parameters
(`AcousticConfig`) and its on-disk form, a folder with ``config.json`` and ``model.safetensors``.

Non-autoregressive, FastSpeech2/DiffSinger-variance style: phoneme encoder -> durations placed inside the
notes -> pitch (note + deviation + vibrato) -> energy and breathiness -> mel decoder.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from vocalsynth.audio.config import MEL_FIELDS, AudioConfig, AudioConfigMismatch
from vocalsynth.models.acoustic.context import (
    ROLE_IDS,
    note_context,
    place_in_spans,
    span_ids,
)
from vocalsynth.models.acoustic.controls import (
    Controls,
    curve_frames,
    formant_shift,
    shift_breathiness,
    spectral_tilt,
)
from vocalsynth.models.acoustic.decoder import MelDecoder
from vocalsynth.models.acoustic.duration import DurationPredictor, length_regulate, predicted_frames
from vocalsynth.models.acoustic.encoder import PhonemeEncoder
from vocalsynth.models.acoustic.frames import Frames
from vocalsynth.models.acoustic.pitch import (
    PitchOutput,
    PitchPredictor,
    correct_pitch,
    midi_from_log_f0,
    midi_to_hz,
    vibrato,
)
from vocalsynth.models.acoustic.refiner import MelRefiner
from vocalsynth.models.acoustic.variance import VariancePredictor, f0_features
from vocalsynth.models.folder import read_model_config
from vocalsynth.score.errors import ScoreError
from vocalsynth.text.sequence import PhonemeSequence

FORMAT = "vocalsynth-acoustic"
FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
LOG_MEL_FLOOR = math.log(1e-5)  # vocalsynth.audio.mel.LOG_CLAMP: the log-mel of silence


class AcousticModelError(ValueError):
    """An acoustic model folder that can't be loaded, or tables that don't fit it.

    The message names the folder (``source``) and, where useful, the entry (``where``).
    """

    def __init__(self, message: str, *, source: str | None = None, where: str | None = None):
        self.source, self.where, self.detail = source, where, message
        super().__init__(": ".join([*(p for p in (source, where) if p), message]))


@dataclass
class AcousticConfig:
    """Hyper-parameters of :class:`AcousticModel` (sizes only; the tables come from the data).

    ``encoder_*``: the phoneme-level Transformer; ``variance_channels``: width of the duration, pitch and
    energy/breathiness predictors; ``decoder_*``: the frame-level ConvNeXt mel decoder. The defaults are the
    CPU-sized model (configs/acoustic/small.yaml, ~2.3 M parameters): frame-level layers cost per 10 ms
    frame, so they stay narrow and the parameters sit in the phoneme-level encoder.
    """

    encoder_channels: int = 192
    encoder_layers: int = 4
    encoder_heads: int = 2
    encoder_hidden: int = 384
    encoder_kernel: int = 3
    variance_channels: int = 64
    duration_layers: int = 2
    pitch_layers: int = 3
    variance_layers: int = 2
    decoder_channels: int = 128
    decoder_layers: int = 4
    decoder_kernel: int = 7
    decoder_expansion: int = 2
    dropout: float = 0.1
    refiner_channels: int = 0  # 0: no refiner (the decoder's mel is final)
    refiner_layers: int = 6
    refiner_sigma: float = 0.5
    refiner_steps: int = 4

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None, *, source: str | None = None) -> AcousticConfig:
        data = dict(data or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise AcousticModelError(
                f"unknown hyper-parameter(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}",
                source=source,
            )
        return cls(**data)


def _table(values: Sequence[str], name: str) -> list[str]:
    out = [str(v) for v in values]
    if not out:
        raise AcousticModelError(f"the {name} list is empty")
    if len(set(out)) != len(out):
        raise AcousticModelError(f"the {name} list has duplicates")
    return out


class AcousticModel(nn.Module):
    """The acoustic model. ``phonemes``/``singers``/``languages`` are the training data's tables (phoneme id
    ``k + 1`` is ``phonemes[k]``; 0 is padding); they are saved with the weights.

    Training calls :meth:`forward` (teacher forcing) on a batch; inference calls :meth:`infer`.
    """

    def __init__(
        self,
        phonemes: Sequence[str],
        singers: Sequence[str],
        languages: Sequence[str],
        audio_config: AudioConfig | Mapping[str, Any] | None = None,
        config: AcousticConfig | Mapping[str, Any] | None = None,
    ):
        super().__init__()
        self.phonemes = _table(phonemes, "phoneme")
        self.singers = _table(singers, "singer")
        self.languages = _table(languages, "language")
        if audio_config is None:
            audio_config = AudioConfig()
        elif not isinstance(audio_config, AudioConfig):
            audio_config = AudioConfig.from_dict(audio_config)
        self.audio_config: AudioConfig = audio_config
        if not isinstance(config, AcousticConfig):
            config = AcousticConfig.from_dict(config)
        self.config = config
        self.phoneme_ids = {s: i + 1 for i, s in enumerate(self.phonemes)}
        c, v = config.encoder_channels, config.variance_channels
        self.encoder = PhonemeEncoder(
            len(self.phonemes),
            len(self.singers),
            len(self.languages),
            channels=c,
            layers=config.encoder_layers,
            heads=config.encoder_heads,
            hidden=config.encoder_hidden,
            kernel=config.encoder_kernel,
            dropout=config.dropout,
        )
        self.duration = DurationPredictor(c, v, config.duration_layers, dropout=config.dropout)
        self.pitch = PitchPredictor(c, v, config.pitch_layers)
        self.variance = VariancePredictor(c, audio_config.n_aperiodicity_bands, v, config.variance_layers)
        self.decoder = MelDecoder(
            c,
            audio_config.n_mels,
            audio_config.n_aperiodicity_bands,
            len(self.singers),
            channels=config.decoder_channels,
            layers=config.decoder_layers,
            kernel=config.decoder_kernel,
            expansion=config.decoder_expansion,
        )
        self.refiner = (
            MelRefiner(
                audio_config.n_mels,
                c,
                channels=config.refiner_channels,
                layers=config.refiner_layers,
                sigma=config.refiner_sigma,
                steps=config.refiner_steps,
            )
            if config.refiner_channels > 0
            else None
        )

    @property
    def fps(self) -> float:
        return self.audio_config.frames_per_second

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    # --- the stages --------------------------------------------------------------------------------------

    def encode(self, batch: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Phoneme states ``(B, C, N)`` and predicted ``log(1 + frames)`` ``(B, N)``.

        ``batch`` keys: ``ph_ids``, ``ph_role``, ``ph_note_pitch``, ``ph_note_dur``, ``ph_slur``, ``ph_mask``
        ``(B, N)``; ``singer_id`` ``(B,)``; ``ph_language`` ``(B, N)`` or ``language_id`` ``(B,)``.
        """
        ph_mask = batch["ph_mask"]
        language = batch.get("ph_language")
        if language is None:
            language = batch["language_id"][:, None].expand_as(batch["ph_ids"])
        h = self.encoder(
            batch["ph_ids"],
            batch["ph_role"],
            batch["ph_note_pitch"].float(),
            batch["ph_note_dur"].float(),
            batch["ph_slur"],
            language,
            batch["singer_id"],
            ph_mask,
        )
        return h, self.duration(h, ph_mask)

    def forward(
        self, batch: Mapping[str, torch.Tensor], own_variance: torch.Tensor | None = None
    ) -> dict[str, Any]:
        """Teacher-forced pass for training: aligned durations, sung F0, energy and aperiodicity drive the
        later stages. ``own_variance`` ``(B,)`` bool: items whose decoder reads the variance predictor's own
        energy and aperiodicity (detached) instead of the recording's -- what it gets at render time.
        ``batch``: the :meth:`encode` keys plus ``ph_dur`` ``(B, N)`` frames, ``note_pitch`` ``(B, T)``,
        ``note_ctx`` ``(B, N_NOTE_CONTEXT, T)``, ``mask`` ``(B, T)``, ``log_f0``, ``vuv``, ``energy`` ``(B, T)``
        and ``aperiodicity`` ``(B, bands, T)``.

        Returns ``log_dur`` ``(B, N)``, ``pitch`` (:class:`PitchOutput`), ``energy_db`` ``(B, T)``,
        ``aperiodicity`` ``(B, bands, T)``, ``mel`` ``(B, n_mels, T)`` (the decoder's, unrefined) and
        ``frame_states`` ``(B, C, T)`` (what the refiner is conditioned on).
        """
        h, log_dur = self.encode(batch)
        mask = batch["mask"]
        hf, _, ph_pos = length_regulate(h, batch["ph_dur"], mask.shape[1])
        pitch = self.pitch(hf, batch["note_pitch"], batch["note_ctx"], ph_pos, mask)
        f0 = f0_features(midi_from_log_f0(batch["log_f0"]), batch["vuv"])
        energy_db, aperiodicity = self.variance(hf, f0, batch["note_ctx"], mask)
        energy, aper = batch["energy"], batch["aperiodicity"]
        if own_variance is not None:
            own = own_variance.to(mask.device)[:, None]
            energy = torch.where(own, energy_db.detach(), energy)
            aper = torch.where(own[:, :, None], aperiodicity.detach(), aper)
        mel = self.decoder(hf, f0, energy, aper, ph_pos, batch["singer_id"], mask)
        return {
            "log_dur": log_dur,
            "pitch": pitch,
            "energy_db": energy_db,
            "aperiodicity": aperiodicity,
            "mel": mel,
            "frame_states": hf,
        }

    def generate(
        self,
        h: torch.Tensor,
        ph_dur: torch.Tensor,
        note_pitch: torch.Tensor,
        note_ctx: torch.Tensor,
        mask: torch.Tensor,
        singer_id: torch.Tensor,
        controls: Controls | None = None,
        curve: torch.Tensor | None = None,
        curve_mask: torch.Tensor | None = None,
        voiced: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Everything after the durations, predicted: ``h`` ``(B, C, N)``, ``ph_dur`` ``(B, N)`` frames,
        ``note_pitch`` ``(B, T)``, ``note_ctx`` ``(B, N_NOTE_CONTEXT, T)``, ``mask`` ``(B, T)``, ``singer_id`` ``(B,)``;
        ``curve``/``curve_mask`` ``(B, T)``: semitones from the written note where a pitch curve replaces
        the model's; ``voiced`` ``(B, T)``: frames that must be voiced whatever the V/UV predictor says. Returns ``mel`` ``(B, n_mels, T)``, ``f0_hz``, ``vuv``, ``midi``, ``energy_db``
        ``(B, T)``, ``aperiodicity`` ``(B, bands, T)`` and ``pitch`` (:class:`PitchOutput`).
        """
        c = controls or Controls()
        hf, _, ph_pos = length_regulate(h, ph_dur, mask.shape[1])
        p: PitchOutput = self.pitch(hf, note_pitch, note_ctx, ph_pos, mask)
        depth = p.vibrato_depth * c.vibrato_depth
        if c.vibrato_delay:
            since_start = note_ctx[:, 0]
            depth = depth * (since_start / c.vibrato_delay).clamp(0.0, 1.0)
        rate = (
            p.vibrato_rate * c.vibrato_rate
            if c.vibrato_rate_hz is None
            else torch.full_like(depth, c.vibrato_rate_hz)
        )
        vuv = (torch.sigmoid(p.vuv_logit) > 0.5) & mask
        if voiced is not None:
            vuv = vuv | (voiced & mask)
        vuv = vuv.float()
        smooth = correct_pitch(p.smooth, note_pitch, note_ctx, vuv, c.pitch_correction)
        midi = smooth + (vibrato(depth, rate, self.fps) if c.vibrato_depth > 0 else 0.0)
        if curve is not None and curve_mask is not None:
            midi = torch.where(curve_mask, note_pitch + curve, midi)
        midi = midi + c.key_shift
        f0 = f0_features(midi, vuv)
        energy_db, aperiodicity = self.variance(hf, f0, note_ctx, mask)
        energy_db = energy_db + c.dynamics
        aperiodicity = shift_breathiness(aperiodicity, vuv, c.breathiness)
        mel = self.decoder(hf, f0, energy_db, aperiodicity, ph_pos, singer_id, mask)
        if self.refiner is not None and c.refine_steps != 0:
            mel = self.refiner.sample(mel, hf, mask, c.refine_steps)
        f0_hz = midi_to_hz(midi) * vuv
        # the formants move, the harmonics (the pitch the vocoder hears in the mel) stay
        mel = formant_shift(
            spectral_tilt(mel, self.audio_config, c.tension), self.audio_config, c.gender, f0_hz
        )
        mel = mel.clamp(min=LOG_MEL_FLOOR)
        return {
            "mel": mel,
            "f0_hz": f0_hz,
            "vuv": vuv,
            "midi": midi,
            "energy_db": energy_db,
            "aperiodicity": aperiodicity,
            "pitch": p,
        }

    # --- inference ---------------------------------------------------------------------------------------

    def singer_index(self, singer: str | int | None) -> int:
        """Index of ``singer`` (a name from :attr:`singers`, an index, or None for the first)."""
        if singer is None:
            return 0
        if isinstance(singer, int) and not isinstance(singer, bool):
            if 0 <= singer < len(self.singers):
                return singer
        elif singer in self.singers:
            return self.singers.index(singer)
        raise ScoreError(
            f"unknown singer {singer!r}; this model has {', '.join(self.singers)}", source="controls"
        )

    @torch.inference_mode()
    def infer(
        self, seq: PhonemeSequence, controls: Controls | None = None, *, singer: str | int | None = None
    ) -> Frames:
        """Render ``seq`` to :class:`Frames`.

        Note onsets stay where the sequence puts them: the predicted phoneme durations are renormalised
        inside each note span (from a note's beat to the next note's, onset consonants of the next note
        included), so every note keeps its score length to the nearest frame. Raises `ScoreError` for a
        phoneme this model doesn't know, a bad control value or an unknown singer.
        """
        if not len(seq):
            raise ScoreError("the phoneme sequence is empty", source=seq.source)
        controls = (controls or Controls()).validate({p.note_index for p in seq if p.note_index is not None})
        unknown = [(k, p) for k, p in enumerate(seq) if p.symbol not in self.phoneme_ids]
        if unknown:
            k, p = unknown[0]
            more = f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""
            raise ScoreError(
                f"phoneme {p.symbol!r} is not in this voice's phoneme set{more}; its phonemes are "
                f"{', '.join(sorted({s.split('/')[0] for s in self.phoneme_ids if '/' in s}))}",
                source=seq.source,
                where=f"phoneme {k}" + (f" (note {p.note_index})" if p.note_index is not None else ""),
            )
        singer_id = self.singer_index(singer)
        fps = self.fps
        phonemes = list(seq)
        keys: list[object] = [
            p.note_index if p.note_index is not None else ("rest", k) for k, p in enumerate(phonemes)
        ]
        # inserted rests: consecutive ones share a key so they form one span, like any run of one note
        for k in range(1, len(keys)):
            if phonemes[k].note_index is None and phonemes[k - 1].note_index is None:
                keys[k] = keys[k - 1]
        roles = [p.role if p.role in ROLE_IDS else "nucleus" for p in phonemes]
        span = span_ids(roles, keys)
        n_spans = int(span[-1]) + 1
        first = [int(np.flatnonzero(span == s)[0]) for s in range(n_spans)]
        # a span is a note (or rest) when it holds a non-onset phoneme; span 0 may be the pre-roll only
        note_of = [phonemes[k].note_index if roles[k] != "onset" else None for k in first]
        is_note = [roles[k] != "onset" for k in first]
        starts = [phonemes[k].start for k in first]
        ends = [*starts[1:], phonemes[-1].end]
        lengths = [max(e - s, 0.0) for s, e in zip(starts, ends, strict=True)]
        for s in range(n_spans):
            if is_note[s] and note_of[s] in controls.note_durations:
                lengths[s] = float(controls.note_durations[note_of[s]])
        t0 = phonemes[0].start
        bounds = np.round((np.concatenate([[0.0], np.cumsum(lengths)])) * fps).astype(np.int64)
        # phonemes[0].start is -pre_roll: frame 0 sits there; times below are relative to it
        span_frames = np.diff(bounds)
        n_frames = max(int(bounds[-1]), 1)

        ph_note_pitch = [float(p.note_pitch) if p.note_pitch else 0.0 for p in phonemes]
        lang_of = {name: i for i, name in enumerate(self.languages)}
        default_lang = lang_of.get(seq.language, 0)
        device = next(self.parameters()).device
        batch = {
            "ph_ids": torch.tensor([[self.phoneme_ids[p.symbol] for p in phonemes]], device=device),
            "ph_role": torch.tensor([[ROLE_IDS[r] for r in roles]], device=device),
            "ph_note_pitch": torch.tensor([ph_note_pitch], device=device),
            "ph_note_dur": torch.tensor([[max(p.note_duration, 0.0) for p in phonemes]], device=device),
            "ph_slur": torch.tensor([[bool(p.slur) for p in phonemes]], device=device),
            "ph_language": torch.tensor(
                [[lang_of.get(p.language or seq.language, default_lang) for p in phonemes]], device=device
            ),
            "ph_mask": torch.ones(1, len(phonemes), dtype=torch.bool, device=device),
            "singer_id": torch.tensor([singer_id], device=device),
        }
        was_training = self.training
        self.eval()
        try:
            h, log_dur = self.encode(batch)
            weights = predicted_frames(log_dur)[0].float().cpu().numpy()
            ph_frames = place_in_spans(weights, span, span_frames)
            if int(ph_frames.sum()) < n_frames:  # an all-zero sequence: one frame of silence
                ph_frames[-1] += n_frames - int(ph_frames.sum())
            note_pitch = np.zeros(n_frames, dtype=np.float32)
            curve = np.zeros(n_frames, dtype=np.float32)
            curve_mask = np.zeros(n_frames, dtype=bool)
            note_bounds, notes = [], []
            for s in range(n_spans):
                a, b = int(bounds[s]), int(bounds[s + 1])
                if not is_note[s]:
                    continue
                pitch = ph_note_pitch[first[s]]
                note_pitch[a:b] = pitch
                note_bounds.append((a, b))
                notes.append((note_of[s], a, b, pitch))
                if note_of[s] in controls.note_pitch_curves and pitch > 0:
                    curve[a:b] = curve_frames(controls.note_pitch_curves[note_of[s]], b - a)
                    curve_mask[a:b] = True
            out = self.generate(
                h,
                torch.from_numpy(ph_frames)[None].to(device),
                torch.from_numpy(note_pitch)[None].to(device),
                torch.from_numpy(note_context(note_bounds, [n[3] for n in notes], n_frames, fps))[None].to(
                    device
                ),
                torch.ones(1, n_frames, dtype=torch.bool, device=device),
                batch["singer_id"],
                controls,
                torch.from_numpy(curve)[None].to(device),
                torch.from_numpy(curve_mask)[None].to(device),
                torch.from_numpy(self._sung_voiced_frames(phonemes, ph_frames, n_frames))[None].to(device),
            )
        finally:
            self.train(was_training)
        starts_f = np.concatenate([[0], np.cumsum(ph_frames)[:-1]]).astype(np.int64)
        return Frames(
            mel=out["mel"][0].float().cpu().numpy(),
            f0_hz=out["f0_hz"][0].float().cpu().numpy(),
            vuv=out["vuv"][0].float().cpu().numpy(),
            energy_db=out["energy_db"][0].float().cpu().numpy(),
            aperiodicity=out["aperiodicity"][0].float().cpu().numpy(),
            ph_symbols=[p.symbol for p in phonemes],
            ph_start=starts_f,
            ph_frames=ph_frames.astype(np.int64),
            pre_roll=float(-t0),
            audio_config=self.audio_config,
            source=seq.source,
            notes=notes,
        )

    @staticmethod
    def _sung_voiced_frames(phonemes, ph_frames: np.ndarray, n_frames: int) -> np.ndarray:
        """``(T,)`` True on the frames of voiced phonemes sung on a note (:func:`inventory.is_voiced`: vowels,
        ja/N, nasals, liquids, glides, voiced stops). A sung vowel is voiced: on notes beyond the training
        data's pitch range the V/UV predictor can say otherwise, which would turn the note into a whisper.
        And the predictor, trained on DIO's voicing (which misses quiet voicing), left most voiced
        consonants unvoiced, whispered where the singer's are voiced (PJS held-out songs, frames voiced by
        Harvest: /b/ 100 %, /g/ 75 %, /r/ 77 %; the model gave 17 %, 36 %, 49 %)."""
        from vocalsynth.text import inventory

        out = np.zeros(n_frames, dtype=bool)
        start = 0
        for p, n in zip(phonemes, ph_frames, strict=True):
            n = int(n)
            if p.note_pitch and inventory.is_voiced(p.symbol):
                out[start : start + n] = True
            start += n
        return out

    # --- persistence -------------------------------------------------------------------------------------

    def config_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "audio_config": self.audio_config.to_dict(),
            "model": asdict(self.config),
            "phonemes": list(self.phonemes),
            "singers": list(self.singers),
            "languages": list(self.languages),
        }

    def save(self, path: str | os.PathLike, extra: Mapping[str, Any] | None = None) -> Path:
        """Write the folder ``path``: ``config.json`` (format, AudioConfig, hyper-parameters, phoneme table,
        singers, languages, and ``extra`` such as training notes) and ``model.safetensors``. Atomic per file."""
        from safetensors.torch import save_file

        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        config = self.config_dict()
        if extra:
            config["extra"] = dict(extra)
        state = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        _atomic(folder / WEIGHTS_FILE, lambda tmp: save_file(state, tmp, metadata={"format": FORMAT}))
        text = json.dumps(config, indent=1, ensure_ascii=False) + "\n"
        _atomic(folder / CONFIG_FILE, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
        return folder

    @classmethod
    def load(
        cls,
        path: str | os.PathLike,
        *,
        audio_config: AudioConfig | None = None,
        phonemes: Sequence[str] | None = None,
        map_location: str | torch.device = "cpu",
    ) -> AcousticModel:
        """Load a folder written by :meth:`save` (safetensors; nothing is unpickled), in eval mode.

        ``audio_config`` (e.g. the vocoder's): refused with `AudioConfigMismatch` naming each differing mel
        setting and both values. ``phonemes``: the table the caller's ids use (e.g. a dataset's); a different
        table is refused with `AcousticModelError` naming the first difference.
        """
        folder = Path(path)
        src = str(folder)
        config_file = folder / CONFIG_FILE
        if not config_file.is_file():
            raise AcousticModelError(f"not an acoustic model folder: no {CONFIG_FILE}", source=src)
        config = read_model_config(
            config_file, source=src, fmt=FORMAT, version=FORMAT_VERSION, error=AcousticModelError
        )
        saved_audio = AudioConfig.from_dict(config.get("audio_config", {}), source=f"{src}/{CONFIG_FILE}")
        if audio_config is not None:
            saved_audio.check_compatible(
                audio_config,
                what_self=f"acoustic model {src}",
                what_other="the expected audio config",
                fields=MEL_FIELDS,
            )
        table = config.get("phonemes")
        for name in ("phonemes", "singers", "languages"):
            value = config.get(name)
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise AcousticModelError(f"'{name}' in {CONFIG_FILE} must be a list of strings", source=src)
        if phonemes is not None and list(phonemes) != table:
            raise AcousticModelError(
                f"phoneme table mismatch: {_first_difference(table, list(phonemes))}; the model's ids would "
                "mean other phonemes",
                source=src,
            )
        try:
            model = cls(
                table,
                config["singers"],
                config["languages"],
                saved_audio,
                AcousticConfig.from_dict(config.get("model"), source=src),
            )
        except TypeError as e:
            raise AcousticModelError(
                f"hyper-parameters in {CONFIG_FILE} don't fit: {e}", source=src
            ) from None
        except AcousticModelError as e:
            raise AcousticModelError(e.detail, source=src) from None
        weights = folder / WEIGHTS_FILE
        if not weights.is_file():
            raise AcousticModelError(f"{WEIGHTS_FILE} is missing", source=src)
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            state = load_file(str(weights), device=str(map_location))
        except (SafetensorError, OSError) as e:
            raise AcousticModelError(f"unreadable {WEIGHTS_FILE}: {e}", source=src) from None
        rows = state.get("encoder.phoneme.weight")
        if rows is not None and rows.shape[0] != len(table) + 1:
            raise AcousticModelError(
                f"phoneme table mismatch: {CONFIG_FILE} lists {len(table)} phonemes but {WEIGHTS_FILE} was "
                f"trained with {rows.shape[0] - 1}",
                source=src,
            )
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as e:
            raise AcousticModelError(f"{WEIGHTS_FILE} does not fit {CONFIG_FILE}: {e}", source=src) from None
        return model.to(map_location).eval()


def _first_difference(saved: list[str], given: list[str]) -> str:
    for k, (a, b) in enumerate(zip(saved, given, strict=False)):
        if a != b:
            return f"id {k + 1} is {a!r} in the model but {b!r} in the given table"
    return f"the model has {len(saved)} phonemes, the given table {len(given)}"


def _atomic(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        # mkstemp makes 0600 files; a model folder is shared like any other file, so honour the umask
        umask = os.umask(0o022)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


__all__ = ["AcousticConfig", "AcousticModel", "AcousticModelError", "AudioConfigMismatch", "FORMAT"]
