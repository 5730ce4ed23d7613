"""Standard MIDI reader/writer: generated files for each feature, lyric encodings, round trips, broken
files, and the real files in ../shared/scores/midi (skipped when absent)."""

from __future__ import annotations

import io
import random
import struct
from pathlib import Path

import mido
import pytest

from vocalsynth.score import Note, Score, ScoreError, Tempo, TimeSignature, load_score, save_score
from vocalsynth.score.build import fill_from_beats
from vocalsynth.score.midi import dumps, read
from vocalsynth.score.model import TempoMap

SCORES = Path(__file__).resolve().parents[2] / "shared" / "scores"
needs_scores = pytest.mark.skipif(not (SCORES / "midi").is_dir(), reason="../shared/scores/midi is absent")

TPB = 480


# ------------------------------------------------------------------------------------------- helpers


def meta_text(kind: str, raw: bytes | str, tick: int) -> tuple[int, mido.MetaMessage]:
    """A text-like meta event carrying exactly ``raw`` bytes (mido writes meta text as latin-1)."""
    if isinstance(raw, str):
        raw = raw.encode("utf-8")
    return tick, mido.MetaMessage(kind, text=raw.decode("latin-1"))


def notes(spec, channel=0, tpb=TPB):
    """[(beat, beats, pitch), ...] -> note_on/note_off events at absolute ticks."""
    out = []
    for beat, beats, pitch in spec:
        on, off = round(beat * tpb), round((beat + beats) * tpb)
        out.append((on, mido.Message("note_on", channel=channel, note=pitch, velocity=90)))
        out.append((off, mido.Message("note_off", channel=channel, note=pitch, velocity=0)))
    return out


def lyrics(spec, tpb=TPB, kind="lyrics", encoding="utf-8"):
    """[(beat, text), ...] -> lyric (or text) meta events."""
    return [meta_text(kind, text.encode(encoding), round(beat * tpb)) for beat, text in spec]


def midi(*tracks, tpb=TPB, fmt=1) -> bytes:
    """Build a MIDI file from tracks given as lists of (absolute tick, message); a str first item names it."""
    mf = mido.MidiFile(type=fmt, ticks_per_beat=tpb)
    for events in tracks:
        track = mido.MidiTrack()
        if events and isinstance(events[0], str):
            track.append(mido.MetaMessage("track_name", name=events[0].encode("utf-8").decode("latin-1")))
            events = events[1:]
        now = 0
        # note-offs before note-ons and lyrics before notes at one tick, as sequencers write them
        rank = {"note_off": 0, "lyrics": 1, "text": 1, "note_on": 2}
        for tick, msg in sorted(events, key=lambda e: (e[0], rank.get(e[1].type, 1))):
            track.append(msg.copy(time=tick - now))
            now = tick
        mf.tracks.append(track)
    buf = io.BytesIO()
    mf.save(file=buf)
    return buf.getvalue()


def tempo(bpm: float, beat: float = 0):
    return round(beat * TPB), mido.MetaMessage("set_tempo", tempo=round(60e6 / bpm))


def sung(score: Score) -> list[Note]:
    return score.sung_notes


def lyric_part(score: Score):
    return next(p for p in score.parts if p.has_lyrics)


# ------------------------------------------------------------------------------- reading: the basics


def test_reads_tempo_map_metre_key_names_and_notes():
    conductor = [
        "My Song",
        tempo(120),
        tempo(60, beat=2),
        (0, mido.MetaMessage("time_signature", numerator=3, denominator=4)),
        (0, mido.MetaMessage("key_signature", key="G")),
    ]
    voice = [
        "Voice",
        *notes([(0, 1, 67), (1, 1, 69), (2, 2, 71)]),
        *lyrics([(0, "one"), (1, "two"), (2, "three")]),
    ]
    s = read(midi(conductor, voice), source="song.mid")
    assert s.title == "My Song" and s.key == "G"
    assert s.tempos == [Tempo(0.0, 120.0), Tempo(2.0, 60.0)]
    assert s.time_signatures == [TimeSignature(0.0, 3, 4)]
    assert [p.name for p in s.parts] == ["Voice"]
    assert [(n.name, n.lyric) for n in sung(s)] == [("G4", "one"), ("A4", "two"), ("B4", "three")]
    third = sung(s)[2]
    assert third.start == pytest.approx(1.0) and third.duration == pytest.approx(2.0)  # 2 beats at 60 bpm
    assert third.start_beat == 2.0 and third.duration_beats == 2.0
    assert third.where == "track 1 'Voice', tick 960"


def test_no_set_tempo_means_120_bpm_and_first_tempo_late_keeps_120_before_it():
    voice = [*notes([(0, 1, 60), (4, 1, 62)]), *lyrics([(0, "a"), (4, "b")])]
    s = read(midi([tempo(60, beat=4)], voice), source="x.mid")
    assert s.tempos == [Tempo(0.0, 120.0), Tempo(4.0, 60.0)]
    assert sung(s)[1].start == pytest.approx(2.0)
    assert read(midi(voice, fmt=0), source="x.mid").tempos == [Tempo(0.0, 120.0)]


def test_ticks_per_beat_comes_from_the_header():
    voice = [*notes([(0, 1, 60), (1, 0.5, 62)], tpb=96), *lyrics([(0, "a"), (1, "b")], tpb=96)]
    s = read(midi(voice, tpb=96, fmt=0), source="x.mid")
    assert [(n.start_beat, n.duration_beats) for n in sung(s)] == [(0.0, 1.0), (1.0, 0.5)]


def test_format_0_gives_one_part_per_channel_and_leaves_drums_out():
    events = [
        "Song",
        *notes([(0, 1, 72), (1, 1, 74)], channel=0),
        *notes([(0, 2, 48)], channel=1),
        *notes([(0, 0.5, 36), (1, 0.5, 38)], channel=9),
        *lyrics([(0, "hel"), (1, "lo")]),
    ]
    s = read(midi(events, fmt=0), source="x.mid")
    assert [p.name for p in s.parts] == ["Song (channel 1)", "Song (channel 2)"]
    assert [n.lyric for n in s.parts[0].notes] == ["hel", "lo"]
    assert not s.parts[1].has_lyrics
    only_drums = read(
        midi([*notes([(0, 1, 60)], channel=1), *notes([(0, 1, 36)], channel=9)], fmt=0), source="d.mid"
    )
    assert [p.name for p in only_drums.parts] == ["channel 2"]


def test_velocity_zero_note_on_ends_a_note_and_unended_notes_end_with_the_track():
    events = [
        (0, mido.Message("note_on", note=60, velocity=80)),
        (240, mido.Message("note_on", note=60, velocity=0)),
        (480, mido.Message("note_on", note=62, velocity=80)),
        (960, mido.MetaMessage("marker", text="end")),
    ]
    s = read(midi(events, fmt=0), source="x.mid")
    assert [(n.name, n.start_beat, n.duration_beats) for n in sung(s)] == [("C4", 0.0, 0.5), ("D4", 1.0, 1.0)]


def test_legato_overlap_is_trimmed_and_a_chord_keeps_its_highest_note():
    events = [
        *notes([(0, 1.5, 60), (1, 1, 64), (2, 1, 60), (2, 1, 67), (2, 1, 64)]),
        *lyrics([(0, "a"), (1, "b"), (2, "c")]),
    ]
    s = read(midi(events, fmt=0), source="x.mid")
    assert [(n.name, n.start_beat, n.duration_beats, n.lyric) for n in sung(s)] == [
        ("C4", 0.0, 1.0, "a"),
        ("E4", 1.0, 1.0, "b"),
        ("G4", 2.0, 1.0, "c"),
    ]


def test_load_score_reads_kar_and_mid_paths(tmp_path):
    data = midi([*notes([(0, 1, 60)]), *lyrics([(0, "la")])], fmt=0)
    for name in ("a.mid", "a.midi", "a.kar"):
        (tmp_path / name).write_bytes(data)
        assert [n.lyric for n in sung(load_score(tmp_path / name))] == ["la"]


def test_riff_rmid_wrapper_is_unwrapped():
    smf = midi([*notes([(0, 1, 65)]), *lyrics([(0, "fa")])], fmt=0)
    body = b"RMID" + b"data" + struct.pack("<I", len(smf)) + smf + b"\0" * (len(smf) & 1)
    s = read(b"RIFF" + struct.pack("<I", len(body)) + body, source="x.rmi")
    assert [(n.name, n.lyric) for n in sung(s)] == [("F4", "fa")]


# ------------------------------------------------------------------------------------ lyrics placement


def test_lyrics_on_another_track_go_to_the_track_whose_onsets_match():
    words = ["Words", *lyrics([(0, "twin"), (1, "kle"), (2, "lit"), (3, "tle"), (4, "star")])]
    # accompaniment: a note every half beat (onsets match too, but many more of them than lyrics)
    accomp = ["Piano", *notes([(k / 2, 0.5, 48 + k % 5) for k in range(12)])]
    melody = ["Melody", *notes([(0, 1, 60), (1, 1, 60), (2, 1, 67), (3, 1, 67), (4, 2, 69)])]
    data = midi([tempo(100)], words, accomp, melody)
    s = read(data, source="x.mid")
    assert [p.name for p in s.parts] == ["Piano", "Melody"]
    assert not s.parts[0].has_lyrics
    assert [n.lyric for n in sung(s.select_part(1))] == ["twin", "kle", "lit", "tle", "star"]
    chosen = load_score_bytes(data)
    assert chosen.parts[chosen.part_index].name == "Melody"


def load_score_bytes(data: bytes, suffix=".mid") -> Score:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / f"song{suffix}"
        path.write_bytes(data)
        return load_score(path)


def test_two_voices_each_with_their_own_lyric_events():
    soprano = ["Soprano", *notes([(0, 1, 72), (1, 1, 74)]), *lyrics([(0, "high"), (1, "er")])]
    alto = ["Alto", *notes([(0, 2, 65)]), *lyrics([(0, "low")])]
    s = read(midi([tempo(100)], soprano, alto), source="x.mid")
    assert [[n.lyric for n in p.notes if not n.is_rest] for p in s.parts] == [["high", "er"], ["low"]]


def test_a_lyric_slightly_before_its_note_attaches_to_that_note():
    events = [
        *notes([(0, 1, 60), (1, 1, 62), (2, 1, 64)]),
        (0, mido.MetaMessage("lyrics", text="do")),
        (TPB - 20, mido.MetaMessage("lyrics", text="re")),  # 1/24 beat early
        (2 * TPB, mido.MetaMessage("lyrics", text="mi")),
    ]
    assert [n.lyric for n in sung(read(midi(events, fmt=0), source="x.mid"))] == ["do", "re", "mi"]


def test_karaoke_lyrics_a_little_ahead_of_every_note_still_find_their_melody():
    words = [
        "Words",
        *lyrics([(k - 0.2, t) for k, t in enumerate(["one ", "two ", "three "], start=1)], kind="text"),
    ]
    melody = ["Tune", *notes([(1, 1, 60), (2, 1, 62), (3, 1, 64)])]
    s = read(midi([tempo(120)], words, melody), source="x.kar")
    assert [n.lyric for n in sung(s)] == ["one", "two", "three"]


def test_soft_karaoke_text_events_with_headers_and_line_marks():
    words = [
        "Words",
        meta_text("text", "@KMIDI KARAOKE FILE", 0),
        meta_text("text", "@LENGL", 0),
        meta_text("text", "@TLittle Song", 0),
        meta_text("text", "@TSomebody", 0),
        *lyrics(
            [(0, "\\Twin"), (1, "kle, "), (2, "lit"), (3, "tle "), (4, "star; "), (6, "/How "), (7, "I ")],
            kind="text",
        ),
    ]
    melody = [
        "Solo",
        *notes([(0, 1, 67), (1, 1, 67), (2, 1, 74), (3, 1, 74), (4, 2, 76), (6, 1, 72), (7, 1, 71)]),
    ]
    s = read(midi([tempo(120)], words, melody), source="x.kar")
    assert s.title == "Little Song" and s.language == "en"
    line = sung(s.select_part(next(i for i, p in enumerate(s.parts) if p.has_lyrics)))
    assert [n.lyric for n in line] == ["Twin", "kle,", "lit", "tle", "star;", "How", "I"]
    assert [n.syllabic for n in line] == ["begin", "end", "begin", "end", "single", "single", "single"]


def test_text_events_in_a_plain_midi_file_are_not_taken_for_lyrics():
    events = [meta_text("text", "Sequenced by someone", 0), *notes([(0, 1, 60), (1, 1, 62)])]
    s = read(midi(events, fmt=0), source="x.mid")
    assert not s.parts[0].has_lyrics


@pytest.mark.parametrize(
    "texts, syllabic",
    [
        (["Twin-", "kle", "lit-", "tle", "star"], ["begin", "end", "begin", "end", "single"]),
        ([" Twin", "kle", " lit", "tle", " star"], ["begin", "end", "begin", "end", "single"]),
        (["Twin", "kle ", "lit", "tle ", "star "], ["begin", "end", "begin", "end", "single"]),
        (["Ma-", "ri-", "a", "-", "sings"], ["begin", "middle", "end", None, "single"]),
        (["la", "la", "la", "la", "la"], [None] * 5),  # no marks: word positions unknown
    ],
)
def test_word_positions_from_karaoke_spaces_and_hyphens(texts, syllabic):
    events = [*notes([(k, 1, 60 + k) for k in range(5)]), *lyrics(list(enumerate(texts)))]
    line = sung(read(midi(events, fmt=0), source="x.mid"))
    assert [n.syllabic for n in line] == syllabic
    assert all("-" not in n.lyric and n.lyric == n.lyric.strip() for n in line)


def test_melisma_continues_a_syllable_unless_a_rest_separates():
    events = [
        *notes([(0, 1, 60), (1, 1, 62), (2, 1, 64), (4, 1, 65), (5, 1, 67), (6, 1, 69)]),
        *lyrics([(0, "Glo"), (5, "+"), (6, "-")]),
    ]
    line = sung(read(midi(events, fmt=0), source="x.mid"))
    assert [(n.lyric, n.slur) for n in line] == [
        ("Glo", False),
        ("", True),  # no lyric, right after: melisma
        ("", True),
        ("", False),  # after a one-beat rest: nothing to continue
        ("", True),  # '+' as a lyric
        ("", True),  # '-' alone
    ]


def test_a_short_articulation_gap_does_not_break_a_melisma():
    # performed MIDI: each note released 1/30 beat early, as in the Schubert file
    gap = 16
    events = [
        (0, mido.Message("note_on", note=60, velocity=90)),
        (TPB - gap, mido.Message("note_off", note=60)),
        (TPB, mido.Message("note_on", note=62, velocity=90)),
        (2 * TPB - gap, mido.Message("note_off", note=62)),
        (0, mido.MetaMessage("lyrics", text="Ah")),
    ]
    score = read(midi(events, fmt=0), source="x.mid")
    line = sung(score)
    assert [(n.lyric, n.slur) for n in line] == [("Ah", False), ("", True)]
    # the singer carries the note through the articulation gap: no 16-tick rest is left
    assert [n.pitch for n in score.notes[:2]] == [60, 62]
    assert score.notes[0].duration_beats == pytest.approx(1.0)


# ------------------------------------------------------------------------------------------ encodings


@pytest.mark.parametrize(
    "syllables, encoding, language",
    [
        (
            ["き", "ら", "き", "ら", "ひ", "か", "る", "お", "そ", "ら", "の", "ほ", "し", "よ"],
            "shift_jis",
            "ja",
        ),
        (["夜", "空", "に", "か", "が", "や", "く"], "shift_jis", "ja"),
        (["小", "星", "星", "一", "闪", "一", "闪", "亮", "晶", "晶"], "gbk", "zh"),
        (["满", "天", "都", "是", "小", "星", "星"], "gbk", "zh"),
        (["Grü", "ße ", "aus ", "schö", "nen ", "Mäd", "chen ", "Fü", "ße"], "latin-1", None),
        (["Ça ", "va ", "très ", "bien, ", "mon ", "cœur "], "cp1252", None),
        (["Grü", "ße ", "き", "ら", "小", "星"], "utf-8", "ja"),
        (["一", "闪", "一", "闪"], "utf-8", "zh"),
    ],
)
def test_lyric_encoding_is_detected_per_file(syllables, encoding, language):
    events = [
        *notes([(k, 1, 60 + k % 12) for k in range(len(syllables))]),
        *lyrics(list(enumerate(syllables)), encoding=encoding),
    ]
    s = read(midi(events, fmt=0), source="x.mid")
    assert [n.lyric for n in sung(s)] == [t.strip() for t in syllables]
    assert s.language == language


def test_track_names_are_decoded_too():
    name = "メロディ".encode("shift_jis").decode("latin-1")
    voice = [(0, mido.MetaMessage("track_name", name=name)), *notes([(0, 1, 60), (1, 1, 62)])]
    voice += lyrics([(0, "さ"), (1, "くら")], encoding="shift_jis")
    s = read(midi([tempo(90)], voice), source="x.mid")
    assert s.parts[0].name == "メロディ"
    assert [n.lyric for n in sung(s)] == ["さ", "くら"]


# ------------------------------------------------------------------------------------------- writing


def make_score() -> Score:
    tempos = [Tempo(0, 96), Tempo(3, 72), Tempo(5.5, 140)]
    spec = [
        (0, 1, 64, "Grü", "begin", False),
        (1, 0.5, 66, "ße", "end", False),
        (1.5, 0.5, 67, "", None, True),  # melisma right after: no lyric event needed
        (3, 1, 69, "き", "single", False),
        (4, 1.5, 71, "星", "single", False),
        (6, 1, 72, "", None, True),  # slur after a rest: written as '+'
        (7, 2, 60, "end", "single", False),
    ]
    line = [
        Note(0, 0, p, lyric=ly, start_beat=b, duration_beats=d, syllabic=sy, slur=sl)
        for b, d, p, ly, sy, sl in spec
    ]
    return Score(
        notes=fill_from_beats(line, TempoMap(tempos)),
        tempos=tempos,
        time_signatures=[TimeSignature(0, 3, 4)],
        key="D",
        title="Wörter",
    )


def test_writer_round_trip_keeps_notes_lyrics_slurs_and_tempo():
    original = make_score()
    data = dumps(original)
    assert data[:4] == b"MThd"
    mf = mido.MidiFile(file=io.BytesIO(data))
    assert mf.type == 1 and mf.ticks_per_beat == 480 and len(mf.tracks) == 2
    assert "Grü".encode() in data and "星".encode() in data  # lyrics stored as UTF-8
    back = read(data, source="x.mid")
    assert back.tempos == original.tempos
    assert back.time_signatures == original.time_signatures and back.key == "D" and back.title == "Wörter"
    a, b = sung(original), sung(back)
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert y.pitch == x.pitch and y.lyric == x.lyric and y.slur == x.slur and y.syllabic == x.syllabic
        assert y.start == pytest.approx(x.start, abs=1e-3) and y.duration == pytest.approx(
            x.duration, abs=1e-3
        )
    lyric_events = [m.text.encode("latin-1").decode() for m in mf.tracks[1] if m.type == "lyrics"]
    assert lyric_events == ["Grü-", "ße ", "き ", "星 ", "+", "end "]


def test_save_score_and_load_score_round_trip_through_a_file(tmp_path):
    path = save_score(make_score(), tmp_path / "out.mid")
    s = load_score(path)
    assert [n.lyric for n in sung(s) if n.lyric] == ["Grü", "ße", "き", "星", "end"]
    assert len(s.tempos) == 3


def test_writer_writes_the_selected_part_name_and_skips_rests():
    s = make_score()
    s.parts = [type(s.parts[0])("Soprano", s.notes)]
    mf = mido.MidiFile(file=io.BytesIO(dumps(s)))
    assert mf.tracks[1].name == "Soprano"
    assert sum(1 for m in mf.tracks[1] if m.type == "note_on") == len(sung(s))


def test_writer_refuses_what_midi_cannot_hold():
    s = make_score()
    s.notes[0].pitch = 130
    with pytest.raises(ScoreError, match="pitch 130"):
        dumps(s)
    s = make_score()
    s.tempos = [Tempo(0, 5000)]
    with pytest.raises(ScoreError, match="5000 bpm"):
        dumps(s)


# -------------------------------------------------------------------------------------------- errors


def good_file() -> bytes:
    return midi([tempo(100)], ["Voice", *notes([(0, 1, 60), (1, 1, 62)]), *lyrics([(0, "a"), (1, "b")])])


def with_division(division: int) -> bytes:
    data = bytearray(good_file())
    data[12:14] = struct.pack(">H", division)
    return bytes(data)


@pytest.mark.parametrize(
    "data, message",
    [
        (b"hello, not midi at all", "not a MIDI file"),
        (b"RIFF\x10\x00\x00\x00WAVEfmt ", "not RIFF-RMID"),
        (b"MThd\x00\x00", "header is cut short"),
        (good_file()[:-7], "truncated MIDI file: track 1 announces"),
        (good_file()[:22], "truncated MIDI file: track 0"),
        (with_division(0), "0 ticks per beat"),
        (with_division(0xE728), "SMPTE"),
        (
            midi([(0, mido.MetaMessage("set_tempo", tempo=100))], notes([(0, 1, 60)])),
            "absurd tempo",
        ),
        (midi(notes([(0, 1, 36)], channel=9), fmt=0), "no notes"),
        (midi([tempo(100)], notes([(0, 1, 60)]), fmt=2), "format 2"),
        (b"MThd\x00\x00\x00\x06\x00\x00\x00\x01\x01\xe0", "ends after 0"),
    ],
)
def test_broken_files_raise_score_error_naming_the_fault(data, message):
    with pytest.raises(ScoreError, match=message) as e:
        read(data, source="bad.mid")
    assert str(e.value).startswith("bad.mid: ")


def test_a_broken_event_names_the_track_and_byte():
    data = bytearray(good_file())
    second = data.index(b"MTrk", data.index(b"MTrk") + 4)
    on = data.index(bytes([0x90, 60]), second)
    data[on] = 0xF4  # an undefined status byte
    with pytest.raises(ScoreError, match=rf"track 1: broken event at byte {on + 1} .*undefined status byte"):
        read(bytes(data), source="bad.mid")


def test_absurd_tempo_names_its_track_and_tick():
    data = midi([tempo(100), (960, mido.MetaMessage("set_tempo", tempo=10))], notes([(0, 1, 60)]))
    with pytest.raises(ScoreError, match=r"track 0, tick 960: absurd tempo"):
        read(data, source="bad.mid")


def test_corrupted_files_never_raise_anything_but_score_error():
    good = good_file()
    rng = random.Random(1234)
    for _ in range(300):
        data = bytearray(good)
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(14, len(data))] = rng.randrange(256)
        if rng.random() < 0.3:
            del data[rng.randrange(14, len(data)) :]
        try:
            read(bytes(data), source="fuzz.mid")
        except ScoreError:
            pass


def test_asking_for_a_second_verse_is_an_error():
    with pytest.raises(ScoreError, match="verse 2"):
        read(good_file(), source="x.mid", verse=2)


# ----------------------------------------------------------------------------------------- real files


@needs_scores
def test_real_soft_karaoke_twinkle():
    s = load_score(SCORES / "midi" / "twinkle.kar")
    assert s.parts[s.part_index].name == "Solo"
    assert [p.name for p in s.parts] == ["Chord", "Arpeggio", "Bass", "Solo"]  # the drum track is not a part
    assert s.title == "Twinkle, Twinkle, Little Star" and s.language == "en"
    assert s.tempos == [Tempo(0.0, 250.0)]
    line = sung(s)
    assert len(line) == 84 and all(n.lyric for n in line)
    assert [n.lyric for n in line[:9]] == ["Twin", "kle,", "Twin", "kle", "lit", "tle", "star;", "How", "I"]
    assert [n.syllabic for n in line[:7]] == ["begin", "end", "begin", "end", "begin", "end", "single"]
    # the Solo doubles the tune a third/sixth below: the top line is the melody, in G
    assert [n.name for n in line[:7]] == ["G5", "G5", "D6", "D6", "E6", "E6", "D6"]
    assert line[0].start == pytest.approx(1536 / 192 * 0.24)


@needs_scores
def test_real_schubert_standchen_voice_part_with_german_lyrics():
    s = load_score(SCORES / "midi" / "Schubert_Standchen.mid")
    assert [p.name for p in s.parts] == ["Melody", "Piano1", "Piano2"]
    assert s.parts[s.part_index].name == "Melody"
    assert len(s.tempos) == 72 and s.time_signatures[0] == TimeSignature(0.0, 3, 4) and s.key == "F"
    line = sung(s)
    assert len(line) == 196
    assert [n.lyric for n in line[:10]] == ["Le", "i", "se", "fle", "hen", "me", "i", "ne", "Lie", "der"]
    assert [n.name for n in line[:5]] == ["A4", "A#4", "A4", "D5", "A4"]
    assert [n.syllabic for n in line[:3]] == ["begin", "middle", "end"]
    lyrics_ = [n.lyric for n in line if n.lyric]
    assert "Flüs" in lyrics_ and "Tö" in lyrics_ and "ßen" in lyrics_  # UTF-8 detected
    nacht = next(i for i, n in enumerate(line) if n.lyric == "Nacht")
    assert line[nacht + 1].slur and line[nacht + 1].lyric == ""  # the melisma on "Nacht"
    assert 25 <= sum(n.slur for n in line) <= 40
    # mido's own clock for the first lyric, through the ritardando before it
    clock = 0.0
    for msg in mido.MidiFile(SCORES / "midi" / "Schubert_Standchen.mid"):
        clock += msg.time
        if msg.type == "lyrics":
            break
    assert line[0].start == pytest.approx(clock, abs=1e-6)
    back = read(dumps(s), source="again.mid")
    assert [n.lyric for n in sung(back)] == [n.lyric for n in line]
    assert len(back.tempos) == 72
    for x, y in zip(line, sung(back), strict=True):
        assert y.start == pytest.approx(x.start, abs=1e-3) and y.end == pytest.approx(x.end, abs=1e-3)
