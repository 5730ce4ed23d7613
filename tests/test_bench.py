"""`vocalsynth bench`: the benchmark songs, and the whole command on the shipped default voice with a tiny song,
the generated training corpus and one training config for two timed steps (its JSON checked for sane values)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from vocalsynth.cli import main
from vocalsynth.eval.bench_render import (
    EXAMPLE,
    EXAMPLE_KEY_SHIFT,
    bench_song,
    load_example,
    phrase_starts,
    song_text,
)
from vocalsynth.score import load_score

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_VOICE_RANGE = (46, 67)  # A#2-G4, from the default voice's card


@pytest.mark.parametrize("seconds", [2.0, 10.0, 30.0, 120.0])
def test_bench_songs_last_their_length_in_the_voice_range(seconds):
    example = load_example()
    song = bench_song(example, seconds, transpose=EXAMPLE_KEY_SHIFT)
    back = load_score(song_text(song))  # what the benchmark hands to sing
    assert back.duration == pytest.approx(seconds, abs=60 / 84 / 8)  # within a 32nd note at 84 bpm
    assert len(back.notes) == len(song.notes)
    pitches = [n.pitch for n in back.sung_notes]
    assert DEFAULT_VOICE_RANGE[0] <= min(pitches) and max(pitches) <= DEFAULT_VOICE_RANGE[1]
    assert all(n.lyric for n in back.sung_notes if not n.slur)
    if seconds >= 30:  # the melody repeated, a rest between each two repeats
        repeats = int(seconds // (example.duration + 60 / 84))
        assert len(back.sung_notes) >= repeats * len(example.sung_notes)
        assert (
            sum(n.is_rest for n in back.notes)
            >= repeats * sum(n.is_rest for n in example.notes) + repeats - 1
        )


def test_corpus_items_start_with_a_rest_at_a_phrase():
    example = load_example()
    starts = phrase_starts(example)
    assert starts[0] == 0 and len(starts) >= 2 and all(not example.notes[i].is_rest for i in starts)
    song = bench_song(example, 6.0, start=starts[1], lead_rest=True)
    assert song.notes[0].is_rest and song.notes[1].lyric == example.notes[starts[1]].lyric


def test_bad_settings_are_refused(tmp_path, capsys):
    assert main(["bench", "--song", str(tmp_path / "missing.txt")]) == 2
    assert "missing.txt" in capsys.readouterr().err
    assert main(["bench", "--train-data", str(tmp_path)]) == 2
    assert "manifest.json" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["bench", "--lengths", "0,10"])


def _finite_positive(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def test_bench_on_the_default_voice(tmp_path, capsys):
    pytest.importorskip("lightning")
    assert EXAMPLE.is_file()
    out = tmp_path / "bench.json"
    config = ROOT / "configs" / "acoustic" / "small.yaml"
    args = ["bench", "--lengths", "2", "--threads", "1", "--repeats", "1", "--json", str(out), "--training"]
    assert main([*args, "--configs", str(config), "--train-steps", "2"]) == 0
    printed = capsys.readouterr().out
    assert "neural/WORLD" in printed and "Training" in printed and "Preprocessing" in printed
    assert "RTF" in printed and "without the report" in printed and "with the report (nccf)" in printed

    result = json.loads(out.read_text())
    assert (
        result["format"] == "vocalsynth-bench"
        and result["machine"]["cpu"]
        and result["machine"]["cores"] >= 1
    )
    assert result["voice"]["name"] == "default" and result["settings"]["torch_threads"] == 1

    (song,) = result["render"]
    assert song["target_seconds"] == 2 and 1.5 < song["audio_seconds"] < 3.0 and song["phrases"] >= 1
    for key in ("neural", "world"):
        run = song[key]
        assert _finite_positive(run["wall_seconds"]) and _finite_positive(run["first_audio_seconds"])
        assert run["first_audio_seconds"] <= run["wall_seconds"]
        stages = run["stage_seconds"]
        assert set(stages) == {"frontend", "acoustic", "vocoder", "other"}
        assert all(_finite_positive(stages[s]) for s in ("frontend", "acoustic", "vocoder"))
        assert sum(stages.values()) == pytest.approx(run["wall_seconds"], rel=1e-6)
        assert run["rtf"]["total"] == pytest.approx(run["wall_seconds"] / run["audio_seconds"])
        assert _finite_positive(run["peak_rss_mb"]) and run["rss_growth_mb"] >= 0
        assert _finite_positive(run["python_peak_mb"])
    assert song["world"]["vocoder"] == "world" and song["neural"]["vocoder"] != "world"
    assert song["ratio"]["vocoder"] == pytest.approx(
        song["neural"]["rtf"]["vocoder"] / song["world"]["rtf"]["vocoder"]
    )
    # the same acoustic model runs in both: its share must be of the same order
    assert 0.2 < song["ratio"]["acoustic"] < 5
    check = song["conformance"]
    assert check["method"] == "nccf" and _finite_positive(check["seconds"]) and check["notes"] >= 1
    assert [c["method"] for c in song["conformance_methods"]] == ["nccf", "harvest"]
    assert all(_finite_positive(c["seconds"]) for c in song["conformance_methods"])

    (prep,) = result["preprocess"]
    assert prep["source"] == "generated" and prep["items"] >= 1 and prep["skipped"] == 0
    assert prep["aligned_items"] == prep["items"]  # the rendering's timeline made valid DiffSinger labels
    assert _finite_positive(prep["items_throughput"]) and _finite_positive(prep["throughput"])

    (train,) = result["training"]
    assert train["config"] == "configs/acoustic/small.yaml" and train["model"] == "acoustic"
    assert train["steps"] == 2 and train["warmup"] == 1 and len(train["step_seconds"]) == 2
    assert train["seconds"] == pytest.approx(sum(train["step_seconds"]))
    assert _finite_positive(train["steps_per_second"]) and _finite_positive(train["frames_per_second"])
    assert train["frames_per_second"] == pytest.approx(train["frames"] / train["seconds"])
    assert train["threads"] == 1 and 1e6 < train["parameters"] < 1e7
