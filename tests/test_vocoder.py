"""Vocoders: output length, F0 following, silence, a training step, save/load, AudioConfig checks, WORLD
baseline copy-synthesis, the metrics, the configs and the training CLI (slow)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import pyworld
import soundfile as sf
import torch

from vocalsynth.audio import AudioConfig, AudioConfigMismatch, log_mel, read_audio_metadata
from vocalsynth.audio.mel import LOG_CLAMP
from vocalsynth.models.vocoder import SourceFilterVocoder, Vocoder, VocoderError, WorldVocoder, vocode
from vocalsynth.models.vocoder.source import HarmonicNoiseSource, fill_unvoiced
from vocalsynth.models.vocoder.world import world_resynthesis

CFG = AudioConfig()
SR, HOP = CFG.sample_rate, CFG.hop_length
CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "vocoder"


pytestmark = pytest.mark.usefixtures("one_thread")


def tiny(**kw) -> SourceFilterVocoder:
    torch.manual_seed(0)
    return SourceFilterVocoder(dim=32, intermediate_dim=64, num_layers=2, **kw).eval()


def glide_f0(n_frames: int, lo: float = 180.0, hi: float = 420.0, vibrato_cents: float = 50.0) -> np.ndarray:
    """Exponential glide with 5.5 Hz vibrato, frame rate 100 Hz."""
    t = np.arange(n_frames) / CFG.frames_per_second
    base = lo * (hi / lo) ** (np.arange(n_frames) / (n_frames - 1))
    return (base * 2 ** (vibrato_cents / 1200 * np.sin(2 * np.pi * 5.5 * t))).astype(np.float32)


def voice(f0: np.ndarray, rolloff: float = 1.0) -> np.ndarray:
    """A harmonic 'voice' at frame F0 (samples T * hop): harmonics at 1/k^rolloff up to 8 kHz."""
    f = np.repeat(f0.astype(np.float64), HOP)
    phase = 2 * np.pi * np.cumsum(f) / SR
    x = np.zeros_like(f)
    for k in range(1, 60):
        x += np.where(k * f < 8000, np.sin(k * phase) / k**rolloff, 0.0)
    return (0.2 * x / np.abs(x).max()).astype(np.float32)


def measured_f0(x: np.ndarray, ceil: float = 1000.0) -> np.ndarray:
    x = np.ascontiguousarray(x, dtype=np.float64)
    f0, t = pyworld.dio(x, SR, f0_floor=80.0, f0_ceil=ceil, frame_period=CFG.frame_period_ms)
    return pyworld.stonemask(x, f0, t, SR)


def cents_error(measured: np.ndarray, target: np.ndarray, edge: int = 5) -> np.ndarray:
    n = min(measured.size, target.size)
    m, t = measured[edge : n - edge], target[edge : n - edge]
    ok = (m > 0) & (t > 0)
    assert ok.mean() > 0.9, "the tracker should find the output voiced almost everywhere"
    return np.abs(1200 * np.log2(m[ok] / t[ok]))


# ---- shapes and the source -----------------------------------------------------------------------------
@pytest.mark.parametrize("n_frames", [1, 7, 37])
def test_output_length_is_frames_times_hop(n_frames):
    mel = torch.randn(2, CFG.n_mels, n_frames) - 5
    f0 = torch.full((2, n_frames), 220.0)
    f0[1, ::2] = 0
    with torch.no_grad():
        y = tiny()(mel, f0)
    assert y.shape == (2, n_frames * HOP) and y.dtype == torch.float32 and torch.isfinite(y).all()
    assert WorldVocoder()(mel, f0).shape == (2, n_frames * HOP)


def test_bad_input_shapes_are_refused():
    with pytest.raises(ValueError, match="mel must be"):
        tiny()(torch.zeros(1, 64, 10), torch.zeros(1, 10))
    with pytest.raises(ValueError, match="f0_hz must be"):
        tiny()(torch.zeros(1, CFG.n_mels, 10), torch.zeros(1, 11))


def test_fill_unvoiced_holds_neighbouring_pitch():
    f0 = torch.tensor([[0, 0, 100.0, 0, 200, 0], [0, 0, 0, 0, 0, 0]])
    assert fill_unvoiced(f0).tolist() == [[100, 100, 100, 100, 200, 200], [0] * 6]


def test_source_is_the_band_limited_harmonic_sum():
    src = HarmonicNoiseSource(SR, HOP, max_hz=5000.0)
    f0 = torch.tensor([[310.0, 330.0, 360.0]])
    pulses = src.harmonic(f0).double()
    phi = 2 * np.pi * src.phase(f0).double()
    # harmonics per frame (5000 / f0), linear between frame centres like the F0 itself
    n_harmonics = torch.from_numpy(
        np.interp(np.arange(3 * HOP) / HOP, [0, 1, 2], 5000.0 / f0[0].double().numpy())
    )
    direct = torch.zeros_like(pulses)
    for k in range(1, 18):
        # harmonic k at full weight below the limit, the one just above faded in by the fraction
        weight = (n_harmonics - k + 1).clamp(0, 1)
        direct += weight * torch.cos(k * phi)
    assert torch.allclose(pulses, direct, atol=2e-3)


def test_source_follows_a_glide_with_vibrato_and_out_of_range_notes():
    f0 = glide_f0(300, lo=150.0, hi=1500.0)  # ends above the AudioConfig's f0_max of 1100 Hz
    f0[:20] = 0  # leading unvoiced stretch: noise only
    harmonic, noise, voicing = HarmonicNoiseSource(SR, HOP)(torch.from_numpy(f0)[None])
    assert harmonic[0, : 19 * HOP].abs().max() == 0 and voicing[0, -1] == 1
    x = harmonic[0].numpy()
    err = cents_error(measured_f0(x / np.abs(x).max(), ceil=2000.0)[25:], f0[25:])
    assert np.median(err) < 5 and np.percentile(err, 95) < 20


def test_untrained_model_follows_the_glide():
    f0 = glide_f0(200)
    mel = log_mel(voice(f0), CFG)[None, :, :200]  # T * hop samples have T + 1 frames: keep T
    with torch.no_grad():
        y = tiny()(mel, torch.from_numpy(f0)[None])[0].numpy()
    err = cents_error(measured_f0(y), f0)
    assert np.median(err) < 10 and np.percentile(err, 90) < 20
    # the prior filter already carries the mel's envelope: the copy's mel is close to the input's
    assert (log_mel(y, CFG)[:, 5:195] - mel[0, :, 5:195]).abs().mean() < 0.5


def test_silence_in_gives_near_silence_out():
    mel = torch.full((1, CFG.n_mels, 50), float(np.log(LOG_CLAMP)))
    with torch.no_grad():
        y = tiny()(mel, torch.zeros(1, 50))
    assert y.abs().max() < 1e-3
    assert WorldVocoder()(mel, torch.zeros(1, 50)).abs().max() < 1e-3


# ---- training --------------------------------------------------------------------------------------------
def test_a_few_training_steps_reduce_the_loss():
    from vocalsynth.train.vocoder import VocoderTask

    torch.manual_seed(0)
    task = VocoderTask(tiny().train(), stft_resolutions=((256, 64), (1024, 256)))
    f0 = np.stack([glide_f0(40, 200, 300), glide_f0(40, 300, 250)])
    audio = torch.from_numpy(np.stack([voice(f, rolloff=2.0) for f in f0]))
    mel, f0_t = log_mel(audio, CFG)[..., :40], torch.from_numpy(f0)
    noise = torch.randn(audio.shape, generator=torch.Generator().manual_seed(1))
    opt = torch.optim.Adam(task.vocoder.parameters(), lr=3e-3)

    def loss() -> torch.Tensor:
        return task.spectral_losses(task.vocoder(mel, f0_t, noise=noise), audio)["loss"]

    first = loss().item()
    for _ in range(8):
        opt.zero_grad()
        loss().backward()
        opt.step()
    assert loss().item() < 0.95 * first


# ---- persistence ----------------------------------------------------------------------------------------
def test_save_load_round_trip_gives_identical_output(tmp_path):
    model = tiny()
    with torch.no_grad():  # make the head non-zero so the weights matter
        model.head.weight.normal_(std=0.01)
    folder = model.save(tmp_path / "voc")
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]
    config = json.loads((folder / "config.json").read_text())
    assert config["kind"] == "source_filter" and config["audio_config"] == CFG.to_dict()
    loaded = Vocoder.from_pretrained(folder)
    assert isinstance(loaded, SourceFilterVocoder) and loaded.hparams_dict == model.hparams_dict
    mel, f0 = torch.randn(1, CFG.n_mels, 23) - 4, torch.full((1, 23), 300.0)
    noise = torch.randn(1, 23 * HOP)
    with torch.no_grad():
        assert torch.equal(model(mel, f0, noise=noise), loaded(mel, f0, noise=noise))


def test_audio_config_mismatch_is_refused(tmp_path):
    folder = tiny().save(tmp_path / "voc")
    with pytest.raises(AudioConfigMismatch, match=r"hop_length 240 .* 256"):
        Vocoder.from_pretrained(folder, audio_config=AudioConfig(hop_length=256))
    Vocoder.from_pretrained(folder, audio_config=AudioConfig(f0_max=900.0))  # F0 range does not matter
    with pytest.raises(AudioConfigMismatch, match="n_mels"):
        tiny().check_compatible(AudioConfig(n_mels=64))


def test_broken_vocoder_folders_give_clear_errors(tmp_path):
    with pytest.raises(VocoderError, match="no config.json"):
        Vocoder.from_pretrained(tmp_path)
    folder = tiny().save(tmp_path / "voc")
    with pytest.raises(VocoderError, match="not a 'world' one"):
        WorldVocoder.from_pretrained(folder)
    (folder / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(VocoderError, match="unreadable model.safetensors"):
        Vocoder.from_pretrained(folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "kind": "os.system"}))
    with pytest.raises(VocoderError, match="unknown vocoder kind"):
        Vocoder.from_pretrained(folder)


# ---- WORLD baseline and copy-synthesis -------------------------------------------------------------------
def test_world_copy_synthesis_keeps_the_f0_of_a_tone(tmp_path):
    f0 = glide_f0(150, 220, 330, vibrato_cents=30)
    x = voice(f0, rolloff=1.5)
    wav = tmp_path / "tone.wav"
    sf.write(wav, x, SR)
    out = vocode(wav, tmp_path / "copy.wav", "world")
    y, sr = sf.read(out)
    assert sr == SR and len(y) == len(x)
    assert "AI-generated (vocoder copy-synthesis)" in read_audio_metadata(out)["comment"]
    err = cents_error(measured_f0(y), f0)
    assert np.median(err) < 10 and np.percentile(err, 90) < 20
    # level kept within a few dB
    assert 0.5 < np.std(y) / np.std(x) < 2.0
    y2 = world_resynthesis(x, CFG, f0_method="dio")
    assert np.median(cents_error(measured_f0(y2), f0)) < 10


def test_vocode_with_a_saved_neural_vocoder(tmp_path):
    folder = tiny().save(tmp_path / "voc")
    x = voice(glide_f0(60, 250, 260))
    sf.write(tmp_path / "in.flac", x, SR)
    out = vocode(tmp_path / "in.flac", tmp_path / "out.flac", str(folder), f0_method="dio")
    y, _ = sf.read(out)
    assert len(y) == len(x) and "source_filter" in read_audio_metadata(out)["comment"]


# ---- metrics -------------------------------------------------------------------------------------------
def test_metrics_are_zero_for_identical_signals_and_grow_with_damage():
    from vocalsynth.eval.vocoder_metrics import f0_metrics, mcd, mcep_alpha, stft_distance

    assert mcep_alpha(24000) == 0.466 and mcep_alpha(16000) == 0.41
    f0 = glide_f0(100, 200, 260)
    x = voice(f0)
    assert mcd(x, x, CFG) == pytest.approx(0.0, abs=1e-6)
    assert stft_distance(x, x) == pytest.approx(0.0, abs=1e-6)
    rmse, vuv = f0_metrics(x, x, CFG)
    assert rmse == pytest.approx(0.0, abs=1e-6) and vuv == 0.0
    dull = np.convolve(x, np.ones(8) / 8, mode="same").astype(np.float32)  # low-passed
    assert mcd(x, dull, CFG) > 1.0 and stft_distance(x, dull) > 0.1
    sharp = voice(f0 * 2 ** (50 / 1200))  # 50 cents sharp
    assert 40 < f0_metrics(x, sharp, CFG)[0] < 60
    with pytest.raises(ValueError, match="frames"):
        mcd(x, x, CFG, f0)  # T * hop samples have T + 1 frames


def test_copy_synthesis_report_puts_vocoders_side_by_side(tmp_path):
    from vocalsynth.eval.vocoder_metrics import copy_synthesis_report

    sf.write(tmp_path / "a.wav", voice(glide_f0(80, 220, 260)), SR)
    folder = tiny().save(tmp_path / "voc")
    report = copy_synthesis_report([tmp_path / "a.wav"], [str(folder), "world"], out_dir=tmp_path / "out")
    text = str(report)
    assert "| neural (" in text and "| world (mel + F0) |" in text and "RTF" in text
    assert report.mean("world (mel + F0)")["f0_rmse_cents"] < 30
    assert len(list((tmp_path / "out").glob("a.*.wav"))) == 2


# ---- configs and the CLI -------------------------------------------------------------------------------
@pytest.mark.parametrize("config", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.name)
def test_every_vocoder_config_builds(config, tmp_path):
    pytest.importorskip("jsonargparse")
    from vocalsynth.train.vocoder import VocoderDataModule, VocoderTask, _cli_class

    cli = _cli_class()(
        args=[
            "--config",
            str(config),
            "--trainer.default_root_dir",
            str(tmp_path),
            "--model.init_args.init_from",
            "null",
        ],
        run=False,
    )
    assert isinstance(cli.model, VocoderTask) and isinstance(cli.datamodule, VocoderDataModule)
    assert 1e6 < sum(p.numel() for p in cli.model.vocoder.parameters()) < 3e6
    assert cli.datamodule.audio_config == cli.model.vocoder.audio_config
    assert any(
        Path(getattr(cb, "dirpath", "") or "") == tmp_path / "checkpoints" for cb in cli.trainer.callbacks
    )


@pytest.mark.slow
def test_train_main_trains_checkpoints_exports_and_resumes(tmp_path):
    from vocalsynth.train.vocoder import train_main

    data = tmp_path / "data"
    data.mkdir()
    for i in range(3):
        sf.write(data / f"s{i}.wav", voice(glide_f0(150, 200 + 40 * i, 300)), SR)
    root = tmp_path / "run"
    common = [
        "--config", str(CONFIGS / "small.yaml"),
        "--trainer.default_root_dir", str(root),
        "--trainer.val_check_interval", "2",
        "--checkpoint.every_n_train_steps", "2",
        "--model.init_args.vocoder.init_args.dim", "32",
        "--model.init_args.vocoder.init_args.intermediate_dim", "64",
        "--data.init_args.paths", f"[{data}]",
        "--data.init_args.held_out", "[s2*]",
        "--data.init_args.cache_dir", str(tmp_path / "cache"),
        "--data.init_args.f0_method", "dio",
        "--data.init_args.steps_per_epoch", "10",
        "--data.init_args.val_segment_frames", "80",
        "--energy_country", "USA",
    ]  # fmt: skip

    def last_step() -> int:
        return torch.load(root / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)[
            "global_step"
        ]

    # 3 steps with checkpoints every 2: the end of training saves step 3 too
    train_main([*common, "--trainer.max_steps", "3"])
    assert last_step() == 3
    assert Vocoder.from_pretrained(root / "vocoder").kind == "source_filter"
    train_main([*common, "--trainer.max_steps", "5", "--ckpt_path", "last"])
    assert last_step() == 5
    assert sorted(p.name for p in (root / "checkpoints").glob("last*")) == ["last.ckpt"]
    assert json.loads((root / "vocoder" / "config.json").read_text())["extra"]["global_step"] == 5
    # both run segments are in the vocoder's training report, with their energy
    report = json.loads((root / "vocoder" / "training_report.json").read_text())
    assert report["model"] == "vocoder" and report["steps"] == 5
    assert [r["steps"] for r in report["runs"]] == [[0, 3], [3, 5]]
    assert report["energy_kwh"] is not None and report["energy_kwh"] > 0


def test_two_vocoder_folders_with_the_same_name_get_their_own_rows():
    from vocalsynth.eval.vocoder_metrics import _label, _unique

    labels = _unique([_label("/a/run/vocoder"), _label("/b/run/vocoder"), _label("world")])
    assert labels == ["neural (run/vocoder)", "neural (run/vocoder) #2", "world (mel + F0)"]


def test_a_fine_tune_inherits_its_base_vocoders_training(tmp_path):
    from vocalsynth.train.vocoder import _inherited

    base = tmp_path / "base"
    base.mkdir()
    (base / "config.json").write_text(json.dumps({"extra": {"global_step": 5900}}))
    old = _inherited(str(base))  # a vocoder from before reports: its steps from the config, cost unknown
    assert old["steps"] == 5900 and old["wall_seconds"] == 0.0 and old["energy_kwh"] is None
    (base / "training_report.json").write_text(
        json.dumps({"steps": 6000, "wall_seconds": 3600.0, "energy_kwh": 0.01, "emissions_kg_co2eq": 0.004})
    )
    new = _inherited(str(base))
    assert new["steps"] == 6000 and new["wall_seconds"] == 3600.0 and new["energy_kwh"] == 0.01
    assert _inherited(None) is None and _inherited(str(tmp_path / "last.ckpt")) is None
