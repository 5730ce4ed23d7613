"""Safe weights: a voice loads only from safetensors; a pickle (renamed or listed), a tampered or damaged file,
a checksum mismatch, a card or file reaching outside the voice folder and hostile YAML/JSON are refused with
a `VoiceError` that says why, before any of it is unpickled. Checkpoints load with ``weights_only=True``,
and no code in the package loads weights any other way."""

from __future__ import annotations

import json
import os
import pickle
import re
import shutil
import struct
import time
from pathlib import Path

import pytest
import torch
import yaml
from test_voices import CARD, edit_card, make_models

from vocalsynth.voices import load_voice, package_voice, read_card, sha256_file
from vocalsynth.voices.card import VoiceError

PACKAGE = Path(__file__).resolve().parents[1] / "vocalsynth"


class Payload:
    """Unpickling this creates ``marker``: proof that a pickle ran code."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture(scope="module")
def voice_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("safe_voice")
    acoustic, vocoder = make_models(root)
    package_voice(acoustic, vocoder, root / "voices" / "tiny", **CARD)
    return root / "voices" / "tiny"


@pytest.fixture
def voice(voice_dir, tmp_path) -> Path:
    out = tmp_path / "voice"
    shutil.copytree(voice_dir, out)
    return out


def relist(folder: Path, rel: str) -> None:
    """Update the card's checksum of ``rel``, as someone who tampered with the file would."""
    edit_card(folder, lambda c: c["files"].__setitem__(rel, sha256_file(folder / rel)))


def synthesizer(folder: Path):
    from vocalsynth.synth import Synthesizer

    return Synthesizer.from_pretrained(folder)


# --- pickles --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rel", ["acoustic/model.safetensors", "vocoder/model.safetensors"])
def test_a_pickle_renamed_safetensors_is_refused_and_never_runs(voice, tmp_path, rel):
    marker = tmp_path / "pwned"
    (voice / rel).write_bytes(pickle.dumps({"weight": Payload(marker)}))
    relist(voice, rel)  # the card's checksum matches: only the format gives it away
    with pytest.raises(VoiceError, match=re.escape(rel) + ".* a Python pickle, not safetensors"):
        load_voice(voice)
    with pytest.raises(VoiceError, match="pickle"):
        synthesizer(voice)
    assert not marker.exists()


def test_a_torch_save_archive_in_place_of_the_weights_is_refused(voice, tmp_path):
    marker = tmp_path / "pwned"
    torch.save({"w": torch.zeros(2), "x": Payload(marker)}, voice / "acoustic" / "model.safetensors")
    relist(voice, "acoustic/model.safetensors")
    with pytest.raises(VoiceError, match="torch.save zip archive, not safetensors"):
        synthesizer(voice)
    assert not marker.exists()


def test_the_model_loaders_themselves_never_unpickle(voice, tmp_path):
    # behind the folder check: the loaders read safetensors only, so a pickle is an error, not code
    from vocalsynth.models.acoustic import AcousticModel, AcousticModelError
    from vocalsynth.models.vocoder.base import Vocoder

    marker = tmp_path / "pwned"
    for rel in ("acoustic/model.safetensors", "vocoder/model.safetensors"):
        (voice / rel).write_bytes(pickle.dumps(Payload(marker)))
    with pytest.raises(AcousticModelError, match="unreadable model.safetensors"):
        AcousticModel.load(voice / "acoustic")
    with pytest.raises(ValueError, match="unreadable model.safetensors"):
        Vocoder.from_pretrained(voice / "vocoder")
    assert not marker.exists()


@pytest.mark.parametrize("name", ["model.ckpt", "model.pt", "weights.bin", "extra.pkl", "x.npy", "a.joblib"])
def test_a_card_listing_a_pickle_format_is_refused(voice, tmp_path, name):
    marker = tmp_path / "pwned"
    (voice / "acoustic" / name).write_bytes(pickle.dumps(Payload(marker)))
    relist(voice, f"acoustic/{name}")
    with pytest.raises(VoiceError, match="pickles that can run code"):
        load_voice(voice)
    assert not marker.exists()


def test_checkpoints_load_with_weights_only(tmp_path):
    pytest.importorskip("lightning")
    from vocalsynth.models.vocoder import SourceFilterVocoder
    from vocalsynth.train.checkpoint_io import AtomicCheckpointIO
    from vocalsynth.train.vocoder import load_generator_weights

    marker = tmp_path / "pwned"
    bad = tmp_path / "last.ckpt"
    torch.save({"state_dict": {"vocoder.x": torch.zeros(1)}, "evil": Payload(marker)}, bad)
    with pytest.raises(pickle.UnpicklingError):
        AtomicCheckpointIO().load_checkpoint(bad, weights_only=False)  # asked for a full unpickle: refused
    vocoder = SourceFilterVocoder(dim=16, intermediate_dim=32, num_layers=1)
    with pytest.raises(ValueError, match="refused: not a plain checkpoint of tensors"):
        load_generator_weights(vocoder, str(bad))
    assert not marker.exists()
    good = tmp_path / "good.ckpt"
    AtomicCheckpointIO().save_checkpoint({"state_dict": {"vocoder.w": torch.ones(2)}, "global_step": 3}, good)
    assert AtomicCheckpointIO().load_checkpoint(good)["global_step"] == 3


def test_no_code_in_the_package_loads_weights_unsafely():
    """Every torch.load says weights_only=True; nothing unpickles (pickle.load, np.load allow_pickle=True)."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for m in re.finditer(r"torch\.load\(([^()]*(?:\([^()]*\)[^()]*)*)\)", text):
            if "weights_only=True" not in m.group(1):
                offenders.append(f"{path.relative_to(PACKAGE)}: {m.group(0)}")
        for bad in ("pickle.load(", "pickle.loads(", "allow_pickle=True", "dill.load", "joblib.load"):
            if bad in text:
                offenders.append(f"{path.relative_to(PACKAGE)}: {bad}")
    assert not offenders, offenders


# --- tampered and damaged files ----------------------------------------------------------------------------


@pytest.mark.parametrize("rel", ["vocoder/model.safetensors", "acoustic/config.json", "vocoder/config.json"])
def test_an_altered_file_fails_its_checksum_naming_both_hashes(voice, rel):
    path = voice / rel
    listed = sha256_file(path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit
    path.write_bytes(bytes(data))
    with pytest.raises(VoiceError) as e:
        synthesizer(voice)
    message = str(e.value)
    assert "checksum mismatch" in message and rel in message
    assert listed in message and sha256_file(path) in message


@pytest.mark.parametrize(
    "damage, words",
    [
        (lambda b: b[: len(b) // 2], "lies outside the file"),  # truncated
        (lambda b: struct.pack("<Q", 2**60) + b[8:], "header claims"),  # absurd header length
        (lambda b: b[:8] + b"[" * (len(b) - 8), "not a JSON object"),  # a header that is not JSON
        (lambda b: b[:4], "only 4 bytes"),
    ],
    ids=["truncated", "huge-header", "bad-header", "tiny"],
)
def test_a_damaged_safetensors_file_is_refused_even_with_a_matching_checksum(voice, damage, words):
    rel = "acoustic/model.safetensors"
    path = voice / rel
    path.write_bytes(damage(path.read_bytes()))
    relist(voice, rel)
    started = time.monotonic()
    with pytest.raises(VoiceError, match=words):
        load_voice(voice)
    assert time.monotonic() - started < 5


# --- paths outside the folder ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "rel",
    ["../outside.json", "/etc/hostname.json", "acoustic/../../outside.json", "C:/x.json", "a\\..\\b.json"],
)
def test_card_paths_outside_the_folder_are_refused(voice, rel):
    (voice.parent / "outside.json").write_text("{}")
    edit_card(voice, lambda c: c["files"].__setitem__(rel, "0" * 64))
    with pytest.raises(VoiceError, match="must stay inside the voice folder"):
        load_voice(voice)


def test_a_model_folder_linked_outside_is_refused(voice, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    shutil.move(voice / "acoustic", elsewhere)
    os.symlink(elsewhere, voice / "acoustic")  # same files, same checksums: only the place is wrong
    with pytest.raises(VoiceError, match="outside the voice folder"):
        load_voice(voice)


def test_a_card_linked_from_outside_is_refused(voice, tmp_path):
    outside = tmp_path / "card.yaml"
    shutil.move(voice / "voice.yaml", outside)
    os.symlink(outside, voice / "voice.yaml")
    with pytest.raises(VoiceError, match="outside the folder"):
        read_card(voice)


# --- hostile YAML and JSON ---------------------------------------------------------------------------------


def _card_text(voice: Path) -> str:
    return (voice / "voice.yaml").read_text(encoding="utf-8")


def test_a_card_with_a_yaml_alias_bomb_is_refused_at_once(voice):
    bomb = "lol0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
        f"lol{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n" for i in range(1, 10)
    )
    # a mapping where the card takes any mapping: loaded, it would pass; printed, it would expand to 9**10 values
    (voice / "voice.yaml").write_text(
        bomb + _card_text(voice).replace("evaluation:", "evaluation:\n  bomb: *l9", 1)
    )
    started = time.monotonic()
    with pytest.raises(VoiceError, match="aliases are refused"):
        read_card(voice)
    assert time.monotonic() - started < 5


@pytest.mark.parametrize(
    "text, words",
    [
        ("version: " + "9" * 5000 + "\n", "unreadable YAML"),  # more digits than Python converts
        ("evaluation: " + "[" * 5000 + "]" * 5000 + "\n", "unreadable YAML"),  # nested too deeply
        ("name: !!python/object/apply:os.system [echo pwned]\n", "unreadable YAML"),  # a tag that runs code
    ],
    ids=["digits", "nesting", "python-tag"],
)
def test_hostile_card_yaml_is_a_voice_error(voice, text, words):
    (voice / "voice.yaml").write_text(text + _card_text(voice))
    with pytest.raises(VoiceError, match=words):
        read_card(voice)


@pytest.mark.parametrize(
    "config, words",
    [
        ('{"audio_config": {"sample_rate": ' + "9" * 5000 + "}}", "unreadable"),
        ("[" * 100_000 + "]" * 100_000, "unreadable"),
        ('{"pad": "' + "x" * (1024 * 1024) + '"}', "larger than"),
    ],
    ids=["digits", "nesting", "huge"],
)
def test_hostile_model_config_json_is_a_voice_error(voice, config, words):
    rel = "vocoder/config.json"
    (voice / rel).write_text(config)
    relist(voice, rel)
    with pytest.raises(VoiceError, match=words):
        load_voice(voice)


def test_the_shipped_default_voice_passes_every_check():
    from vocalsynth.voices import VOICES_DIR

    if not (VOICES_DIR / "default" / "voice.yaml").is_file():
        pytest.skip("no bundled default voice")
    voice = load_voice(VOICES_DIR / "default")
    assert all(rel.endswith((".safetensors", ".json")) for rel in voice.card.files)
    card = yaml.safe_load((VOICES_DIR / "default" / "voice.yaml").read_text(encoding="utf-8"))
    assert json.dumps(card)  # plain data: no anchors, tags or objects
