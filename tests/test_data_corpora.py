"""Corpus adapters on generated corpora (known F0 and phoneme timings) and, when present, the real ones.

The writers here (`write_*`) also build the corpora of test_data_preprocess.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from vocalsynth.data.corpora import CORPORA, CorpusError, get_corpus
from vocalsynth.data.corpora._common import note_number, pjs_symbols
from vocalsynth.data.items import CorpusItem

SR = 24000
DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
A4, C5, D5 = 440.0, 523.2511, 587.3295

# One short song: (phone, start, end, sung F0 or 0 for unvoiced, written note name or None)
SONG = [
    ("pau", 0.0, 0.3, 0.0, None),
    ("k", 0.3, 0.38, 0.0, "A4"),
    ("a", 0.38, 0.8, A4, "A4"),
    ("s", 0.8, 0.9, 0.0, "C5"),
    ("a", 0.9, 1.3, C5, "C5"),
    ("N", 1.3, 1.5, C5, "C5"),
    ("pau", 1.5, 1.8, 0.0, None),
]


def synth(segments: list[tuple[float, float, float]], seconds: float, seed: int = 0) -> np.ndarray:
    """``(start, end, f0)`` segments: f0 > 0 a three-harmonic tone, 0 soft noise (a consonant); quiet elsewhere."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(seconds * SR))) / SR
    x = rng.normal(0, 3e-4, t.size)
    for a, b, f0 in segments:
        i, j = int(a * SR), int(b * SR)
        if f0 > 0:
            tt = t[i:j]
            x[i:j] += (
                0.3 * np.sin(2 * np.pi * f0 * tt)
                + 0.1 * np.sin(4 * np.pi * f0 * tt)
                + 0.05 * np.sin(6 * np.pi * f0 * tt)
            )
        else:
            x[i:j] += rng.normal(0, 0.03, j - i)
    return x.astype(np.float32)


def song_audio(seconds: float = 1.8) -> np.ndarray:
    return synth([(a, b, f) for _, a, b, f, _ in SONG], seconds)


def full_context(phone: str, note: str | None) -> str:
    """A minimal Sinsy-style full context: the phone between '-' and '+', the note in /E:."""
    return f"x@xx^xx-{phone}+xx=xx_xx%xx^00_00~00-1!1[xx$xx]xx/A:xx-xx-xx@xx~xx/E:{note or 'xx'}]xx^0=4~100/F:xx#xx"


def write_nnsvs(root: Path, stems: dict[str, str] | None = None) -> Path:
    """An NNSVS layout: lab_full_aligned/<stem>.lab (+ lab_mono/<stem>_mono.lab) and wav/<stem>.wav."""
    (root / "lab_full_aligned").mkdir(parents=True)
    (root / "lab_mono").mkdir()
    (root / "wav").mkdir()
    full = "\n".join(f"{round(a * 1e7)} {round(b * 1e7)} {full_context(p, n)}" for p, a, b, _, n in SONG)
    mono = "\n".join(f"{round(a * 1e7)} {round(b * 1e7)} {p}" for p, a, b, _, _ in SONG)
    (root / "lab_full_aligned" / "song_01.lab").write_text(full + "\n")
    (root / "lab_mono" / "song_02.lab").write_text(mono + "\n")
    sf.write(root / "wav" / "song_01.wav", song_audio(), SR, subtype="PCM_16")
    sf.write(root / "wav" / "song_02.flac", song_audio(), SR, subtype="PCM_16")
    return root


def write_diffsinger(root: Path, tagged: bool = False, extra_rows: list[str] | None = None) -> Path:
    """A DiffSinger layout: one song in two segments (same audio), the second note held into a slur."""
    (root / "wavs").mkdir(parents=True)
    ph = ["SP", "k", "a", "s", "a", "SP"]
    if tagged:
        ph = [p if p == "SP" else f"ja/{p}" for p in ph]
    row = (
        f"{' '.join(ph)},0.3 0.08 0.42 0.1 0.6 0.3,2 2 1 1,rest A4 C5 D5 rest,0.38 0.52 0.3 0.3 0.3,0 0 0 1 0"
    )
    audio = synth([(0.3, 0.38, 0), (0.38, 0.8, A4), (0.8, 0.9, 0), (0.9, 1.2, C5), (1.2, 1.5, D5)], 1.8)
    lines = ["name,ph_seq,ph_dur,ph_num,note_seq,note_dur,note_slur"]
    for name in ("tune_001", "tune_002"):
        lines.append(f"{name},{row}")
        sf.write(root / "wavs" / f"{name}.wav", audio, SR, subtype="PCM_16")
    lines += extra_rows or []
    (root / "transcriptions.csv").write_text("\n".join(lines) + "\n")
    return root


def write_pjs(root: Path) -> Path:
    """A PJS layout: metadata.json (score timings, 20 ms F0) + flac/<name>_song.wav starting after 0.4 s silence."""
    (root / "flac").mkdir(parents=True)
    notes = [
        ("jp_k-a", 0.5, 69, 2, A4),
        ("jp_s-a", 0.3, 72, 2, C5),
        ("jp_s-a", 0.3, 74, 3, D5),
        ("jp_n", 0.2, 72, 2, C5),
    ]
    segments, t = [], 0.4
    for _, dur, _, _, hz in notes:
        segments.append((t, t + dur, hz))
        t += dur
    seconds = 2.0
    sf.write(root / "flac" / "pjs900_song.wav", synth(segments, seconds), SR, subtype="PCM_16")
    f0 = ["0.00"] * int(seconds / 0.02)
    for a, b, hz in segments:
        for k in range(round(a / 0.02), round(b / 0.02)):
            f0[k] = f"{hz:.2f}"
    entry = {
        "name": "pjs900",
        "phoneme": " ".join(n[0] for n in notes),
        "duration": " ".join(str(n[1]) for n in notes),
        "note_pitch": " ".join(str(n[2]) for n in notes),
        "note_type": " ".join(str(n[3]) for n in notes),
        "f0": " ".join(f0),
    }
    broken = {**entry, "name": "pjs901", "note_type": "2 2 9 2"}
    (root / "metadata.json").write_text(json.dumps([entry, broken]))
    return root


def write_folder(root: Path) -> Path:
    (root / "sub").mkdir(parents=True)
    sf.write(root / "a.wav", synth([(0.1, 0.9, 220.0)], 1.0), SR, subtype="PCM_16")
    sf.write(root / "sub" / "b.flac", synth([(0.1, 0.9, 330.0)], 1.0, seed=1), SR, subtype="PCM_16")
    (root / "notes.txt").write_text("not audio")
    return root


# --- pure helpers ---------------------------------------------------------------------------------------


def test_symbol_conversion():
    assert pjs_symbols("jp_ky-o") == ["ja/ky", "ja/o"]
    assert pjs_symbols("jp_N") == pjs_symbols("jp_n") == ["ja/N"]
    assert pjs_symbols("jp_n-a") == ["ja/n", "ja/a"]
    assert pjs_symbols("jp_cl") == ["ja/cl"]
    assert pjs_symbols("<SP>") == ["SP"]
    with pytest.raises(ValueError):
        pjs_symbols("ky-o")
    assert (note_number("C4"), note_number("Db4"), note_number("C#4"), note_number("A4+40")) == (
        60,
        61,
        61,
        69,
    )
    assert note_number("xx") is None


def test_registry():
    assert set(CORPORA) == {"pjs", "nnsvs", "diffsinger", "vocadito", "folder", "derived"}
    assert CORPORA["pjs"].licence == "CC BY-SA 4.0 (as stated by third-party sources)"
    assert CORPORA["nnsvs"].licence == "CC BY 3.0"
    assert CORPORA["vocadito"].licence == "CC BY 4.0"
    assert CORPORA["folder"].licence is None and CORPORA["diffsinger"].licence is None
    assert all(c.description for c in CORPORA.values())
    with pytest.raises(CorpusError, match="known: pjs"):
        get_corpus("opencpop")


# --- adapters on generated corpora ---------------------------------------------------------------------


def test_nnsvs_full_and_mono_labels(tmp_path):
    items = {i.id: i for i in CORPORA["nnsvs"].read(write_nnsvs(tmp_path))}
    assert set(items) == {"song_01", "song_02"}
    for item in items.values():
        assert item.aligned and item.language == "ja" and item.licence == "CC BY 3.0"
        assert [p.symbol for p in item.phonemes] == ["SP", "ja/k", "ja/a", "ja/s", "ja/a", "ja/N", "SP"]
        # notes start at their vowel; the consonant before it keeps its own note's index
        assert [(n.pitch, round(n.start, 3), round(n.end, 3)) for n in item.notes] == [
            (None, 0.0, 0.38),
            (69, 0.38, 0.9),
            (72, 0.9, 1.3),
            (72, 1.3, 1.5),
            (None, 1.5, 1.8),
        ]
        assert [p.note_index for p in item.phonemes] == [0, 1, 1, 2, 2, 3, 4]
    assert items["song_02"].audio_path.endswith("song_02.flac")  # mono label: pitch came from the F0


def test_nnsvs_missing_audio_and_bad_label(tmp_path):
    root = write_nnsvs(tmp_path)
    (root / "lab_full_aligned" / "song_03.lab").write_text(
        (root / "lab_full_aligned" / "song_01.lab").read_text()
    )
    (root / "lab_full_aligned" / "song_04.lab").write_text("0 100 x@xx^xx-a+xx\nbroken line\n")
    (root / "lab_mono" / "song_05.lab").write_text("0 1000000 a\n")  # mono, no audio: no pitch to take
    skipped = []
    items = {i.id: i for i in CORPORA["nnsvs"].read(root, skip=lambda *a: skipped.append(a))}
    assert not Path(items["song_03"].audio_path).exists()  # reported by preprocess as missing audio
    assert {(s[0], s[1]) for s in skipped} == {("song_04", "bad labels"), ("song_05", "missing audio")}
    assert "line 2" in next(s[2] for s in skipped if s[0] == "song_04")
    with pytest.raises(CorpusError, match="song_04"):
        list(CORPORA["nnsvs"].read(root))  # without skip the adapter is strict


def test_diffsinger(tmp_path):
    root = write_diffsinger(tmp_path, extra_rows=["bad_001,SP a,0.5,1 1,rest,0.5,0"])
    with pytest.raises(CorpusError, match="--language"):
        list(CORPORA["diffsinger"].read(root, skip=lambda *a: None))
    skipped = []
    items = list(CORPORA["diffsinger"].read(root, skip=lambda *a: skipped.append(a), language="ja"))
    assert [i.id for i in items] == ["tune_001", "tune_002"] and skipped[0][:2] == ("bad_001", "bad labels")
    item = items[0]
    assert item.aligned and item.language == "ja" and item.licence == ""
    assert [(n.pitch, n.slur) for n in item.notes] == [
        (None, False),
        (69, False),
        (72, False),
        (74, True),
        (None, False),
    ]
    # the held vowel is cut where the slurred note starts; 'k' and 's' belong to the note after them
    got = [(p.symbol, round(p.start, 3), round(p.end, 3), p.note_index) for p in item.phonemes]
    assert got == [
        ("SP", 0.0, 0.3, 0),
        ("ja/k", 0.3, 0.38, 1),
        ("ja/a", 0.38, 0.8, 1),
        ("ja/s", 0.8, 0.9, 2),
        ("ja/a", 0.9, 1.2, 2),
        ("ja/a", 1.2, 1.5, 3),
        ("SP", 1.5, 1.8, 4),
    ]
    assert CORPORA["diffsinger"].song_of("tune_002") == "tune"
    tagged = list(CORPORA["diffsinger"].read(write_diffsinger(tmp_path / "t", tagged=True)))
    assert tagged[0].phonemes[1].symbol == "ja/k" and tagged[0].language == "ja"


def test_pjs_places_score_after_leading_silence(tmp_path):
    skipped = []
    items = list(CORPORA["pjs"].read(write_pjs(tmp_path), skip=lambda *a: skipped.append(a)))
    assert [i.id for i in items] == ["pjs900"] and skipped[0][:2] == ("pjs901", "bad labels")
    item = items[0]
    assert not item.aligned and item.licence.startswith("CC BY-SA 4.0")
    got = [(n.pitch, round(n.start, 3), round(n.end, 3), n.slur) for n in item.notes]
    assert got == [
        (None, 0.0, 0.4, False),
        (69, 0.4, 0.9, False),
        (72, 0.9, 1.2, False),
        (74, 1.2, 1.5, True),
        (72, 1.5, 1.7, False),
        (None, 1.7, 2.0, False),
    ]
    assert [(p.symbol, p.note_index) for p in item.phonemes] == [
        ("SP", 0),
        ("ja/k", 1),
        ("ja/a", 1),
        ("ja/s", 2),
        ("ja/a", 2),
        ("ja/a", 3),
        ("ja/N", 4),
        ("SP", 5),
    ]
    k = item.phonemes[1]
    assert k.end == pytest.approx(0.4) and 0 < k.end - k.start <= 0.061  # the onset lies before its note
    starts = [p.start for p in item.phonemes]
    assert starts == sorted(starts) and all(p.end > p.start for p in item.phonemes)


def test_folder(tmp_path):
    items = list(CORPORA["folder"].read(write_folder(tmp_path / "f")))
    assert [i.id for i in items] == ["a", "sub/b"]
    assert all(not i.notes and not i.phonemes and i.licence == "" for i in items)
    (tmp_path / "empty").mkdir()
    with pytest.raises(CorpusError, match="no .wav"):
        list(CORPORA["folder"].read(tmp_path / "empty"))


def test_items_round_trip_json(tmp_path):
    for item in CORPORA["nnsvs"].read(write_nnsvs(tmp_path)):
        assert CorpusItem.from_json(item.to_json()) == item


# --- the real corpora (skipped when /work/shared/data is absent) ----------------------------------------

real = pytest.mark.skipif(not DATA.is_dir(), reason="shared data folder not present")


@real
def test_real_pjs_items():
    items = list(CORPORA["pjs"].read(DATA / "pjs"))
    assert len(items) == 95 and items[0].id == "pjs001"
    for item in items:
        assert Path(item.audio_path).is_file() and not item.aligned
        assert item.notes[0].pitch is None and item.notes[0].end > 1.0  # the leading silence is a rest
        assert all(0 <= p.note_index < len(item.notes) for p in item.phonemes)
        assert all(p.symbol in ("SP", "AP") or p.symbol.startswith("ja/") for p in item.phonemes)
        assert item.notes[-1].end == pytest.approx(sf.info(item.audio_path).duration, abs=0.01)
    slurs = [n for i in items for n in i.notes if n.slur]
    assert len(slurs) > 100


@real
def test_real_nit_song070():
    skipped = []
    items = {
        i.id[-3:]: i for i in CORPORA["nnsvs"].read(DATA / "nit_song070", skip=lambda *a: skipped.append(a))
    }
    assert set(items) == {"004", "007", "010", "029"} and not skipped
    assert not Path(items["010"].audio_path).exists()  # label without audio: preprocess reports it
    first = next(n for n in items["004"].notes if n.pitch is not None)
    assert first.pitch == 65 and first.start == pytest.approx(1.205)  # F4, from the /E: field; vowel onset
    assert {p.symbol for p in items["007"].phonemes} >= {"SP", "AP", "ja/a"}
    sung = [n.pitch for n in items["029"].notes if n.pitch is not None]  # mono label: pitch from F0
    assert 55 <= min(sung) and max(sung) <= 80
    for item in items.values():
        assert item.aligned and item.singer == "nit_song070_f001"
        ends = [p.end for p in item.phonemes]
        assert all(
            b.start == pytest.approx(a.end, abs=1e-6)
            for a, b in zip(item.phonemes, item.phonemes[1:], strict=False)
        )
        assert max(ends) == pytest.approx(item.notes[-1].end, abs=0.01)
