"""The demo's handlers in-process (no browser, no server): notation and note table in step, uploads, the key
fit to the voice's range, limits, rendering with the bundled voice to a labelled WAV plus MIDI/USTX/.ds, the
plots, and the ``sing`` API function."""

from __future__ import annotations

import dataclasses
import struct
from pathlib import Path

import pytest

from vocalsynth.demo import DemoError, DemoLimits, scoring
from vocalsynth.demo.handlers import Demo
from vocalsynth.demo.plots import _drawable, figure_png, lyric_labels, piano_roll
from vocalsynth.demo.render import OutputStore, RenderSettings, transpose
from vocalsynth.demo.voices import available_voices, parse_pitch_name, voice_range
from vocalsynth.score import ScoreError, load_score, save_score
from vocalsynth.synthesis import read_label
from vocalsynth.voices import VOICES_DIR, VoiceError, installed_names, read_card

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
LIMITS = DemoLimits()
HAS_DEFAULT_VOICE = (VOICES_DIR / "default" / "voice.yaml").is_file()
needs_voice = pytest.mark.skipif(not HAS_DEFAULT_VOICE, reason="the bundled default voice is absent")
needs_examples = pytest.mark.skipif(not EXAMPLES.is_dir(), reason="examples/ is absent")
# written around C4-C5 like the example songs; the default voice sings A#2-G4
HIGH_TUNE = 'title="Up" tempo=150 lang=ja C5/4 ら D5 り E5/2 る'
LOW_TUNE = "tempo=150 lang=ja C3/4 ら D3 り E3/2 る"


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Demo:
    if not HAS_DEFAULT_VOICE:
        pytest.skip("the bundled default voice is absent")
    return Demo(output_dir=tmp_path_factory.mktemp("demo-out"))


def notes_of(score) -> list[tuple]:
    return [(n.pitch, n.lyric, n.slur, n.syllabic, round(n.duration, 6)) for n in score.notes]


# --- notation, table, uploads ------------------------------------------------------------------------------


def test_text_is_only_ever_notation_never_a_server_path():
    existing = str(EXAMPLES / "hello_en.txt") if EXAMPLES.is_dir() else "/etc/hostname"
    for text in (existing, "/etc/passwd", "../README.md"):
        with pytest.raises(ScoreError, match="notation: line 1"):
            scoring.parse_notation(text, LIMITS)


@needs_examples
@pytest.mark.parametrize("name", ["hello_en.txt", "sakura_ja.txt", "xiaoxing_zh.txt"])
def test_note_table_and_notation_round_trip_on_the_examples(name):
    score = scoring.parse_notation((EXAMPLES / name).read_text(encoding="utf-8"), LIMITS)
    rows = scoring.score_rows(score)
    assert all(len(r) == 3 for r in rows)
    assert [r[0] for r in rows if "=" in r[0]][:1] == [f'title="{score.title}"']
    back = scoring.table_score(rows, LIMITS)
    assert notes_of(back) == notes_of(score)
    assert (back.title, back.language, back.tempos) == (score.title, score.language, score.tempos)


def test_table_rows_carry_ties_rests_settings_and_quoted_lyrics():
    text = 'lang=zh tempo=90 E4/4 ni3 G4/2 "a4" C4/2.~ hao C4/4 R/4 tempo=60 D4/2 "ni hao" R/2'
    score = scoring.parse_notation(text, LIMITS)
    rows = scoring.score_rows(score)
    assert ["G4", "2", '"a4"'] in rows and ["D4", "2", '"ni hao"'] in rows
    k = next(k for k, r in enumerate(rows) if r[2] == "hao")
    assert rows[k][1].endswith("~") and rows[k + 1][0] == "C4" and rows[k + 1][2] == ""  # tied on: no lyric
    assert ["tempo=60", "", ""] in rows and ["R", "4", ""] in rows
    assert notes_of(scoring.table_score(rows, LIMITS)) == notes_of(score)


def test_editing_the_table_rewrites_the_notation(demo):
    rows = scoring.score_rows(scoring.parse_notation(HIGH_TUNE, LIMITS))
    i = next(k for k, r in enumerate(rows) if r[0] == "D5")
    rows[i] = ["F5", "8", "la la"]  # a lyric with a space is quoted for the visitor
    rows.append(["G5", "8", ""])  # no lyric: holds the syllable before
    text, view = demo.from_table(rows, "default", True, 0)
    score = load_score(text, format="text")
    assert [(n.name, n.lyric, n.slur) for n in score.sung_notes][1:] == [
        ("F5", "la la", False),
        ("E5", "る", False),
        ("G5", "", True),
    ]
    assert view.ok and view.rows is None and view.figure is not None and view.key_shift == -12


def test_a_table_error_names_the_row(demo):
    rows = scoring.score_rows(scoring.parse_notation(HIGH_TUNE, LIMITS))
    rows[3] = ["H4", "4", "ら"]
    text, view = demo.from_table(rows, "default", True, 0)
    assert text is None and not view.ok
    assert "note table: row 4" in view.status and "bad pitch 'H4'" in view.status
    with pytest.raises(DemoError, match="row 2: the pitch is missing"):
        scoring.rows_to_notation([["C4", "4", "la"], ["", "4", "la"]], LIMITS)


def test_a_notation_error_goes_to_the_status_not_an_exception(demo):
    view = demo.view("C4/4 la H4 x", None, "default", True, 0)
    assert not view.ok and view.rows is None and view.figure is None
    assert view.status.startswith("⚠ notation: line 1, token 3 'H4'")
    assert "empty" in demo.view("   ", None, "default", True, 0).status


def test_an_upload_is_sung_from_the_file_until_the_notation_is_edited(demo, tmp_path):
    written = scoring.parse_notation(HIGH_TUNE, LIMITS)
    midi = save_score(written, tmp_path / "my song.mid")
    upload, view = demo.upload(midi, "default", True, 0)
    assert upload.name == "my song.mid" and view.ok and "from my song.mid" in view.status
    assert [n.pitch for n in demo.current_score(upload.text, upload).sung_notes] == [72, 74, 76]
    assert demo.current_score(upload.text, upload).source == "my song.mid"
    edited = upload.text.replace("C5", "B4")
    assert demo.current_score(edited, upload).source == scoring.NOTATION_SOURCE


def test_uploads_are_refused_by_kind_and_size_with_the_visitors_file_name(tmp_path):
    (tmp_path / "notes.pdf").write_bytes(b"%PDF-1.4")
    with pytest.raises(DemoError, match=r"notes\.pdf: not a score file the demo reads"):
        scoring.load_upload(tmp_path / "notes.pdf", LIMITS)
    big = tmp_path / "big.mid"
    big.write_bytes(b"MThd" + bytes(3 * 1024 * 1024))
    with pytest.raises(
        DemoError, match=r"big\.mid: the file is 3\.0 MB; the demo takes score files up to 2 MB"
    ):
        scoring.load_upload(big, LIMITS)
    broken = tmp_path / "server-side-name.mid"
    broken.write_bytes(b"MThd\x00\x00\x00\x06")
    with pytest.raises(ScoreError) as e:
        scoring.load_upload(broken, LIMITS, name="mine.mid")
    assert str(e.value).startswith("mine.mid: ") and "server-side-name" not in str(e.value)


def test_notation_over_the_size_limit_is_refused():
    text = "C4/4 la D4/4 la E4/4 la F4/4 la"
    with pytest.raises(DemoError, match=f"notation: {len(text)} characters; the demo takes up to 30"):
        scoring.parse_notation(text, DemoLimits(max_notation_chars=30))
    scoring.parse_notation(text[:30], DemoLimits(max_notation_chars=30))


# --- voices and the key fit --------------------------------------------------------------------------------


@needs_voice
def test_the_default_voice_states_its_range_and_the_examples_fit_it_an_octave_down():
    card = read_card(VOICES_DIR / "default")
    rng = voice_range(card)
    assert rng == (parse_pitch_name("A#2"), parse_pitch_name("G4")) == (46, 67)
    for path in sorted(EXAMPLES.glob("*.txt")):
        score = load_score(path)
        shift = scoring.suggest_key_shift(score, rng)
        assert shift == -12, path.name
        low, high = scoring.pitch_span(score, shift)
        assert rng[0] <= low and high <= rng[1]


@needs_voice
def test_voice_range_comes_from_a_range_field_or_the_description_or_is_unknown():
    card = read_card(VOICES_DIR / "default")
    assert voice_range(dataclasses.replace(card, extra={"range": "C3-C5"})) == (48, 72)
    assert voice_range(dataclasses.replace(card, extra={"range": ["E2", 64]})) == (40, 64)
    assert voice_range(dataclasses.replace(card, description="a voice", extra={})) is None
    assert voice_range(dataclasses.replace(card, extra={"range": "high"})) is None


def test_the_key_fit_moves_by_octaves_only_when_needed():
    rng = (46, 67)
    assert scoring.suggest_key_shift(scoring.parse_notation(LOW_TUNE, LIMITS), rng) == 0
    assert scoring.suggest_key_shift(scoring.parse_notation(HIGH_TUNE, LIMITS), rng) == -12
    assert scoring.suggest_key_shift(scoring.parse_notation("lang=ja C1/4 ら D1 り", LIMITS), rng) == 24
    wide = scoring.parse_notation("lang=ja C5/4 ら G5 り C6 る", LIMITS)  # 67-72: -12 keeps 2, -24 all 3
    assert scoring.suggest_key_shift(wide, rng) == -24
    assert scoring.suggest_key_shift(scoring.parse_notation(HIGH_TUNE, LIMITS), None) == 0


@needs_voice
def test_voices_on_offer_and_refused_ones(tmp_path):
    voices = available_voices([VOICES_DIR / "default"])  # named twice: offered once
    assert list(voices) == installed_names() and list(voices).count("default") == 1
    with pytest.raises(VoiceError):
        available_voices([tmp_path])
    card = Demo(output_dir=tmp_path).voice_card("default")
    assert "**Licence:** CC BY-SA 4.0" in card and "**Data sources:**" in card and "PJS" in card
    assert "**Range:** A#2–G4" in card
    from vocalsynth.demo.voices import card_summary
    from vocalsynth.voices import load_voice

    assert "· as pjs" in card_summary(load_voice(VOICES_DIR / "default").card)  # the singer it sings as


# --- rendering ---------------------------------------------------------------------------------------------


def test_render_settings_are_checked_and_name_the_control():
    ok = RenderSettings("default", key_shift=-12, tempo=1.5).checked()
    assert ok.key_shift == -12.0 and ok.tempo == 1.5
    for changes, words in [
        ({"tempo": 3.0}, "controls: tempo: must be from 0.5 to 2"),
        ({"key_shift": 0.5}, "key_shift: must be whole semitones"),
        ({"gender": float("nan")}, "gender: must be a number"),
        ({"dynamics": "loud"}, "dynamics: must be a number"),
        ({"pitch_correction": 1.5}, "pitch_correction: must be from 0 to 1"),
        ({"language": "fr"}, "language: must be one of auto, en, ja, zh"),
    ]:
        with pytest.raises(DemoError, match=words):
            dataclasses.replace(RenderSettings("default"), **changes).checked()


@needs_voice
def test_an_over_long_song_is_refused_before_rendering(tmp_path):
    demo = Demo(output_dir=tmp_path)
    text = "tempo=60 lang=ja " + " ".join(["C4/1 ら"] * 40)  # 160 s at tempo 60
    with pytest.raises(DemoError, match=r"the song would last 160\.0 s; the demo renders songs up to 120 s"):
        demo.render(text, None, RenderSettings("default"))
    with pytest.raises(DemoError, match=r"would last 133\.3 s"):  # the tempo control counts
        demo.render(text.replace("tempo=60", "tempo=80"), None, RenderSettings("default", tempo=0.9))
    assert demo.pool.loaded == []  # refused before the voice was even loaded


def test_an_unknown_voice_is_refused(demo):
    with pytest.raises(DemoError, match="voice: no voice 'nobody' here; the demo offers: default"):
        demo.render(LOW_TUNE, None, RenderSettings("nobody"))


def test_render_writes_a_labelled_wav_the_score_as_sung_a_report_and_a_plot(demo):
    result = demo.render(HIGH_TUNE, None, RenderSettings("default", tempo=1.25))
    assert result.key_shift == -12
    label = read_label(result.wav)
    assert (
        label["ai_generated"]
        and label["voice"] == "default"
        and label["controls"] == "tempo:1.25,key_shift:-12"
    )
    assert label["metadata"]["title"] == "Up"
    assert {p.suffix for p in result.downloads} == {".wav", ".mid", ".ustx", ".ds"}
    for path in result.downloads[1:]:
        sung = load_score(path)
        # written C5 D5 E5, sung an octave down
        assert [n.pitch for n in sung.sung_notes] == [60, 62, 64], path.suffix
        assert [n.lyric for n in sung.sung_notes] == ["ら", "り", "る"]
        assert sung.sung_notes[-1].end == pytest.approx(4 * 60 / 150 / 1.25, abs=0.02), path.suffix
    assert result.rendering.duration == pytest.approx(result.rendering.pre_roll + 1.28, abs=0.05)
    assert "AI-generated" in result.report and "**Conformance**" in result.report
    rows = [line for line in result.report.splitlines() if line[:4] in ("| 0 ", "| 1 ", "| 2 ")]
    assert [r.split(" | ")[2] for r in rows] == ["C4 ら", "D4 り", "E4 る"]  # the notes as sung
    assert len(result.figure.axes) == 2
    png = figure_png(result.figure)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", png[16:24]) == (1000, 600)


def test_the_sing_api_function_takes_a_file_or_notation(demo, tmp_path):
    with pytest.raises(DemoError, match="give a score file or notation text"):
        demo.sing(None, "  ", RenderSettings("default"))
    wav = demo.sing(None, LOW_TUNE, RenderSettings("default", fit_range=False, key_shift=2))
    assert read_label(wav)["controls"] == "key_shift:2"
    ust = save_score(scoring.parse_notation(LOW_TUNE, LIMITS), tmp_path / "low.ust")
    assert read_label(demo.sing(ust, None, RenderSettings("default")))["metadata"]["title"] == "low.ust"


def test_the_default_voice_is_loaded_once(demo):
    assert demo.pool.get("default") is demo.pool.get("default")


# --- pictures and files ------------------------------------------------------------------------------------


def test_piano_roll_draws_every_note_with_lyrics_a_font_can_draw():
    score = scoring.parse_notation("lang=ja tempo=120 E4/4 は G4 な A4/2 _ R/4 C5/4 ら", LIMITS)
    labels = lyric_labels(score)
    assert sorted(labels) == [0, 1, 4]  # the melisma note gets no label, the rest none
    assert all(_drawable(text) for text in labels.values())
    if not _drawable("は"):  # no CJK font installed: the sung phonemes stand in
        assert labels == {0: "ha", 1: "na", 4: "ra"}
    fig = piano_roll(score, -12, (46, 67))
    notes = [p for p in fig.axes[0].patches if p.get_y() + 0.4 in (52, 55, 57, 60)]
    assert len(notes) == 4 and len(fig.axes[0].patches) == 5  # and the voice's range
    assert fig.axes[0].get_title() == "score — key shift -12"


def test_transpose_moves_sung_notes_only():
    score = scoring.parse_notation("lang=ja C4/4 ら R/4 D4 り", LIMITS)
    assert [n.pitch for n in transpose(score, 5).notes] == [65, None, 67]
    assert transpose(score, 0) is score


def test_the_output_store_keeps_only_the_newest_folders(tmp_path):
    store = OutputStore(tmp_path, keep=3)
    made = [store.new() for _ in range(5)]
    left = sorted(p for p in tmp_path.iterdir())
    assert len(left) == 3 and made[-1] in left and made[0] not in left


def test_limits_are_checked_when_made():
    with pytest.raises(DemoError, match="queue_size: must be a whole number >= 1"):
        DemoLimits(queue_size=0)
    with pytest.raises(DemoError, match="max_song_seconds: must be > 0"):
        DemoLimits(max_song_seconds=0)


def test_the_demo_verb_refuses_bad_arguments_without_serving(capsys):
    from vocalsynth.cli import main

    assert main(["demo", "--threads", "0"]) == 2
    assert "--threads: must be at least 1" in capsys.readouterr().err
    assert main(["demo", "--voice", "no-such-voice"]) == 2
    assert "no voice named 'no-such-voice'" in capsys.readouterr().err


def test_an_example_in_the_high_range_gets_the_high_voice_and_a_low_tune_the_default(demo):
    if "high" not in demo.voice_names:
        pytest.skip("the bundled high voice is absent")
    choice = demo.suggest_voice(demo.example_text("sakura_ja.txt — はなびら (ja)"))  # D4-D5
    assert choice is not None and choice.name == "high" and choice.inside == 1.0
    assert demo.suggest_voice(LOW_TUNE).name == "default"
    assert demo.suggest_voice("R/4 ((") is None  # notation that doesn't read: no suggestion
