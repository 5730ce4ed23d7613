"""The `vocalsynth` command on the bundled examples and on real files from ../shared/scores."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import mido
import pytest

from vocalsynth import load_score
from vocalsynth.cli import main

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
SCORES = ROOT.parent / "shared" / "scores"
needs_scores = pytest.mark.skipif(not SCORES.is_dir(), reason="../shared/scores is absent")


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def phonemes_of(out: str, note_index: int) -> list[str]:
    """The phoneme symbols printed on one note's row of the table."""
    for line in out.splitlines():
        cols = line.split()
        if cols and cols[0] == str(note_index):
            return [c for c in cols if "/" in c or c in ("SP", "AP")]
    raise AssertionError(f"note {note_index} not in the table:\n{out}")


@pytest.mark.parametrize(
    "name, first_phonemes",
    [
        ("hello_en.txt", ["en/hh", "en/ah"]),
        ("sakura_ja.txt", ["ja/h", "ja/a"]),
        ("xiaoxing_zh.txt", ["zh/x", "zh/iao"]),
    ],
)
def test_phonemize_prints_the_table_of_each_example(capsys, name, first_phonemes):
    code, out, err = run(capsys, "phonemize", EXAMPLES / name)
    assert code == 0, err
    assert out.startswith("# ")
    assert phonemes_of(out, 0) == first_phonemes


def test_phonemize_json_round_trips(capsys):
    from vocalsynth.text import PhonemeSequence

    code, out, _ = run(capsys, "phonemize", EXAMPLES / "hello_en.txt", "--json")
    assert code == 0
    seq = PhonemeSequence.from_json(out)
    assert json.loads(seq.to_json()) == json.loads(out)


def test_phonemize_with_a_voice_shows_what_it_sings_for_a_phoneme_it_lacks(capsys, tmp_path):
    score = tmp_path / "vu.txt"
    score.write_text("tempo=120 lang=ja C4/4 ヴぁ D4 い")
    code, out, err = run(capsys, "phonemize", score)
    assert code == 0 and phonemes_of(out, 0)[0] == "ja/v" and "sung by" not in out
    code, out, err = run(capsys, "phonemize", score, "--voice", "default")
    assert code == 0 and phonemes_of(out, 0)[0] == "ja/b"
    assert "#   ja/v -> ja/b" in out
    assert "'ja/v' is not in this voice's phoneme set: sung as 'ja/b' (line 1, token 3 'C4/4')" in err


def test_bad_score_exits_2_with_a_message_naming_the_file(capsys, tmp_path):
    bad = tmp_path / "broken.musicxml"
    bad.write_text("<score-partwise><part id='P1'><measure>")
    code, out, err = run(capsys, "phonemize", bad)
    assert code == 2
    assert err.startswith(f"error: {bad}") and "Traceback" not in err


def test_console_script_runs_and_reports_errors_without_traceback(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "vocalsynth.cli", "phonemize", str(tmp_path / "missing.ust")],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2
    assert "no such file" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("ext", [".musicxml", ".mxl", ".mid", ".ustx", ".ds", ".txt", ".ust"])
def test_convert_round_trips_notes_and_lyrics(capsys, tmp_path, ext):
    src = EXAMPLES / "hello_en.txt"
    out_path = tmp_path / f"song{ext}"
    code, out, err = run(capsys, "convert", src, "-o", out_path)
    assert code == 0, err
    a, b = load_score(src), load_score(out_path)
    assert [(n.pitch, n.lyric, n.slur) for n in b.sung_notes] == [
        (n.pitch, n.lyric, n.slur) for n in a.sung_notes
    ]
    assert [round(n.start, 3) for n in b.sung_notes] == [round(n.start, 3) for n in a.sung_notes]


def test_gbk_lyric_midi_prints_mandarin_phonemes(capsys, tmp_path):
    """A MIDI file whose lyric events are GBK bytes (as Chinese editors write them)."""
    mf = mido.MidiFile(type=0, ticks_per_beat=480)
    track = mido.MidiTrack()
    mf.tracks.append(track)
    for k, (pitch, hanzi) in enumerate(zip([60, 60, 67, 67], "一闪一闪", strict=True)):
        track.append(
            mido.MetaMessage("lyrics", text=hanzi.encode("gbk").decode("latin-1"), time=0 if k == 0 else 0)
        )
        track.append(mido.Message("note_on", note=pitch, velocity=90, time=0))
        track.append(mido.Message("note_off", note=pitch, velocity=0, time=480))
    path = tmp_path / "gbk.mid"
    mf.save(path)
    code, out, err = run(capsys, "phonemize", path)
    assert code == 0, err
    assert phonemes_of(out, 0) == ["zh/i"]
    assert phonemes_of(out, 1) == ["zh/sh", "zh/an"]


@needs_scores
@pytest.mark.parametrize(
    "path, note_index, expected",
    [
        ("musicxml/61d-Lyrics-Melisma.xml", 1, ["en/eh"]),  # melisma note holds "Me"'s vowel
        ("ust/oto2lab_sample.ust", 1, ["ja/a"]),  # Shift-JIS kana
        ("midi/twinkle.kar", 1, ["en/t", "en/w", "en/ih", "en/ng"]),  # Soft-Karaoke text events
        ("ustx/barrylhm_hhddd.ustx", 2, ["zh/d", "zh/ai"]),  # multi-track, pinyin
        ("ds/01_逍遥仙.ds", 1, ["zh/t", "zh/ian"]),  # multi-segment, phonemes from ph_seq
    ],
)
def test_phonemize_real_scores(capsys, path, note_index, expected):
    code, out, err = run(capsys, "phonemize", SCORES / path)
    assert code == 0, err
    assert phonemes_of(out, note_index) == expected


def test_vocode_copy_synthesis_writes_a_labelled_file(capsys, tmp_path):
    import numpy as np

    from vocalsynth.audio import read_audio_metadata, save_audio

    sr = 24000
    t = np.arange(sr) / sr
    src = tmp_path / "tone.wav"
    save_audio(src, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), sr)
    out_path = tmp_path / "out.wav"
    code, out, err = run(capsys, "vocode", src, "-o", out_path, "--f0-method", "dio")
    assert code == 0, err
    assert "AI-generated" in read_audio_metadata(out_path).get("comment", "")


def test_vocode_refuses_a_corrupt_recording(capsys, tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    code, out, err = run(capsys, "vocode", bad, "-o", tmp_path / "o.wav")
    assert code == 2 and str(bad) in err
    assert not (tmp_path / "o.wav").exists()
