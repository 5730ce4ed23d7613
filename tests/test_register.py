"""Register shift (vocalsynth.data.register), the derived corpus it writes, a fine-tune that adds its singer
(train.acoustic.start_from), and the voice picked for a melody's range (synthesis.voice_range.pick_voice)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from vocalsynth.audio import AudioConfig
from vocalsynth.data.register import RegisterError, derive, shift_register, warp_envelope

SR = 24000


def test_warp_envelope_moves_a_formant_up_by_the_factor():
    bins = np.arange(513)
    envelope = np.exp(-(((bins - 100) / 8.0) ** 2))[None, :] + 1e-6
    warped = warp_envelope(envelope, 1.25)
    assert int(np.argmax(warped[0])) == 125
    assert warp_envelope(envelope, 1.0) is envelope
    with pytest.raises(RegisterError):
        warp_envelope(envelope, 0.0)


def test_shift_register_sings_an_octave_up_with_the_same_length():
    import pyworld

    config = AudioConfig()
    t = np.arange(SR) / SR
    x = (0.3 * np.sin(2 * np.pi * 220 * t) + 0.1 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    f0 = np.full(config.n_frames(x.size), 220.0)
    y = shift_register(x, f0, config, 12, 1.2)
    assert y.shape == x.shape and np.isfinite(y).all() and np.abs(y).max() <= 0.99
    sung, _ = pyworld.dio(y.astype(np.float64), SR, f0_floor=80, f0_ceil=1000, frame_period=10)
    middle = sung[20:-20]
    assert np.median(middle[middle > 0]) == pytest.approx(440.0, rel=0.02)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    from test_acoustic import write_corpus

    from vocalsynth.data.preprocess import Source, preprocess

    base = tmp_path_factory.mktemp("register")
    src = Source(
        "diffsinger", write_corpus(base / "alto", ["alto_1", "alto_2"], -12), licence="CC0-1.0", language="ja"
    )
    preprocess([src], base / "prep", workers=1, f0_method="dio", progress=False)
    return base


def test_derived_corpus_keeps_timing_raises_notes_and_preprocesses_as_hand_aligned(cache):
    from vocalsynth.data.preprocess import Source, preprocess

    out = cache / "alto_up12"
    record = derive(
        cache / "prep", out, corpora=["diffsinger"], semitones=12, formant_factor=1.2, singer="alto_up12",
        splits=("train", "validation"), progress=False,
    )  # fmt: skip
    assert record["transformation"]["semitones"] == 12 and "CC0-1.0" in record["licence"]
    lines = [json.loads(line) for line in (out / "items.jsonl").read_text().splitlines()]
    source = json.loads((cache / "prep" / "manifest.json").read_text())
    assert len(lines) == len(source["items"]) == 2
    stamps = {p.name: p.stat().st_mtime_ns for p in (out / "audio").iterdir()}
    derive(
        cache / "prep", out, corpora=["diffsinger"], semitones=12, formant_factor=1.2, singer="alto_up12",
        splits=("train", "validation"), progress=False,
    )  # fmt: skip
    assert {p.name: p.stat().st_mtime_ns for p in (out / "audio").iterdir()} == stamps  # resumed, not redone
    with pytest.raises(RegisterError, match="other settings"):
        derive(
            cache / "prep", out, corpora=["diffsinger"], semitones=7, formant_factor=1.2, singer="alto_up12"
        )
    with pytest.raises(RegisterError, match="no aligned"):
        derive(cache / "prep", cache / "x", corpora=["pjs"], semitones=12, formant_factor=1.2, singer="s")

    result = preprocess(
        [Source("derived", out, licence="CC0-1.0 (derived)")], cache / "prep_up", workers=1, f0_method="dio",
        progress=False,
    )  # fmt: skip
    assert not result.skipped  # the pitch check found the singing on the raised notes
    items = result.manifest["items"]
    assert {e["singer"] for e in items} == {"alto_up12"} and {e["alignment"] for e in items} == {"hand"}
    by_id = {e["id"]: e for e in source["items"]}
    from vocalsynth.data.preprocess import read_item_meta

    for line in lines:
        original = read_item_meta(
            cache / "prep" / by_id[line["id"].split("_", 1)[1].rsplit("_", 1)[0]]["path"]
        )
        assert original is not None
        old = original[0]
        assert [p["start"] for p in line["phonemes"]] == [p["start"] for p in old["phonemes"]]
        assert [n["pitch"] for n in line["notes"]] == [
            None if p is None else p + 12 for p in (n["pitch"] for n in old["notes"])
        ]


def test_fine_tune_adds_singers_starting_from_a_named_one(tmp_path):
    from vocalsynth.models.acoustic import AcousticConfig, AcousticModel, AcousticModelError
    from vocalsynth.train.acoustic import start_from

    tiny = AcousticConfig(
        encoder_channels=16, encoder_layers=1, encoder_hidden=32, variance_channels=16, duration_layers=1,
        pitch_layers=1, variance_layers=1, decoder_channels=16, decoder_layers=1,
    )  # fmt: skip
    phonemes = ["SP", "ja/a", "ja/k"]
    torch.manual_seed(0)
    old = AcousticModel(phonemes, ["alto", "tenor"], ["ja"], config=tiny)
    old.save(tmp_path / "old")
    new = AcousticModel(phonemes, ["alto", "soprano", "tenor", "zz"], ["ja"], config=tiny)
    start_from(new, tmp_path / "old", {"soprano": "alto"})
    for key in ("encoder", "decoder"):
        before = getattr(old, key).singer.weight
        after = getattr(new, key).singer.weight
        assert torch.equal(after[0], before[0]) and torch.equal(after[2], before[1])  # moved by name
        assert torch.equal(after[1], before[0])  # soprano starts as alto
        assert torch.allclose(after[3], before.mean(0))  # unnamed: the mean
    assert torch.equal(new.decoder.out.weight, old.decoder.out.weight)
    with pytest.raises(AcousticModelError, match="tenor"):
        start_from(AcousticModel(phonemes, ["alto"], ["ja"], config=tiny), tmp_path / "old")
    with pytest.raises(AcousticModelError, match="new_singers_from"):
        start_from(new, tmp_path / "old", {"soprano": "bass"})


def test_pick_voice_takes_the_range_that_holds_the_melody():
    from vocalsynth.score import load_score

    def parse_notation(text: str):
        return load_score(f"lang=ja\n{text}")

    from vocalsynth.synthesis.voice_range import pick_voice
    from vocalsynth.voices import VOICES_DIR, read_card

    card = read_card(VOICES_DIR / "default")
    low = dataclasses.replace(card, name="default", extra={**card.extra, "range": "A#2-G4"})
    high = dataclasses.replace(card, name="high", extra={**card.extra, "range": "A#3-G5"})
    unknown = dataclasses.replace(card, name="other", description="", extra={})
    voices = [("default", low), ("high", high), ("other", unknown)]
    tune = parse_notation("C4/4 さ D4 く E5 ら G4 さ")
    choice = pick_voice(tune, voices)
    assert choice.name == "high" and choice.inside == 1.0
    assert "A#3–G5" in choice.reason and "100 %" in choice.reason and "default" in choice.reason
    assert pick_voice(parse_notation("C3/4 さ D3 く F4 ら"), voices).name == "default"
    # both hold it all: the one whose middle is nearer the melody
    assert pick_voice(parse_notation("A#3/4 さ C4 く"), voices).name == "default"
    assert pick_voice(parse_notation("E4/4 さ G4 く"), voices).name == "high"
    assert pick_voice(tune, [("other", unknown)]).name == "other"
    with pytest.raises(ValueError):
        pick_voice(tune, [])


def test_for_score_loads_the_installed_voice_that_fits_and_says_why(tmp_path):
    import shutil

    import yaml

    from vocalsynth import Synthesizer
    from vocalsynth.score import load_score
    from vocalsynth.voices import VOICES_DIR

    for name, rng in (("default", "A#2-G4"), ("bright", "A#3-G5")):
        shutil.copytree(VOICES_DIR / "default", tmp_path / name)
        card = yaml.safe_load((tmp_path / name / "voice.yaml").read_text())
        card.update(name=name, range=rng)
        (tmp_path / name / "voice.yaml").write_text(yaml.safe_dump(card, sort_keys=False))
    tune = load_score("lang=ja\nC4/4 さ D4 く E5 ら G4 さ")
    synth = Synthesizer.for_score(tune, voices_dir=tmp_path)
    assert synth.name == "bright" and synth.choice.name == "bright"
    assert synth.choice.reason.startswith("voice bright: its range A#3–G5 holds 100 %")
    low = Synthesizer.for_score(load_score("lang=ja\nC3/4 さ D3 く"), voices_dir=tmp_path)
    assert low.name == "default"
