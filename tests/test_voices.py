"""Voice folders: packaging, the card's checks, refusing altered/escaping/pickle files and mismatched audio
configs, finding voices by name, and `vocalsynth voices`."""

from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from vocalsynth.voices import (
    list_voices,
    load_voice,
    package_voice,
    read_card,
    resolve_voice,
    sha256_file,
)
from vocalsynth.voices.card import VoiceError

CARD = dict(
    name="tiny",
    version="0.0.1",
    description="random weights, for tests",
    licence="CC0-1.0 (test voice)",
    consent="Random weights: no person's voice is in it.",
    training_data=[
        {"corpus": "none", "url": "https://example.org/none", "licence": "CC0-1.0", "citation": "n/a"}
    ],
    training={"hardware": "none", "hours": 0.0, "energy_kwh": 0.0, "co2_kg": 0.0},
    evaluation={"mcd_db": 99.0},
    reproduce={"recipe": "tests/test_voices.py", "config": "inline", "commit": "none"},
)


def make_models(root: Path, vocoder_n_mels: int = 80) -> tuple[Path, Path]:
    """A tiny acoustic model (random weights) and a tiny neural vocoder, saved as folders under ``root``."""
    import torch

    from vocalsynth.audio.config import AudioConfig
    from vocalsynth.models.acoustic import AcousticModel
    from vocalsynth.models.vocoder import SourceFilterVocoder
    from vocalsynth.text import INVENTORY

    torch.manual_seed(0)
    model = AcousticModel(
        list(INVENTORY),
        ["alto", "tenor"],
        ["en", "ja", "zh"],
        config=dict(
            encoder_channels=32,
            encoder_layers=1,
            encoder_heads=2,
            encoder_hidden=64,
            variance_channels=16,
            decoder_channels=32,
            decoder_layers=1,
        ),
    )
    model.save(root / "acoustic_run")
    vocoder = SourceFilterVocoder(
        audio_config=AudioConfig(n_mels=vocoder_n_mels), dim=32, intermediate_dim=64, num_layers=2
    )
    vocoder.save(root / "vocoder_run")
    return root / "acoustic_run", root / "vocoder_run"


@pytest.fixture(scope="module")
def voice_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("voice")
    acoustic, vocoder = make_models(root)
    package_voice(acoustic, vocoder, root / "voices" / "tiny", **CARD)
    return root / "voices" / "tiny"


@pytest.fixture
def copy(voice_dir, tmp_path) -> Path:
    out = tmp_path / "tiny"
    shutil.copytree(voice_dir, out)
    return out


def edit_card(folder: Path, change) -> None:
    path = folder / "voice.yaml"
    card = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(card)
    path.write_text(yaml.safe_dump(card, sort_keys=False), encoding="utf-8")


def test_package_voice_writes_a_card_with_every_file_and_its_checksum(voice_dir):
    voice = load_voice(voice_dir)
    card = voice.card
    assert card.name == "tiny" and card.version == "0.0.1"
    assert card.languages == ["en", "ja", "zh"]
    assert card.singer_names == ["alto", "tenor"]
    assert card.training["energy_kwh"] == 0.0 and card.reproduce["commit"] == "none"
    assert set(card.files) == {
        "acoustic/config.json",
        "acoustic/model.safetensors",
        "vocoder/config.json",
        "vocoder/model.safetensors",
    }
    for rel, digest in card.files.items():
        assert sha256_file(voice_dir / rel) == digest
    summary = card.summary()
    assert "CC0-1.0" in summary and "kWh" in summary and "alto" in summary


def test_package_voice_refuses_to_overwrite_and_can_package_the_world_vocoder(voice_dir, tmp_path):
    with pytest.raises(VoiceError, match="already exists"):
        package_voice(voice_dir / "acoustic", voice_dir / "vocoder", voice_dir, **CARD)
    world = package_voice(voice_dir / "acoustic", "world", tmp_path / "w", **CARD)
    assert "vocoder/model.safetensors" not in world.card.files
    assert json.loads((tmp_path / "w" / "vocoder" / "config.json").read_text())["kind"] == "world"


def test_an_altered_weight_file_is_refused_naming_the_file_and_both_hashes(copy):
    weights = copy / "acoustic" / "model.safetensors"
    expected = sha256_file(weights)
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(VoiceError) as e:
        load_voice(copy)
    msg = str(e.value)
    assert "acoustic/model.safetensors" in msg and "checksum mismatch" in msg
    assert expected in msg and sha256_file(weights) in msg


@pytest.mark.parametrize("rel", ["../outside.json", "/etc/passwd.json", "acoustic/../../outside.json"])
def test_a_path_escaping_the_folder_is_refused(copy, rel):
    (copy.parent / "outside.json").write_text("{}")
    edit_card(copy, lambda c: c["files"].__setitem__(rel, "0" * 64))
    with pytest.raises(VoiceError, match="inside the voice folder"):
        load_voice(copy)


def test_a_symlink_escaping_the_folder_is_refused(copy):
    outside = copy.parent / "secret.json"
    outside.write_text("{}")
    os.symlink(outside, copy / "acoustic" / "extra.json")
    edit_card(copy, lambda c: c["files"].__setitem__("acoustic/extra.json", sha256_file(outside)))
    with pytest.raises(VoiceError, match="outside the voice folder"):
        load_voice(copy)


@pytest.mark.parametrize("name", ["model.ckpt", "model.pt", "pytorch_model.bin"])
def test_a_pickle_weight_file_in_the_card_is_refused(copy, name):
    pickle = copy / "acoustic" / name
    pickle.write_bytes(b"\x80\x04K\x01.")  # a pickle of the integer 1
    edit_card(copy, lambda c: c["files"].__setitem__(f"acoustic/{name}", sha256_file(pickle)))
    with pytest.raises(VoiceError, match="pickle"):
        load_voice(copy)


def test_mismatched_audio_configs_are_refused_naming_both_values(copy):
    config = copy / "vocoder" / "config.json"
    data = json.loads(config.read_text())
    data["audio_config"]["n_mels"] = 64
    config.write_text(json.dumps(data))
    edit_card(copy, lambda c: c["files"].__setitem__("vocoder/config.json", sha256_file(config)))
    with pytest.raises(VoiceError) as e:
        load_voice(copy)
    msg = str(e.value)
    assert "n_mels 80" in msg and "64" in msg and "acoustic" in msg and "vocoder" in msg


def test_a_file_the_loader_reads_must_be_listed(copy):
    edit_card(copy, lambda c: c["files"].pop("vocoder/model.safetensors"))
    with pytest.raises(VoiceError, match="vocoder/model.safetensors is not listed"):
        load_voice(copy)


def test_a_listed_file_that_is_missing_is_refused(copy):
    (copy / "vocoder" / "model.safetensors").unlink()
    with pytest.raises(VoiceError, match="missing"):
        load_voice(copy)


@pytest.mark.parametrize(
    "change, words",
    [
        (lambda c: c.pop("licence"), "licence"),
        (lambda c: c.pop("consent"), "consent"),
        (lambda c: c["training"].__setitem__("energy_kwh", -1), "training.energy_kwh"),
        (lambda c: c["training"].pop("co2_kg"), "co2_kg"),
        (lambda c: c.__setitem__("languages", ["fr"]), "languages"),
        (lambda c: c["training_data"][0].pop("url"), "training_data[0].url"),
        (lambda c: c.__setitem__("name", "no spaces please"), "name"),
        (lambda c: c.__setitem__("singers", ["soprano", "tenor"]), "singers"),
        (lambda c: c["audio"].__setitem__("hop_length", 256), "hop_length"),
    ],
)
def test_card_fields_must_be_present_and_sane(copy, change, words):
    edit_card(copy, change)
    with pytest.raises(VoiceError, match=words.replace("[", r"\[").replace("]", r"\]")):
        load_voice(copy)


def test_read_card_of_a_folder_without_one(tmp_path):
    with pytest.raises(VoiceError, match="no voice.yaml"):
        read_card(tmp_path)


def test_names_resolve_inside_the_voices_folder_and_paths_elsewhere(voice_dir, tmp_path):
    voices = voice_dir.parent
    assert resolve_voice("tiny", voices) == voices / "tiny"
    assert resolve_voice(str(voice_dir), tmp_path) == voice_dir
    with pytest.raises(VoiceError, match="installed voices: tiny"):
        resolve_voice("default", voices)
    with pytest.raises(VoiceError, match="no voices installed"):
        resolve_voice("default", tmp_path)


def test_from_pretrained_default_without_any_installed_voice_says_so(tmp_path):
    from vocalsynth.synth import Synthesizer

    with pytest.raises(VoiceError, match="no voices installed"):
        Synthesizer.from_pretrained("default", voices_dir=tmp_path)


def test_from_pretrained_refuses_an_altered_folder_before_loading_weights(copy):
    from vocalsynth.synth import Synthesizer

    (copy / "vocoder" / "config.json").write_text(json.dumps({"format": "vocalsynth-vocoder"}))
    with pytest.raises(VoiceError, match="vocoder/config.json"):
        Synthesizer.from_pretrained(copy)


def test_list_voices_shows_cards_and_problems(voice_dir, tmp_path):
    assert list_voices(tmp_path) == []
    shutil.copytree(voice_dir, tmp_path / "tiny")
    shutil.copytree(voice_dir, tmp_path / "broken")
    (tmp_path / "broken" / "acoustic" / "model.safetensors").write_bytes(b"changed")
    listing = {v.name: v for v in list_voices(tmp_path, verify=True)}
    assert listing["tiny"].card is not None and listing["tiny"].card.name == "tiny"
    assert listing["broken"].card is None and "checksum mismatch" in listing["broken"].problem


def run_voices(capsys, *argv) -> tuple[int, str]:
    from vocalsynth.synthesis.cli import add_voices_arguments, voices_main

    parser = argparse.ArgumentParser()
    add_voices_arguments(parser)
    code = voices_main(parser.parse_args([str(a) for a in argv]))
    return code, capsys.readouterr().out


def test_voices_command_prints_cards_or_says_there_are_none(voice_dir, tmp_path, capsys):
    code, out = run_voices(capsys, "--dir", tmp_path)
    assert code == 0 and "no voices installed" in out
    code, out = run_voices(capsys, "--dir", voice_dir.parent, "--check")
    assert code == 0
    assert out.startswith("tiny 0.0.1") and "licence: CC0-1.0" in out and "checksums verified" in out
    code, out = run_voices(capsys, "--dir", voice_dir.parent, "--json")
    assert json.loads(out)[0]["card"]["name"] == "tiny"


DEFAULT_VOICE = Path(__file__).resolve().parents[1] / "vocalsynth" / "voices" / "default"


@pytest.mark.skipif(not (DEFAULT_VOICE / "voice.yaml").is_file(), reason="no bundled default voice")
def test_bundled_default_voice_sings_a_labelled_wav(tmp_path):
    import torch

    from vocalsynth import Synthesizer
    from vocalsynth.synthesis import read_label

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        synth = Synthesizer.from_pretrained("default")
        audio = synth.sing("tempo=100 lang=ja E3/4 さ G3 く A3/2 ら")
    finally:
        torch.set_num_threads(threads)
    assert audio.duration == pytest.approx(2.4 + audio.pre_roll, abs=0.02)
    assert float(abs(audio.samples).max()) > 0.01  # it sings, not silence
    out = audio.save(tmp_path / "sakura.wav")
    label = read_label(out if out else tmp_path / "sakura.wav")
    assert "AI-generated" in str(label)
    card = synth.card
    assert "CC BY-SA 4.0" in card.licence and card.training["energy_kwh"] is not None


def test_package_sums_acoustic_and_vocoder_training_energy(tmp_path):
    from vocalsynth.voices.package import main as package_main

    default = Path(__file__).resolve().parents[1] / "vocalsynth" / "voices" / "default"
    acoustic, vocoder = tmp_path / "acoustic", tmp_path / "vocoder"
    shutil.copytree(default / "acoustic", acoustic)
    shutil.copytree(default / "vocoder", vocoder)
    report = json.loads((acoustic / "training_report.json").read_text())
    (vocoder / "training_report.json").write_text(
        json.dumps(
            {"model": "vocoder", "wall_seconds": 3600.0, "energy_kwh": 0.25, "emissions_kg_co2eq": 0.1}
        )
    )
    card = Path(__file__).resolve().parents[1] / "recipes" / "pjs" / "voice.yaml"
    out = tmp_path / "voice"
    assert package_main(["--acoustic", str(acoustic), "--vocoder", str(vocoder), "--card", str(card),
                         "--out", str(out)]) == 0  # fmt: skip
    training = yaml.safe_load((out / "voice.yaml").read_text())["training"]
    assert training["energy_kwh"] == pytest.approx(report["energy_kwh"] + 0.25)
    assert training["hours"] == pytest.approx(report["wall_seconds"] / 3600 + 1.0, abs=0.01)
    assert "acoustic model and vocoder" in training["energy_note"]


def test_package_counts_the_model_a_refiner_started_from(tmp_path):
    from vocalsynth.train.energy import inherited_training, write_report
    from vocalsynth.voices.package import main as package_main

    default = Path(__file__).resolve().parents[1] / "vocalsynth" / "voices" / "default"
    acoustic = tmp_path / "acoustic"
    shutil.copytree(default / "acoustic", acoustic)
    base = json.loads((acoustic / "training_report.json").read_text())
    (acoustic / "training_report.json").unlink()
    run = {
        "id": "r1",
        "wall_seconds": 1800.0,
        "steps": [0, 700],
        "energy_kwh": 0.01,
        "emissions_kg_co2eq": 0.004,
    }
    fields = {"steps": 700, "hyper_parameters": {"train_part": "refiner"}}
    write_report(acoustic, "acoustic", run, fields, inherited_training(default / "acoustic"))
    card = Path(__file__).resolve().parents[1] / "recipes" / "pjs" / "voice.yaml"
    out = tmp_path / "voice"
    assert package_main(["--acoustic", str(acoustic), "--vocoder", "world", "--card", str(card),
                         "--out", str(out)]) == 0  # fmt: skip
    training = yaml.safe_load((out / "voice.yaml").read_text())["training"]
    assert training["acoustic_steps"] == base["steps"] + 700 and training["refiner_steps"] == 700
    assert training["energy_kwh"] == pytest.approx(base["energy_kwh"] + 0.01)
    vocoder_hours = float(yaml.safe_load(card.read_text()).get("vocoder_training_hours", 0.0))  # 'world'
    assert training["hours"] == pytest.approx((base["wall_seconds"] + 1800) / 3600 + vocoder_hours, abs=0.01)


def test_default_singer_is_the_one_a_render_uses(voice_dir, tmp_path):
    from vocalsynth import Synthesizer

    voice = package_voice(
        voice_dir / "acoustic", voice_dir / "vocoder", tmp_path / "t", **CARD, default_singer="tenor"
    )
    assert voice.card.default_singer == "tenor" and "(default tenor)" in voice.card.summary()
    song = "tempo=200 lang=ja C4/4 ra"
    synth = Synthesizer.from_pretrained(tmp_path / "t")
    plain = Synthesizer.from_pretrained(voice_dir)  # no default: the model's first singer, alto
    torch.manual_seed(0)
    default = synth.sing(song, conformance=False).frames.mel
    torch.manual_seed(0)
    tenor = plain.sing(song, singer="tenor", conformance=False).frames.mel
    torch.manual_seed(0)
    alto = synth.sing(song, singer="alto", conformance=False).frames.mel
    assert np.array_equal(default, tenor) and not np.array_equal(default, alto)
    with pytest.raises(VoiceError, match="default_singer.*'bass' is not one of the voice's singers"):
        package_voice(
            voice_dir / "acoustic", voice_dir / "vocoder", tmp_path / "b", **CARD, default_singer="bass"
        )
