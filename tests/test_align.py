"""The score-informed phoneme aligner: Viterbi core, alignment of generated singing with known timings,
training/saving the phone classifier, label files, boundary metrics, and one real NIT-SONG070 song."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest

from vocalsynth.audio import AudioConfig, extract_features
from vocalsynth.data.align import (
    AlignerModel,
    AlignmentError,
    add_edge_rests,
    align_item,
    phone_kind,
    score_timing,
    train_aligner,
)
from vocalsynth.data.align_hsmm import SegmentModel, lognormal_logp, segmental_viterbi
from vocalsynth.data.align_lab import LabError, apply_lab, format_lab, parse_lab, read_lab, write_lab
from vocalsynth.data.items import CorpusItem, NoteLabel, PhoneLabel
from vocalsynth.eval.alignment import (
    boundary_errors,
    boundary_stats,
    item_phones,
    nit_song_paths,
    pjs_items,
    read_hts_song,
)

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CFG = AudioConfig()
SR = CFG.sample_rate


# ---------------------------------------------------------------------------------------------------------
# Generated singing: voiced harmonic tones at the note pitches, noise bursts as consonants, silent rests.

# (syllable consonant or None, vowel, MIDI pitch or None for a rest, score seconds, sung seconds, slur)
SONG = [
    ("k", "a", 60, 0.50, 0.56, False),
    ("s", "i", 64, 0.50, 0.44, False),
    (None, "i", 67, 0.25, 0.30, True),  # melisma: the vowel goes on at a new pitch
    ("t", "o", 67, 0.50, 0.47, False),  # same pitch as the note before: only the consonant separates them
    (None, None, None, 0.40, 0.35, False),  # rest
    ("h", "e", 62, 0.50, 0.58, False),
    (None, "u", 62, 0.50, 0.45, False),  # a vowel-only syllable at the same pitch
    ("k", "a", 59, 0.75, 0.70, False),
]
LEAD = 0.8  # silence before the first consonant, which the score does not know about
CONSONANT = 0.07


def _tone(n: int, midi: float, rng: np.random.Generator, vowel: str) -> np.ndarray:
    f0 = 440.0 * 2 ** ((midi - 69) / 12)
    t = np.arange(n) / SR
    phase = 2 * np.pi * f0 * t * (1 + 0.003 * np.sin(2 * np.pi * 5.5 * t))  # a little vibrato
    # a crude vowel colour so vowels differ: which harmonics are loud
    peak = {"a": 3, "i": 1, "u": 1, "e": 2, "o": 2}[vowel]
    x = sum(np.sin(h * phase) / (1 + abs(h - peak)) for h in range(1, 12))
    ramp = np.minimum(1.0, np.minimum(np.arange(n), np.arange(n)[::-1]) / (0.01 * SR))
    return 0.12 * x * ramp


def _noise(n: int, rng: np.random.Generator) -> np.ndarray:
    x = rng.standard_normal(n)
    x = np.diff(x, prepend=0.0)  # brighter, like a fricative
    return 0.015 * x


def make_song(seed: int = 0, song: list = SONG) -> tuple[CorpusItem, np.ndarray, CorpusItem]:
    """(score-only item, audio, item with the true timings)."""
    rng = np.random.default_rng(seed)
    parts = [1e-4 * rng.standard_normal(int(LEAD * SR))]
    t = LEAD
    notes, phones, true_notes, true_phones = [], [], [], []
    score_t = 0.0
    prev_vowel_phone = None
    for i, (cons, vowel, pitch, score_s, sung_s, slur) in enumerate(song):
        notes.append(NoteLabel(pitch=pitch, start=score_t, end=score_t + score_s, slur=slur))
        score_t += score_s
        if pitch is None:
            n = int(sung_s * SR)
            parts.append(1e-4 * rng.standard_normal(n))
            phones.append(PhoneLabel("SP", 0, 0, i))
            true_phones.append(PhoneLabel("SP", t, t + n / SR, i))
            true_notes.append(NoteLabel(None, t, t + n / SR))
            t += n / SR
            prev_vowel_phone = None
            continue
        if cons is not None:
            n = int(CONSONANT * SR)
            parts.append(_noise(n, rng))
            phones.append(PhoneLabel(f"ja/{cons}", 0, 0, i))
            true_phones.append(PhoneLabel(f"ja/{cons}", t, t + n / SR, i))
            t += n / SR
        n = int(sung_s * SR)
        parts.append(_tone(n, pitch, rng, vowel))
        true_notes.append(NoteLabel(pitch, t, t + n / SR, slur))
        if slur:
            true_phones[prev_vowel_phone].end = t + n / SR
        else:
            phones.append(PhoneLabel(f"ja/{vowel}", 0, 0, i))
            true_phones.append(PhoneLabel(f"ja/{vowel}", t, t + n / SR, i))
            prev_vowel_phone = len(true_phones) - 1
        t += n / SR
    parts.append(1e-4 * rng.standard_normal(int(0.6 * SR)))
    for a, b in zip(true_notes, true_notes[1:], strict=False):
        a.end = b.start  # a note lasts until the next note's vowel (its consonant is sung ahead)
    item = CorpusItem("gen/song", "gen", "", "ja", "gen", "CC0", notes, phones)
    truth = CorpusItem("gen/song", "gen", "", "ja", "gen", "CC0", true_notes, true_phones, aligned=True)
    return score_timing(item), np.concatenate(parts).astype(np.float32), truth


@pytest.fixture(scope="module")
def generated():
    item, audio, truth = make_song(0)
    return item, extract_features(audio, CFG, "dio"), truth


# ---------------------------------------------------------------------------------------------------------
# Viterbi core


def _cum(frame_scores: np.ndarray) -> np.ndarray:
    return np.concatenate([[0.0], np.cumsum(frame_scores)])


def test_segmental_viterbi_finds_the_cut_the_frame_scores_ask_for():
    T = 30
    a = np.where(np.arange(T) < 12, 1.0, -1.0)  # segment 0 likes frames 0..11
    b = np.where((np.arange(T) >= 12) & (np.arange(T) < 20), 1.0, -1.0)
    c = np.where(np.arange(T) >= 20, 1.0, -1.0)
    segs = [SegmentModel(_cum(s), 1, np.zeros(T)) for s in (a, b, c)]
    ends, score = segmental_viterbi(segs, T)
    assert ends.tolist() == [12, 20, 30]
    assert score == pytest.approx(30.0)


def test_segmental_viterbi_duration_prior_decides_when_frames_do_not():
    T = 20
    flat = _cum(np.zeros(T))
    lengths = np.arange(1, T + 1)
    segs = [SegmentModel(flat, 1, lognormal_logp(lengths, 5, 0.3)), SegmentModel(flat, 1, np.zeros(T))]
    ends, _ = segmental_viterbi(segs, T)
    assert ends[0] == 5


def test_segmental_viterbi_allows_empty_optional_segments_and_rejects_impossible_ones():
    T = 10
    flat = _cum(np.zeros(T))
    optional = SegmentModel(_cum(-np.ones(T)), 0, np.zeros(T + 1))
    ends, _ = segmental_viterbi([optional, SegmentModel(flat, 1, np.zeros(T))], T)
    assert ends.tolist() == [0, 10]
    with pytest.raises(ValueError, match="at least 12 frames"):
        segmental_viterbi([SegmentModel(flat, 6, np.zeros(3))] * 2, T)
    with pytest.raises(ValueError, match="at most 4 frames"):
        segmental_viterbi([SegmentModel(flat, 1, np.zeros(2))] * 2, T)


# ---------------------------------------------------------------------------------------------------------
# Alignment of generated singing


def _vowel_onsets(item: CorpusItem) -> list[float]:
    return [n.start for n in item.notes]


def test_phone_kinds():
    assert phone_kind("ja/a") == "vowel" and phone_kind("ja/N") == "nasal"
    assert phone_kind("ja/k") == "unvoiced" and phone_kind("ja/r") == "voiced"
    assert phone_kind("ja/cl") == "closure" and phone_kind("SP") == "sil" and phone_kind("AP") == "breath"
    assert (
        phone_kind("en/ae1") == "vowel"
        and phone_kind("en/s") == "unvoiced"
        and phone_kind("zh/ang") == "vowel"
    )


def test_aligner_finds_notes_and_phonemes_of_generated_singing(generated):
    item, feats, truth = generated
    before = copy.deepcopy(item)
    out = align_item(item, feats, CFG)
    assert item == before  # the input is not modified
    assert out.aligned and not item.aligned
    assert [p.symbol for p in out.phonemes] == [p.symbol for p in item.phonemes]
    assert [p.note_index for p in out.phonemes] == [p.note_index for p in item.phonemes]
    note_err = np.abs(np.array(_vowel_onsets(out)) - np.array(_vowel_onsets(truth)))
    assert note_err.max() < 0.030, note_err
    ph_err = boundary_errors(item_phones(truth), item_phones(out))
    assert np.median(ph_err) < 0.015 and ph_err.max() < 0.050, ph_err
    # the naive score timing is far off (the recording starts with silence the score doesn't know)
    assert np.median(boundary_errors(item_phones(truth), item_phones(item))) > 0.5
    # notes tile the sung span and phonemes are in order
    for a, b in zip(out.notes, out.notes[1:], strict=False):
        assert a.end == pytest.approx(b.start) and a.start <= a.end
    for a, b in zip(out.phonemes, out.phonemes[1:], strict=False):
        assert a.start < a.end <= b.start + 1e-9


def test_aligner_rejects_inconsistent_items(generated):
    item, feats, _ = generated
    bad = copy.deepcopy(item)
    bad.phonemes[3].note_index = 0
    with pytest.raises(AlignmentError, match=r"gen/song: phoneme 3 \(ja/i\): note_index 0 goes back"):
        align_item(bad, feats, CFG)
    short = copy.deepcopy(item)
    short.phonemes = short.phonemes * 80
    short.phonemes = [PhoneLabel(p.symbol, 0, 0, 0) for p in short.phonemes]
    with pytest.raises(AlignmentError, match="frames"):
        align_item(short, feats, CFG)


def test_edge_rests_cover_the_recording(generated):
    item, feats, _ = generated
    out = add_edge_rests(align_item(item, feats, CFG), duration=feats.n_frames / 100)
    assert out.notes[0].pitch is None and out.notes[0].start == 0.0
    assert out.phonemes[0].symbol == "SP" and out.phonemes[-1].symbol == "SP"
    assert out.phonemes[1].note_index == 1
    assert out.notes[-1].end == pytest.approx(feats.n_frames / 100)


def test_score_timing_puts_vowels_on_the_beat_and_consonants_ahead():
    notes = [NoteLabel(60, 0.0, 0.5), NoteLabel(62, 0.5, 1.0)]
    phones = [
        PhoneLabel("ja/k", 0, 0, 0),
        PhoneLabel("ja/a", 0, 0, 0),
        PhoneLabel("ja/s", 0, 0, 1),
        PhoneLabel("ja/a", 0, 0, 1),
    ]
    item = score_timing(CorpusItem("x", "c", "", "ja", "s", "l", notes, phones))
    k, a1, s, a2 = item.phonemes
    assert a1.start == 0.0 and a2.start == 0.5 and s.end == 0.5 and a1.end == s.start
    assert 0.0 < s.end - s.start < 0.15 and k.start == 0.0  # clipped at 0


# ---------------------------------------------------------------------------------------------------------
# Training, saving, loading


def test_train_aligner_then_save_and_load(tmp_path, generated):
    item, feats, truth = generated
    other_item, audio, other_truth = make_song(1)
    data = [(item, feats), (other_item, extract_features(audio, CFG, "dio"))]
    model = train_aligner(data, CFG, rounds=1, steps=(40,), channels=16)
    assert "SP" in model.symbols and "ja/a" in model.symbols
    assert set(model.durations) >= {"ja/k"}
    out = align_item(item, feats, CFG, model)
    assert np.abs(np.array(_vowel_onsets(out)) - np.array(_vowel_onsets(truth))).max() < 0.05
    path = model.save(tmp_path / "aligner.pt")
    loaded = AlignerModel.load(path)
    assert loaded.symbols == model.symbols and loaded.durations == model.durations
    np.testing.assert_allclose(loaded.log_posteriors(feats), model.log_posteriors(feats), atol=1e-6)
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a model")
    with pytest.raises(ValueError, match="bad.pt"):
        AlignerModel.load(bad)
    with pytest.raises(ValueError, match="not found"):
        AlignerModel.load(tmp_path / "missing.pt")


# ---------------------------------------------------------------------------------------------------------
# Label files


def test_lab_round_trip_in_both_formats(tmp_path, generated):
    _, _, truth = generated
    for fmt in ("hts", "audacity"):
        path = write_lab(tmp_path / f"song.{fmt}.lab", truth, fmt)
        labels = read_lab(path)
        assert [s for _, _, s in labels] == [p.symbol for p in truth.phonemes]
        back = apply_lab(truth, labels, source=str(path))
        for a, b in zip(back.phonemes, truth.phonemes, strict=True):
            assert a.start == pytest.approx(b.start, abs=1e-6) and a.end == pytest.approx(b.end, abs=1e-6)
        for a, b in zip(back.notes, truth.notes, strict=True):
            assert a.start == pytest.approx(b.start, abs=1e-6) and a.end == pytest.approx(b.end, abs=1e-6)
    assert format_lab(truth).splitlines()[0].split()[2] == "SP" or format_lab(truth).splitlines()[0].endswith(
        "ja/k"
    )


def test_hand_correction_moves_the_note_with_its_vowel(generated):
    _, _, truth = generated
    labels = [(p.start, p.end, p.symbol) for p in truth.phonemes]
    s, e, sym = labels[1]  # the first vowel starts 20 ms later, its consonant ends there
    labels[0] = (labels[0][0], s + 0.02, labels[0][2])
    labels[1] = (s + 0.02, e, sym)
    out = apply_lab(truth, labels)
    assert out.notes[0].start == pytest.approx(truth.notes[0].start + 0.02)


def test_bad_labels_name_the_file_and_line(tmp_path, generated):
    _, _, truth = generated
    with pytest.raises(LabError, match="x.lab: line 2: expected"):
        parse_lab("0 100 SP\n100 200\n", source="x.lab")
    with pytest.raises(LabError, match="line 2: starts at"):
        parse_lab("0 1000000 SP\n500000 2000000 ja/a\n")
    with pytest.raises(LabError, match="not numbers"):
        parse_lab("0 x SP\n")
    labels = [(p.start, p.end, p.symbol) for p in truth.phonemes]
    labels[3] = (labels[3][0], labels[3][1], "ja/o")
    with pytest.raises(LabError, match="label 4: label 'ja/o' where the item has"):
        apply_lab(truth, labels)
    assert parse_lab("0 10500000 p@xx^xx-pau+p=o_xx\n")[0] == (0.0, 1.05, "pau")


# ---------------------------------------------------------------------------------------------------------
# Metrics


def test_boundary_metrics():
    ref = [(0.0, 1.0, "SP"), (1.0, 1.1, "ja/k"), (1.1, 2.0, "ja/a")]
    hyp = [(0.0, 1.03, "SP"), (1.03, 1.09, "ja/k"), (1.09, 2.0, "ja/a")]
    err = boundary_errors(ref, hyp)
    np.testing.assert_allclose(err, [0.03, 0.01])
    s = boundary_stats(err)
    assert s["n"] == 2 and s["median_ms"] == pytest.approx(20.0) and s["within_20ms"] == 50.0
    assert s["within_50ms"] == 100.0 and s["p95_ms"] == pytest.approx(29.0)
    with pytest.raises(ValueError, match="phone 1 differs"):
        boundary_errors(ref, [hyp[0], (1.03, 1.09, "ja/t"), hyp[2]])
    with pytest.raises(ValueError, match="no boundary"):
        boundary_stats([])


# ---------------------------------------------------------------------------------------------------------
# Real recordings (skipped without /work/shared/data)


@pytest.mark.skipif(not (DATA / "nit_song070").is_dir(), reason="NIT-SONG070 not present")
def test_nit_song070_alignment_beats_score_timing():
    from vocalsynth.audio import load_audio

    lab, wav = nit_song_paths(DATA / "nit_song070", "004")
    item, reference = read_hts_song(lab)
    assert len(item.phonemes) == len(reference) and item.notes[0].pitch is None
    feats = extract_features(load_audio(wav, CFG), CFG, "dio")
    out = align_item(item, feats, CFG)
    naive = boundary_stats(boundary_errors(reference, item_phones(item)))
    ours = boundary_stats(boundary_errors(reference, item_phones(out)))
    assert ours["median_ms"] < naive["median_ms"]
    assert ours["within_50ms"] > naive["within_50ms"] + 5


@pytest.mark.skipif(not (DATA / "pjs").is_dir(), reason="PJS not present")
def test_pjs_song_notes_land_on_their_sung_pitch():
    from vocalsynth.audio import load_audio

    item = pjs_items(DATA / "pjs")[0]  # pjs001, through the corpus adapter
    feats = extract_features(load_audio(item.audio_path, CFG), CFG, "dio")
    out = align_item(item, feats, CFG)
    sung = [i for i, n in enumerate(item.notes) if n.pitch is not None]
    # the first sung phoneme (a voiced m) starts where the corpus' own F0 track first shows singing
    first = next(p for p in out.phonemes if p.note_index == sung[0])
    assert first.symbol == "ja/m" and abs(first.start - item.notes[sung[0]].start) < 0.04
    f0 = np.where(feats.vuv > 0.5, feats.f0_hz, np.nan)
    midi = 69 + 12 * np.log2(f0 / 440)
    hits = []
    for i in sung:
        n = out.notes[i]
        a, b = int(n.start * 100), int(n.end * 100)
        middle = midi[a + (b - a) // 4 : b - (b - a) // 4]
        if b - a >= 15 and np.isfinite(middle).sum() >= 5:
            hits.append(abs(np.nanmedian(middle) - n.pitch) < 1.0)
    assert len(hits) > 20 and np.mean(hits) > 0.9
