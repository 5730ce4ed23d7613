"""The evaluation's measures on generated signals: the PESTO pitch judge, mel-cepstral distortion and DTW,
loudness, DNSMOS, band periodicity, closed-set recognition, timing errors, and scores built from corpus items."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from vocalsynth.audio.config import AudioConfig
from vocalsynth.data.items import CorpusItem, NoteLabel, PhoneLabel
from vocalsynth.eval.compare import analyse, match, timing_errors
from vocalsynth.eval.loudness import integrated_loudness, normalise_loudness
from vocalsynth.eval.mcep import dtw, mcd_db
from vocalsynth.eval.songs import HeldOutSong, build_score
from vocalsynth.synthesis.rendering import SungPhoneme

SR = 24000
CFG = AudioConfig()
SPEECH = Path(__file__).resolve().parents[2] / "shared" / "data" / "speech_arctic" / "arctic_a0009.flac"

torch.set_num_threads(1)


def tone(f0: float | np.ndarray, seconds: float = 1.0, amp: float = 0.3, harmonics: int = 20) -> np.ndarray:
    """A harmonic (sawtooth-like) tone; ``f0`` a constant or a per-sample contour."""
    n = int(seconds * SR)
    f = np.broadcast_to(np.asarray(f0, dtype=np.float64), (n,))
    phase = 2 * np.pi * np.cumsum(f) / SR
    return sum((amp / k) * np.sin(k * phase) for k in range(1, harmonics + 1)).astype(np.float32)


def sung(seconds: float = 1.6, semitones: float = 0.0) -> np.ndarray:
    """A voice-like signal: a gliding harmonic tone with vibrato, a noise burst in the middle, quiet ends; its
    shape scales with ``seconds`` (so ``sung(2.0)`` is ``sung(1.6)`` slowed down, pitch kept)."""
    t = np.arange(int(seconds * SR)) / SR
    u = t / seconds
    f0 = 200 * 2 ** (u * 0.5 + semitones / 12) * (1 + 0.01 * np.sin(2 * np.pi * 8.8 * u))
    x = tone(f0, seconds)
    rng = np.random.default_rng(0)
    burst, edge = slice(int(0.44 * x.size), int(0.5 * x.size)), int(0.1 * x.size)
    x[burst] = rng.normal(0, 0.05, burst.stop - burst.start)
    x[:edge] = rng.normal(0, 1e-4, edge)
    x[-edge:] = rng.normal(0, 1e-4, edge)
    return x


# ---- the pitch judge ------------------------------------------------------------------------------------------
def test_pesto_judge_hears_the_pitch_and_the_silence():
    from vocalsynth.eval.pitch_judge import track_pitch

    errors = {}
    for f0 in (130.81, 220.0, 232.0, 440.0):  # C3, A3 (on PESTO's 1/3-semitone grid), 232 Hz (off it), A4
        track = track_pitch(tone(f0), SR)
        assert track.step == pytest.approx(0.01)
        middle = slice(20, 80)
        assert track.voiced[middle].all()
        errors[f0] = float(np.median(1200 * np.log2(track.f0_hz[middle] / f0)))
    assert abs(errors[130.81]) < 3 and abs(errors[220.0]) < 3 and abs(errors[440.0]) < 3
    assert abs(errors[232.0]) < 20  # between grid points PESTO reads up to ~18 cents off
    # quiet or loud, the same voicing (levelled): a quiet song, and a verse 26 dB below the rest
    assert track_pitch(tone(220.0, amp=0.003), SR).voiced[20:80].all()
    verses = track_pitch(np.concatenate([tone(220.0), tone(330.0, amp=0.015)]), SR)
    assert verses.voiced[20:80].all() and verses.voiced[130:180].all()
    assert np.median(verses.f0_hz[130:180]) == pytest.approx(330.0, rel=0.02)
    # noise and silence are not voiced
    assert not track_pitch(np.zeros(SR, np.float32), SR).voiced.any()
    assert track_pitch(np.random.default_rng(1).normal(0, 0.1, SR), SR).voiced.mean() < 0.1


def test_judge_conformance_uses_the_score_and_pre_roll():
    from vocalsynth.eval.pitch_judge import PitchJudgeError, judge_conformance

    a3 = np.concatenate([np.zeros(int(0.8 * SR), np.float32), tone(220.0, 1.0)])  # A3 after 0.8 s of silence
    report = judge_conformance(a3, "tempo=120 A3/2 la", sample_rate=SR, pre_roll=0.8)
    assert report.method == "pesto" and report.n_notes == 1 and report.within == 1
    assert abs(report.notes[0].cents) < 5
    flat = judge_conformance(a3, "tempo=120 A#3/2 la", sample_rate=SR, pre_roll=0.8)
    assert flat.within == 0 and flat.notes[0].cents == pytest.approx(-100, abs=5)
    late = judge_conformance(a3, "tempo=120 A3/2 la", sample_rate=SR)  # without the pre-roll: silence
    assert late.within == 0 and late.unvoiced == [0]
    with pytest.raises(PitchJudgeError, match="sample_rate"):
        judge_conformance(a3, "tempo=120 A3/2 la")


# ---- mel-cepstra and DTW --------------------------------------------------------------------------------------
def test_mcd_is_zero_for_the_same_signal_and_grows_with_distortion():
    x = sung()
    ref = analyse(x, CFG)
    same = match(ref, analyse(x.copy(), CFG))
    assert same.mcd_db == pytest.approx(0.0, abs=1e-6)
    assert same.f0_rmse_cents == pytest.approx(0.0, abs=1e-6) and same.vuv_error_pct == 0.0
    rng = np.random.default_rng(2)
    mcds = [
        match(ref, analyse(x + rng.normal(0, level, x.size).astype(np.float32), CFG)).mcd_db
        for level in (0.002, 0.01, 0.05)
    ]
    assert 0 < mcds[0] < mcds[1] < mcds[2]
    assert mcd_db(ref.mcep[:5], ref.mcep[:5]).tolist() == [0.0] * 5


def test_dtw_recovers_a_time_stretch():
    rng = np.random.default_rng(3)
    a = np.cumsum(rng.normal(size=(200, 6)), axis=0)
    stretched = a[np.minimum(np.round(np.arange(300) / 1.5).astype(int), 199)]
    path = dtw(a, stretched)
    assert (path.a[0], path.b[0]) == (0, 0) and (path.a[-1], path.b[-1]) == (199, 299)
    assert np.all(np.diff(path.a) >= 0) and np.all(np.diff(path.b) >= 0)
    assert path.cost < 1.0
    assert path.map_a_to_b(np.array([40.0, 100.0, 160.0])) == pytest.approx([60, 150, 240], abs=1.5)
    identity = dtw(a, a, band=0.05)
    assert np.array_equal(identity.a, identity.b) and len(identity) == 200
    with pytest.raises(ValueError, match="N, M > 0"):
        dtw(a[:0], a)


def test_a_slower_rendering_matches_after_warping():
    """The same voice-like signal 25 % slower (pitch kept) matches after DTW; three semitones up does not."""
    ref = analyse(sung(1.6), CFG)
    slow = match(ref, analyse(sung(2.0), CFG))
    assert slow.f0_rmse_cents < 40 and slow.vuv_error_pct < 5
    assert slow.path_syn.max() - slow.path_syn.min() > 1.2 * (slow.path_ref.max() - slow.path_ref.min())
    up = match(ref, analyse(sung(1.6, semitones=3), CFG))
    assert 250 < up.f0_rmse_cents < 350


# ---- loudness, DNSMOS, periodicity ----------------------------------------------------------------------------
def test_loudness_follows_bs1770():
    for rate in (48000, 24000):
        t = np.arange(3 * rate) / rate
        sine = 0.1 * np.sin(2 * np.pi * 997 * t)  # -20 dBFS: -23.0 LUFS by definition of the K-weighting
        assert integrated_loudness(sine, rate) == pytest.approx(-23.0, abs=0.1)
    quiet = sung() * 0.01
    assert integrated_loudness(normalise_loudness(quiet, SR, -23.0), SR) == pytest.approx(-23.0, abs=0.1)
    assert integrated_loudness(np.zeros(SR), SR) == -np.inf


def test_dnsmos_gives_a_finite_score():
    from vocalsynth.eval.naturalness import NaturalnessError, dnsmos

    score = dnsmos(sung(), SR)
    assert set(score) == {"p808"} and 1.0 <= score["p808"] <= 5.0
    with pytest.raises(NaturalnessError):
        dnsmos(np.array([np.nan, 0.0], np.float32), SR)


def test_band_periodicity_hears_buzz():
    """A pulse train is periodic in every band; the same pulses with noise in the upper bands are not."""
    from scipy.signal import butter, sosfilt

    from vocalsynth.eval.naturalness import band_periodicity

    n, f0 = int(1.5 * SR), 200.0
    pulses = np.zeros(n)
    pulses[:: int(SR / f0)] = 1.0
    buzz = sosfilt(butter(2, 3000, "lowpass", fs=SR, output="sos"), pulses) + 0.3 * pulses
    noise = np.random.default_rng(4).normal(0, 1, n)
    breathy = sosfilt(butter(2, 3000, "lowpass", fs=SR, output="sos"), pulses) + 0.3 * sosfilt(
        butter(4, 4000, "highpass", fs=SR, output="sos"), noise
    ) * np.std(0.3 * pulses)
    track = np.full(CFG.n_frames(n), SR / int(SR / f0))
    a = band_periodicity(buzz, SR, track, 0.01)
    b = band_periodicity(breathy, SR, track, 0.01)
    assert a["0-1000 Hz"] > 0.95 and b["0-1000 Hz"] > 0.95
    assert a["high"] > 0.9 and b["high"] < 0.5


# ---- intelligibility: the Whisper judge ----------------------------------------------------------------------
def test_readings_share_one_spelling():
    from vocalsynth.eval.intelligibility import english_reading, romaji

    assert (
        romaji(["SP", "ja/ky", "ja/o", "ja/o", "ja/cl", "ja/t", "ja/o", "ja/N", "AP"]) == "kyoottoN".lower()
    )
    assert romaji(["ja/sh", "ja/i", "en/k"]) == "shi"  # only Japanese phonemes are read
    assert english_reading("Hel-lo, sun! _ 2") == "hellosun"


def test_a_japanese_transcript_reads_as_the_lyrics_do():
    pytest.importorskip("pykakasi")
    from vocalsynth.eval.intelligibility import japanese_reading, romaji, score_reading
    from vocalsynth.score import load_score

    # kanji, katakana and punctuation are read; Latin letters are dropped (they count as missing)
    assert japanese_reading("桜の花、サクラ!") == "sakuranohanasakura"
    assert japanese_reading("ABC") == ""
    lang, ref = score_reading(load_score("tempo=120 lang=ja C4/4 さ D4 く E4/2 ら"))
    assert (lang, ref) == ("ja", "sakura") == ("ja", romaji(["ja/s", "ja/a", "ja/k", "ja/u", "ja/r", "ja/a"]))
    assert score_reading(load_score("tempo=120 lang=en C4/4 hel- D4 -lo E4/2 sun"))[1] == "hellosun"


def test_the_model_assembly_refuses_a_wrong_checksum(tmp_path):
    import hashlib

    from vocalsynth.eval.intelligibility import IntelligibilityError, assemble_model

    a, b = tmp_path / "part1", tmp_path / "part2"
    a.write_bytes(b"half one|")
    b.write_bytes(b"half two")
    good = hashlib.sha256(b"half one|half two").hexdigest()
    cache = tmp_path / "cache"
    with pytest.raises(IntelligibilityError, match=r"model\.bin joined from .*SHA-256 .* expected 0{64}"):
        assemble_model(cache, sources={"model.bin": [a, b]}, pins={"model.bin": "0" * 64})
    assert list(cache.iterdir()) == []  # nothing half-made or wrong is left behind
    folder = assemble_model(cache, sources={"model.bin": [a, b]}, pins={"model.bin": good})
    assert (folder / "model.bin").read_bytes() == b"half one|half two"
    (folder / "model.bin").write_bytes(b"tampered")  # a changed copy in the cache is made again
    assemble_model(cache, sources={"model.bin": [a, b]}, pins={"model.bin": good})
    assert (folder / "model.bin").read_bytes() == b"half one|half two"
    with pytest.raises(IntelligibilityError, match="missing"):
        assemble_model(
            tmp_path / "c2", sources={"model.bin": [a, tmp_path / "nope"]}, pins={"model.bin": good}
        )


def _espeak(text: str, tmp_path) -> tuple[np.ndarray, int]:
    import shutil
    import subprocess

    import soundfile as sf

    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    wav = tmp_path / "espeak.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(wav), text], check=True)
    x, rate = sf.read(wav, dtype="float32")
    return x, rate


def test_the_judge_hears_espeak_better_than_noise(tmp_path):
    pytest.importorskip("faster_whisper")
    from vocalsynth.eval.intelligibility import english_reading, judge

    text = "the river runs down to the sea"
    speech, rate = _espeak(text, tmp_path)
    noise = np.random.default_rng(0).normal(0, 0.1, speech.size).astype(np.float32)
    spoken = judge(speech, rate, english_reading(text), "en", cache_dir=str(tmp_path / "whisper"))
    hissed = judge(noise, rate, english_reading(text), "en", cache_dir=str(tmp_path / "whisper"))
    assert spoken.cer < 0.3, spoken.to_dict()
    assert hissed.cer > spoken.cer + 0.5, (spoken.to_dict(), hissed.to_dict())


@pytest.mark.skipif(not SPEECH.is_file(), reason="../shared/data/speech_arctic is absent")
def test_the_judge_reads_real_speech(tmp_path):
    pytest.importorskip("faster_whisper")
    import soundfile as sf

    from vocalsynth.eval.intelligibility import english_reading, judge

    speech, rate = sf.read(SPEECH, dtype="float32")
    truth = "He turned sharply, and faced Gregson across the table."
    heard = judge(speech, rate, english_reading(truth), "en", cache_dir=str(tmp_path / "whisper"))
    assert heard.cer < 0.1, heard.to_dict()


# ---- scores from corpus items, timing errors -----------------------------------------------------------------
def _item(shift: float = 0.0) -> CorpusItem:
    """Rest, 'ka' (A3), slurred B3, gap, 'sa' (C4); phoneme onsets moved by ``shift`` inside their notes."""
    notes = [
        NoteLabel(None, 0.0, 0.5),
        NoteLabel(57, 0.5, 1.0),
        NoteLabel(59, 1.0, 1.3, slur=True),
        NoteLabel(60, 1.5, 2.0),
    ]
    phones = [
        PhoneLabel("SP", 0.0, 0.42, 0),
        PhoneLabel("ja/k", 0.42 - shift, 0.5, 1),
        PhoneLabel("ja/a", 0.5, 1.0, 1),
        PhoneLabel("ja/a", 1.0, 1.3, 2),
        PhoneLabel("ja/s", 1.4 - shift, 1.5, 3),
        PhoneLabel("ja/a", 1.5, 2.0, 3),
    ]
    return CorpusItem("song1", "pjs", "", "ja", "pjs", "CC0", notes, phones, aligned=True)


def test_a_corpus_item_becomes_a_score_with_its_phonemes():
    score, origin = build_score(_item())
    assert [n.pitch for n in score.notes] == [None, 57, 59, None, 60]
    assert origin == [0, 1, 2, None, 3]  # the gap 1.3-1.5 s became a rest
    ka, held, rest, sa = score.notes[1:]
    assert ka.lyric == "ka" and ka.phonemes == ["ja/k", "ja/a"] and ka.language == "ja"
    assert held.slur and held.lyric == "" and rest.is_rest and rest.start == pytest.approx(1.3)
    assert sa.phonemes == ["ja/s", "ja/a"] and sa.start == pytest.approx(1.5)
    from vocalsynth.text import phonemize_score

    symbols = [p.symbol for p in phonemize_score(score).phonemes]
    assert symbols[:5] == ["SP", "ja/k", "ja/a", "ja/a", "SP"] and symbols[-2:] == ["ja/s", "ja/a"]


def test_timing_errors_on_the_score_axis():
    item = _item()
    reference = _item(shift=0.03)  # the singer starts each consonant 30 ms earlier
    score, origin = build_score(item)
    song = HeldOutSong(item, score, origin, reference, "hand labels")
    rendered = [
        SungPhoneme("ja/k", 0.42, 0.5, 1, "onset"),
        SungPhoneme("ja/a", 0.5, 1.0, 1, "nucleus"),
        SungPhoneme("ja/a", 1.0, 1.3, 2, "nucleus"),
        SungPhoneme("ja/s", 1.4, 1.5, 4, "onset"),
        SungPhoneme("ja/a", 1.52, 2.0, 4, "nucleus"),  # this note comes in 20 ms late
    ]
    t = timing_errors(song, rendered)
    assert t["phonemes"] == 2 and t["phoneme_onset_mae_ms"] == pytest.approx(30.0)  # 'ja/k' and 'ja/s'
    assert t["notes"] == 3
    assert t["note_onset_mae_ms"] == pytest.approx(20 / 3)
    assert (
        timing_errors(HeldOutSong(item, score, origin, None, None), rendered)["phoneme_onset_mae_ms"] is None
    )
