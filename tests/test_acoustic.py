"""Acoustic model: note-span placement, controls (key, vibrato, dynamics, gender, tension, breathiness, per-note
overrides), save/load, and the Lightning training entry on a tiny generated corpus (every YAML in configs/)."""

from __future__ import annotations

import importlib
import json
import math
import os
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml

from vocalsynth.audio import AudioConfig, AudioConfigMismatch
from vocalsynth.models.acoustic import AcousticConfig, AcousticModel, AcousticModelError, Controls, Frames
from vocalsynth.models.acoustic.context import place_in_spans, span_ids
from vocalsynth.models.acoustic.controls import GENDER_SEMITONES, formant_shift, mel_center_frequencies
from vocalsynth.models.acoustic.duration import length_regulate
from vocalsynth.models.acoustic.pitch import vibrato_targets
from vocalsynth.score.errors import ScoreError
from vocalsynth.score.io import load_score
from vocalsynth.text import inventory
from vocalsynth.text.phonemize import phonemize_score

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"
SONG = ROOT / "examples" / "sakura_ja.txt"
SR = 24000
TINY = AcousticConfig(
    encoder_channels=32,
    encoder_layers=1,
    encoder_hidden=64,
    variance_channels=32,
    duration_layers=1,
    pitch_layers=2,
    variance_layers=1,
    decoder_channels=32,
    decoder_layers=2,
)


# --- fixtures ---------------------------------------------------------------------------------------------


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def seq():
    return phonemize_score(load_score(SONG))


@pytest.fixture(scope="module")
def model() -> AcousticModel:
    torch.manual_seed(0)
    m = AcousticModel([*inventory.symbols("ja"), "SP", "AP"], ["alto", "tenor"], ["ja"], config=TINY)
    with torch.no_grad():
        out = m.pitch.out
        out.weight[0].normal_(0, 0.3)  # a visible learned deviation
        out.bias[1] = 20.0  # voiced everywhere, so F0 can be compared frame by frame
        out.bias[2] = 0.0  # softplus(0) = 0.69 semitones of vibrato
        # a voice-like spectral envelope (formants at 0.6, 1.2 and 2.6 kHz) for the spectral controls to act on
        f = torch.from_numpy(mel_center_frequencies(m.audio_config)).float()
        envelope = sum(3.0 * torch.exp(-(((f - c) / (0.15 * c)) ** 2)) for c in (600.0, 1200.0, 2600.0))
        m.decoder.out.weight.mul_(0.1)
        m.decoder.out.bias.copy_(envelope - 0.5 * torch.log2(f / 100.0))
    return m.eval()


def _note_name(midi: int) -> str:
    return ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"][midi % 12] + str(midi // 12 - 1)


def write_corpus(root: Path, names: list[str], transpose: int) -> Path:
    """A DiffSinger-layout corpus: 'SP k a s a SP' over rest, two notes (the second with vibrato), rest."""
    (root / "wavs").mkdir(parents=True)
    lines = ["name,ph_seq,ph_dur,ph_num,note_seq,note_dur,note_slur"]
    rng = np.random.default_rng(transpose + 50)
    n = int(2.4 * SR)
    t = np.arange(n) / SR
    for k, name in enumerate(names):
        p1, p2 = 69 + transpose + k, 72 + transpose + k
        lines.append(
            f"{name},SP k a s a SP,0.3 0.08 0.62 0.1 0.9 0.4,2 2 1 1,"
            f"rest {_note_name(p1)} {_note_name(p2)} rest,0.38 0.72 0.9 0.4,0 0 0 0"
        )
        midi = np.full(n, float(p1))
        midi[int(1.1 * SR) :] = p2 + 0.5 * np.sin(2 * np.pi * 6 * t[int(1.1 * SR) :])
        phase = 2 * np.pi * np.cumsum(440 * 2 ** ((midi - 69) / 12)) / SR
        tone = 0.3 * np.sin(phase) + 0.1 * np.sin(2 * phase) + 0.05 * np.sin(3 * phase)
        x = rng.normal(0, 3e-4, n)
        for a, b in ((0.38, 1.0), (1.1, 2.0)):
            x[int(a * SR) : int(b * SR)] += tone[int(a * SR) : int(b * SR)]
        for a, b in ((0.3, 0.38), (1.0, 1.1)):
            x[int(a * SR) : int(b * SR)] += rng.normal(0, 0.03, int(b * SR) - int(a * SR))
        sf.write(root / "wavs" / f"{name}.wav", x.astype(np.float32), SR, subtype="PCM_16")
    (root / "transcriptions.csv").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    from vocalsynth.data.preprocess import Source, preprocess

    base = tmp_path_factory.mktemp("acoustic_corpus")
    sources = [
        Source(
            "diffsinger",
            write_corpus(base / "alto", ["alto_1", "alto_2", "alto_3"], 0),
            licence="CC0-1.0",
            language="ja",
        ),
        Source(
            "diffsinger",
            write_corpus(base / "tenor", ["tenor_1", "tenor_2"], -12),
            licence="CC0-1.0",
            language="ja",
        ),
    ]
    preprocess(sources, base / "prep", workers=1, f0_method="dio", progress=False, store_audio=False)
    return base / "prep"


# --- durations inside notes -------------------------------------------------------------------------------


def test_place_in_spans_keeps_every_span_exact():
    rng = np.random.default_rng(1)
    for _ in range(200):
        n = int(rng.integers(1, 12))
        span = np.sort(rng.integers(0, 4, n))
        span = np.unique(span, return_inverse=True)[1]  # ids 0..S-1 without gaps
        span_frames = rng.integers(0, 60, span.max() + 1)
        frames = place_in_spans(rng.gamma(1.0, 5.0, n), span, span_frames)
        assert (frames >= 0).all()
        assert np.array_equal(np.bincount(span, weights=frames, minlength=span_frames.size), span_frames)
        # every phoneme gets a frame when its span has room for all
        for s, total in enumerate(span_frames):
            if total >= (span == s).sum():
                assert (frames[span == s] >= 1).all()
    # weights decide the split: a heavy phoneme takes most of the span
    assert place_in_spans(np.array([1.0, 9.0]), np.array([0, 0]), np.array([20])).tolist() == [2, 18]


def test_onsets_are_borrowed_from_the_previous_note():
    # note 0: onset k + vowel a; note 1: onset s + vowel a + coda N; the first onset is a pre-roll span
    roles = ["onset", "nucleus", "onset", "nucleus", "coda"]
    assert span_ids(roles, [0, 0, 1, 1, 1]).tolist() == [0, 1, 1, 2, 2]


def test_notes_keep_their_score_timing(model, seq):
    frames = model.infer(seq)
    fps = model.fps
    assert frames.ph_frames.sum() == frames.n_frames and frames.pre_roll == pytest.approx(seq.pre_roll)
    starts = {n.index: n.start for n in seq.notes}
    for note_index, a, b, _ in frames.notes:
        # each note starts on its beat (to the frame) and its phonemes fill exactly its span
        assert a == round((starts[note_index] + seq.pre_roll) * fps)
        inside = (frames.ph_start >= a) & (frames.ph_start < b)
        assert frames.ph_frames[inside].sum() == b - a
    # onset consonants sit before their note's first frame
    for k, p in enumerate(seq):
        if p.role == "onset":
            note_start = next(a for i, a, _, _ in frames.notes if i == p.note_index)
            assert frames.ph_start[k] + frames.ph_frames[k] <= note_start
    # a per-note duration override moves everything after the note by the difference
    longer = model.infer(seq, Controls(note_durations={3: 2.0}))
    old = next(b - a for i, a, b, _ in frames.notes if i == 3)
    assert longer.n_frames - frames.n_frames == pytest.approx(200 - old, abs=1)


def test_length_regulate():
    h = torch.arange(3.0)[None, None, :].repeat(1, 2, 1)
    out, index, pos = length_regulate(h, torch.tensor([[2, 0, 3]]), 6)
    assert index.tolist() == [[0, 0, 2, 2, 2, -1]]
    assert out[0, 0].tolist() == [0, 0, 2, 2, 2, 0]
    assert pos[0].tolist() == pytest.approx([0, 0.5, 0, 1 / 3, 2 / 3, 0])


# --- pitch and controls -----------------------------------------------------------------------------------


def test_vibrato_targets_recover_depth_and_rate():
    t = torch.arange(400) / 100.0
    midi = 60 + 0.4 * torch.sin(2 * math.pi * 5.5 * t)
    target = vibrato_targets(midi[None], torch.ones(1, 400, dtype=torch.bool), 100.0)
    middle = slice(100, 300)
    assert target.depth[0, middle].mean().item() == pytest.approx(0.4, rel=0.05)
    assert target.rate[0, middle].mean().item() == pytest.approx(5.5, rel=0.05)
    assert (target.smooth[0, middle] - 60).abs().max().item() < 0.02


def _cents(hz: np.ndarray) -> np.ndarray:
    return 1200 * np.log2(hz / 440.0)


def test_key_shift_moves_f0_exactly(model, seq):
    base, up = model.infer(seq), model.infer(seq, Controls(key_shift=3))
    voiced = base.vuv > 0
    assert voiced.mean() > 0.9 and np.array_equal(base.vuv, up.vuv)
    assert np.allclose(_cents(up.f0_hz[voiced]) - _cents(base.f0_hz[voiced]), 300.0, atol=0.01)
    assert not np.allclose(up.mel, base.mel)  # the mel is rendered for the shifted F0


def _band_power(x: np.ndarray, lo: float, hi: float, fps: float = 100.0) -> float:
    x = (x - x.mean()) * np.hanning(x.size)
    spectrum = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(x.size, 1 / fps)
    return float(spectrum[(freqs >= lo) & (freqs <= hi)].sum())


def test_vibrato_depth_zero_removes_vibrato(model, seq):
    fixed = {"vibrato_rate_hz": 6.0}
    on, off = model.infer(seq, Controls(**fixed)), model.infer(seq, Controls(vibrato_depth=0, **fixed))
    _, a, b, pitch = next(n for n in on.notes if n[0] == 14)  # the last, longest note (2.1 s)
    inner = slice(a + 20, b - 20)
    dev_on = _cents(on.f0_hz[inner]) - 100 * (pitch - 69)
    dev_off = _cents(off.f0_hz[inner]) - 100 * (pitch - 69)
    assert _band_power(dev_on, 5, 7) > 50 * _band_power(dev_on, 1, 3)  # a 6 Hz vibrato is there
    assert _band_power(dev_off, 5, 7) < 1e-3 * _band_power(dev_on, 5, 7)  # and gone at depth 0
    half = model.infer(seq, Controls(vibrato_depth=0.5, **fixed))
    dev_half = _cents(half.f0_hz[inner]) - 100 * (pitch - 69)
    assert np.allclose(dev_half - dev_off, (dev_on - dev_off) / 2, atol=0.05)


def test_voiced_consonants_on_notes_are_voiced(seq):
    # a model whose V/UV predictor says "unvoiced" everywhere still voices vowels and voiced consonants (/m/,
    # /r/, /b/ ... trained on DIO's voicing, which misses them) -- and only those
    torch.manual_seed(0)
    m = AcousticModel([*inventory.symbols("ja"), "SP", "AP"], ["alto"], ["ja"], config=TINY).eval()
    with torch.no_grad():
        m.pitch.out.bias[1] = -20.0
    frames = m.infer(seq)
    sung = {p.note_index for p in seq if p.note_pitch}
    for sym, start, n, p in zip(frames.ph_symbols, frames.ph_start, frames.ph_frames, seq, strict=True):
        vuv = frames.vuv[start : start + n]
        expect = inventory.is_voiced(sym) and p.note_index in sung
        assert (vuv > 0).all() == expect and ((vuv > 0).any() == expect or n == 0), sym


def _held_offsets(frames: Frames) -> np.ndarray:
    """Each note's median sung pitch over its middle 60 %, in cents from the written pitch."""
    out = []
    for _, a, b, pitch in frames.notes:
        if pitch <= 0 or b - a < 10:
            continue
        f = frames.f0_hz[a + int(0.2 * (b - a)) : a + int(0.8 * (b - a)) + 1]
        out.append(np.median(_cents(f[f > 0])) - 100 * (pitch - 69))
    return np.asarray(out)


def test_pitch_correction_moves_held_notes_onto_the_written_pitch(model, seq):
    with torch.no_grad():
        saved = model.pitch.out.bias[0].clone()
        model.pitch.out.bias[0] -= 0.8  # a singer who holds notes flat
    try:
        plain = model.infer(seq, Controls(vibrato_depth=0, pitch_correction=0))
        as_learned = _held_offsets(plain)
        half = _held_offsets(model.infer(seq, Controls(vibrato_depth=0, pitch_correction=0.5)))
        tuned = model.infer(seq, Controls(vibrato_depth=0, pitch_correction=1))
    finally:
        with torch.no_grad():
            model.pitch.out.bias[0] = saved
    assert np.abs(as_learned).mean() > 40
    assert np.allclose(half, as_learned / 2, atol=10) and np.abs(_held_offsets(tuned)).max() < 10

    def steepest(frames: Frames) -> float:
        return float(np.abs(np.diff(_cents(frames.f0_hz[frames.f0_hz > 0]))).max())

    assert steepest(tuned) < steepest(plain) + 30  # no step added between notes (cents a frame)


def test_note_pitch_curve_override(model, seq):
    frames = model.infer(seq, Controls(note_pitch_curves={13: [0.0]}, key_shift=-2))
    _, a, b, pitch = next(n for n in frames.notes if n[0] == 13)
    assert np.allclose(_cents(frames.f0_hz[a:b]), 100 * (pitch - 2 - 69), atol=0.01)


def test_dynamics_raise_energy_and_mel(model, seq):
    base, loud = model.infer(seq), model.infer(seq, Controls(dynamics=6.0))
    assert np.allclose(loud.energy_db - base.energy_db, 6.0, atol=1e-4)
    audible = base.mel > math.log(1e-5) + 1  # away from the silence floor, where nothing can fall further
    rise = (loud.mel - base.mel)[audible].mean()
    assert 0.5 < rise < 0.9  # +6 dB is +0.69 in natural-log magnitude


def _centroid(mel: np.ndarray, config: AudioConfig) -> float:
    power = np.exp(mel).sum(axis=1)
    return float((power * mel_center_frequencies(config)).sum() / power.sum())


def test_gender_moves_the_spectral_centroid(model, seq):
    config = model.audio_config
    base = _centroid(model.infer(seq).mel, config)
    assert _centroid(model.infer(seq, Controls(gender=1.0)).mel, config) > base * 1.05
    assert _centroid(model.infer(seq, Controls(gender=-1.0)).mel, config) < base / 1.05


def test_formant_shift_moves_a_spectral_peak_by_its_semitones():
    config = AudioConfig()
    centers = mel_center_frequencies(config)
    peak = int(np.argmin(np.abs(centers - 1500)))
    mel = torch.full((config.n_mels, 1), -8.0)
    mel[peak] = 0.0
    for gender in (1.0, -1.0):
        moved = formant_shift(mel, config, gender)[:, 0].numpy()
        expected = centers[peak] * 2 ** (GENDER_SEMITONES * gender / 12)
        assert abs(centers[int(np.argmax(moved))] - expected) < 0.6 * np.diff(centers)[peak]


def test_tension_and_breathiness(model, seq):
    base = model.infer(seq)
    tense = model.infer(seq, Controls(tension=1.0))
    high = mel_center_frequencies(model.audio_config) > 4000
    low = mel_center_frequencies(model.audio_config) < 500
    tilt = (tense.mel - base.mel).mean(axis=1)
    assert tilt[high].mean() > tilt[low].mean() + 0.5
    breathy = model.infer(seq, Controls(breathiness=1.0))
    voiced = base.vuv > 0
    assert (breathy.aperiodicity[:, voiced] > base.aperiodicity[:, voiced]).all()


def test_bad_input_is_refused(model, seq):
    with pytest.raises(ScoreError, match="key_shift"):
        model.infer(seq, Controls(key_shift=100))
    with pytest.raises(ScoreError, match="no such note"):
        model.infer(seq, Controls(note_durations={999: 1.0}))
    with pytest.raises(ScoreError, match="singer"):
        model.infer(seq, singer="bass")
    english = AcousticModel(["SP", "en/aa"], ["x"], ["en"], config=TINY)
    with pytest.raises(
        ScoreError, match=r"phoneme 0 \(note 0\): phoneme 'ja/h' is not in this voice's phoneme set"
    ):
        english.infer(seq)


# --- saving -----------------------------------------------------------------------------------------------


def test_save_load_round_trip(model, seq, tmp_path):
    pytest.importorskip("safetensors")
    folder = model.save(tmp_path / "acoustic", extra={"note": "test"})
    loaded = AcousticModel.load(folder, audio_config=AudioConfig(), phonemes=model.phonemes)
    a = model.infer(seq, Controls(key_shift=1), singer="tenor")
    b = loaded.infer(seq, Controls(key_shift=1), singer="tenor")
    assert isinstance(b, Frames) and loaded.singers == ["alto", "tenor"]
    assert np.array_equal(a.mel, b.mel) and np.array_equal(a.f0_hz, b.f0_hz)
    assert np.array_equal(a.ph_frames, b.ph_frames)
    assert json.loads((folder / "config.json").read_text())["extra"] == {"note": "test"}


def test_load_refuses_mismatches(model, tmp_path):
    pytest.importorskip("safetensors")
    folder = model.save(tmp_path / "acoustic")
    with pytest.raises(AudioConfigMismatch, match="has hop_length 240 but the expected audio config has 256"):
        AcousticModel.load(folder, audio_config=AudioConfig(hop_length=256))
    with pytest.raises(AcousticModelError, match="phoneme table mismatch: id 1"):
        AcousticModel.load(folder, phonemes=list(reversed(model.phonemes)))
    config = json.loads((folder / "config.json").read_text())
    config["phonemes"].append("AP2")
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(AcousticModelError, match="lists .* phonemes but model.safetensors was trained with"):
        AcousticModel.load(folder)
    (folder / "config.json").write_text("{}")
    with pytest.raises(AcousticModelError, match="not a vocalsynth-acoustic config"):
        AcousticModel.load(folder)


# --- training ---------------------------------------------------------------------------------------------


def _train_args(config: Path, corpus: Path, root: Path) -> list[str]:
    return [
        "--config", str(config),
        "--data.init_args.data_dir", str(corpus),
        "--data.init_args.num_workers", "0",
        "--data.init_args.max_batch_frames", "500",  # two 2.4 s phrases: one step is enough to prove the build
        "--data.init_args.val_batch_size", "2",
        "--model.init_args.n_render", "1",
        "--trainer.default_root_dir", str(root),
        "--trainer.accelerator", "cpu",
        "--trainer.enable_progress_bar", "false",
        "--trainer.enable_model_summary", "false",
        "--trainer.precision", "32-true",  # a GPU config's bf16 crawls on a CPU
    ]  # fmt: skip


@pytest.mark.filterwarnings("ignore:LightningCLI's args parameter")  # pytest's own argv is not for it
@pytest.mark.parametrize("config", sorted((CONFIGS / "acoustic").glob("*.yaml")), ids=lambda p: p.name)
def test_acoustic_configs_train_one_step(config, corpus, seq, tmp_path):
    pytest.importorskip("lightning")
    from vocalsynth.train.acoustic import train_main

    root = tmp_path / "run"
    extra = []
    if yaml.safe_load(config.read_text())["model"]["init_args"].get("train_part") == "refiner":
        extra = ["--model.init_args.init_from", str(_small_export(corpus, tmp_path / "base"))]
    assert train_main([*_train_args(config, corpus, root), "--trainer.fast_dev_run", "1", *extra]) == 0
    assert list((root / "renders").glob("*.png"))  # validation rendered a phrase
    report = json.loads((root / "export" / "training_report.json").read_text())
    assert report["steps"] == 1 and report["data"]["licences"] == ["CC0-1.0"]
    if config.name != "small.yaml":
        return  # the export itself is the same code for every size: load and sing the small one only
    exported = AcousticModel.load(root / "export")
    assert exported.singers == ["alto", "tenor"] and exported.phonemes == ["SP", "ja/a", "ja/k", "ja/s"]
    short = [p for p in seq if p.symbol in exported.phoneme_ids]  # the corpus knows a, k, s, SP only
    assert exported.infer(type(seq)(phonemes=short[:4], language="ja")).n_frames > 0


def _small_export(corpus: Path, root: Path) -> Path:
    """A one-step small model trained on the tiny corpus: what a refiner config starts from."""
    from vocalsynth.train.acoustic import train_main

    if not (root / "export" / "model.safetensors").is_file():
        args = [*_train_args(CONFIGS / "acoustic" / "small.yaml", corpus, root), "--trainer.max_steps", "1"]
        assert train_main([*args, "--trainer.limit_val_batches", "0"]) == 0
    return root / "export"


@pytest.mark.filterwarnings("ignore:LightningCLI's args parameter")
def test_refiner_trains_alone_on_a_frozen_model(corpus, seq, tmp_path):
    pytest.importorskip("lightning")
    from vocalsynth.train.acoustic import train_main

    base = _small_export(corpus, tmp_path / "base")
    root = tmp_path / "refiner"
    args = [*_train_args(CONFIGS / "acoustic" / "small_refiner.yaml", corpus, root)]
    args += ["--model.init_args.init_from", str(base), "--trainer.max_steps", "3"]
    args += ["--trainer.limit_val_batches", "0", "--model.init_args.warmup_steps", "1"]
    assert train_main(args) == 0
    report = json.loads((root / "export" / "training_report.json").read_text())
    base_report = json.loads((base / "training_report.json").read_text())
    assert report["steps"] == 3 and report["inherited"]["steps"] == 1  # what the base cost is counted too
    assert report["wall_seconds"] >= base_report["wall_seconds"] + report["runs"][-1]["wall_seconds"] - 0.2
    before, after = AcousticModel.load(base), AcousticModel.load(root / "export")
    assert before.refiner is None and after.refiner is not None
    kept = after.state_dict()
    for name, value in before.state_dict().items():
        assert torch.equal(value, kept[name]), f"{name} moved while only the refiner trains"
    assert any(kept[k].abs().sum() > 0 for k in ("refiner.out.weight", "refiner.out.bias"))  # it learned

    short = type(seq)(phonemes=[p for p in seq if p.symbol in after.phoneme_ids][:6], language="ja")
    plain, refined = before.infer(short), after.infer(short)
    assert np.array_equal(plain.mel, after.infer(short, Controls(refine_steps=0)).mel)  # 0 steps: no refiner
    assert not np.allclose(plain.mel, refined.mel)
    assert np.array_equal(refined.mel, after.infer(short).mel)  # a fixed seed: the same render every time
    assert np.array_equal(plain.f0_hz, refined.f0_hz)  # the refiner touches the mel only


def test_refiner_config_errors(corpus, tmp_path):
    pytest.importorskip("lightning")
    from vocalsynth.train.acoustic import AcousticTask

    tables = {"phonemes": ["SP", "ja/a"], "singers": ["x"], "languages": ["ja"]}
    with pytest.raises(ValueError, match="needs init_from"):
        AcousticTask({**asdict(TINY), "refiner_channels": 16}, tables, train_part="refiner")
    with pytest.raises(ValueError, match="needs a model with a refiner"):
        AcousticTask(TINY, tables, train_part="refiner", init_from="x")
    with pytest.raises(ValueError, match="train_part must be one of"):
        AcousticTask(TINY, tables, train_part="decoder")
    other = AcousticModel(["SP", "ja/i"], ["x"], ["ja"], config=TINY).save(tmp_path / "other")
    with pytest.raises(AcousticModelError, match="phoneme table mismatch"):
        AcousticTask({**asdict(TINY), "refiner_channels": 16}, tables, init_from=str(other))


def test_pitch_correction_control_is_checked(model, seq):
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ScoreError, match="pitch_correction"):
            model.infer(seq, Controls(pitch_correction=bad))


@pytest.mark.parametrize("steps", [-1, 1.5, True, 33])
def test_refine_steps_control_is_checked(model, seq, steps):
    with pytest.raises(ScoreError, match="refine_steps"):
        model.infer(seq, Controls(refine_steps=steps))


def test_crop_keeps_whole_phonemes():
    pytest.importorskip("lightning")
    from vocalsynth.data.dataset import FRAME_PADDING
    from vocalsynth.train.acoustic import crop_item

    dur = torch.tensor([50, 300, 100, 30, 500, 20])
    t = int(dur.sum())
    item = {k: torch.zeros(4, t) if k in ("mel", "aperiodicity") else torch.zeros(t) for k in FRAME_PADDING}
    item["note_ctx"] = torch.arange(t, dtype=torch.float32).repeat(5, 1)
    n = dur.numel()
    item.update(
        ph_ids=torch.arange(1, n + 1),
        ph_dur=dur,
        ph_note_pitch=torch.zeros(n),
        ph_slur=torch.zeros(n, dtype=torch.bool),
    )
    item.update(
        ph_role=torch.ones(n, dtype=torch.long),
        ph_note_dur=torch.ones(n),
        ph_span=torch.tensor([0, 1, 1, 2, 3, 4]),
    )
    rng = np.random.default_rng(0)
    for _ in range(30):
        crop = crop_item(item, 400, rng)
        frames = crop["mel"].shape[-1]
        assert frames <= 400 and int(crop["ph_dur"].sum()) == frames == crop["note_ctx"].shape[-1]
        assert crop["ph_span"][0] == 0 and len(crop["ph_ids"]) == len(crop["ph_dur"]) == len(crop["ph_role"])
        first = int(crop["ph_ids"][0]) - 1  # the window starts on that phoneme's first frame
        assert crop["note_ctx"][0, 0] == int(dur[:first].sum())
    assert item["ph_dur"].tolist() == [50, 300, 100, 30, 500, 20]  # the cached item is untouched


def _class_paths(node) -> list[str]:
    if isinstance(node, dict):
        found = [node["class_path"]] if isinstance(node.get("class_path"), str) else []
        return found + [c for v in node.values() for c in _class_paths(v)]
    if isinstance(node, list):
        return [c for v in node for c in _class_paths(v)]
    return []


@pytest.mark.parametrize(
    "config",
    sorted(p for p in CONFIGS.rglob("*.yaml") if p.parent.name != "acoustic"),
    ids=lambda p: str(p.relative_to(CONFIGS)),
)
def test_other_configs_name_importable_classes(config):
    # configs of other stages are trained by their own entries (and tests); here: every class they name exists
    paths = _class_paths(yaml.safe_load(config.read_text()))
    for path in paths:
        module, _, name = path.rpartition(".")
        try:
            imported = importlib.import_module(module)
        except ImportError as e:
            pytest.skip(f"{module} does not import yet: {e}")
        assert hasattr(imported, name), f"{config.name}: {path} not found"


@pytest.mark.slow
def test_ddp_two_processes_and_resume(corpus, tmp_path):
    pytest.importorskip("lightning")
    root = tmp_path / "ddp"
    args = [
        sys.executable, "-m", "vocalsynth.train.acoustic",
        *_train_args(CONFIGS / "acoustic" / "small.yaml", corpus, root), "--threads", "1",
        "--trainer.strategy", "ddp", "--trainer.devices", "2", "--trainer.val_check_interval", "2",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for extra in (["--trainer.max_steps", "4"], ["--trainer.max_steps", "6", "--ckpt_path", "last"]):
        done = subprocess.run([*args, *extra], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        assert (root / "checkpoints" / "last.ckpt").is_file()
    report = json.loads((root / "export" / "training_report.json").read_text())
    assert report["steps"] == 6 and [r["steps"] for r in report["runs"]] == [[0, 4], [4, 6]]


def test_lr_schedule_warms_up_decays_and_anneals_to_zero_at_max_steps():
    pytest.importorskip("lightning")
    from vocalsynth.train.acoustic import lr_factor

    plain = [lr_factor(s, warmup=100) for s in range(1000)]
    assert plain[0] == pytest.approx(0.01) and plain[99] == pytest.approx(1.0)
    assert plain[399] == pytest.approx(0.5)  # inverse square root: 4x the warm-up, half the rate
    annealed = [lr_factor(s, warmup=100, total=1000, anneal=200) for s in range(1001)]
    assert annealed[:800] == plain[:800]  # the cool-down changes nothing before it starts
    tail = annealed[800:]
    assert all(a > b for a, b in zip(tail, tail[1:], strict=False)) and tail[-1] == 0.0
    assert tail[100] == pytest.approx(plain[800] / 2)  # a straight line from where it started
    assert lr_factor(1200, warmup=100, total=1000, anneal=200) == 0.0  # past max_steps: nothing moves


def test_anneal_steps_needs_max_steps(tmp_path):
    pl = pytest.importorskip("lightning.pytorch")
    from vocalsynth.train.acoustic import AcousticTask

    tables = {"phonemes": ["SP", "ja/a"], "singers": ["x"], "languages": ["ja"]}
    with pytest.raises(ValueError, match="anneal_steps must be >= 0"):
        AcousticTask(TINY, tables, anneal_steps=-1)
    task = AcousticTask(TINY, tables, anneal_steps=50)
    task.trainer = pl.Trainer(max_steps=-1, logger=False, default_root_dir=tmp_path)
    with pytest.raises(ValueError, match="needs trainer.max_steps"):
        task.configure_optimizers()
    task.trainer = pl.Trainer(max_steps=200, logger=False, default_root_dir=tmp_path)
    sched = task.configure_optimizers()["lr_scheduler"]["scheduler"]
    assert sched.lr_lambdas[0](199) == pytest.approx(sched.lr_lambdas[0](150) / 50)


def test_own_variance_items_decode_from_the_models_own_energy_and_breathiness(corpus):
    pytest.importorskip("lightning")
    from vocalsynth.train.acoustic import AcousticDataModule, AcousticTask

    dm = AcousticDataModule(str(corpus), batch_size=2, val_batch_size=2)
    dm.setup()
    batch = next(iter(dm.val_dataloader()))
    torch.manual_seed(0)
    net = AcousticModel(dm.tables["phonemes"], dm.tables["singers"], ["ja"], config=TINY).eval()
    louder = {**batch, "energy": batch["energy"] + 6.0, "aperiodicity": batch["aperiodicity"] * 0.5}
    with torch.no_grad():
        plain, moved = net(batch)["mel"], net(louder)["mel"]
        both = torch.tensor([True, False])
        own, own_moved = net(batch, both)["mel"], net(louder, both)["mel"]
    assert not torch.allclose(plain, moved)  # teacher-forced: the decoder follows the recording's inputs
    assert torch.equal(own[0], own_moved[0])  # item 0 decodes from the predictor's own, whatever was sung
    assert torch.equal(own[1], plain[1]) and torch.equal(own_moved[1], moved[1])  # item 1 as before
    with pytest.raises(ValueError, match="own_variance_share"):
        AcousticTask(TINY, dm.tables, own_variance_share=1.5)


def test_ladder_measures_each_rung_against_the_recording(corpus):
    """`vocalsynth.eval.ladder` on a generated song of the tiny corpus with an untrained model: every rung is
    measured, the copy (the recording's own features through the vocoder) is far closer than the rest."""
    pytest.importorskip("lightning")
    from vocalsynth import Synthesizer
    from vocalsynth.data.corpora import get_corpus
    from vocalsynth.eval.ladder import RECORDING, RUNGS, _song_items, format_table, measure_song
    from vocalsynth.eval.songs import HeldOutSong, build_score
    from vocalsynth.models.vocoder import load_vocoder

    torch.manual_seed(0)
    tables = json.loads((corpus / "manifest.json").read_text())
    net = AcousticModel(tables["phonemes"], tables["singers"], ["ja"], config=TINY).eval()
    with torch.no_grad():
        net.pitch.out.bias[1] = 20.0  # voiced everywhere, so every rung has F0 to compare
    synth = Synthesizer(net, load_vocoder("world", net.audio_config), cache_size=0)
    items = get_corpus("diffsinger").read(corpus.parent / "alto", language="ja")
    item = next(it for it in items if it.id.endswith("alto_2"))
    song = HeldOutSong(item, *build_score(item), reference=item, reference_source="labels")
    batch = _song_items(corpus, net, ["alto_2"])["alto_2"]
    assert int(batch["singer_id"][0]) == net.singer_index("alto")
    rungs = measure_song(synth, song, batch)
    assert list(rungs) == [*RUNGS, RECORDING]
    heard = {r: f.pop("heard") for r, f in rungs.items()}  # every rung and the recording are heard
    assert {h["reference"] for h in heard.values()} == {heard[RECORDING]["reference"]} != {""}
    assert all(h["cer"] >= 0 and h["chars"] == len(h["reference"]) for h in heard.values())
    del rungs[RECORDING]
    assert all(math.isfinite(f["mcd_db"]) and math.isfinite(f["vuv_error_pct"]) for f in rungs.values())
    assert math.isfinite(rungs["teacher-forced"]["f0_rmse_cents"])  # the recording's F0: voiced in both
    assert rungs["copy"]["mcd_db"] < 4 < rungs["teacher-forced"]["mcd_db"]  # an untrained decoder is lost
    cer = {r: h["cer"] for r, h in heard.items()}
    table = format_table({"voice": "tiny", "songs": ["alto_2"], "mean": rungs, "cer": cer})
    assert "| copy | " in table and "| from the score | " in table and f"| {RECORDING} | " in table
    with pytest.raises(ValueError, match="no aligned item for nothing"):
        _song_items(corpus, net, ["nothing"])


def test_vocoder_data_takes_the_acoustic_models_gta_mels(corpus, tmp_path):
    pytest.importorskip("lightning")
    from vocalsynth.train.gta import gta_mels, with_gta_mel
    from vocalsynth.train.vocoder import VocoderDataModule

    tables = json.loads((corpus / "manifest.json").read_text())
    torch.manual_seed(0)
    export = AcousticModel(tables["phonemes"], tables["singers"], ["ja"], config=TINY).save(tmp_path / "am")
    mels, held = gta_mels(export, corpus)
    train = {Path(e["audio"]).stem for e in tables["items"] if e["split"] == "train"}
    assert set(mels) == train and held == {Path(e["audio"]).stem for e in tables["items"]} - train
    wavs = [str(corpus.parent / s / "wavs") for s in ("alto", "tenor")]
    plain = VocoderDataModule(wavs, cache_dir=str(tmp_path / "cache"))
    gta = VocoderDataModule(
        wavs, cache_dir=str(tmp_path / "cache"), gta_acoustic=str(export), gta_data=str(corpus)
    )
    plain.setup()
    gta.setup()
    real = {Path(c.path).stem: c for c in plain.train_set.clips}
    taught = {Path(c.path).stem: c for c in gta.train_set.clips}
    assert set(taught) == set(real) - held  # the acoustic model's validation songs stay unheard
    for stem, clip in taught.items():
        assert clip.mel.shape == real[stem].mel.shape and np.array_equal(clip.audio, real[stem].audio)
        assert np.allclose(clip.mel, with_gta_mel(real[stem].mel, mels[stem]))
        assert not np.allclose(clip.mel, real[stem].mel)  # an untrained model's mel, not the recording's
    with pytest.raises(ValueError, match="does not match"):
        with_gta_mel(np.zeros((80, 100)), np.zeros((80, 90)))
    with pytest.raises(ValueError, match="go together"):
        VocoderDataModule(wavs, gta_acoustic=str(export))
