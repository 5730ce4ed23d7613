"""Ground-truth-aligned (GTA) mels: what the acoustic model makes of each training song, on the song's time.

A vocoder trained only on real log-mels meets the acoustic model's smoother mels at render time. Fine-tuning
it on the model's teacher-forced mels (the recording's phoneme durations, F0, energy and breathiness in,
the model's mel out) paired with the real audio teaches it to render what it will actually be given: the
Tacotron 2 / FastSpeech 2 practice. `VocoderDataModule` (``gta_acoustic``, ``gta_data``) swaps these mels into
its training clips; the acoustic data's validation songs are left out of such a fine-tune altogether, so
the songs a voice is evaluated on stay unheard.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from vocalsynth.data.corpora import CorpusError


def gta_mels(acoustic: str | Path, data_dir: str | Path) -> tuple[dict[str, np.ndarray], set[str]]:
    """``({audio file stem: (n_mels, T) mel}, {validation audio stems})`` for the preprocessed ``data_dir``
    the exported ``acoustic`` model trained on: its aligned training items, teacher-forced."""
    from vocalsynth.models.acoustic.model import AcousticModel
    from vocalsynth.train.acoustic import AcousticDataset, item_batch

    net = AcousticModel.load(acoustic).eval()
    train = AcousticDataset(data_dir, "train", random_crop=False, preload=False, phoneme_table=net.phonemes)
    val = AcousticDataset(
        data_dir, "validation", random_crop=False, preload=False, phoneme_table=net.phonemes
    )
    mels: dict[str, np.ndarray] = {}
    for i, entry in enumerate(train.entries):
        if not entry.get("audio"):
            continue
        with torch.inference_mode():
            mels[Path(entry["audio"]).stem] = net(item_batch(train, i, net))["mel"][0].float().numpy()
    if not mels:
        raise CorpusError("no aligned training item with audio to make GTA mels from", source=str(data_dir))
    held = {Path(e["audio"]).stem for e in val.entries if e.get("audio")}
    return mels, held


def with_gta_mel(mel: np.ndarray, gta: np.ndarray) -> np.ndarray:
    """``gta`` on the frame grid of the clip's own ``mel`` (their lengths differ by a rounding frame at most
    in a cache made from the same audio; a longer gap means another file) -> ``(n_mels, T)`` float32."""
    n, m = mel.shape[-1], gta.shape[-1]
    if abs(n - m) > 2 or mel.shape[0] != gta.shape[0]:
        raise ValueError(f"GTA mel {gta.shape} does not match the clip's {mel.shape}")
    out = gta[:, :n] if m >= n else np.concatenate([gta, mel[:, m:]], axis=1)
    return np.ascontiguousarray(out, dtype=np.float32)
