"""Preprocessing on generated corpora: features and frame labels, workers, resumption, the skipped-items
report, the licence gate, the split, statistics, the command line, and the dataset/collate/sampler."""

from __future__ import annotations

import argparse
import json
import sys
import types
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from test_data_corpora import SR, song_audio, synth, write_diffsinger, write_folder, write_nnsvs, write_pjs

from vocalsynth.audio import AudioConfig, AudioConfigMismatch
from vocalsynth.data.corpora import CorpusError
from vocalsynth.data.dataset import BucketBatchSampler, FeatureDataset, collate
from vocalsynth.data.preprocess import Source, add_arguments, assign_splits, item_file, preprocess, run

FPS = 100  # frames a second at the default AudioConfig


def write_bad_files(root: Path) -> Path:
    """A folder of audio each failing one check, and one good file."""
    root.mkdir(parents=True)
    sf.write(root / "good.wav", synth([(0.1, 0.9, 200.0)], 1.0), SR, subtype="PCM_16")
    (root / "corrupt.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(range(256)) * 4)
    sf.write(root / "silent.wav", np.zeros(SR, np.float32), SR, subtype="PCM_16")
    sf.write(root / "clipped.wav", np.clip(3 * synth([(0, 1.0, 200.0)], 1.0), -1, 1), SR, subtype="PCM_16")
    sf.write(root / "short.wav", synth([(0, 0.2, 200.0)], 0.2), SR, subtype="PCM_16")
    return root


def write_mismatch(root: Path) -> Path:
    """NNSVS corpus with one good song, one whose labels run far past its audio, one without audio."""
    write_nnsvs(root)
    lab = (root / "lab_full_aligned" / "song_01.lab").read_text()
    (root / "lab_full_aligned" / "long_01.lab").write_text(lab)
    sf.write(root / "wav" / "long_01.wav", song_audio()[: int(0.9 * SR)], SR, subtype="PCM_16")
    (root / "lab_full_aligned" / "lost_01.lab").write_text(lab)
    return root


@pytest.fixture(scope="module")
def corpora(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("corpora")
    return {
        "nnsvs": write_mismatch(base / "nnsvs"),
        "diffsinger": write_diffsinger(base / "diffsinger"),
        "pjs": write_pjs(base / "pjs"),
        "folder": write_folder(base / "folder"),
        "bad": write_bad_files(base / "bad"),
    }


def sources(c: dict[str, Path]) -> list:
    return [
        ("nnsvs", c["nnsvs"]),
        ("diffsinger", c["diffsinger"], {"language": "ja", "licence": "CC BY 4.0"}),
        Source("pjs", c["pjs"]),
        ("folder", c["folder"], {"licence": "CC0 1.0", "singer": "tester"}),
        ("folder", c["bad"], {"licence": "CC0 1.0"}),
    ]


@pytest.fixture(scope="module")
def prepped(corpora, tmp_path_factory):
    out = tmp_path_factory.mktemp("prep")
    result = preprocess(sources(corpora), out, workers=1, f0_method="dio", align=False, progress=False)
    return out, result


def load(out: Path, corpus: str, item_id: str) -> dict:
    with np.load(item_file(out, corpus, item_id)) as z:
        return {k: z[k] for k in z.files}


def test_features_and_frame_labels(prepped):
    out, result = prepped
    z = load(out, "nnsvs", "song_01")
    item, meta = json.loads(str(z["item_json"])), json.loads(str(z["meta_json"]))
    n = z["mel"].shape[1]
    assert n == int(1.8 * SR) // 240 + 1 and z["mel"].shape[0] == 80 and z["aperiodicity"].shape == (4, n)
    assert meta["audio_config"] == AudioConfig().to_dict() and meta["alignment"] == "hand"
    assert z["audio"].dtype == np.int16 and z["audio"].size == int(1.8 * SR)
    # the generated tone is A4 from 0.38 to 0.8 s and C5 from 0.9 to 1.3 s
    assert np.median(z["f0_hz"][45:75]) == pytest.approx(440, rel=0.02)
    assert np.median(z["f0_hz"][95:125]) == pytest.approx(523.25, rel=0.02)
    assert z["vuv"][45:75].mean() > 0.9 and z["vuv"][5:25].mean() < 0.1
    assert z["note_pitch"][60] == 69 and z["note_pitch"][110] == 72 and z["note_pitch"][10] == 0
    symbols = [p["symbol"] for p in item["phonemes"]]
    assert symbols[z["ph_index"][34]] == "ja/k" and symbols[z["ph_index"][60]] == "ja/a"
    assert z["ph_dur"].sum() == n and (z["ph_index"] >= 0).all()  # the labels tile the recording
    assert z["ph_dur"].tolist() == [30, 8, 42, 10, 40, 20, n - 150]
    pjs = load(out, "pjs", "pjs900")
    assert json.loads(str(pjs["meta_json"]))["alignment"] == "unaligned"
    assert pjs["note_pitch"][60] == 69 and pjs["note_pitch"][130] == 74


def test_labels_are_written_for_a_person_to_inspect(prepped):
    from vocalsynth.data.align_lab import read_lab

    out, _ = prepped
    z = load(out, "nnsvs", "song_01")
    item = json.loads(str(z["item_json"]))
    lab = out / "labels" / "nnsvs" / "song_01.lab"
    rows = read_lab(lab)
    assert [r[2] for r in rows] == [p["symbol"] for p in item["phonemes"]]
    assert rows[1][0] == pytest.approx(item["phonemes"][1]["start"], abs=1e-6)


def test_manifest(prepped):
    out, result = prepped
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest == result.manifest
    items = {(e["corpus"], e["id"]): e for e in manifest["items"]}
    assert set(items) == {
        ("nnsvs", "song_01"),
        ("nnsvs", "song_02"),
        ("diffsinger", "tune_001"),
        ("diffsinger", "tune_002"),
        ("pjs", "pjs900"),
        ("folder", "a"),
        ("folder", "sub/b"),
        ("folder", "good"),
    }
    e = items[("nnsvs", "song_01")]
    assert e["licence"] == "CC BY 3.0" and e["language"] == "ja" and e["aligned"] and e["split"] == "train"
    assert e["seconds"] == pytest.approx(1.8) and e["minutes"] == pytest.approx(0.03)
    assert items[("pjs", "pjs900")]["alignment"] == "unaligned" and not items[("pjs", "pjs900")]["aligned"]
    assert items[("folder", "a")]["singer"] == "tester" and items[("folder", "a")]["alignment"] == "none"
    assert items[("diffsinger", "tune_001")]["licence"] == "CC BY 4.0"
    assert manifest["corpora"]["pjs"]["licence"].startswith("CC BY-SA 4.0")
    assert manifest["audio_config"] == AudioConfig().to_dict() and manifest["f0_method"] == "dio"
    assert "ja/N" in manifest["phonemes"] and "SP" in manifest["phonemes"]
    # segments of one song share it (and so share the split)
    assert items[("diffsinger", "tune_001")]["song"] == items[("diffsinger", "tune_002")]["song"] == "tune"
    assert manifest["corpora"]["diffsinger"]["songs"] == 1 and manifest["splits"] == {
        "train": 8,
        "validation": 0,
    }


def test_skipped_report(prepped):
    out, result = prepped
    report = json.loads((out / "skipped.json").read_text())
    reasons = {(s["corpus"], s["id"]): s["reason"] for s in report["skipped"]}
    assert reasons == {
        ("nnsvs", "long_01"): "label/audio length mismatch",
        ("nnsvs", "lost_01"): "missing audio",
        ("pjs", "pjs901"): "bad labels",
        ("folder", "corrupt"): "corrupt",
        ("folder", "silent"): "silent",
        ("folder", "clipped"): "clipped",
        ("folder", "short"): "too short",
    }
    assert any("--no-align" in w["detail"] for w in report["warnings"])
    text = result.summary()
    assert "1 corrupt" in text and "clipped" in text and "min of audio per minute" in text


def test_stats(prepped):
    out, result = prepped
    stats = json.loads((out / "stats.json").read_text())
    assert stats["by_corpus"]["nnsvs"]["minutes"] == pytest.approx(0.06, abs=1e-3)
    assert set(stats["by_language"]) == {"ja", "und"}
    assert stats["phonemes"]["ja/N"]["count"] == 2 + 1 and stats["phonemes"]["ja/k"]["count"] == 2 + 2 + 1
    nnsvs = stats["pitch"]["nnsvs"]
    assert nnsvs["p5"] == 69 and nnsvs["p95"] == 72 and 66 <= nnsvs["min"] and nnsvs["max"] <= 75
    assert stats["skipped"]["corrupt"] == 1
    assert (out / "pitch_histogram.png").read_bytes()[:4] == b"\x89PNG"
    assert "| ja/a |" in (out / "stats.md").read_text()


def test_two_workers_give_the_same_cache(prepped, corpora, tmp_path):
    out1, _ = prepped
    result = preprocess(
        [("diffsinger", corpora["diffsinger"], {"language": "ja", "licence": "x"}), ("pjs", corpora["pjs"])],
        tmp_path,
        workers=2,
        f0_method="dio",
        align=False,
        progress=False,
    )
    assert result.done == 3
    for corpus, item_id in (("diffsinger", "tune_001"), ("pjs", "pjs900")):
        a, b = load(out1, corpus, item_id), load(tmp_path, corpus, item_id)
        for k in ("mel", "f0_hz", "aperiodicity", "ph_index", "note_pitch", "audio"):
            np.testing.assert_array_equal(a[k], b[k])


def test_resume_after_interruption(corpora, tmp_path):
    pairs = [("nnsvs", corpora["nnsvs"]), ("folder", corpora["folder"], {"licence": "CC0"})]
    finished = []

    def crash(result):
        finished.append(result)
        if len(finished) == 1:
            raise KeyboardInterrupt  # the run is killed right after its first item was written

    with pytest.raises(KeyboardInterrupt):
        preprocess(pairs, tmp_path, workers=1, f0_method="dio", align=False, progress=False, on_item=crash)
    first = item_file(tmp_path, finished[0]["corpus"], finished[0]["id"])
    files = list((tmp_path / "items").rglob("*.npz"))
    assert files == [first] and not list((tmp_path / "items").rglob("*.part"))
    before = first.stat()
    result = preprocess(pairs, tmp_path, workers=1, f0_method="dio", align=False, progress=False)
    assert first.stat().st_mtime_ns == before.st_mtime_ns and first.stat().st_ino == before.st_ino
    assert result.cached == 1 and result.done == 3 and len(result.manifest["items"]) == 4
    again = preprocess(pairs, tmp_path, workers=1, f0_method="dio", align=False, progress=False)
    assert again.done == 0 and again.cached == 4 and again.processed_seconds == 0


def test_cache_with_other_settings_is_refused(prepped, corpora):
    out, _ = prepped
    with pytest.raises(AudioConfigMismatch, match="cache in .* has hop_length 240 but this run has 120"):
        preprocess(
            [("pjs", corpora["pjs"])], out, AudioConfig(hop_length=120), f0_method="dio", progress=False
        )
    with pytest.raises(CorpusError, match="F0 method 'dio'"):
        preprocess([("pjs", corpora["pjs"])], out, f0_method="harvest", progress=False)


def test_changed_labels_are_redone(corpora, tmp_path):
    root = tmp_path / "ds"
    write_diffsinger(root, tagged=True)
    pairs = [("diffsinger", root, {"licence": "x"})]
    preprocess(pairs, tmp_path / "out", workers=1, f0_method="dio", progress=False)
    csv = root / "transcriptions.csv"
    csv.write_text(csv.read_text().replace("A4", "B4", 1))  # tune_001 now sings B4
    result = preprocess(pairs, tmp_path / "out", workers=1, f0_method="dio", progress=False)
    assert result.done == 1 and result.cached == 1
    assert load(tmp_path / "out", "diffsinger", "tune_001")["note_pitch"][60] == 71


def test_licence_gate(corpora, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(CorpusError, match="has no licence.*--licence"):
        preprocess([("folder", corpora["folder"])], out, workers=1, f0_method="dio", progress=False)
    assert not out.exists()  # refused before anything was written
    r = preprocess(
        [("folder", corpora["folder"])], out, workers=1, f0_method="dio", licence="CC0 1.0", progress=False
    )
    assert {e["licence"] for e in r.manifest["items"]} == {"CC0 1.0"}
    r = preprocess(
        [("folder", corpora["folder"])],
        tmp_path / "o2",
        workers=1,
        f0_method="dio",
        allow_unlicensed=True,
        progress=False,
    )
    assert r.manifest["corpora"]["folder"]["unlicensed"] and r.manifest["items"][0]["licence"] is None
    # a known licence is not replaced by the default for unlicensed corpora
    r = preprocess(
        [("pjs", corpora["pjs"])],
        tmp_path / "o3",
        workers=1,
        f0_method="dio",
        licence="CC0",
        align=False,
        progress=False,
    )
    assert r.manifest["items"][0]["licence"].startswith("CC BY-SA")


def test_split_is_deterministic_by_song():
    songs = {
        "big": [f"s{i:03d}" for i in range(200)],
        "ten": [f"t{i}" for i in range(10)],
        "nine": list("abcdefghi"),
    }
    held = assign_splits(songs)
    assert held == assign_splits({k: list(reversed(v)) for k, v in songs.items()})
    assert 3 <= len(held["big"]) <= 20 and len(held["ten"]) >= 1 and held["nine"] == set()
    more = assign_splits({"big": songs["big"] + [f"x{i}" for i in range(50)]})
    assert held["big"] <= more["big"]  # adding songs never moves an old song between splits


def test_aligner_hook(corpora, tmp_path, monkeypatch):
    """Score-timed items go through vocalsynth.data.align.align_item; items cached unaligned are upgraded."""
    calls = []

    def fake_align(item, features, config):
        calls.append(item.id)
        shifted = [replace(p, start=p.start + 0.01, end=p.end + 0.01) for p in item.phonemes]
        return replace(item, phonemes=shifted, aligned=True)

    pairs = [("pjs", corpora["pjs"])]
    preprocess(pairs, tmp_path, workers=1, f0_method="dio", align=False, progress=False)
    monkeypatch.setitem(sys.modules, "vocalsynth.data.align", types.SimpleNamespace(align_item=fake_align))
    r = preprocess(pairs, tmp_path, workers=1, f0_method="dio", progress=False)
    assert calls == ["pjs900"] and r.realigned == 1 and r.done == 0
    assert r.manifest["items"][0]["alignment"] == "aligner" and r.manifest["items"][0]["aligned"]
    z = load(tmp_path, "pjs", "pjs900")
    assert json.loads(str(z["item_json"]))["phonemes"][1]["start"] == pytest.approx(0.35, abs=1e-3)

    def broken(item, features, config):
        raise RuntimeError("no luck")

    monkeypatch.setitem(sys.modules, "vocalsynth.data.align", types.SimpleNamespace(align_item=broken))
    r = preprocess(pairs, tmp_path / "o2", workers=1, f0_method="dio", progress=False)
    assert r.manifest["items"][0]["alignment"] == "unaligned" and "no luck" in r.warnings[0]["detail"]


def test_command_line(corpora, tmp_path, capsys):
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    argv = ["--licence", "CC0", "--corpus", "folder", "--data", str(corpora["folder"]), "--singer", "me"]
    argv += ["--corpus", "pjs", "--data", str(corpora["pjs"]), "--out", str(tmp_path / "o"), "--workers", "1"]
    args = parser.parse_args([*argv, "--f0-method", "dio", "--no-align", "--quiet"])
    assert args.sources == [
        {"corpus": "folder", "data": str(corpora["folder"]), "singer": "me"},
        {"corpus": "pjs", "data": str(corpora["pjs"])},
    ]
    assert run(args) == 0
    printed = capsys.readouterr().out
    assert "throughput" in printed and "folder: 2 items" in printed
    args = parser.parse_args(
        ["--corpus", "folder", "--data", str(corpora["folder"]), "--out", str(tmp_path / "x")]
    )
    assert run(args) == 2 and "--licence" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parser.parse_args(["--data", "x", "--corpus", "pjs", "--out", "y"])


# --- dataset, collate, bucketing ----------------------------------------------------------------------


def test_dataset_items(prepped):
    out, _ = prepped
    ds = FeatureDataset(out, "train")
    assert len(ds) == 8 and len(FeatureDataset(out, "validation")) == 0
    i = next(k for k, e in enumerate(ds.entries) if e["id"] == "song_01")
    x = ds[i]
    n = x["mel"].shape[-1]
    assert x["mel"].shape == (80, n) and x["aperiodicity"].shape == (4, n) and x["f0_hz"].shape == (n,)
    assert ds.phoneme_table[x["ph_id"][60] - 1] == "ja/a" and x["note_pitch"][60] == 69
    assert x["ph_ids"].tolist() == [
        ds.phoneme_ids[s] for s in ["SP", "ja/k", "ja/a", "ja/s", "ja/a", "ja/N", "SP"]
    ]
    assert int(x["ph_dur"].sum()) == n and x["ph_note_pitch"].tolist() == [0, 69, 69, 72, 72, 72, 0]
    assert ds.singers[int(x["singer_id"])] == "nnsvs" and ds.languages[int(x["language_id"])] == "ja"
    acoustic = FeatureDataset(out, "all", require_phonemes=True)
    assert {e["corpus"] for e in acoustic.entries} == {"nnsvs", "diffsinger", "pjs"}
    table = ["SP", "AP", "ja/a", "ja/k", "ja/s", "ja/N", "ja/n"]
    assert FeatureDataset(out, corpora=["nnsvs"], phoneme_table=table)[0]["ph_ids"].tolist()[:3] == [1, 4, 3]


def test_vocoder_crops_and_audio(prepped):
    out, _ = prepped
    ds = FeatureDataset(out, "all", with_audio=True, segment_frames=50, preload=True)
    batch = collate([ds[i] for i in range(len(ds))])
    assert batch["mel"].shape == (len(ds), 80, 50) and batch["audio"].shape == (len(ds), 50 * 240)
    assert "ph_ids" not in batch and batch["audio"].abs().max() <= 1.0


def test_collate_pads_and_masks(prepped):
    out, _ = prepped
    ds = FeatureDataset(out, "all")
    pick = [k for k, e in enumerate(ds.entries) if e["id"] in ("song_01", "pjs900", "tune_001")]
    items = [ds[i] for i in pick]
    b = collate(items)
    lengths = [x["mel"].shape[-1] for x in items]
    T, N = max(lengths), max(x["ph_ids"].shape[0] for x in items)
    assert b["mel"].shape == (3, 80, T) and b["energy"].shape == (3, T) and b["ph_ids"].shape == (3, N)
    assert b["lengths"].tolist() == lengths and b["mask"].sum(1).tolist() == lengths
    short = int(np.argmin(lengths))
    assert (b["mel"][short, :, lengths[short] :] == np.log(1e-5)).all() and not b["mask"][short, -1]
    assert (b["energy"][short, lengths[short] :] == -100).all() and (
        b["aperiodicity"][short, :, lengths[short] :] == 1
    ).all()
    assert b["ph_mask"].sum(1).tolist() == b["ph_lengths"].tolist() and b["singer_id"].dtype == torch.long


def test_bucket_batch_sampler():
    rng = np.random.default_rng(0)
    lengths = rng.integers(50, 2000, 500).tolist()
    s = BucketBatchSampler(lengths, 16, seed=3)
    epoch0, epoch1 = list(s), list(s)
    assert sorted(i for b in epoch0 for i in b) == list(range(500)) and epoch0 != epoch1
    s.set_epoch(0)
    assert list(s) == epoch0  # deterministic per epoch

    # similar lengths together: far less padding than random batches
    def padding(batches):
        return sum(max(lengths[i] for i in b) * len(b) - sum(lengths[i] for i in b) for b in batches)

    random_batches = [list(range(k, min(k + 16, 500))) for k in range(0, 500, 16)]
    assert padding(epoch0) < 0.2 * padding(random_batches)
    assert all(len(b) <= 16 for b in epoch0) and len(s) == len(epoch0)
    by_frames = list(BucketBatchSampler(lengths, max_frames=6000))
    assert all(max(lengths[i] for i in b) * len(b) <= 6000 or len(b) == 1 for b in by_frames)
    assert sorted(i for b in by_frames for i in b) == list(range(500))
    dropped = list(BucketBatchSampler(lengths, 16, drop_last=True))
    assert all(len(b) == 16 for b in dropped)
    loader = torch.utils.data.DataLoader(
        list(range(10)), batch_sampler=BucketBatchSampler([5] * 10, 4, shuffle=False)
    )
    assert [len(b) for b in loader] == [4, 4, 2]
