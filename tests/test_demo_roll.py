"""The studio's piano-roll document (`vocalsynth.demo.roll`) and the handlers behind the roll: a score opens
into the roll and comes back the same; bad roll input is refused naming the note; the render overlay puts a
note sung on its pitch on its bar; Render sings the roll; the roll saves in every format."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from vocalsynth.demo.handlers import EXPORT_SUFFIXES, Demo
from vocalsynth.demo.roll import parse_roll_lyric, render_overlay, roll_lyric, roll_to_score, score_to_roll
from vocalsynth.score import ScoreError, load_score
from vocalsynth.score.model import Note

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path("/work/shared/scores")


def notes_of(score) -> list[tuple]:
    return [
        (
            n.pitch,
            round(n.start_beat, 4),
            round(n.duration_beats, 4),
            n.lyric,
            n.slur,
            n.syllabic if n.lyric else None,
        )
        for n in score.notes
    ]


@pytest.mark.parametrize("name", ["hello_en.txt", "sakura_ja.txt", "xiaoxing_zh.txt"])
def test_a_score_opens_into_the_roll_and_comes_back_the_same(name):
    score = load_score(ROOT / "examples" / name)
    doc = json.loads(json.dumps(score_to_roll(score)))  # as the page hands it back
    again = roll_to_score(doc)
    assert notes_of(again) == notes_of(score)
    assert [(t.beat, t.bpm) for t in again.tempos] == [(t.beat, t.bpm) for t in score.tempos]
    assert (again.title, again.language) == (score.title, score.language)


@pytest.mark.skipif(not SHARED.is_dir(), reason="the shared outside scores are absent")
def test_outside_scores_open_into_the_roll_and_come_back_the_same():
    tried = 0
    for path in sorted(SHARED.rglob("*")):
        if (
            path.suffix.lower() not in (".xml", ".musicxml", ".mid", ".ustx", ".ust")
            or path.stat().st_size > 2e6
        ):
            continue
        try:
            score = load_score(path)
        except ScoreError:
            continue
        again = roll_to_score(json.loads(json.dumps(score_to_roll(score))))

        def sung(s):
            return [
                (n.pitch, round(n.start_beat, 3), round(n.duration_beats, 3), n.lyric) for n in s.sung_notes
            ]

        assert sung(again) == sung(score), path.name
        tried += 1
    assert tried


@pytest.mark.parametrize(
    "note, text",
    [
        (Note(0, 1, 60, "hel", syllabic="begin"), "hel-"),
        (Note(0, 1, 60, "lo", syllabic="end"), "-lo"),
        (Note(0, 1, 60, "ma", syllabic="middle"), "-ma-"),
        (Note(0, 1, 60, "", slur=True), "_"),
        (Note(0, 1, 60, ""), '""'),
        (Note(0, 1, 60, "_", syllabic="single"), '"_"'),
        (Note(0, 1, 60, "ら", syllabic="single"), "ら"),
    ],
)
def test_lyrics_read_as_in_the_notation(note, text):
    assert roll_lyric(note) == text
    lyric, syllabic, slur = parse_roll_lyric(text)
    assert (lyric, slur) == (note.lyric, note.slur)
    assert syllabic == (None if slur or not lyric and not note.syllabic else note.syllabic or None)


def doc(*notes, **fields):
    base = {"title": None, "lang": "en", "tempos": [[0, 120]], "time": [4, 4]}
    base.update(fields)
    base["notes"] = [dict(zip(("start", "len", "pitch", "lyric"), n, strict=True)) for n in notes]
    return base


@pytest.mark.parametrize(
    "bad, message",
    [
        (doc((0, 1, 60, "la"), (0.5, 1, 62, "li")), "note 2 (D4 at beat 1.5): overlaps the note before"),
        (doc((0, 1, 60, "la"), (2, 1, 62, "_")), "note 2 (D4 at beat 3): no lyric, and no note right before"),
        (doc((0, 1, 128, "la")), "note 1 (at beat 1): pitch must be a MIDI number 0-127, got 128"),
        (doc((0, 0, 60, "la")), "note 1 (C4 at beat 1): length must be a number of beats > 0"),
        (doc((0, 1, 60, "la"), tempos=[[0, 0]]), "tempos: tempo 0 bpm at beat 0"),
        (doc((0, 1, 60, "la"), time=[4, 3]), "time: time signature must be"),
        (doc(), "notes: no notes: draw some"),
        ("C4 la", "expected an object with notes"),
    ],
)
def test_bad_roll_input_is_refused_naming_the_note(bad, message):
    with pytest.raises(ScoreError) as e:
        roll_to_score(bad)
    assert message in str(e.value)
    assert str(e.value).startswith("piano roll")


def test_the_overlay_puts_a_note_sung_on_its_pitch_on_its_bar():
    written = roll_to_score(doc((0, 1, 60, "la"), (2, 1, 67, "li")))  # C4, rest, G4 at 120 bpm
    fps, pre_roll, key = 100.0, 0.2, -12
    t = np.arange(int((pre_roll + 1.5) * fps)) / fps - pre_roll
    f0 = np.zeros(t.size, dtype=np.float32)
    f0[(t >= 0) & (t < 0.5)] = 130.81  # C3: C4 sung an octave down (key shift -12)
    f0[(t >= 1.0) & (t < 1.5)] = 196.0 * 2 ** (30 / 1200)  # G3, 30 cents sharp
    rendering = SimpleNamespace(
        frames=SimpleNamespace(f0_hz=f0, audio_config=SimpleNamespace(frames_per_second=fps)),
        pre_roll=pre_roll,
        duration=1.7,
    )
    overlay = render_overlay(rendering, written, written, key, 1.0)
    assert [s["note"] for s in overlay["sung"]] == [0, 1]
    assert overlay["sung"][0]["cents"] == pytest.approx(0, abs=1)
    assert overlay["sung"][1]["cents"] == pytest.approx(30, abs=1)
    items = overlay["f0"].split(";")
    points = [[float(v) for v in p.split(",")] for p in items if p]
    assert min(p[0] for p in points) == pytest.approx(0, abs=0.05)  # beat 0 at 120 bpm is 0 s
    assert max(p[0] for p in points) == pytest.approx(2.98, abs=0.05)  # 1.49 s is beat 2.98
    assert "" in items  # the rest between is a break in the curve


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Demo:
    return Demo(output_dir=tmp_path_factory.mktemp("studio-out"))


def test_a_roll_edit_rewrites_the_notation_and_the_table(demo):
    edited = doc((0, 1, 48, "hel-"), (1, 0.5, 50, "-lo"), (1.5, 0.5, 52, "_"), (3, 1, 53, "world"))
    text, view = demo.from_roll(edited, demo.default_voice, True, 0)
    assert [(n.name, n.lyric, n.slur) for n in load_score(text, format="text").sung_notes] == [
        ("C3", "hel", False),
        ("D3", "lo", False),
        ("E3", "", True),
        ("F3", "world", False),
    ]
    assert view.rows and view.roll is None  # the roll already shows it
    bad_text, bad = demo.from_roll(doc((0, 1, 60, "la"), (0.5, 1, 62, "li")), demo.default_voice, True, 0)
    assert bad_text is None and "overlaps" in bad.status


def test_render_sings_the_roll_unless_it_shows_the_notation_itself(demo):
    text = "tempo=100 lang=en C4/4 la D4 li"
    same = score_to_roll(demo.current_score(text, None))
    assert demo.studio_score(same, text, None).source == "notation"  # the box's own score
    moved = json.loads(json.dumps(same))
    moved["notes"][1]["pitch"] = 64
    assert [n.name for n in demo.studio_score(moved, text, None).sung_notes] == ["C4", "E4"]
    with pytest.raises(ScoreError, match="bad pitch 'H4'"):  # a mistake in the box is still reported
        demo.studio_score(same, "C4/4 la H4 la", None)


def test_the_roll_saves_in_every_format_with_the_same_notes(demo):
    edited = doc(
        (0, 1, 60, "hap-"), (1, 1, 62, "-py"), (3, 0.5, 64, "day"), (3.5, 0.5, 65, "_"), title="Saved"
    )
    files = demo.export(edited, "", None)
    assert [f.suffix for f in files] == list(EXPORT_SUFFIXES)
    want = notes_of(roll_to_score(edited))
    for f in files:
        got = notes_of(load_score(f))
        if f.suffix in (".ustx", ".ds", ".mid"):  # these formats keep no word positions (hel- -lo)
            got, want_here = [n[:5] for n in got], [n[:5] for n in want]
        else:
            want_here = want
        assert got == want_here, f.name


def test_a_straight_note_is_sung_on_its_pitch_and_only_its_phrase_sung_again(demo):
    from vocalsynth.demo.render import RenderSettings

    song = doc((0, 2, 55, "la"), (2, 2, 57, "li"), (6, 2, 59, "lu"), (8, 2, 60, "le"), lang="en")
    settings = RenderSettings(demo.default_voice, fit_range=False)
    first = demo.render_studio(song, "", None, settings, quick=True)
    song["notes"][3]["straight"] = True
    again = demo.render_studio(song, "", None, settings, quick=True)
    assert first.rendering.phrases == 2 and again.rendering.rerendered == [1]
    fps = again.rendering.frames.audio_config.frames_per_second
    f0 = again.rendering.frames.f0_hz
    note = again.song.sung_notes[3]
    a = int((note.start + again.rendering.pre_roll + note.duration * 0.3) * fps)
    b = int((note.start + again.rendering.pre_roll + note.duration * 0.7) * fps)
    cents = 1200 * np.log2(f0[a:b][f0[a:b] > 0] / 261.6256)  # C4
    assert cents.size > 10 and np.abs(cents).max() < 5  # held on C4: no vibrato, no drift
    assert again.overlay["doc"]["notes"][3]["straight"] is True
