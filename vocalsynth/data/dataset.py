"""PyTorch side of the feature cache: `FeatureDataset` (one item per cached recording), `collate` (pad to
the batch's longest, with lengths and masks) and `BucketBatchSampler` (batches of similar lengths)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vocalsynth.audio.config import AudioConfig
from vocalsynth.data.corpora import CorpusError
from vocalsynth.data.preprocess import FEATURE_KEYS, TRAIN, VALIDATION

LOG_MEL_FLOOR = math.log(1e-5)  # the log-mel of silence (vocalsynth.audio.mel.LOG_CLAMP)
ENERGY_FLOOR_DB = -100.0

# frame-level keys and the value padding takes (silence where that has a meaning)
FRAME_PADDING: dict[str, float] = {
    "mel": LOG_MEL_FLOOR,
    "f0_hz": 0.0,
    "vuv": 0.0,
    "log_f0": 0.0,
    "energy": ENERGY_FLOOR_DB,
    "aperiodicity": 1.0,
    "ph_id": 0,
    "note_pitch": 0.0,
}
PHONEME_KEYS = ("ph_ids", "ph_dur", "ph_note_pitch", "ph_slur")
_SPLITS = {"train": TRAIN, "validation": VALIDATION, "val": VALIDATION, "valid": VALIDATION, "all": None}


class FeatureDataset(torch.utils.data.Dataset):
    """Items of a preprocessed folder (see :mod:`vocalsynth.data.preprocess`), read lazily from their npz files.

    Each item is a dict: ``id``; frame-level ``mel`` ``(n_mels, T)``, ``f0_hz``, ``vuv``, ``log_f0``, ``energy``
    ``(T,)``, ``aperiodicity`` ``(bands, T)``, ``ph_id`` ``(T,)`` (0 where no phoneme) and ``note_pitch`` ``(T,)``
    (MIDI, 0 for rests/unlabelled); phoneme-level ``ph_ids``, ``ph_dur`` (frames), ``ph_note_pitch``, ``ph_slur``
    ``(N,)``; ``singer_id``, ``language_id``; and ``audio`` ``(samples,)`` in [-1, 1] with ``with_audio``.

    ``phoneme_table``: the symbols in id order (id = position + 1; 0 is padding) or a ``{symbol: id}`` map;
    default: the manifest's symbols. Save :attr:`phoneme_table` with a model so inference uses the same ids.
    ``segment_frames`` crops a random window of that many frames (vocoder training; phoneme-level keys are
    then left out). ``require_phonemes`` keeps only items with phoneme labels (acoustic-model training).
    ``preload`` reads every file once at construction (small corpora; fastest epochs).
    """

    def __init__(
        self,
        out_dir: str | Path,
        split: str = "train",
        *,
        phoneme_table: Sequence[str] | Mapping[str, int] | None = None,
        corpora: Sequence[str] | None = None,
        require_phonemes: bool = False,
        with_audio: bool = False,
        segment_frames: int | None = None,
        preload: bool = False,
    ):
        self.root = Path(out_dir)
        manifest_path = self.root / "manifest.json"
        try:
            self.manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise CorpusError(
                f"not a preprocessed dataset ({e}); run `vocalsynth preprocess`", source=str(manifest_path)
            ) from None
        if split not in _SPLITS:
            raise ValueError(f"split must be one of {', '.join(_SPLITS)}, got {split!r}")
        self.config = AudioConfig.from_dict(self.manifest["audio_config"], source=str(manifest_path))
        wanted = _SPLITS[split]
        self.entries = [
            e
            for e in self.manifest["items"]
            if (wanted is None or e["split"] == wanted)
            and (corpora is None or e["corpus"] in corpora)
            and (not require_phonemes or e["n_phonemes"] > 0)
        ]
        if isinstance(phoneme_table, Mapping):
            self.phoneme_ids = dict(phoneme_table)
            self.phoneme_table = [s for s, _ in sorted(self.phoneme_ids.items(), key=lambda kv: kv[1])]
        else:
            self.phoneme_table = list(
                phoneme_table if phoneme_table is not None else self.manifest["phonemes"]
            )
            self.phoneme_ids = {s: i + 1 for i, s in enumerate(self.phoneme_table)}
        self.singers: list[str] = list(self.manifest["singers"])
        self.languages: list[str] = list(self.manifest["languages"])
        self.with_audio = with_audio
        self.segment_frames = segment_frames
        self._labels: dict[int, dict[str, np.ndarray]] = {}
        self._cache: dict[int, dict[str, np.ndarray]] | None = None
        if preload:
            self._cache = {i: self._read(i) for i in range(len(self.entries))}

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def lengths(self) -> list[int]:
        """Frames per item (what the bucketing sampler sorts by); the crop length when cropping."""
        if self.segment_frames:
            return [min(e["n_frames"], self.segment_frames) for e in self.entries]
        return [e["n_frames"] for e in self.entries]

    def _read(self, i: int) -> dict[str, np.ndarray]:
        path = self.root / self.entries[i]["path"]
        keys = [*FEATURE_KEYS, "ph_index", "note_pitch", "ph_dur"]
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in keys}
            if self.with_audio:
                if "audio" not in z.files:
                    raise CorpusError("no audio stored (preprocessed with --no-audio)", source=str(path))
                arrays["audio"] = z["audio"]
            if i not in self._labels:
                self._labels[i] = self._phoneme_labels(json.loads(str(z["item_json"])), str(path))
        return arrays

    def _phoneme_labels(self, item: dict, source: str) -> dict[str, np.ndarray]:
        notes = item.get("notes", [])
        ids, pitch, slur = [], [], []
        for p in item.get("phonemes", []):
            if p["symbol"] not in self.phoneme_ids:
                raise CorpusError(f"phoneme {p['symbol']!r} is not in the phoneme table", source=source)
            ids.append(self.phoneme_ids[p["symbol"]])
            note = notes[p["note_index"]] if 0 <= p["note_index"] < len(notes) else None
            pitch.append(float(note["pitch"]) if note and note["pitch"] is not None else 0.0)
            slur.append(bool(note and note["slur"]))
        return {
            "ids": np.asarray([0, *ids], dtype=np.int64),  # position 0 answers ph_index -1 (no phoneme)
            "ph_note_pitch": np.asarray(pitch, dtype=np.float32),
            "ph_slur": np.asarray(slur, dtype=np.bool_),
        }

    def __getitem__(self, i: int) -> dict[str, Any]:
        arrays = self._cache[i] if self._cache is not None else self._read(i)
        labels = self._labels[i]
        e = self.entries[i]
        out: dict[str, Any] = {"id": f"{e['corpus']}/{e['id']}"}
        for k in FEATURE_KEYS:
            out[k] = torch.from_numpy(np.ascontiguousarray(arrays[k], dtype=np.float32))
        out["ph_id"] = torch.from_numpy(labels["ids"][arrays["ph_index"].astype(np.int64) + 1])
        out["note_pitch"] = torch.from_numpy(np.asarray(arrays["note_pitch"], dtype=np.float32))
        out["singer_id"] = torch.tensor(self.singers.index(e["singer"]), dtype=torch.long)
        out["language_id"] = torch.tensor(self.languages.index(e["language"]), dtype=torch.long)
        if self.with_audio:
            out["audio"] = torch.from_numpy(arrays["audio"].astype(np.float32) / 32768.0)
        if self.segment_frames:
            return self._crop(out)
        out["ph_ids"] = torch.from_numpy(labels["ids"][1:].copy())
        out["ph_dur"] = torch.from_numpy(arrays["ph_dur"].astype(np.int64))
        out["ph_note_pitch"] = torch.from_numpy(labels["ph_note_pitch"])
        out["ph_slur"] = torch.from_numpy(labels["ph_slur"])
        return out

    def _crop(self, item: dict[str, Any]) -> dict[str, Any]:
        n = item["mel"].shape[-1]
        seg = self.segment_frames
        start = int(torch.randint(0, n - seg + 1, ()).item()) if n > seg else 0
        for k in FRAME_PADDING:
            item[k] = item[k][..., start : start + seg]
        if "audio" in item:
            hop = self.config.hop_length
            item["audio"] = item["audio"][start * hop : (start + seg) * hop]
        return item


def _pad(tensors: list[torch.Tensor], value: float) -> torch.Tensor:
    """Stack ``(..., L_i)`` tensors into ``(B, ..., max L)``, filling with ``value``."""
    longest = max(t.shape[-1] for t in tensors)
    out = torch.full((len(tensors), *tensors[0].shape[:-1], longest), value, dtype=tensors[0].dtype)
    for b, t in enumerate(tensors):
        out[b, ..., : t.shape[-1]] = t
    return out


def collate(batch: list[dict[str, Any]]) -> dict[str, Any]:
    """Pad a list of `FeatureDataset` items to the longest: frame keys become ``(B, ..., T)`` plus ``lengths``
    ``(B,)`` and ``mask`` ``(B, T)`` (True on real frames); phoneme keys ``(B, N)`` plus ``ph_lengths`` and
    ``ph_mask``; ``audio`` ``(B, S)`` plus ``audio_lengths``; ``singer_id``/``language_id`` ``(B,)``; ``ids``."""
    if not batch:
        raise ValueError("collate needs at least one item")
    out: dict[str, Any] = {"ids": [b["id"] for b in batch]}
    lengths = torch.tensor([b["mel"].shape[-1] for b in batch], dtype=torch.long)
    for k, value in FRAME_PADDING.items():
        out[k] = _pad([b[k] for b in batch], value)
    out["lengths"] = lengths
    out["mask"] = torch.arange(int(lengths.max()))[None, :] < lengths[:, None]
    if all("ph_ids" in b for b in batch):
        ph_lengths = torch.tensor([b["ph_ids"].shape[-1] for b in batch], dtype=torch.long)
        for k in PHONEME_KEYS:
            out[k] = (
                _pad([b[k] for b in batch], 0)
                if int(ph_lengths.max()) > 0
                else torch.zeros(len(batch), 0, dtype=batch[0][k].dtype)
            )
        out["ph_lengths"] = ph_lengths
        out["ph_mask"] = torch.arange(int(ph_lengths.max()))[None, :] < ph_lengths[:, None]
    if all("audio" in b for b in batch):
        out["audio"] = _pad([b["audio"] for b in batch], 0.0)
        out["audio_lengths"] = torch.tensor([b["audio"].shape[-1] for b in batch], dtype=torch.long)
    out["singer_id"] = torch.stack([b["singer_id"] for b in batch])
    out["language_id"] = torch.stack([b["language_id"] for b in batch])
    return out


class BucketBatchSampler(torch.utils.data.Sampler[list[int]]):
    """Batches of items of similar length, so padding stays small.

    Each epoch shuffles the items (seeded by ``seed + epoch``), cuts the order into buckets of
    ``bucket_batches`` batches, sorts each bucket by length and cuts it into batches of ``batch_size`` items
    or, with ``max_frames``, of as many items as fit ``max_frames`` padded frames; the batch order is
    shuffled too. Without ``shuffle`` the order is fixed (longest first). ``set_epoch`` picks the epoch
    (Lightning calls it); each pass also advances it by one.
    """

    def __init__(
        self,
        lengths: Sequence[int],
        batch_size: int | None = None,
        *,
        max_frames: int | None = None,
        shuffle: bool = True,
        drop_last: bool = False,
        bucket_batches: int = 20,
        seed: int = 0,
    ):
        if batch_size is None and max_frames is None:
            raise ValueError("give batch_size or max_frames")
        if (batch_size is not None and batch_size < 1) or (max_frames is not None and max_frames < 1):
            raise ValueError("batch_size and max_frames must be positive")
        self.lengths = np.asarray(lengths, dtype=np.int64)
        self.batch_size, self.max_frames = batch_size, max_frames
        self.shuffle, self.drop_last = shuffle, drop_last
        self.bucket_batches, self.seed = bucket_batches, seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _batches(self, epoch: int) -> list[list[int]]:
        n = len(self.lengths)
        if n == 0:
            return []
        rng = np.random.default_rng(self.seed + epoch)
        if self.shuffle:
            order = rng.permutation(n)
            per_batch = self.batch_size or max(1, self.max_frames // max(int(np.median(self.lengths)), 1))
            bucket = max(per_batch * self.bucket_batches, 1)
        else:
            order, bucket = np.arange(n), n
        batches: list[list[int]] = []
        for s in range(0, n, bucket):
            chunk = order[s : s + bucket]
            chunk = chunk[np.argsort(-self.lengths[chunk], kind="stable")]
            current: list[int] = []
            for idx in chunk.tolist():
                if current and not self._fits(current, idx):
                    batches.append(current)
                    current = []
                current.append(idx)
            if current:
                batches.append(current)
        if self.drop_last and self.batch_size:
            batches = [b for b in batches if len(b) == self.batch_size]
        if self.shuffle:
            batches = [batches[i] for i in rng.permutation(len(batches))]
        return batches

    def _fits(self, current: list[int], idx: int) -> bool:
        if self.batch_size is not None and len(current) >= self.batch_size:
            return False
        if self.max_frames is not None:
            longest = max(
                int(self.lengths[current[0]]), int(self.lengths[idx])
            )  # sorted: the first is longest
            return longest * (len(current) + 1) <= self.max_frames
        return True

    def __iter__(self) -> Iterator[list[int]]:
        batches = self._batches(self.epoch)
        self.epoch += 1  # a later set_epoch overrides this
        return iter(batches)

    def __len__(self) -> int:
        return len(self._batches(self.epoch))
