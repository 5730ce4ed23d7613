"""Preprocessing hostile corpora: corrupt, empty, forged, silent, clipped, wrong-rate, multi-channel and
mislabelled files are skipped and reported with their reason, the good ones kept, and no input file is
modified (every file's SHA-256 and mtime are the same after the run)."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from test_acoustic import write_corpus
from test_data_corpora import SR, synth

from vocalsynth.data.corpora import CorpusError
from vocalsynth.data.preprocess import Checks, Source, preprocess

TONE = synth([(0.1, 1.1, 220.0)], 1.2)


def _forged_flac(path: Path) -> None:
    """A real FLAC whose header claims 2**36 - 1 samples (796 hours): reading it as promised needs 275 GB."""
    sf.write(path, TONE, SR, subtype="PCM_16")
    data = bytearray(path.read_bytes())
    # STREAMINFO (after 'fLaC' and its 4-byte block header): the total sample count is the low 36 bits of
    # the 8 bytes from offset 10 (after the block sizes, frame sizes, rate, channels and bits per sample)
    field = int.from_bytes(data[18:26], "big") | ((1 << 36) - 1)
    data[18:26] = field.to_bytes(8, "big")
    path.write_bytes(bytes(data))


def write_hostile_folder(root: Path) -> dict[str, str]:
    """A folder corpus of one good file and one of each kind of bad file; returns {item id: expected reason}."""
    root.mkdir(parents=True)
    expected = {}

    def wav(name: str, x: np.ndarray, rate: int = SR, subtype: str = "PCM_16", reason: str | None = None):
        sf.write(root / f"{name}.wav", x, rate, subtype=subtype)
        expected[name] = reason

    wav("good", TONE)
    (root / "empty.wav").write_bytes(b"")
    expected["empty"] = "empty"
    wav("no_samples", np.zeros(0, np.float32), reason="empty")
    (root / "garbage.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + os.urandom(300))
    expected["garbage"] = "corrupt"
    sf.write(root / "cut.flac", TONE, SR, subtype="PCM_16")
    (root / "cut.flac").write_bytes((root / "cut.flac").read_bytes()[:3000])  # a download cut short
    expected["cut"] = "corrupt"
    with_nan = TONE.astype(np.float32).copy()
    with_nan[100] = np.nan
    wav("nan", with_nan, subtype="FLOAT", reason="corrupt")
    _forged_flac(root / "forged.flac")
    expected["forged"] = "too long"
    wav("silent", np.zeros(SR, np.float32), reason="silent")
    wav("clipped", np.clip(4 * TONE, -1, 1), reason="clipped")
    wav("short", TONE[: SR // 5], reason="too short")
    wav("phone_line", synth([(0.1, 1.1, 220.0)], 1.2)[::3], rate=8000, reason="sample rate too low")
    wav("cd_rate", TONE, rate=22050)  # a little below the model's 24 kHz: kept
    voice, other = TONE, synth([(0.1, 1.1, 311.0)], 1.2, seed=5)
    wav("stereo_same", np.stack([voice, 0.8 * voice], axis=1))  # kept, mixed down, reported
    wav("stereo_inverted", np.stack([voice, -voice], axis=1), reason="channels differ")
    wav("stereo_two_signals", np.stack([voice, other], axis=1), reason="channels differ")
    wav("five_channels_one_live", np.stack([voice] + [np.zeros_like(voice)] * 4, axis=1))  # kept
    os.mkfifo(root / "fifo.wav")  # not a regular file: never opened (reading it would block forever)
    os.symlink("/dev/zero", root / "endless.wav")  # endless data: never opened either
    return expected


def write_mislabelled(root: Path) -> dict[str, str]:
    """A DiffSinger corpus whose labels fit 'right', but 'wrong' sings a fourth above its notes and 'octave'
    an octave above: {item id: expected reason}."""
    names = ["right", "wrong", "octave"]
    write_corpus(root, names, 0)  # the k-th item's notes are k semitones above the first's
    for name, shift in (("wrong", 5), ("octave", 12)):
        k = names.index(name)
        sung = write_corpus(root.parent / f"sung_{name}", [name], k + shift)  # same rhythm, other pitches
        (root / "wavs" / f"{name}.wav").write_bytes((sung / "wavs" / f"{name}.wav").read_bytes())
    return {"right": None, "wrong": "mislabelled", "octave": "mislabelled"}


def fingerprint(folder: Path) -> dict[str, tuple[str, int]]:
    """Every regular file below ``folder``: its SHA-256 and its modification time (ns)."""
    out = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink():
            out[str(path.relative_to(folder))] = (
                hashlib.sha256(path.read_bytes()).hexdigest(),
                path.stat().st_mtime_ns,
            )
    return out


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    base = tmp_path_factory.mktemp("hostile")
    expected = {("folder", k): v for k, v in write_hostile_folder(base / "folder").items()}
    expected.update({("diffsinger", k): v for k, v in write_mislabelled(base / "ds").items()})
    before = {name: fingerprint(base / name) for name in ("folder", "ds")}
    started = time.monotonic()
    result = preprocess(
        [
            Source("folder", base / "folder", licence="CC0-1.0"),
            Source("diffsinger", base / "ds", licence="CC0-1.0", language="ja"),
        ],
        base / "out",
        workers=1,
        f0_method="dio",
        align=False,
        progress=False,
    )
    seconds = time.monotonic() - started
    return base, expected, before, result, seconds


def test_every_bad_file_is_skipped_with_its_reason_and_every_good_one_kept(run):
    base, expected, _, result, seconds = run
    got = {(s.corpus, s.id): s.reason for s in result.skipped}
    kept = {(e["corpus"], e["id"]) for e in result.manifest["items"]}
    for key, reason in expected.items():
        if reason is None:
            assert key in kept, f"{key} should be kept, was skipped: {got.get(key)}"
        else:
            assert got.get(key) == reason, f"{key}: expected {reason!r}, got {got.get(key)!r}"
    for special in (("folder", "fifo"), ("folder", "endless")):  # not regular files: never opened
        assert special not in got and special not in kept
    assert seconds < 120  # the forged 796-hour header was refused, not read


def test_the_report_says_what_is_wrong_with_each_file(run):
    base, _, _, result, _ = run
    report = json.loads((base / "out" / "skipped.json").read_text())
    details = {(s["corpus"], s["id"]): s["detail"] for s in report["skipped"]}
    assert "0 bytes" in details[("folder", "empty")]
    assert "NaN" in details[("folder", "nan")] and "sample 100" in details[("folder", "nan")]
    assert details[("folder", "forged")].startswith("795.4 h long by its header; the limit is 30.0 min")
    assert "8000 Hz" in details[("folder", "phone_line")]
    assert "cancel out" in details[("folder", "stereo_inverted")]
    assert "different signals" in details[("folder", "stereo_two_signals")]
    assert "does not follow the labelled notes" in details[("diffsinger", "wrong")]
    assert "another recording" in details[("diffsinger", "wrong")]
    assert "an octave off" in details[("diffsinger", "octave")]
    warnings = {(w["corpus"], w["id"]): w["detail"] for w in report["warnings"]}
    assert warnings[("folder", "stereo_same")] == "2 channels mixed down to mono"
    assert warnings[("folder", "five_channels_one_live")] == "5 channels mixed down to mono"
    summary = result.summary()
    assert "2 mislabelled" in summary and "3 corrupt" in summary


def test_no_input_file_is_modified(run):
    base, _, before, _, _ = run
    for name in ("folder", "ds"):
        assert fingerprint(base / name) == before[name]
    assert not list((base / "folder").glob(".*")) and not list((base / "ds").rglob("*.part"))


def test_an_output_folder_inside_the_corpus_is_refused(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    sf.write(corpus / "a.wav", TONE, SR, subtype="PCM_16")
    before = fingerprint(corpus)
    for out in (corpus, corpus / "prep"):
        with pytest.raises(CorpusError, match="never writes into its inputs"):
            preprocess([("folder", corpus, {"licence": "CC0-1.0"})], out, workers=1, progress=False)
    assert fingerprint(corpus) == before and sorted(p.name for p in corpus.iterdir()) == ["a.wav"]


def test_a_file_longer_than_the_limit_is_refused_from_its_header(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    sf.write(corpus / "long.wav", synth([(0.1, 2.9, 220.0)], 3.0), SR, subtype="PCM_16")
    result = preprocess(
        [("folder", corpus, {"licence": "CC0-1.0"})],
        tmp_path / "out",
        workers=1,
        progress=False,
        checks=Checks(max_seconds=2.0),
    )
    assert [(s.id, s.reason) for s in result.skipped] == [("long", "too long")]
    assert result.skipped[0].detail.startswith("3 s long by its header; the limit is 2 s")


def test_the_cli_reports_skips_and_succeeds(run, tmp_path, capsys):
    from vocalsynth.data.preprocess import main

    base = run[0]
    code = main(
        [
            "--corpus",
            "folder",
            "--data",
            str(base / "folder"),
            "--licence",
            "CC0-1.0",
            "--out",
            str(tmp_path / "o"),
        ]
        + ["--workers", "1", "--f0-method", "dio", "--quiet"]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "skipped: 2 channels differ, 1 clipped, 3 corrupt, 2 empty, 1 sample rate too low" in out
