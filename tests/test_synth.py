"""`Synthesizer`: singing text and `Score`s with a tiny random voice, exact timing and pre-roll, phrase cache and
streaming, controls, labelled WAV/FLAC, the conformance report (with a stand-in model singing the written
F0 through WORLD), and the `sing` command."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import pytest
from test_voices import CARD, make_models  # the tiny voice both files build (tests/ is on sys.path)

from vocalsynth import __version__, load_score
from vocalsynth.audio.config import AudioConfig
from vocalsynth.audio.io import load_audio, read_audio_metadata
from vocalsynth.models.acoustic import Controls, Frames
from vocalsynth.models.acoustic.controls import mel_center_frequencies
from vocalsynth.score import ScoreError
from vocalsynth.synth import Synthesizer
from vocalsynth.synthesis import read_label
from vocalsynth.synthesis.phrases import split_phrases
from vocalsynth.text.inventory import BREATH, REST, kind
from vocalsynth.voices import VoiceError, package_voice

SR, HOP = 24000, 240
# three phrases at 240 bpm: R/2 is a 0.5 s rest; "hel-" starts with a consonant sung before time 0
SONG = "tempo=240 lang=en C4/4 hel- D4 -lo E4/2 world R/2 G4/4 sing A4 a G4/2 song R/2 E4/4 la D4 la C4/2 la"


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def voice(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    acoustic, vocoder = make_models(root)
    package_voice(acoustic, vocoder, root / "tiny", **CARD)
    return root / "tiny"


@pytest.fixture(scope="module")
def synth(voice) -> Synthesizer:
    return Synthesizer.from_pretrained(voice)


class NotePitchModel:
    """Stands in for the acoustic model: sings each phoneme's written note (plus key shift and ``cents``) with
    a vowel-like spectrum, silent at rests. Timing is the frontend's."""

    def __init__(self, cents: float = 0.0):
        self.audio_config = AudioConfig()
        self.singers, self.languages, self.cents = ["s"], ["en", "ja", "zh"], cents

    def infer(self, seq, controls=None, *, singer=None) -> Frames:
        c = controls or Controls()
        fps = self.audio_config.frames_per_second
        t0 = seq.phonemes[0].start
        times = [p.start for p in seq.phonemes] + [seq.phonemes[-1].end]
        bounds = np.round((np.asarray(times) - t0) * fps).astype(np.int64)
        n = int(bounds[-1])
        f0 = np.zeros(n, np.float32)
        vowel = -2.0 - 1.4 * np.maximum(0.0, np.log2(mel_center_frequencies(self.audio_config) / 500))
        mel = np.full((self.audio_config.n_mels, n), math.log(1e-5), np.float32)
        for p, a, b in zip(seq.phonemes, bounds[:-1], bounds[1:], strict=True):
            if p.note_pitch is not None and kind(p.symbol) not in (REST, BREATH):
                f0[a:b] = 440.0 * 2 ** ((p.note_pitch + c.key_shift + self.cents / 100 - 69) / 12)
                mel[:, a:b] = vowel[:, None]
        return Frames(
            mel=mel,
            f0_hz=f0,
            vuv=(f0 > 0).astype(np.float32),
            energy_db=np.zeros(n, np.float32),
            aperiodicity=np.ones((4, n), np.float32),
            ph_symbols=[p.symbol for p in seq.phonemes],
            ph_start=bounds[:-1],
            ph_frames=np.diff(bounds),
            pre_roll=-t0,
            audio_config=self.audio_config,
        )


def world_synth(cents: float = 0.0) -> Synthesizer:
    from vocalsynth.models.vocoder import WorldVocoder

    return Synthesizer(NotePitchModel(cents), WorldVocoder(), name="note-pitch")


# --- timing ----------------------------------------------------------------------------------------------------


def test_sing_text_gives_score_duration_plus_pre_roll_and_score_time_zero_after_the_pre_roll(synth):
    score = load_score(SONG)
    r = synth.sing(SONG)
    assert r.sample_rate == SR and r.samples.dtype == np.float32 and np.isfinite(r.samples).all()
    assert 0 < r.pre_roll <= 0.5  # the 'h' of "hel-" is sung before the beat
    assert abs(r.duration - (score.duration + r.pre_roll)) <= HOP / SR
    assert r.samples.size == r.frames.n_frames * HOP
    assert r.frames.pre_roll == pytest.approx(r.pre_roll)
    assert r.phrases == 3
    # the phoneme timeline covers the song without gaps, from -pre_roll, and "hel-" reaches the beat at 0
    ph = r.phonemes
    assert ph[0].start == pytest.approx(-r.pre_roll) and ph[0].role == "onset"
    assert ph[-1].end == pytest.approx(score.duration, abs=HOP / SR)
    assert all(a.end == pytest.approx(b.start, abs=1e-6) for a, b in zip(ph, ph[1:], strict=False))
    first_vowel = next(p for p in ph if p.note_index == 0 and p.role == "nucleus")
    assert first_vowel.start == pytest.approx(0.0, abs=HOP / SR)
    # notes keep their score onsets to within a frame
    assert r.conformance is not None and r.conformance.onset_max_abs_ms <= 1000 * HOP / SR + 1e-6


def test_sing_a_score_object_sings_the_same_audio(synth):
    r1 = synth.sing(SONG)
    r2 = synth.sing(load_score(SONG))
    np.testing.assert_array_equal(r1.samples, r2.samples)
    assert r2.rerendered == []  # same phrases: all from the cache
    assert len(r1.score_sha256) == 64 and r1.score_sha256 != r2.score_sha256  # text vs a Score object


def test_trim_pre_roll_drops_exactly_the_pre_roll(synth):
    r = synth.sing(SONG)
    t = synth.sing(SONG, trim_pre_roll=True)
    drop = round(r.pre_roll * SR)
    assert t.pre_roll == 0.0
    np.testing.assert_array_equal(t.samples, r.samples[drop:])


def test_a_song_starting_on_a_vowel_has_no_pre_roll(synth):
    r = synth.sing("tempo=120 lang=en C4/4 a D4 a")
    assert r.pre_roll == 0.0 and r.samples.size == 100 * HOP  # 1 s at 100 frames a second


def test_tempo_scales_the_score_and_note_durations_move_later_notes(synth):
    base = load_score(SONG).duration
    fast = synth.sing(SONG, tempo=2.0)
    assert abs(fast.duration - fast.pre_roll - base / 2) <= HOP / SR
    longer = synth.sing(SONG, note_durations={2: 1.5})  # "world": 0.5 s -> 1.5 s
    assert abs(longer.duration - longer.pre_roll - (base + 1.0)) <= HOP / SR


def test_phrases_cut_at_long_rests_only_and_not_inside_a_word():
    score = load_score(SONG)
    assert [(p.first, p.stop) for p in split_phrases(score)] == [(0, 4), (3, 8), (7, 11)]
    assert len(split_phrases(score, split_rest=None)) == 1
    assert len(split_phrases(score, split_rest=0.6)) == 1
    held = load_score("tempo=120 lang=en C4/4 hel- R/2 D4/4 -lo")  # a rest inside a word does not cut
    assert len(split_phrases(held, split_rest=0)) == 1


# --- cache and streaming ----------------------------------------------------------------------------------------


def test_changing_one_phrase_re_renders_only_that_phrase(synth):
    synth.clear_cache()
    first = synth.sing(SONG)
    assert first.rerendered == [0, 1, 2]
    changed = SONG.replace("G4/4 sing", "G4/4 ring")
    second = synth.sing(changed)
    assert second.rerendered == [1] and synth.last_rerendered == [1]
    # the untouched phrases are sample for sample the same (up to the cross-fades into the middle phrase)
    cut1 = round((1.25 + second.pre_roll) * SR)  # the middle of the first rest
    cut2 = round((2.75 + second.pre_roll) * SR)
    fade = round(0.01 * SR)  # half the cross-fade
    np.testing.assert_array_equal(first.samples[: cut1 - fade], second.samples[: cut1 - fade])
    np.testing.assert_array_equal(first.samples[cut2 + fade :], second.samples[cut2 + fade :])
    assert not np.array_equal(first.samples[cut1:cut2], second.samples[cut1:cut2])
    # a control change re-renders everything; a different singer too
    assert synth.sing(changed, key_shift=1).rerendered == [0, 1, 2]
    short = "tempo=240 lang=en C4/4 a"
    synth.sing(short)
    assert synth.sing(short, singer="tenor").rerendered == [0]
    assert synth.sing(short, singer=1).rerendered == []  # the same singer by index
    assert synth.cache_info()["hits"] >= 2


def test_pitch_curve_on_one_note_re_renders_its_phrase_only(synth):
    synth.sing(SONG)
    assert synth.sing(SONG, note_pitch_curves={9: [0.0, 50.0]}).rerendered == [2]


def test_sing_iter_yields_phrases_in_order_that_join_to_the_rendering(synth):
    whole = synth.sing(SONG)
    chunks = list(synth.sing_iter(SONG))
    assert [c.index for c in chunks] == [0, 1, 2] and chunks[0].n_phrases == 3
    assert chunks[0].start == pytest.approx(-whole.pre_roll)
    assert all(a.end == pytest.approx(b.start, abs=1 / SR) for a, b in zip(chunks, chunks[1:], strict=False))
    np.testing.assert_array_equal(np.concatenate([c.samples for c in chunks]), whole.samples)
    first = next(iter(synth.stream(SONG, trim_pre_roll=True)))
    assert first.start == pytest.approx(0.0, abs=1 / SR)


# --- controls and errors ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"key_shift": 99}, "key_shift"),
        ({"tempo": 0}, "tempo"),
        ({"singer": "bass"}, "unknown singer 'bass'"),
        ({"lang": "fr"}, "language 'fr'"),
        ({"note_durations": {99: 1.0}}, "note_durations"),
        ({"controls": Controls(key_shift=1), "key_shift": 2}, "not both"),
        ({"refine_steps": 4}, "refine_steps: voice .* has no mel refiner"),
    ],
)
def test_bad_controls_are_refused_with_the_field_named(synth, kwargs, words):
    with pytest.raises(ScoreError, match=words):
        synth.sing(SONG, **kwargs)


def test_every_control_keyword_of_sing_reaches_the_controls(synth):
    import inspect

    from vocalsynth.synth import CONTROL_KEYWORDS

    params = set(inspect.signature(synth.sing).parameters)
    others = {"score", "lang", "part", "verse", "format", "singer", "vocoder", "tempo", "controls"}
    others |= {"trim_pre_roll", "split_rest", "conformance", "f0_method", "progress"}
    assert params - others == set(CONTROL_KEYWORDS)
    assert set(CONTROL_KEYWORDS.values()) <= set(Controls.__dataclass_fields__)
    with pytest.raises(TypeError, match="unexpected keyword argument 'vibratto'"):
        synth.sing_iter(SONG, vibratto=2)


def test_languages_per_note_and_detected_from_the_script(synth):
    r = synth.sing("tempo=240 lang=en C4/4 la R/2 lang=ja D4/4 さ E4 く", conformance=False)
    symbols = {p.symbol for p in r.phonemes}
    assert {"en/l", "ja/s", "ja/k"} <= symbols
    # no language given: kana are Japanese, even in a phrase of its own
    r = synth.sing("tempo=240 C4/4 さ R/2 D4/4 く", conformance=False)
    assert r.phrases == 2 and {"ja/s", "ja/k"} <= {p.symbol for p in r.phonemes}


def test_sing_iter_refuses_bad_input_at_the_call(synth):
    with pytest.raises(ScoreError, match="tempo"):
        synth.sing_iter(SONG, tempo=0)


def test_a_bad_score_is_a_score_error(synth):
    with pytest.raises(ScoreError, match="no such file"):
        synth.sing("missing.musicxml")


def test_the_world_vocoder_can_replace_the_voices_own(synth):
    r = synth.sing("tempo=120 lang=en C4/4 a D4 a", vocoder="world", conformance=False)
    assert r.vocoder == "world" and r.conformance is None and np.abs(r.samples).max() > 0


def test_a_vocoder_for_other_audio_is_refused(synth, tmp_path):
    from vocalsynth.models.vocoder import WorldVocoder

    WorldVocoder(audio_config=AudioConfig(n_mels=64)).save(tmp_path / "v64")
    with pytest.raises(VoiceError, match="n_mels"):
        synth.sing("tempo=120 lang=en C4/4 a", vocoder=tmp_path / "v64")


# --- files and labels -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("ext", [".wav", ".flac"])
def test_save_writes_a_labelled_file_that_reads_back(synth, tmp_path, ext):
    r = synth.sing(SONG)
    path = r.save(tmp_path / f"song{ext}")
    assert [p.name for p in tmp_path.iterdir()] == [f"song{ext}"]  # no temporary file left behind
    audio = load_audio(path, AudioConfig())
    assert audio.size == r.samples.size
    assert np.abs(audio - np.clip(r.samples, -1, 1)).max() < 1e-3
    label = read_label(path)
    assert label["ai_generated"] is True
    assert label["tool"] == "vocalsynth" and label["version"] == __version__
    assert label["voice"] == "tiny" and label["voice_version"] == "0.0.1" and label["singer"] == "alto"
    assert label["score_sha256"] == r.score_sha256
    assert label["licence"] == "CC0-1.0 (test voice)"
    assert label["pre_roll"] == pytest.approx(r.pre_roll, abs=1e-6)
    assert label["date"] == r.date and label["date"].endswith("Z")
    meta = read_audio_metadata(path)
    assert "AI-generated" in meta["comment"] and meta["software"] == f"vocalsynth {__version__}"
    if ext == ".flac":
        assert meta["license"] == "CC0-1.0 (test voice)"


def test_read_label_of_an_unlabelled_file(tmp_path):
    from vocalsynth.audio.io import save_audio

    path = save_audio(tmp_path / "plain.wav", np.zeros(100, np.float32), SR)
    assert read_label(path)["ai_generated"] is False


# --- conformance ------------------------------------------------------------------------------------------------


def test_conformance_of_a_voice_singing_the_written_pitch():
    synth = world_synth()
    r = synth.sing(SONG, key_shift=2)
    report = r.conformance
    assert report.n_notes == 9 and report.method == "nccf"
    assert report.within_fraction >= 0.9 and report.unvoiced == []
    assert report.notes[0].target_midi == 62.0  # C4 + 2 semitones
    assert "% of 9 notes within 50 cents" in str(report) and "\n" not in str(report)


@pytest.mark.parametrize("method", ["nccf", "harvest"])
def test_conformance_catches_a_voice_a_semitone_sharp(method):
    report = world_synth(cents=100).sing(SONG, f0_method=method).conformance
    assert report.method == method and report.within_fraction <= 0.2
    assert report.median_abs_cents == pytest.approx(100, abs=20)


def test_conformance_catches_a_voice_an_octave_above_the_score():
    # the fast tracker searches near the written pitch, yet a voice an octave up still reads an octave up
    report = world_synth(cents=1200).sing(SONG).conformance
    assert report.within == 0 and report.median_abs_cents == pytest.approx(1200, abs=30)


def test_conformance_trackers_agree_on_the_audio():
    synth = world_synth(cents=30)
    fast, harvest = (synth.sing(SONG, f0_method=m).conformance for m in ("nccf", "harvest"))
    for a, b in zip(fast.notes, harvest.notes, strict=True):
        assert a.cents == pytest.approx(b.cents, abs=10) and a.unvoiced == b.unvoiced


def test_conformance_method_is_checked_before_the_render():
    with pytest.raises(ValueError, match="f0_method must be one of nccf, dio, harvest"):
        world_synth().sing(SONG, f0_method="yin")


def test_conformance_reports_unvoiced_notes(synth):
    # the random tiny model's noise does not come out as a tracked pitch on every note; whatever it does,
    # the report accounts for each sung note once and lists the unvoiced ones by song index
    report = synth.sing(SONG).conformance
    assert [n.index for n in report.notes] == [0, 1, 2, 4, 5, 6, 8, 9, 10]
    assert set(report.unvoiced) <= {0, 1, 2, 4, 5, 6, 8, 9, 10}
    assert report.to_dict()["n_notes"] == 9


# --- the command ------------------------------------------------------------------------------------------------


def run_sing(capsys, *argv) -> tuple[int, str, str]:
    from vocalsynth.synthesis.cli import add_sing_arguments, sing_main

    parser = argparse.ArgumentParser()
    add_sing_arguments(parser)
    code = sing_main(parser.parse_args([str(a) for a in argv]))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_sing_writes_a_wav_and_prints_a_summary(voice, tmp_path, capsys):
    score = tmp_path / "song.txt"
    score.write_text(SONG, encoding="utf-8")
    out_wav = tmp_path / "out.wav"
    code, out, err = run_sing(
        capsys, score, "-o", out_wav, "--voice", voice, "--key-shift", "1", "--tempo", "1.5"
    )
    assert code == 0, err
    assert out_wav.is_file() and read_label(out_wav)["ai_generated"]
    assert "phrase 3/3" in err
    line = out.strip()
    assert "\n" not in line and line.startswith(f"wrote {out_wav}")
    assert "real-time factor" in line and "pitch:" in line
    assert "tempo:1.5" in read_label(out_wav)["controls"]


def test_cli_sing_errors_exit_2_and_leave_no_file(voice, tmp_path, capsys):
    out_wav = tmp_path / "out.wav"
    code, _, err = run_sing(capsys, tmp_path / "missing.txt", "-o", out_wav, "--voice", voice)
    assert code == 2 and err.startswith("error: ") and "no such file" in err
    code, _, err = run_sing(capsys, "x.txt", "-o", tmp_path / "out.mp3", "--voice", voice)
    assert code == 2 and ".wav or .flac" in err
    code, _, err = run_sing(capsys, "x.txt", "-o", out_wav, "--voice", tmp_path / "nope")
    assert code == 2 and "no such voice folder" in err
    assert list(tmp_path.iterdir()) == []


def test_cli_key_shift_auto_fits_the_melody_into_the_default_voice(tmp_path, capsys):
    score = Path(__file__).resolve().parents[1] / "examples" / "sakura_ja.txt"  # written around C5
    out_wav = tmp_path / "auto.wav"
    code, _, err = run_sing(
        capsys, score, "-o", out_wav, "--voice", "default", "--key-shift", "auto", "--no-conformance", "-q"
    )
    assert code == 0, err
    assert "key shift auto: -12" in err
    assert read_label(out_wav)["controls"] == "key_shift:-12"
    with pytest.raises(SystemExit):
        run_sing(capsys, score, "-o", out_wav, "--key-shift", "up")


@pytest.mark.skipif(
    not (Path(__file__).resolve().parents[1] / "vocalsynth" / "voices" / "high" / "voice.yaml").is_file(),
    reason="the bundled high voice is absent",
)
def test_cli_sing_without_a_voice_picks_the_high_voice_for_a_c4_c5_tune(tmp_path, capsys):
    score = Path(__file__).resolve().parents[1] / "examples" / "sakura_ja.txt"  # D4-D5
    out_wav = tmp_path / "picked.wav"
    code, out, err = run_sing(capsys, score, "-o", out_wav, "--no-conformance", "-q")
    assert code == 0, err
    assert "voice high: its range A#3–E5 holds 100 % of the melody's notes" in err
    assert "voice high as pjs_up12" in out
    assert read_label(out_wav)["controls"] == "default"  # sung at written pitch, no octave folding
