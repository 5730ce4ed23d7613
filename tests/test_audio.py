"""vocalsynth.audio: AudioConfig, file I/O and metadata, log-mel and energy, WORLD F0/voicing, pitch units."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch

from vocalsynth.audio import (
    MEL_FIELDS,
    AudioConfig,
    AudioConfigMismatch,
    AudioError,
    MelSpectrogram,
    cents,
    extract_f0,
    extract_features,
    frame_energy_db,
    hz_to_midi,
    interpolate_log_f0,
    load_audio,
    log_mel,
    mel_filterbank,
    midi_to_hz,
    read_audio_metadata,
    save_audio,
)

CFG = AudioConfig()
SR = CFG.sample_rate
METHODS = ("harvest", "dio")


def _tone(f0_hz, seconds: float, sr: int = SR, noise: float = 1e-3, seed: int = 0) -> np.ndarray:
    """A voice-like tone: harmonics falling 1/k up to 10 kHz, plus a faint noise floor.

    ``f0_hz`` is a number or a callable of time in seconds (for glides).
    """
    t = np.arange(int(seconds * sr)) / sr
    f = f0_hz(t) if callable(f0_hz) else np.full(t.size, float(f0_hz))
    phase = 2 * np.pi * np.cumsum(f) / sr
    n_harm = int(10000 / f.max())
    x = sum(0.3 / k * np.sin(k * phase) for k in range(1, n_harm + 1))
    x = x + noise * np.random.default_rng(seed).standard_normal(t.size)
    return x.astype(np.float32)


def _sine(hz: float, seconds: float, sr: int = SR, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (amplitude * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def _interior(values: np.ndarray, trim: int = 5) -> np.ndarray:
    return values[trim:-trim]


# ---------------------------------------------------------------- pitch units


def test_hz_midi_cents_conversions():
    assert hz_to_midi(440.0) == pytest.approx(69.0)
    assert isinstance(hz_to_midi(440.0), float)
    assert midi_to_hz(60) == pytest.approx(261.6256, abs=1e-4)
    midi = np.array([36.0, 60.5, 69.0, 84.25])
    np.testing.assert_allclose(hz_to_midi(midi_to_hz(midi)), midi)
    assert cents(440.0 * 2 ** (1 / 12), 440.0) == pytest.approx(100.0)
    assert cents(220.0, 440.0) == pytest.approx(-1200.0)
    # unvoiced (0 Hz) frames become NaN, without warnings
    with np.errstate(all="raise"):
        out = hz_to_midi(np.array([0.0, 440.0]))
        assert np.isnan(out[0]) and out[1] == pytest.approx(69.0)
        assert np.isnan(cents(np.array([0.0, 220.0]), 220.0)[0])


def test_interpolated_log_f0_bridges_unvoiced_gaps():
    f0 = np.array([0.0, 100.0, 0.0, 400.0, 0.0])
    expected = np.log([100.0, 100.0, 200.0, 400.0, 400.0])
    np.testing.assert_allclose(interpolate_log_f0(f0), expected, rtol=1e-6)
    # a frame the V/UV mask calls unvoiced is bridged even if it carries an F0
    np.testing.assert_allclose(
        interpolate_log_f0([100.0, 999.0, 400.0], [1, 0, 1])[1], np.log(200.0), rtol=1e-6
    )
    assert np.allclose(interpolate_log_f0(np.zeros(4), fill_hz=150.0), np.log(150.0))


# ---------------------------------------------------------------- AudioConfig


def test_config_round_trips_through_dict_and_validates():
    cfg = AudioConfig(sample_rate=48000, hop_length=480, fmax=16000)
    assert AudioConfig.from_dict(cfg.to_dict()) == cfg
    assert AudioConfig.from_dict({"sample_rate": 24000.0}) == AudioConfig()  # YAML may write ints as floats
    assert CFG.n_frames(2401) == 11 and CFG.frame_period_ms == pytest.approx(10.0)
    with pytest.raises(AudioError, match=r"ckpt\.pt.*unknown audio setting.*hop_size"):
        AudioConfig.from_dict({"hop_size": 256}, source="ckpt.pt")
    with pytest.raises(AudioError, match=r"fmax 13000.0 is above the Nyquist frequency 12000"):
        AudioConfig(fmax=13000)
    with pytest.raises(AudioError, match="hop_length must be a positive integer"):
        AudioConfig(hop_length=240.5)
    with pytest.raises(AttributeError):
        CFG.sample_rate = 22050  # frozen


def test_config_mismatch_names_fields_values_and_sources():
    acoustic = AudioConfig()
    vocoder = AudioConfig(sample_rate=22050, hop_length=256, fmax=11025)
    with pytest.raises(AudioConfigMismatch) as err:
        acoustic.check_compatible(
            vocoder, what_self="acoustic model checkpoint a.ckpt", what_other="vocoder v.ckpt"
        )
    msg = str(err.value)
    assert "acoustic model checkpoint a.ckpt has sample_rate 24000 but vocoder v.ckpt has 22050" in msg
    assert "hop_length 240" in msg and "has 256" in msg and "fmax 12000.0" in msg and "11025.0" in msg
    assert "n_mels" not in msg
    assert isinstance(err.value, ValueError)
    assert set(err.value.differences) == {"sample_rate", "hop_length", "fmax"}
    # the F0 search range does not change what a mel frame means
    AudioConfig(f0_min=80).check_compatible(acoustic, fields=MEL_FIELDS)
    with pytest.raises(AudioConfigMismatch, match="f0_min"):
        AudioConfig(f0_min=80).check_compatible(acoustic)


# ---------------------------------------------------------------- mel and energy


@pytest.mark.parametrize("n", [1, 239, 240, 241, 513, 12345])
def test_mel_has_n_over_hop_plus_one_frames(n):
    x = np.random.default_rng(n).standard_normal(n).astype(np.float32) * 0.1
    mel = log_mel(x, CFG)
    assert mel.shape == (CFG.n_mels, n // CFG.hop_length + 1)
    assert mel.dtype == torch.float32 and torch.isfinite(mel).all()


def test_mel_batches_and_module_matches_function():
    x = torch.from_numpy(np.stack([_tone(220, 0.3), _sine(1000, 0.3), np.zeros(7200, np.float32)]))
    batch = log_mel(x, CFG)
    assert batch.shape == (3, CFG.n_mels, 7200 // 240 + 1)
    for i in range(3):
        torch.testing.assert_close(batch[i], log_mel(x[i], CFG), rtol=1e-4, atol=1e-4)
    module = MelSpectrogram(CFG)
    assert module.state_dict() == {}  # buffers are rebuilt from the config, not saved
    torch.testing.assert_close(module(x[:, None, :]), batch[:, None], rtol=1e-4, atol=1e-4)
    # silence sits at the floor and still back-propagates finite gradients (losses on quiet output)
    assert torch.allclose(batch[2], torch.tensor(math.log(1e-5)))
    silent = torch.zeros(1, 4800, requires_grad=True)
    module(silent).sum().backward()
    assert torch.isfinite(silent.grad).all()


def test_mel_peak_sits_at_the_sine_frequency():
    mel = log_mel(_sine(1000.0, 0.3), CFG)
    band = int(mel[:, 10:-10].mean(dim=1).argmax())
    freqs = np.fft.rfftfreq(CFG.n_fft, 1 / SR)
    centre = freqs[int(mel_filterbank(CFG)[band].argmax())]
    assert abs(cents(centre, 1000.0)) < 100


def test_energy_is_frame_rms_in_dbfs():
    energy = frame_energy_db(_sine(440.0, 0.3, amplitude=0.5), CFG)
    np.testing.assert_allclose(_interior(energy.numpy()), 20 * np.log10(0.5 / np.sqrt(2)), atol=0.05)
    assert torch.all(frame_energy_db(np.zeros(2400, np.float32), CFG) == -100.0)


# ---------------------------------------------------------------- F0, voicing, aperiodicity


@pytest.mark.parametrize("method", METHODS)
def test_f0_of_a_220_hz_sine_within_a_few_cents(method):
    # A sine with a -54 dB noise floor, as any recording has: WORLD Harvest calls a perfectly clean
    # synthetic sine unvoiced, which no microphone ever delivers.
    f0, vuv = extract_f0(_sine(220.0, 0.4) + np.float32(1e-3) * _noise(9600), CFG, method)
    assert f0.shape == vuv.shape == (9600 // 240 + 1,)
    inner_f0, inner_vuv = _interior(f0), _interior(vuv)
    assert inner_vuv.mean() > 0.9
    err = np.abs(cents(inner_f0[inner_vuv > 0], 220.0))
    assert np.median(err) < 2 and err.max() < 5


@pytest.mark.parametrize("method", METHODS)
def test_f0_of_a_voice_like_tone(method):
    f0, vuv = extract_f0(_tone(311.13, 0.4), CFG, method)
    assert _interior(vuv).mean() > 0.9
    assert np.median(np.abs(cents(_interior(f0)[_interior(vuv) > 0], 311.13))) < 3


def _noise(n: int, amplitude: float = 1.0, seed: int = 1) -> np.ndarray:
    return (amplitude * np.random.default_rng(seed).standard_normal(n)).astype(np.float32)


@pytest.mark.parametrize("method", METHODS)
def test_silence_and_noise_are_unvoiced(method):
    for x in (np.zeros(7200, np.float32), _noise(7200, 0.2)):
        f0, vuv = extract_f0(x, CFG, method)
        assert vuv.sum() <= 1, f"{vuv.sum()} voiced frames in {'noise' if x.any() else 'silence'}"
        assert np.all(f0[vuv == 0] == 0)


@pytest.mark.parametrize("method", METHODS)
def test_glide_f0_follows_the_glide(method):
    seconds = 0.6
    glide = lambda t: 200.0 * 2 ** (t / seconds)  # noqa: E731  one octave up, 200 -> 400 Hz
    f0, vuv = extract_f0(_tone(glide, seconds), CFG, method)
    expected = glide(np.arange(f0.size) * CFG.hop_length / SR)
    inner = slice(5, -5)
    voiced = vuv[inner] > 0
    assert voiced.mean() > 0.9
    err = np.abs(cents(f0[inner][voiced], expected[inner][voiced]))
    assert np.median(err) < 3 and err.max() < 10


def test_aperiodicity_rises_with_breath_noise():
    clean = (
        extract_features(_tone(220, 0.3, noise=1e-3), CFG, f0_method="dio").aperiodicity[:, 5:-5].mean(axis=1)
    )
    breathy = (
        extract_features(_tone(220, 0.3, noise=0.03), CFG, f0_method="dio").aperiodicity[:, 5:-5].mean(axis=1)
    )
    assert np.all((clean >= 0) & (breathy <= 1))
    assert clean[0] < 0.01  # the lowest band of a harmonic voice is periodic
    assert np.all(breathy[1:] > 2 * clean[1:])


@pytest.mark.parametrize("n", [2401, 4799, 7213])
def test_features_are_frame_aligned_for_odd_lengths(n):
    feats = extract_features(_tone(261.63, n / SR), CFG, f0_method="dio")
    t = n // CFG.hop_length + 1
    assert feats.n_frames == t
    assert feats.mel.shape == (CFG.n_mels, t)
    assert feats.f0_hz.shape == feats.vuv.shape == feats.log_f0.shape == feats.energy.shape == (t,)
    assert feats.aperiodicity.shape == (CFG.n_aperiodicity_bands, t)
    for name, value in feats.as_arrays().items():
        assert value.dtype == np.float32 and np.isfinite(value).all(), name


def test_features_line_up_in_time_with_harvest():
    # 0.2 s silence, 0.4 s tone, 0.2 s breath-like noise: mel energy, voicing and aperiodicity must all
    # change at the same frames.
    x = np.concatenate([np.zeros(4800, np.float32), _tone(220, 0.4), _noise(4800, 0.05)])
    feats = extract_features(x, CFG, f0_method="harvest")
    frame = np.arange(feats.n_frames)
    on, off = 20, 60  # tone spans samples 4800..14400 = frames 20..60
    voiced = np.flatnonzero(feats.vuv)
    assert abs(voiced[0] - on) <= 2 and abs(voiced[-1] - off) <= 2
    assert np.all(feats.energy[frame < on - 5] == -100.0) and np.all(feats.energy[on + 2 : off - 2] > -20)
    tone_ap = feats.aperiodicity[:, on + 3 : off - 3]
    noise_ap = feats.aperiodicity[:, off + 5 :]
    assert tone_ap[0].mean() < 0.05 and np.allclose(noise_ap, 1.0, atol=1e-3)
    assert np.all(np.diff(feats.log_f0[on + 3 : off - 3]) == pytest.approx(0, abs=0.01))
    assert np.all(feats.f0_hz[feats.vuv == 0] == 0)


def test_extract_features_rejects_bad_input():
    with pytest.raises(AudioError, match="NaN"):
        extract_features(np.array([0.0, np.nan, 0.0] * 100, np.float32), CFG)
    with pytest.raises(AudioError, match="shape"):
        extract_features(np.zeros((2, 100), np.float32), CFG)
    with pytest.raises(AudioError, match="unknown F0 method 'crepe'"):
        extract_f0(np.zeros(2400, np.float32), CFG, "crepe")


# ---------------------------------------------------------------- file I/O


@pytest.mark.parametrize(
    "name, subtype, atol",
    [
        ("a.wav", None, 1 / 32767),
        ("a.wav", "PCM_24", 1e-6),
        ("a.wav", "FLOAT", 0.0),
        ("a.flac", None, 1 / 32767),
    ],
)
def test_save_load_round_trip(tmp_path, name, subtype, atol):
    x = _tone(220, 0.25)
    out = save_audio(tmp_path / name, x, SR, subtype=subtype)
    np.testing.assert_allclose(load_audio(out, CFG), x, atol=atol + 1e-7)
    assert [p.name for p in tmp_path.iterdir()] == [name]  # the temporary file was renamed, none left


@pytest.mark.parametrize("name", ["labelled.wav", "labelled.flac"])
def test_metadata_round_trip(tmp_path, name):
    meta = {
        "title": "Furusato (synthesized)",
        "artist": "vocalsynth voice: pjs-demo",
        "comment": '{"ai_generated": true, "score_sha256": "ab12", "model": "0.1.0"} — 歌声合成',
        "software": "vocalsynth 0.1.0",
        "date": "2025-01-31",
    }
    if name.endswith(".flac"):
        meta["license"] = "CC-BY-4.0"
    save_audio(tmp_path / name, _sine(440, 0.1), SR, metadata=meta)
    assert read_audio_metadata(tmp_path / name) == meta


def test_metadata_the_format_cannot_hold_is_an_error_and_leaves_the_old_file(tmp_path):
    target = tmp_path / "out.wav"
    save_audio(target, _sine(440, 0.1), SR, metadata={"title": "first"})
    with pytest.raises(AudioError, match=r"out\.wav.*WAV files can't hold metadata field\(s\) license"):
        save_audio(target, _sine(440, 0.1), SR, metadata={"license": "CC0"})
    with pytest.raises(AudioError, match=r"out\.wav.*'comment'.*did not survive"):
        save_audio(target, _sine(220, 0.1), SR, metadata={"comment": "x" * 3000})
    assert read_audio_metadata(target) == {"title": "first"}
    assert [p.name for p in tmp_path.iterdir()] == ["out.wav"]


def test_save_rejects_bad_requests(tmp_path):
    with pytest.raises(AudioError, match=r"a\.mp3.*extension"):
        save_audio(tmp_path / "a.mp3", _sine(440, 0.1), SR)
    with pytest.raises(AudioError, match="FLAC can't be written as FLOAT"):
        save_audio(tmp_path / "a.flac", _sine(440, 0.1), SR, subtype="FLOAT")
    with pytest.raises(AudioError, match="NaN"):
        save_audio(tmp_path / "a.wav", np.array([0.0, np.nan], np.float32), SR)
    with pytest.raises(AudioError, match="no samples"):
        save_audio(tmp_path / "a.wav", np.zeros(0, np.float32), SR)
    assert list(tmp_path.iterdir()) == []


def test_resampling_48k_to_24k_keeps_pitch(tmp_path):
    sf.write(tmp_path / "hi.wav", _tone(220, 0.4, sr=48000), 48000, subtype="FLOAT")
    x = load_audio(tmp_path / "hi.wav", CFG)
    assert x.dtype == np.float32 and abs(x.size - 9600) <= 1
    f0, vuv = extract_f0(x, CFG, "dio")
    assert np.median(np.abs(cents(_interior(f0)[_interior(vuv) > 0], 220.0))) < 3


def test_multichannel_is_mixed_down_by_averaging(tmp_path):
    left, right = _sine(440, 0.1), np.full(2400, 0.25, np.float32)
    sf.write(tmp_path / "st.wav", np.stack([left, right], axis=1), SR, subtype="FLOAT")
    np.testing.assert_allclose(load_audio(tmp_path / "st.wav", CFG), (left + right) / 2, atol=1e-7)


def _valid_wav_bytes(tmp_path) -> bytes:
    save_audio(tmp_path / "ok.wav", _sine(440, 0.1), SR)
    return (tmp_path / "ok.wav").read_bytes()


@pytest.mark.parametrize(
    "case, expected",
    [
        ("missing", "file not found"),
        ("directory", "not a file"),
        ("empty", r"empty \(0 bytes\)"),
        ("garbage", "not a readable audio file"),
        ("text", "not a readable audio file"),
        ("header_only", "not a readable audio file|no samples"),
        ("zero_frames", r"no samples \(zero-length audio\)"),
        ("nan", r"sample 3 \(0\.000 s\), channel 0: value is NaN"),
    ],
)
def test_load_errors_name_the_file(tmp_path, case, expected):
    path = tmp_path / f"{case}.wav"
    if case == "directory":
        path.mkdir()
    elif case == "empty":
        path.write_bytes(b"")
    elif case == "garbage":
        path.write_bytes(np.random.default_rng(0).bytes(4000))
    elif case == "text":
        path.write_text("this is a lyric sheet, not audio\n" * 20)
    elif case == "header_only":
        path.write_bytes(_valid_wav_bytes(tmp_path)[:20])
    elif case == "zero_frames":
        sf.write(path, np.zeros(0, np.float32), SR)
    elif case == "nan":
        sf.write(path, np.array([0.0, 0.1, 0.2, np.nan, 0.0], np.float32), SR, subtype="FLOAT")
    with pytest.raises(AudioError, match=expected) as err:
        load_audio(path, CFG)
    assert f"{case}.wav" in str(err.value)


def test_corrupt_flac_data_is_an_audio_error(tmp_path):
    data = bytearray((save_audio(tmp_path / "ok.flac", _tone(220, 0.5), SR)).read_bytes())
    data[300:600] = bytes(300)  # wipe part of the first audio frames
    (tmp_path / "bad.flac").write_bytes(bytes(data))
    with pytest.raises(AudioError, match=r"bad\.flac: corrupt audio data"):
        load_audio(tmp_path / "bad.flac", CFG)


def test_load_refuses_files_longer_than_allowed(tmp_path):
    save_audio(tmp_path / "long.wav", np.zeros(SR * 3, np.float32), SR)
    with pytest.raises(AudioError, match=r"long\.wav: 3\.0 s long, more than the 2 s allowed"):
        load_audio(tmp_path / "long.wav", CFG, max_seconds=2)


def test_pitch_units_import_without_torch():
    # score readers use these helpers and must not pull in torch
    code = (
        "import sys; from vocalsynth.audio import hz_to_midi, AudioConfig; assert 'torch' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
