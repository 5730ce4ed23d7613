"""`vocalsynth eval` end to end: the shipped default voice sings a generated held-out PJS-layout song (with a
preprocessed-cache stand-in holding its reference alignment), and the report comes out as JSON, Markdown,
plots and labelled renderings."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from test_data_corpora import write_pjs

from vocalsynth.audio.io import read_audio_metadata
from vocalsynth.cli import main
from vocalsynth.data.corpora import get_corpus


def write_cache(root, corpus_dir) -> None:
    """What preprocessing would leave for a held-out, hand-aligned pjs900: manifest split + the aligned item."""
    item = next(it for it in get_corpus("pjs").read(corpus_dir, skip=lambda *a: None) if it.id == "pjs900")
    item.aligned = True  # the generated audio follows the placed notes exactly: a perfect alignment
    (root / "items" / "pjs").mkdir(parents=True)
    np.savez(
        root / "items" / "pjs" / "pjs900.npz",
        item_json=np.array(item.to_json()),
        meta_json=np.array(json.dumps({"alignment": "hand"})),
    )
    entries = [{"id": "pjs900", "corpus": "pjs", "split": "validation", "path": "items/pjs/pjs900.npz"}]
    (root / "manifest.json").write_text(json.dumps({"items": entries, "splits": {"validation": 1}}))


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    base = tmp_path_factory.mktemp("eval")
    corpus = write_pjs(base / "pjs")  # pjs900 (A4 C5 D5~ C5 after 0.4 s of silence) and a broken pjs901
    write_cache(base / "prep", corpus)
    out = base / "out"
    argv = [
        "eval",
        "--voice",
        "default",
        "--corpus",
        "pjs",
        "--data",
        str(base),
        "--cache",
        str(base / "prep"),
    ]
    argv += ["--out", str(out), "--json", str(base / "copy.json"), "--english-lines", "2"]
    rc = main(argv)
    return rc, out, json.loads((out / "report.json").read_text()), base


def test_eval_writes_the_report(evaluated, capsys):
    rc, out, report, base = evaluated
    assert rc == 0
    assert report["songs"] == ["pjs900"] and report["voice"]["name"] == "default"
    assert json.loads((base / "copy.json").read_text()) == report
    md = (out / "report.md").read_text()
    assert "| system | MCD (dB, DTW)" in md and "## English intelligibility" in md
    for plot in report["per_song"][0]["plots"]:
        assert (out / plot).is_file() and f"]({plot})" in md
    for name in ("pjs900.voice.wav", "pjs900.voice+WORLD.wav", "en1.voice.wav", "en2.voice.wav"):
        assert "AI-generated" in read_audio_metadata(out / "audio" / name).get("comment", "")


def test_eval_figures_are_sane(evaluated):
    _, out, report, _ = evaluated
    md = (out / "report.md").read_text()
    s = report["summary"]
    song = report["per_song"][0]
    assert song["reference_alignment"] == "hand labels (cache)" and song["notes"] == 4
    assert song["singer"] == "pjs"  # the recording's singer, which the default voice has learned
    # the generated recording sings its notes exactly: its written pitches are within a few cents of its F0
    assert s["recording"]["written_pitch_f0_rmse_cents"] < 30 and "The written pitches laid" in md
    assert 0 < s["voice"]["render_rtf"] < 5 and "render_rtf" not in s["copy:WORLD"]
    for name in ("voice", "voice+WORLD", "copy:vocoder", "copy:WORLD"):
        for key in ("mcd_db", "f0_rmse_cents", "vuv_error_pct", "dnsmos_p808", "dnsmos_p808_minus_recording"):
            assert s[name][key] is not None and math.isfinite(s[name][key]), (name, key)
        assert 1 <= s[name]["dnsmos_p808"] <= 5
    # the generated recording is in tune on its notes, and WORLD's copy of it too, by both judges
    for name in ("recording", "copy:WORLD"):
        assert s[name]["within_50c_pesto_pct"] == 100.0 and s[name]["within_50c_world_pct"] == 100.0
    assert s["copy:WORLD"]["mcd_db"] < 6.0 and s["copy:WORLD"]["f0_rmse_cents"] < 30
    assert s["copy:WORLD"]["mcd_db"] < s["voice"]["mcd_db"]
    assert s["copy:WORLD"]["mcd_time_aligned_db"] is not None and "mcd_time_aligned_db" not in s["voice"]
    assert set(s["recording"]["periodicity"]) >= {"0-1000 Hz", "5000-8000 Hz", "high"}
    timing = s["voice"]["timing"]
    assert timing["notes"] == 4 and timing["phonemes"] >= 1 and timing["phoneme_onset_mae_ms"] >= 0
    english = report["english"]
    assert len(english["lines"]) == 2 and english["voice"]["cer"] >= 0
    assert [r["reference"] for r in english["voice"]["lines"]] == [
        "hellosuntheskyiswaking",
        "singalittlesongtome",
    ]
    for name in ("voice", "copy:WORLD", "recording"):  # every system is heard against the song's own reading
        heard = song["systems"][name]["intelligibility"]
        assert heard["language"] == "ja" and heard["reference"] and heard["chars"] == len(heard["reference"])
        assert s[name]["cer"] == heard["cer"]  # one song: the pooled CER is its CER
    assert "| Whisper CER |" in md


def test_a_voice_with_a_refiner_is_also_judged_without_it():
    from types import SimpleNamespace

    from vocalsynth.eval.report import NO_REFINER, rendered_variants, system_descriptions

    plain = SimpleNamespace(acoustic=SimpleNamespace(refiner=None))
    refined = SimpleNamespace(acoustic=SimpleNamespace(refiner=object()))
    assert list(rendered_variants(plain)) == ["voice", "voice+WORLD"]
    assert rendered_variants(refined)[NO_REFINER] == {"refine_steps": 0}
    assert NO_REFINER in system_descriptions(refined) and NO_REFINER not in system_descriptions(plain)


def test_eval_refuses_unknown_songs(tmp_path, capsys):
    write_pjs(tmp_path / "pjs")
    rc = main(["eval", "--data", str(tmp_path), "--song", "pjs999", "--out", str(tmp_path / "out")])
    assert rc == 2 and "pjs999" in capsys.readouterr().err
    rc = main(["eval", "--data", str(tmp_path), "--out", str(tmp_path / "out")])  # 1 song: nothing held out
    assert rc == 2 and "held-out" in capsys.readouterr().err


def test_eval_scores_reports_conformance_of_outside_scores(tmp_path, capsys):
    from pathlib import Path

    example = Path(__file__).resolve().parents[1] / "examples" / "sakura_ja.txt"
    out = tmp_path / "scores.json"
    assert main(["eval", "--scores", str(example), "--json", str(out), "--threads", "1"]) == 0
    report = json.loads(out.read_text())
    (row,) = report["scores"]
    assert row["key_shift"] == -12  # written around C5, fitted an octave down into the low default voice
    assert row["notes"] == 14 and 0 <= row["within_pesto"] <= 14
    assert report["total"]["fraction_pesto"] == row["within_pesto"] / 14
    assert row["intelligibility"]["reference"] == "hanabirahirariisorahetobuu"  # the lyrics' phonemes, romaji
    assert report["total"]["cer"] == row["intelligibility"]["cer"] and 1 <= row["dnsmos_p808"] <= 5
    assert "sakura_ja.txt" in capsys.readouterr().out


def test_eval_needs_data_or_scores(capsys):
    assert main(["eval"]) == 2
    assert "--scores" in capsys.readouterr().err
