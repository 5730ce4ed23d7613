"""`vocalsynth export-openutau`: the voicebank OpenUtau loads, fed what OpenUtau feeds (onnxruntime 1.23.2,
the version OpenUtau references), checked against PyTorch. The default voice is exported once per module."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch
import yaml

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

from vocalsynth.export import ExportError, export_openutau  # noqa: E402
from vocalsynth.export.dsp import ConvISTFT, ConvSTFT, PolyphaseResampler, fill_unvoiced  # noqa: E402
from vocalsynth.export.ja_dict import OPENUTAU_ROMAJI  # noqa: E402
from vocalsynth.export.openutau_feed import (  # noqa: E402
    HEAD_FRAMES,
    TAIL_FRAMES,
    Note,
    Voicebank,
    VoicebankError,
    frames_from_ms,
    semitones,
    verify_inputs,
)

pytestmark = pytest.mark.usefixtures("one_thread")

SAKURA = [Note("さ", 55, 1000, 500), Note("く", 57, 1500, 500), Note("ら", 59, 2000, 500)]  # G3 A3 B3


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    return export_openutau("default", tmp_path_factory.mktemp("ou") / "default")


@pytest.fixture(scope="module")
def bank(exported):
    return Voicebank(exported.folder, threads=1)


def test_ort_is_the_version_openutau_references():
    assert ort.__version__ == "1.23.2"


def test_layout_and_configs(exported):
    root = exported.folder
    for rel in (
        "character.txt",
        "character.yaml",
        "dsconfig.yaml",
        "acoustic.onnx",
        "phonemes.json",
        "dsvocoder/vocoder.yaml",
        "dsvocoder/vocoder.onnx",
        "dsdur/dsconfig.yaml",
        "dsdur/linguistic.onnx",
        "dsdur/dur.onnx",
        "dsdur/dsdict-ja.yaml",
        "dsdur/phonemes.json",
    ):
        assert (root / rel).is_file(), rel
    assert not list(root.parent.glob(".*part*")), "the temporary build folder was left behind"
    char = yaml.safe_load((root / "character.yaml").read_text(encoding="utf-8"))
    assert char["singer_type"] == "diffsinger"
    assert char["text_file_encoding"] == "utf-8"
    assert char["default_phonemizer"] == "OpenUtau.Core.DiffSinger.DiffSingerJapanesePhonemizer"
    assert char["name"] == "vocalsynth default"
    subbanks = char["subbanks"]  # one per singer, the default (no suffix) first, each for every key
    assert [b["suffix"] for b in subbanks] == [""] + exported.speakers[1:]
    assert all(b["tone_ranges"] == ["C1-B7"] for b in subbanks)
    ds = yaml.safe_load((root / "dsconfig.yaml").read_text(encoding="utf-8"))
    voc = yaml.safe_load((root / "dsvocoder" / "vocoder.yaml").read_text(encoding="utf-8"))
    dur = yaml.safe_load((root / "dsdur" / "dsconfig.yaml").read_text(encoding="utf-8"))
    assert ds["acoustic"] and ds["vocoder"] and ds["phonemes"]
    assert (ds["sample_rate"], ds["hop_size"]) == (44100, 441) == (dur["sample_rate"], dur["hop_size"])
    for key in ("sample_rate", "hop_size", "win_size", "fft_size", "num_mel_bins", "mel_fmin", "mel_fmax"):
        assert ds[key] == voc[key], key
    assert ds["mel_base"] == voc["mel_base"] == "e" and ds["mel_scale"] == voc["mel_scale"] == "slaney"
    assert ds["use_continuous_acceleration"] is True and ds["use_variable_depth"] is False
    assert ds["use_key_shift_embed"] is True and ds["augmentation_args"]["random_pitch_shifting"]["range"]
    for flag in ("use_speed_embed", "use_energy_embed", "use_breathiness_embed", "use_lang_id"):
        assert ds[flag] is False, flag
    # the default voice has several singers: one .emb of hidden_size float32 each, the default first
    assert ds["speakers"][0] == "pjs" and ds["hidden_size"] == len(ds["speakers"]) == len(exported.speakers)
    for name in ds["speakers"]:
        for where in (root, root / "dsdur"):
            assert (where / f"{name}.emb").stat().st_size == 4 * ds["hidden_size"]
    table = json.loads((root / "phonemes.json").read_text(encoding="utf-8"))
    assert table["<PAD>"] == 0 and "SP" in table and "AP" in table
    assert exported.checks and all(v < 1e-3 for v in exported.checks.values()), exported.checks


def test_licence_and_ai_label_are_carried(exported):
    from vocalsynth.voices import load_voice, resolve_voice

    card = load_voice(resolve_voice("default")).card
    licence = " ".join(card.licence.split())
    text = (exported.folder / "readme.txt").read_text(encoding="utf-8")
    assert licence in text and "AI-generated" in text
    assert licence in (exported.folder / "LICENSE.txt").read_text(encoding="utf-8")
    for t in card.training_data:
        assert t["corpus"] in text
    # character.txt: OpenUtau keeps the lines that are no field of its own as the singer's info
    fields = ("name", "名前", "image", "author", "created by", "voice", "cv", "sample", "web", "version")
    lines = (exported.folder / "character.txt").read_text(encoding="utf-8").splitlines()
    info = [ln for ln in lines if not ln.startswith(("name=", "author="))]
    assert any(licence in ln for ln in info) and any("AI-generated" in ln for ln in info)
    for ln in info:
        key = ln.split("=", 1)[0].split(":", 1)[0].strip().lower()
        assert not (key in fields or key.startswith("voice")), ln


def test_onnx_files_are_single_file_opset_17_dynamic(exported):
    for rel in ("acoustic.onnx", "dsvocoder/vocoder.onnx", "dsdur/linguistic.onnx", "dsdur/dur.onnx"):
        model = onnx.load(str(exported.folder / rel), load_external_data=False)
        assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) <= 17, rel
        assert all(t.data_location != onnx.TensorProto.EXTERNAL for t in model.graph.initializer), rel
        for i in model.graph.input:
            dims = i.type.tensor_type.shape.dim
            if len(dims) >= 2:
                assert dims[1].dim_param, f"{rel}: input {i.name} has a fixed time axis"


def test_acoustic_inputs_match_the_flags_exactly(bank):
    sess = bank.acoustic
    inputs = {i.name: (i.type, i.shape) for i in sess.get_inputs()}
    assert set(inputs) == {"tokens", "durations", "f0", "gender", "steps", "spk_embed"}
    assert inputs["tokens"][0] == inputs["durations"][0] == inputs["steps"][0] == "tensor(int64)"
    assert inputs["f0"][0] == inputs["gender"][0] == inputs["spk_embed"][0] == "tensor(float)"
    assert inputs["steps"][1] == [1]
    phones, _, _ = bank.phonemize(SAKURA)
    feeds = bank.acoustic_feeds(phones, SAKURA)
    verify_inputs(sess, feeds, "acoustic")
    without = {k: v for k, v in feeds.items() if k != "steps"}
    with pytest.raises(VoicebankError, match=r"Missing input\(s\): \['steps'\]"):
        verify_inputs(sess, without, "acoustic")
    with pytest.raises(VoicebankError, match=r"Unexpected input\(s\): \['speedup'\]"):
        verify_inputs(sess, {**feeds, "speedup": np.array([50], np.int64)}, "acoustic")


def test_kana_on_three_notes_sings_the_notes_at_44k_with_silent_padding(bank):
    import pyworld

    r = bank.render(SAKURA)
    assert [p.symbol for p in r.phones] == ["s", "a", "k", "u", "r", "a"]
    assert [p.start_ms for p in r.phones if p.symbol == "a" or p.symbol == "u"] == [1000, 1500, 2000]
    n_frames = r.feeds["f0"].shape[1]
    assert r.feeds["durations"][0, 0] == HEAD_FRAMES and r.feeds["durations"][0, -1] == TAIL_FRAMES
    assert int(r.feeds["durations"].sum()) == n_frames and (r.feeds["f0"] > 0).all()
    assert r.mel.shape == (1, n_frames, 81) and r.mel.dtype == np.float32
    assert r.sample_rate == 44100 and r.waveform.shape == (n_frames * 441,)
    assert np.isfinite(r.waveform).all()
    f0, _ = pyworld.harvest(r.waveform.astype(np.float64), 44100, f0_floor=65, f0_ceil=1100, frame_period=10)
    t0 = r.phones[0].start_ms - HEAD_FRAMES * r.frame_ms
    for note in SAKURA:  # the middle of each note: voiced, on its key within 50 cents
        a = int((note.start_ms - t0) / 10) + 10
        b = int((note.start_ms + note.length_ms - t0) / 10) - 10
        seg = f0[a:b]
        assert (seg > 0).mean() > 0.9
        assert abs(np.median(semitones(seg[seg > 0])) - note.key) < 0.5

    def dbfs(x):
        return 20 * np.log10(np.sqrt(np.mean(np.square(x, dtype=np.float64))) + 1e-12)

    hop = 441
    sung = dbfs(r.waveform[HEAD_FRAMES * hop : -TAIL_FRAMES * hop])
    # OpenUtau feeds voiced F0 over the padding; the first 5 and last 8 SP frames must still be silent
    # (the last head frames fade in towards the first consonant)
    assert dbfs(r.waveform[: 5 * hop]) < -70 and dbfs(r.waveform[-TAIL_FRAMES * hop :]) < -70
    assert sung > -40


def test_duration_model_as_the_phonemizer_uses_it(bank):
    assert {i.name for i in bank.linguistic.get_inputs()} == {"tokens", "word_div", "word_dur"}
    assert {i.name for i in bank.dur.get_inputs()} == {"encoder_out", "x_masks", "ph_midi", "spk_embed"}
    _, feeds, pred = bank.phonemize(SAKURA)
    t = bank.dur_tokens
    assert feeds["tokens"].tolist() == [[t["SP"], t["s"], t["a"], t["k"], t["u"], t["r"], t["a"]]]
    assert feeds["word_div"].tolist() == [[2, 2, 2, 1]] and feeds["word_dur"].tolist() == [[50, 50, 50, 50]]
    assert feeds["ph_midi"].tolist() == [[55, 55, 55, 55, 57, 57, 59]]
    outs = bank.linguistic.run(None, {k: feeds[k] for k in ("tokens", "word_div", "word_dur")})
    names = [o.name for o in bank.linguistic.get_outputs()]
    got = dict(zip(names, outs, strict=True))
    assert got["encoder_out"].dtype == np.float32 and got["encoder_out"].shape[:2] == (1, 7)
    assert got["x_masks"].dtype == bool and got["x_masks"].shape == (1, 7)
    assert pred.shape == (7,) and np.isfinite(pred).all() and (pred >= 0).all()
    # consonants are short next to the vowels they lead into
    assert pred[3] < pred[2] and pred[5] < pred[4]


def test_onnx_matches_pytorch_on_a_held_out_phrase(bank):
    """Mel and 44.1 kHz waveform of a phrase neither graph was traced on: onnxruntime vs the torch graphs
    (tolerance 1e-4 abs), and the vocoder graph vs `SourceFilterVocoder` itself (same noise) and soxr."""
    import soxr

    from vocalsynth.export.graphs import AcousticGraph
    from vocalsynth.export.vocoder_graph import VocoderGraph
    from vocalsynth.models.acoustic.model import AcousticModel
    from vocalsynth.models.vocoder import Vocoder
    from vocalsynth.voices import load_voice, resolve_voice

    lyrics, keys = "きょうはいいてんき", [52, 52, 55, 57, 55, 52, 50, 52]
    syllables = ["きょ", "う", "は", "い", "い", "て", "ん", "き"]
    assert "".join(syllables) == lyrics
    notes = [Note(s, k, 800 + 400 * i, 400) for i, (s, k) in enumerate(zip(syllables, keys, strict=True))]
    r = bank.render(notes)
    voice = load_voice(resolve_voice("default"))
    model = AcousticModel.load(voice.acoustic_dir)
    vocoder = Vocoder.from_pretrained(voice.vocoder_dir)
    singers = list(model.singers)
    graph = AcousticGraph(model, singer=singers.index("pjs"), mix_singers=True)
    vgraph = VocoderGraph(vocoder)
    f = {k: torch.from_numpy(v) for k, v in r.feeds.items()}
    spk = torch.zeros(1, f["f0"].shape[1], len(singers))
    spk[:, :, [singers.index(s) for s in bank.speakers]] = f["spk_embed"]
    with torch.no_grad():
        mel = graph(f["tokens"], f["durations"], f["f0"], f["gender"], spk).numpy()
        wav = vgraph(torch.from_numpy(r.mel), f["f0"]).numpy()[0]
        log_mel, f0_hz = vgraph.split(torch.from_numpy(r.mel), f["f0"])
        native = vgraph.forward_native(torch.from_numpy(r.mel), f["f0"])[0].numpy()
        reference = vocoder(log_mel, f0_hz, noise=vgraph.excitation_noise(log_mel.shape[-1]))[0].numpy()
    assert np.abs(mel - r.mel).max() < 1e-4
    assert np.abs(wav - r.waveform).max() < 1e-4
    assert np.abs(native - reference).max() < 1e-4
    resampled = soxr.resample(reference, 24000, 44100)
    n = min(len(resampled), len(r.waveform))
    snr = 10 * np.log10(np.sum(resampled[:n] ** 2) / np.sum((r.waveform[:n] - resampled[:n]) ** 2))
    assert snr > 40, f"in-graph resampler vs soxr: {snr:.1f} dB"


def test_dictionary_covers_openutau_romaji(bank):
    entries = bank.dictionary["entries"]
    assert set(OPENUTAU_ROMAJI) <= set(entries)
    assert entries["ka"] == ["k", "a"] and entries["n"] == ["N"] and entries["cl"] == ["cl"]
    assert entries["shi"] == ["sh", "i"] and entries["tsu"] == ["ts", "u"] and entries["kya"] == ["ky", "a"]
    used = {s for ph in entries.values() for s in ph}
    assert used <= set(bank.dictionary["symbols"]) and used <= set(bank.dur_tokens)
    # our model sings y, w, r before the beat: OpenUtau must not take them for glides
    assert {bank.dictionary["symbols"][s] for s in ("y", "w", "r")} == {"consonant"}


def test_frames_from_ms_rounds_like_openutau():
    # 80 ms head + phones of 60/450/50/460/40/500 ms + 80 ms tail at 10 ms frames (OPENUTAU_NOTES.md §6)
    assert frames_from_ms([80, 60, 450, 50, 460, 40, 500, 80], 10.0) == [8, 6, 46, 4, 46, 4, 50, 8]


def test_refuses_a_non_empty_output(tmp_path):
    out = tmp_path / "bank"
    out.mkdir()
    (out / "mine.txt").write_text("keep", encoding="utf-8")
    with pytest.raises(ExportError, match="not empty"):
        export_openutau("default", out)
    assert [p.name for p in out.iterdir()] == ["mine.txt"]


def test_refuses_a_file_as_output(tmp_path):
    (tmp_path / "bank").write_text("keep", encoding="utf-8")
    with pytest.raises(ExportError, match="is a file"):
        export_openutau("default", tmp_path / "bank", overwrite=True)
    assert (tmp_path / "bank").read_text(encoding="utf-8") == "keep"


def test_cli_refuses_a_non_empty_output(tmp_path, capsys):
    from vocalsynth.cli import main

    (tmp_path / "x").write_text("keep", encoding="utf-8")
    assert main(["export-openutau", "-o", str(tmp_path)]) == 2
    assert "not empty" in capsys.readouterr().err


def untrained_voice(folder, name: str, phonemes, singers, languages, config: dict, vocoder: tuple[int, int]):
    """An untrained voice folder ``folder/voice`` of the given shape (``vocoder``: its dim and intermediate dim),
    with the default voice's audio config."""
    from vocalsynth.models.acoustic.model import AcousticConfig, AcousticModel
    from vocalsynth.models.vocoder.generator import SourceFilterVocoder
    from vocalsynth.voices import load_voice, package_voice, resolve_voice

    card = load_voice(resolve_voice("default")).card
    AcousticModel(phonemes, singers, languages, card.audio, AcousticConfig(**config)).save(
        folder / "acoustic"
    )
    dim, intermediate = vocoder
    SourceFilterVocoder(card.audio, dim=dim, intermediate_dim=intermediate, num_layers=1).save(
        folder / "vocoder"
    )
    return package_voice(
        folder / "acoustic",
        folder / "vocoder",
        folder / "voice",
        name=name,
        version="0.0.1",
        licence="CC0 (test)",
        consent="test voice, no singer",
        training_data=[{"corpus": "none", "url": "none", "licence": "CC0"}],
        training={"hardware": "none", "hours": 0.0, "energy_kwh": 0.0, "co2_kg": 0.0},
        reproduce={"recipe": "test", "config": "test", "commit": "test"},
    )


@pytest.fixture(scope="module")
def tiny_voice(tmp_path_factory):
    """A small untrained voice of another shape than the default: one singer (no spk_embed), a refiner."""
    from vocalsynth.voices import resolve_voice

    tmp = tmp_path_factory.mktemp("tiny")
    phonemes = json.loads((resolve_voice("default") / "acoustic" / "config.json").read_text())["phonemes"]
    torch.manual_seed(0)
    small = dict(encoder_channels=32, encoder_layers=1, encoder_hidden=64, variance_channels=16)
    small |= dict(
        decoder_channels=16, decoder_layers=1, refiner_channels=16, refiner_layers=1, refiner_steps=2
    )
    untrained_voice(tmp, "tiny", phonemes, ["solo"], ["ja"], small, vocoder=(16, 32))
    return tmp / "voice"


def _digest(folder):
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_any_voice_folder_exports_one_singer_with_a_refiner(tiny_voice, tmp_path):
    result = export_openutau(tiny_voice, tmp_path / "tiny")
    assert result.speakers == [] and all(v < 1e-3 for v in result.checks.values()), result.checks
    ds = yaml.safe_load((result.folder / "dsconfig.yaml").read_text(encoding="utf-8"))
    assert "speakers" not in ds
    bank = Voicebank(result.folder, threads=1)
    assert {i.name for i in bank.acoustic.get_inputs()} == {"tokens", "durations", "f0", "gender", "steps"}
    assert {i.name for i in bank.dur.get_inputs()} == {"encoder_out", "x_masks", "ph_midi"}
    r = bank.render(SAKURA)
    assert r.waveform.shape == (r.feeds["f0"].shape[1] * 441,) and np.isfinite(r.waveform).all()


@pytest.mark.slow
def test_the_export_is_reproducible(tiny_voice, tmp_path):
    first = export_openutau(tiny_voice, tmp_path / "a")
    second = export_openutau(tiny_voice, tmp_path / "b")
    assert _digest(first.folder) == _digest(second.folder)


@pytest.mark.slow
@pytest.mark.parametrize("name", __import__("vocalsynth.voices", fromlist=["x"]).installed_names())
def test_every_installed_voice_exports_and_sings(name, tmp_path):
    result = export_openutau(name, tmp_path / name)
    assert all(v < 1e-3 for v in result.checks.values()), result.checks
    r = Voicebank(result.folder, threads=1).render(SAKURA)
    assert np.isfinite(r.waveform).all() and r.waveform.shape == (r.feeds["f0"].shape[1] * 441,)


# --- the signal pieces written for export -----------------------------------------------------------------


def test_conv_stft_and_istft_match_torch():
    window = torch.hann_window(1024)
    x = torch.randn(1, 12000, generator=torch.Generator().manual_seed(1))
    real, imag = ConvSTFT(1024, 240, window)(x)
    ref = torch.stft(x, 1024, 240, 1024, window, center=True, pad_mode="reflect", return_complex=True)
    assert torch.allclose(real, ref.real, atol=2e-4) and torch.allclose(imag, ref.imag, atol=2e-4)
    spec = ref * torch.exp(0.3 * torch.randn(ref.shape, generator=torch.Generator().manual_seed(2)))
    y = ConvISTFT(1024, 240, window)(spec.real, spec.imag, 12000)
    assert torch.allclose(y, torch.istft(spec, 1024, 240, 1024, window, center=True, length=12000), atol=1e-5)


def test_fill_unvoiced_matches_the_vocoder_source():
    from vocalsynth.models.vocoder.source import fill_unvoiced as reference

    for row in ([0, 0, 100, 0, 120, 130, 0, 0], [0, 0, 0], [90, 0, 0, 80], [50]):
        f0 = torch.tensor([row], dtype=torch.float32)
        assert torch.equal(fill_unvoiced(f0), reference(f0))


def test_resampler_24k_to_44k1_keeps_a_tone():
    x = torch.sin(2 * np.pi * 440.0 * torch.arange(24000, dtype=torch.float64) / 24000).float()[None]
    y = PolyphaseResampler(44100, 24000)(x)[0].numpy()
    assert y.shape == (44100,)
    ideal = np.sin(2 * np.pi * 440.0 * np.arange(44100) / 44100)
    assert np.abs(y[2000:-2000] - ideal[2000:-2000]).max() < 1e-3


def test_the_acoustic_graph_renders_our_own_phrase_like_the_model():
    """OpenUtau gives phonemes, frames and F0, not notes: the graph rebuilds the notes. Fed the phonemes,
    frames and F0 `AcousticModel.infer` chose for a phrase in the voice's range, its mel is infer's own
    (measured: mean |log-mel difference| 0.0017, 0.015 dB) and so is its voicing. Far above the range
    (examples/sakura_ja.txt as written) it was 0.13 (1.2 dB): rounding the sung pitch there sometimes
    gives the neighbouring key."""
    from vocalsynth import load_score
    from vocalsynth.export.graphs import AcousticGraph
    from vocalsynth.models.acoustic.model import AcousticModel
    from vocalsynth.models.vocoder.source import fill_unvoiced as fill
    from vocalsynth.text import phonemize_score
    from vocalsynth.voices import load_voice, resolve_voice

    model = AcousticModel.load(load_voice(resolve_voice("default")).acoustic_dir)
    score = load_score('title="t" tempo=90 lang=ja\nA3/4 は C4 な D4 び C4 ら | G3/4 さ A3 く C4/2 ら')
    frames = model.infer(phonemize_score(score), singer="pjs")
    tokens = torch.tensor([[model.phoneme_ids[s] for s in frames.ph_symbols]])
    graph = AcousticGraph(model, singer=model.singers.index("pjs"))
    with torch.no_grad():
        f0 = fill(torch.from_numpy(frames.f0_hz)[None])
        out = graph(tokens, torch.from_numpy(frames.ph_frames)[None], f0, torch.zeros_like(f0))
    out = out[0].numpy()
    sp = np.repeat([s == "SP" for s in frames.ph_symbols], frames.ph_frames)
    diff = np.abs(out[:, :80].T - frames.mel)[:, ~sp]
    assert diff.mean() < 0.02, diff.mean()
    assert (out[~sp, 80] == frames.vuv[~sp]).mean() > 0.99


def test_bench_openutau_prints_onnx_and_pytorch_rtf(exported):
    from vocalsynth.eval.bench_onnx import bench_openutau, format_openutau

    result = bench_openutau("default", [2.0], threads=1, repeats=1, log=lambda _: None, exported=exported)
    (row,) = result["lengths"]
    assert row["seconds"] > 2.0 and row["notes"] == 4
    for key in ("onnx_rtf", "torch_render_rtf", "native_vocoder_rtf", "onnx_vs_torch"):
        assert np.isfinite(row[key]) and row[key] > 0, key
    text = format_openutau(result)
    assert "ONNX / PyTorch" in text and f"{row['onnx_rtf']:.4f}" in text


def test_gender_curve_moves_the_formants_like_the_gender_control(bank):
    """OpenUtau's GENC curve: + lowers the formants. The graph warps the mel per frame exactly as the
    ``gender`` control does for a whole phrase."""
    from vocalsynth.audio.config import AudioConfig
    from vocalsynth.export.graphs import GENDER_PER_UNIT, formant_warp
    from vocalsynth.models.acoustic.controls import formant_shift

    cfg = AudioConfig()
    mel = torch.randn(1, 80, 40, generator=torch.Generator().manual_seed(3))
    for g in (-1.0, -0.3, 0.5, 2.0):
        assert torch.allclose(
            formant_warp(mel, torch.full((1, 40), g), cfg), formant_shift(mel, cfg, g), atol=1e-5
        )
    varying = torch.linspace(-1, 1, 40)[None]
    per_frame = torch.cat(
        [formant_shift(mel[:, :, t : t + 1], cfg, float(varying[0, t])) for t in range(40)], 2
    )
    assert torch.allclose(formant_warp(mel, varying, cfg), per_frame, atol=1e-5)
    assert torch.equal(formant_warp(mel, torch.zeros(1, 40), cfg), mel)

    # through onnxruntime: GENC +60 renders the GENC 0 mel with the formants 0.6 * 3 semitones down
    plain, down = (bank.render(SAKURA, genc=g) for g in (0, 60))
    assert plain.feeds["gender"].max() == 0 and np.allclose(down.feeds["gender"], -0.6)
    sung = slice(HEAD_FRAMES, -TAIL_FRAMES)
    expected = formant_shift(
        torch.from_numpy(plain.mel[:, sung, :80]).transpose(1, 2), cfg, -0.6 * GENDER_PER_UNIT
    )
    got = torch.from_numpy(down.mel[:, sung, :80]).transpose(1, 2)
    assert (got - expected).abs().mean() < 1e-3 and (
        got - torch.from_numpy(plain.mel[:, sung, :80]).transpose(1, 2)
    ).abs().mean() > 0.05


def test_refuses_a_voice_without_japanese(tmp_path):
    small = dict(
        encoder_channels=8, encoder_layers=1, encoder_hidden=8, variance_channels=8, decoder_channels=8
    )
    untrained_voice(tmp_path, "english", ["SP", "AP", "en/a", "en/k"], ["x"], ["en"], small, vocoder=(8, 8))
    with pytest.raises(ExportError, match="sings Japanese.*ja/a"):
        export_openutau(tmp_path / "voice", tmp_path / "out")
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out*"))


def test_a_failed_export_leaves_nothing_behind(tmp_path, monkeypatch):
    import vocalsynth.export.openutau as ou

    def failing_export(module, input_sets, input_names, output_names, axes, path, extra_inputs=()):
        path.write_bytes(b"half")  # as if the graph was written, then its check failed
        raise ExportError("the graph fails on a phrase it was not traced on", source=str(path))

    monkeypatch.setattr(ou, "_export", failing_export)
    with pytest.raises(ExportError, match="not traced on"):
        export_openutau("default", tmp_path / "bank")
    assert list(tmp_path.iterdir()) == []
