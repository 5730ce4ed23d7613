"""Fuzzing the score readers: MusicXML, .mxl, MIDI, .kar, UST, USTX, .ds and the text notation.

Hypothesis feeds each reader mutated valid files (truncated, bit-flipped, bytes inserted, deleted or
repeated, numbers made absurd, pieces of the format spliced in, deep nesting, other encodings) and documents
generated with absurd values. The only failure a reader may give is a `ScoreError` with a short message that
names the file; each case must finish within CASE_SECONDS and CASE_MEGABYTES of Python memory. A score that
reads is also validated (every part) and written back in its own format and read again.

Seeds: files the writers produce from scores made here, hand-made files of each format, and the real files
in ../shared/scores when present. Every crash the fuzzer found has a fixed regression case below.

Default run: a few hundred cases in all. The slow run fuzzes ``VOCALSYNTH_FUZZ_CASES`` (default 10000) cases
per target and, when ``VOCALSYNTH_FUZZ_REPORT`` names a file, writes the counts there as JSON::

    VOCALSYNTH_FUZZ_REPORT=fuzz.json pytest -m slow tests/test_fuzz_scores.py
"""

from __future__ import annotations

import collections
import contextlib
import io
import json
import os
import re
import signal
import struct
import time
import tracemalloc
import zipfile
from pathlib import Path

import mido
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_ds import SEGMENT as DS_SEGMENT  # tests/ is on sys.path
from test_midi import meta_text, midi

from vocalsynth.score import Score, ScoreError, load_score, validate
from vocalsynth.score import ds as ds_format
from vocalsynth.score import midi as midi_format
from vocalsynth.score import musicxml as musicxml_format
from vocalsynth.score import notation as notation_format
from vocalsynth.score import ust as ust_format
from vocalsynth.score import ustx as ustx_format
from vocalsynth.score.io import _zip_mxl, read_bytes

SCORES = Path(__file__).resolve().parents[2] / "shared" / "scores"
CASE_SECONDS = 10.0  # a case over this is a hang (generous: the machine is shared)
CASE_MEGABYTES = 256  # peak Python memory one case may take (inputs here are at most a few hundred KB)
MAX_MESSAGE = 1200  # characters: a ScoreError longer than this is not a clear message
DEFAULT_CASES = 40  # per target in the default run: 8 targets, a few hundred cases in all
SLOW_CASES = int(os.environ.get("VOCALSYNTH_FUZZ_CASES", "10000"))

# target -> (reader format, source name the reader sees, writer module)
TARGETS = {
    "musicxml": ("musicxml", "fuzz.musicxml", musicxml_format),
    "mxl": ("musicxml", "fuzz.mxl", musicxml_format),
    "midi": ("midi", "fuzz.mid", midi_format),
    "kar": ("midi", "fuzz.kar", midi_format),
    "ust": ("ust", "fuzz.ust", ust_format),
    "ustx": ("ustx", "fuzz.ustx", ustx_format),
    "ds": ("ds", "fuzz.ds", ds_format),
    "text": ("text", "fuzz.txt", notation_format),
}
TALLY: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)

# ----------------------------------------------------------------------------------------------- the oracle


class Hang(Exception):
    pass


@contextlib.contextmanager
def time_limit(seconds: float):
    """Raise `Hang` in this (main) thread when the block runs longer than ``seconds``."""

    def on_alarm(signum, frame):
        raise Hang(f"still running after {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def assert_clear(error: ScoreError, source: str) -> None:
    message = str(error)
    assert message and len(message) <= MAX_MESSAGE, (
        f"unclear ScoreError ({len(message)} chars): {message[:300]}"
    )
    assert source in message, f"the message does not name the file: {message}"


def read_case(target: str, data: bytes) -> str:
    """Read ``data`` as ``target``: 'read' or 'refused'. Anything but a ScoreError propagates (a crash)."""
    fmt, source, writer = TARGETS[target]
    try:
        score = read_bytes(data, fmt, source=source)
    except ScoreError as e:
        assert_clear(e, source)
        return "refused"
    assert isinstance(score, Score) and score.parts and score.notes is score.parts[score.part_index].notes
    usable = []
    for i in range(len(score.parts)):
        try:
            usable.append(validate(score.select_part(i)))
        except ScoreError as e:
            assert_clear(e, source)
    for sung in usable[:1]:  # writing back: the writer takes any valid score, and the reader reads it again
        try:
            out = writer.dumps(sung)
        except ScoreError:
            continue
        if target == "mxl":
            out = _zip_mxl(out, "fuzz.musicxml")
        with contextlib.suppress(ScoreError):
            read_bytes(out, fmt, source=source)
    return "read" if usable else "refused"


def check(target: str, data: bytes) -> str:
    """`read_case` within the time and memory bounds; tallies the outcome."""
    tracemalloc.start()
    try:
        with time_limit(CASE_SECONDS):
            outcome = read_case(target, data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < CASE_MEGABYTES * 2**20, f"took {peak / 2**20:.0f} MB for {len(data)} bytes of input"
    TALLY[target][outcome] += 1
    return outcome


# ----------------------------------------------------------------------------------------------- the seeds

SONGS = [
    'title="Fuzz" tempo=96 time=3/4 lang=en\n'
    "C4/4 twin- C4 -kle G4 | G4/2. _ | R/4 A4/8 lit- A4 -tle G4/4 star |\n"
    "tempo=140 time=4/4 F4/4~ F4/8 _ E4/8 how E4/4 I D4/8t won- D4 -der D4 -ing | C4/2 what",
    "lang=ja tempo=120 key=D\nC5/8 さ D5 く E5/4 ら R/8 G4/16 か A4 ぜ B4 _ B4/2. ふ C#5/8.. く R/32 D5/1 よ",
    'lang=zh tempo=72 key="E minor" time=6/8\nG4/8 xiao A4 xing B4/4. xing | m70/8 "a4" A4/4:a4 B4/4. hao ||',
]


def _scores() -> list[Score]:
    return [load_score(text) for text in SONGS]


def _note_events(spec, channel=0):
    out = []
    for beat, beats, pitch in spec:
        out.append((round(beat * 480), mido.Message("note_on", channel=channel, note=pitch, velocity=90)))
        out.append((round((beat + beats) * 480), mido.Message("note_off", channel=channel, note=pitch)))
    return out


def _midi_seeds() -> list[bytes]:
    melody = [(i * 0.5, 0.5, 60 + (i * 5) % 12) for i in range(12)]
    words = ["Twin-", "kle ", "twin-", "kle ", "lit-", "tle ", "star ", "+", "how ", "I ", "won-", "der"]
    lyric_track = [meta_text("lyrics", w.encode(), round(i * 240)) for i, w in enumerate(words)]
    tempo = [
        (0, mido.MetaMessage("set_tempo", tempo=500000)),
        (2880, mido.MetaMessage("set_tempo", tempo=400000)),
    ]
    meta = [(0, mido.MetaMessage("time_signature", numerator=3, denominator=4)), *tempo]
    sjis = [meta_text("lyrics", w.encode("cp932"), i * 480) for i, w in enumerate("さくらさくら")]
    return [
        midi(meta, _note_events(melody), lyric_track),  # lyrics on their own track
        midi(
            [
                *meta,
                *lyric_track,
                *_note_events(melody, 0),
                *_note_events(melody[::2], 9),
                *_note_events(melody, 3),
            ],
            fmt=0,
        ),
        midi(meta, [*_note_events(melody[:6], 1), *sjis], tpb=96),
    ]


def _kar_seeds() -> list[bytes]:
    melody = [(i * 1.0, 1.0, 64 + (i % 5)) for i in range(10)]
    texts = [b"@KMIDI KARAOKE FILE", b"@LENG", b"@TTwinkle", b"@Tfuzz"]
    words = [b"\\Twin", b"kle ", b"/twin", b"kle ", b"lit", b"tle ", b"/star", b"", b"how ", b"I"]
    track0 = [meta_text("text", t, 0) for t in texts]
    track0 += [meta_text("text", w, i * 480) for i, w in enumerate(words)]
    return [midi(track0, ["Words", *_note_events(melody)])]


UST_SEED = (
    "[#VERSION]\r\nUST Version1.2\r\nCharset=UTF-8\r\n[#SETTING]\r\nTempo=120.00\r\nProjectName=fuzz\r\n"
    "[#0000]\r\nLength=480\r\nLyric=R\r\nNoteNum=60\r\n"
    "[#0001]\r\nLength=240\r\nLyric=- か\r\nNoteNum=62\r\nTempo=100\r\nPBS=-20;0\r\nVBR=65,180,35\r\n"
    "[#0002]\r\nLength=240\r\nLyric=a R\r\nNoteNum=62\r\n[#0003]\r\nLength=960\r\nLyric=+~\r\nNoteNum=64\r\n"
    "[#0004]\r\nLength=480\r\nLyric=らC4\r\nNoteNum=65\r\n[#PREV]\r\nLength=480\r\n[#TRACKEND]\r\n"
)
DS_SEED = [
    {
        **DS_SEGMENT,
        "vocalsynth": {"tempos": [[0, 90]], "time_signatures": [[0, 3, 4]], "title": "x", "language": "zh"},
    },
    {"offset": 3.0, "note_seq": "C4 D4 rest", "note_dur": "0.5 0.5 0.2", "text": "la li SP"},
]


def _real(folder: str, pattern: str = "*") -> list[bytes]:
    root = SCORES / folder
    return [p.read_bytes() for p in sorted(root.glob(pattern)) if p.is_file()] if root.is_dir() else []


def _mxl_variants(xml: bytes) -> list[bytes]:
    plain = io.BytesIO()
    with zipfile.ZipFile(plain, "w") as z:  # no container: one score file in the archive
        z.writestr("song.xml", xml)
    return [_zip_mxl(xml, "song.musicxml"), plain.getvalue()]


def _seeds() -> dict[str, list[bytes]]:
    scores = _scores()
    from test_musicxml import SONG  # the hand-made song with chords, voices, ties, verses and melismas

    xml = [musicxml_format.dumps(s) for s in scores] + [SONG]
    real_xml = _real("musicxml", "*.xml") + _real("musicxml_ja_no7", "0[1-3].xml")
    seeds = {
        "musicxml": xml + real_xml,
        "mxl": [z for x in [*xml, *real_xml[:2]] for z in _mxl_variants(x)],
        "midi": [midi_format.dumps(s) for s in scores] + _midi_seeds() + _real("midi", "*.mid"),
        "kar": _kar_seeds() + _real("midi", "*.kar"),
        "ust": [ust_format.dumps(s) for s in scores] + [UST_SEED.encode("utf-8")] + _real("ust"),
        "ustx": [ustx_format.dumps(s) for s in scores] + _real("ustx"),
        "ds": [ds_format.dumps(s) for s in scores]
        + [json.dumps(DS_SEED, ensure_ascii=False).encode()]
        + _real("ds"),
        "text": [notation_format.dumps(s) for s in scores] + [t.encode() for t in SONGS],
    }
    for target, fmt_seeds in seeds.items():
        for seed in fmt_seeds:  # every seed is a file its reader takes
            assert read_case(target, seed) == "read", f"{target} seed does not read"
    return seeds


SEEDS = _seeds()

# ------------------------------------------------------------------------------------- absurd pieces

ABSURD = [
    b"0", b"-0", b"-1", b"1", b"2", b"480", b"1e309", b"-1e309", b"nan", b"NaN", b"inf", b"-inf", b"Infinity",
    b"1e-320", b"4294967296", b"18446744073709551616", b"9" * 60, b"9" * 5000, b"0.0000001", b"2147483648",
    b"-2147483649", b"128", b"-129", b"1,5", "\u0663".encode(), b"0x1F", b"1_000", b"", b" ", b"+7", b".5",
    b"5.", b"3/4", b"a", "\uff23\uff14".encode(), b"1e308", b"-1e-308", b"65535", b"99999999999",
]  # fmt: skip
PLAUSIBLE = [b"1", b"2", b"3", b"7", b"12", b"96", b"0.5", b"100", b"61", b"0.25"]  # odd, not absurd
TOKENS = {
    "musicxml": [
        b"<note>", b"</note>", b"<measure>", b"</measure>", b"<part>", b"</part>", b"<chord/>", b"<grace/>",
        b"<cue/>", b"<rest/>", b"<unpitched/>", b"<attributes><divisions>0</divisions></attributes>",
        b"<attributes><divisions>1e999</divisions></attributes>", b"<attributes><divisions>7919</divisions></attributes>",
        b"<backup><duration>99999999</duration></backup>", b"<forward><duration>-1</duration></forward>",
        b"<forward><duration>1e9999</duration></forward>", b'<tie type="start"/>', b'<tie type="stop"/>',
        b'<notations><slur type="start" number="x"/></notations>', b"<lyric><text>la</text><extend/></lyric>",
        b'<lyric number="99999999999"><syllabic>begin</syllabic><text>x</text></lyric>', b'<sound tempo="0.0001"/>',
        b'<sound tempo="1e308"/>', b"<time><beats>3+2+999999</beats><beat-type>0</beat-type></time>",
        b"<pitch><step>H</step><octave>99</octave><alter>1e9</alter></pitch>", b"<pitch><step>B</step><octave>9</octave><alter>12</alter></pitch>",
        b"<!ENTITY a 'b'>", b"&#0;", b"&amp;", b"&unknown;", b"<![CDATA[x]]>", b"<?pi x?>", b"<!-- -->", b"\x00",
        b"\xff\xfe", b"<voice>v</voice>", b"<voice>99999999999999</voice>", b"<score-timewise>", b"<direction><offset>-99999999</offset><sound tempo=\"60\"/></direction>",
        b"<direction><direction-type><metronome><beat-unit>quarter</beat-unit><beat-unit-dot/><per-minute>1e400</per-minute></metronome></direction-type></direction>",
        b'<lyric xml:lang="ja"><text>\xe3\x81\x82</text></lyric>', b"<key><fifths>99</fifths><mode>dorian</mode></key>",
        b'<measure number="' + b"9" * 300 + b'">', b"<part-name>" + b"x" * 3000 + b"</part-name>",
    ],
    "midi": [
        b"\x00\xff\x51\x03\x00\x00\x00", b"\x00\xff\x51\x03\xff\xff\xff", b"\x00\xff\x51\x00", b"\x00\xff\x58\x04\x00\x00\x00\x00",
        b"\x00\xff\x58\x04\xff\xff\x18\x08", b"\x00\xff\x59\x02\x80\x05", b"\x00\xff\x05\x03la ", b"\xff\xff\xff\x7f\x90\x3c\x40",
        b"\x8f\xff\xff\xff\x7f", b"\x00\x90\x7f\x7f", b"\x00\x80\x7f\x00", b"\x00\x3c\x40", b"\x00\xf0\x05\x01\x02\x03\x04\xf7",
        b"\x00\xf7\x7f", b"\x00\xff\x2f\x00", b"MTrk\x00\x00\x00\x04\x00\xff\x2f\x00", b"MTrk\xff\xff\xff\xff",
        b"MThd\x00\x00\x00\x06\x00\x01\xff\xff\x01\xe0", b"\x00\xff\x01\x04\x82\xa0\x82\xa2", b"\x00\xff\x01\x02@T",
        b"\x00\xff\x03\x05Words", b"\x00\x99\x24\x40", b"\x00\xe0\x00\x40", b"\x00\xff\x7f\x7f", b"\x00\xff\x05\x81\x00",
        b"\x00\xff\x05\x04\xe3\x81\x82\xe3", b"RIFF\x00\x00\x00\x00RMIDdata",
    ],
    "ust": [
        b"[#0000]\n", b"[#TRACKEND]\n", b"[#SETTING]\n", b"[#VERSION]\n", b"[#PREV]\n", b"[#DELETE]\n", b"[#ABC]\n",
        b"Length=", b"Length=0\n", b"Length=1e9\n", b"Length=1000000001\n", b"NoteNum=128\n", b"NoteNum=-1\n",
        b"NoteNum=60.5\n", b"Tempo=0\n", b"Tempo=1e-300\n", b"Tempo=1e300\n", b"Tempo=92,00\n", b"Lyric=R\n",
        b"Lyric=+\n", b"Lyric=a \xe3\x81\x8b\n", b"Lyric=?\n", b"Lyric=- R\n", b"Lyric=\x82\xa0\n", b"Charset=UTF-16\n",
        b"Charset=nonexistent\n", b"Charset=zlib_codec\n", b"Charset=base64\n", b"Charset=punycode\n",
        b"Charset=idna\n", b"Charset=utf-7\n", b"Charset=undefined\n", b"Charset=unicode_escape\n",
        b"Charset=rot13\n", b"Charset=shift_jis\n", b"novalue\n", b"=\n", b"\r", b"\x00",
    ],
    "ustx": [
        b"resolution: 0\n", b"resolution: 1e400\n", b"resolution: " + b"9" * 5000 + b"\n", b"bpm: -1\n",
        b"tempos: [{position: 0, bpm: 1e-300}]\n", b"position: 99999999999999\n", b"duration: 0\n", b"tone: 200\n",
        b"lyric: [1, 2]\n", b"lyric: {a: b}\n", b"&a ", b"*a", b"<<: *a\n", b"!!python/object:os.system\n",
        b"!!binary |\n  AAAA\n", b"? complex key\n", b"%YAML 1.1\n---\n", b"---\n", b"...\n", b"{", b"[", b"\t",
        b"time_signatures: [{bar_position: 999999999999, beat_per_bar: 0}]\n", b"track_no: 99999999\n",
        b"track_no: -1\n", b"phoneme_overrides: [{index: 0, phoneme: x}, 5, {index: true}]\n",
        b"lyric: a[b c]\n", b"lyric: no\n", b"lyric: 1:20\n", b"name: ~\n", b"voice_parts: 5\n", b"notes: {}\n",
        b"tracks: [1, 2]\n", b"beat_unit: 0\n", b"ustx_version: 0.6\n", b"- \n", b": \n",
    ],
    "ds": [
        b'"offset": 1e308,', b'"note_dur": "0 -1 nan inf 1e309",', b'"ph_num": "0",', b'"ph_num": "99999999999",',
        b"NaN", b"Infinity", b"-Infinity", b"[", b"{", b"]", b"}", b'"\\ud800"', b'"note_seq": "C99 Cbbbb-1 H4 rest",',
        b'"vocalsynth": {"tempos": [[0, 0]], "time_signatures": [[0, 0, 3]]},', b'"note_slur": "2",',
        b'"f0_timestep": 0,', b'"f0_seq": "-1",', b'"text": [1, null, true],', b"null", b"true", b"1e99999",
        b'"note_dur_seq": "1",', b"\xef\xbb\xbf",
    ],
    "text": [
        b"tempo=0", b"tempo=1e309", b"tempo=nan", b"tempo=1e-300", b"tempo=2001", b"time=0/4", b"time=999/999",
        b"time=64/32", b"|", b"||", b" | ", b"C4/4", b"C4/0", b"C4/1+1+1+1+1+1+1+1", b"C4/32..", b"C4/3t", b"m999",
        b"m127", b"B#9", b"Cbb-1", b"G9", b"C-1", b"R/4", b"R/4~", b"~", b"_", b'"', b'\\"', b"lang=xx",
        b"lang=jp", b"key=H", b"title=", b"#", "\u2028".encode(), b"\n", b":", b"C4:", b"C4/4~ D4",
        b"a4", b"-", b"twin-", b"-kle", b"C4/1", b" ", b"=", b"x=1",
    ],
}  # fmt: skip
TOKENS["mxl"] = TOKENS["musicxml"]
TOKENS["kar"] = TOKENS["midi"] + [b"\x00\xff\x01\x05@LENG", b"\x00\xff\x01\x02\\x", b"\x00\xff\x01\x01/"]
TEXT_TARGETS = {"musicxml", "ust", "ustx", "ds", "text"}
NESTING = {"musicxml": (b"<x>", b"</x>"), "ds": (b"[", b"]"), "ustx": (b"[", b"]"), "text": (b"(", b")")}
ENCODINGS = ["utf-16", "utf-16-be", "utf-32", "latin-1", "cp932", "gbk", "utf-8-sig", "cp1252", "ascii"]
NUMBER = re.compile(rb"[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")

# ----------------------------------------------------------------------------------------------- strategies


@st.composite
def mutated(draw, target: str) -> bytes:
    """A seed of ``target`` with 1-5 mutations."""
    seeds, tokens = SEEDS[target], TOKENS[target]
    data = bytearray(draw(st.sampled_from(seeds)))
    ops = ["truncate", "flip", "byte", "delete", "insert", "token", "token", "repeat", "number", "splice"]
    if target in TEXT_TARGETS:
        ops += ["encode", "nest"]
    for _ in range(draw(st.sampled_from([1, 1, 1, 2, 2, 3, 5]))):  # mostly one: the file stays nearly valid
        op = draw(st.sampled_from(ops))
        n = len(data)
        pos = draw(st.integers(0, n))
        if op == "truncate":
            del data[pos:]
        elif op == "flip" and n:
            data[min(pos, n - 1)] ^= 1 << draw(st.integers(0, 7))
        elif op == "byte" and n:
            data[min(pos, n - 1)] = draw(st.integers(0, 255))
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 64))]
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif op == "token":
            data[pos:pos] = draw(st.sampled_from(tokens))
        elif op == "repeat":
            end = min(n, pos + draw(st.integers(1, 200)))
            data[end:end] = data[pos:end] * draw(st.integers(1, 300))
        elif op == "number":
            found = list(NUMBER.finditer(data))
            if found:
                m = found[draw(st.integers(0, len(found) - 1))]
                data[m.start() : m.end()] = draw(st.sampled_from(ABSURD + PLAUSIBLE))
        elif op == "splice":
            other = draw(st.sampled_from(seeds))
            start = draw(st.integers(0, len(other)))
            data[pos:pos] = other[start : start + draw(st.integers(1, 500))]
        elif op == "encode":
            text = bytes(data).decode("utf-8", errors="replace")
            data = bytearray(text.encode(draw(st.sampled_from(ENCODINGS)), errors="replace"))
        elif op == "nest" and target in NESTING:
            opening, closing = NESTING[target]
            depth = draw(st.sampled_from([10, 100, 1000, 5000]))
            end = draw(st.integers(pos, n))
            data[end:end] = closing * depth
            data[pos:pos] = opening * depth
    return bytes(data)


def _vlq(value: int) -> bytes:
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def _meta(kind: int, payload: bytes) -> bytes:
    return bytes([0xFF, kind]) + _vlq(len(payload)) + payload


LYRIC_BYTES = st.one_of(
    st.binary(max_size=12),
    st.text(max_size=6).map(lambda t: t.encode("utf-8")),
    st.sampled_from(["さ", "くら", "天", "Grüße", "+", "-", "\\", "/", "@T", "@L", " "]).flatmap(
        lambda t: st.sampled_from(["utf-8", "cp932", "gbk", "latin-1"]).map(lambda e: t.encode(e, "replace"))
    ),
)
MIDI_EVENT = st.one_of(
    st.builds(
        lambda on, ch, pitch, vel: bytes([(0x90 if on else 0x80) | ch, pitch, vel]),
        st.booleans(), st.sampled_from([0, 0, 1, 9, 15]), st.integers(0, 127), st.sampled_from([0, 1, 64, 127]),
    ),
    st.builds(lambda kind, raw: _meta(kind, raw), st.sampled_from([0x01, 0x03, 0x05, 0x05, 0x05]), LYRIC_BYTES),
    st.binary(min_size=3, max_size=3).map(lambda b: _meta(0x51, b)),
    st.binary(min_size=0, max_size=5).map(lambda b: _meta(0x51, b)),
    st.binary(min_size=4, max_size=4).map(lambda b: _meta(0x58, b)),
    st.binary(min_size=2, max_size=2).map(lambda b: _meta(0x59, b)),
    st.sampled_from([t for t in TOKENS["midi"] if not t.startswith((b"MT", b"RI"))]).map(lambda t: t[1:]),
)  # fmt: skip


@st.composite
def midi_files(draw) -> bytes:
    """A Standard MIDI file built event by event, with consistent chunk lengths but any content."""
    tracks = []
    for _ in range(draw(st.integers(0, 4))):
        events = draw(
            st.lists(
                st.tuples(st.sampled_from([0, 0, 0, 1, 120, 480, 2**21, 0x0FFFFFFF]), MIDI_EVENT), max_size=40
            )
        )
        body = b"".join(_vlq(delta) + event for delta, event in events)
        if draw(st.booleans()):
            body += b"\x00\xff\x2f\x00"
        tracks.append(body)
    fmt = draw(st.sampled_from([0, 1, 1, 1, 2, 3]))
    division = draw(st.sampled_from([1, 24, 96, 480, 960, 0x7FFF, 0, 0x8000 | 0x1928]))
    ntracks = draw(st.sampled_from([len(tracks), len(tracks), 0, len(tracks) + 1, 65535]))
    header = b"MThd" + struct.pack(">IHHH", draw(st.sampled_from([6, 6, 6, 0, 10])), fmt, ntracks, division)
    if draw(st.integers(0, 9)) == 0:
        header += b"\x00" * 4  # a longer header, as its length field may say
    return header + b"".join(b"MTrk" + struct.pack(">I", len(t)) + t for t in tracks)


VALUE = st.one_of(st.sampled_from(ABSURD).map(lambda b: b.decode("utf-8")), st.text(max_size=8))
JSONISH = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),
    st.text(max_size=8),
    VALUE,
)


@st.composite
def ust_files(draw) -> bytes:
    lines = ["[#VERSION]", "UST Version1.2"]
    if draw(st.booleans()):
        lines.append(
            f"Charset={draw(st.sampled_from(['UTF-8', 'shift_jis', 'cp932', 'latin-1', 'x', 'utf_16']))}"
        )
    lines += ["[#SETTING]", f"Tempo={draw(VALUE)}"]
    for i in range(draw(st.integers(0, 12))):
        lines.append(f"[#{draw(st.sampled_from([f'{i:04d}', 'INSERT', 'NEXT', str(i)]))}]")
        for key in draw(
            st.lists(st.sampled_from(["Length", "Lyric", "NoteNum", "Tempo", "PBS", "Junk"]), max_size=6)
        ):
            lines.append(f"{key}={draw(VALUE)}")
    if draw(st.booleans()):
        lines.append("[#TRACKEND]")
    text = draw(st.sampled_from(["\r\n", "\n", "\r"])).join(lines)
    return text.encode(draw(st.sampled_from(["utf-8", "cp932", "utf-8-sig"])), errors="replace")


@st.composite
def ustx_files(draw) -> bytes:
    def maybe(value):
        return draw(st.one_of(st.just(value), JSONISH))

    notes = [
        {
            "position": maybe(i * 480),
            "duration": maybe(480),
            "tone": maybe(60 + i),
            "lyric": draw(
                st.one_of(st.sampled_from(["la", "+", "R", "-", "yao[ya ao]", "?a", "[", ""]), JSONISH)
            ),
            "phoneme_overrides": draw(st.one_of(st.just([{"index": 0, "phoneme": "x"}]), JSONISH)),
        }
        for i in range(draw(st.integers(0, 8)))
    ]
    doc = {
        "ustx_version": maybe("0.6"),
        "resolution": maybe(480),
        "bpm": maybe(120),
        "tempos": draw(st.one_of(st.just([{"position": 0, "bpm": 120}]), st.lists(st.fixed_dictionaries({"position": JSONISH, "bpm": JSONISH}), max_size=3), JSONISH)),
        "time_signatures": draw(st.one_of(st.just([{"bar_position": 0, "beat_per_bar": 4, "beat_unit": 4}]), st.lists(st.fixed_dictionaries({"bar_position": JSONISH, "beat_per_bar": JSONISH, "beat_unit": JSONISH}), max_size=3), JSONISH)),
        "tracks": draw(st.one_of(st.just([{"track_name": "v"}]), JSONISH)),
        "voice_parts": [{"name": maybe("p"), "track_no": maybe(0), "position": maybe(0), "notes": notes}],
    }  # fmt: skip
    for key in draw(st.lists(st.sampled_from(sorted(doc)), max_size=3)):
        doc.pop(key, None)
    text = yaml.safe_dump(doc, allow_unicode=True)
    if draw(st.integers(0, 4)) == 0:  # anchors and aliases: refused whatever they stand for
        text = "big: &b [1, 2, 3]\nbigger: &c [*b, *b, *b]\n" + text.replace("lyric: la", "lyric: *c", 1)
    return text.encode("utf-8")


@st.composite
def ds_files(draw) -> bytes:
    fields = [
        "offset",
        "text",
        "ph_seq",
        "ph_dur",
        "ph_num",
        "note_seq",
        "note_dur",
        "note_slur",
        "f0_seq",
        "f0_timestep",
    ]
    segments = []
    for _ in range(draw(st.integers(0, 3))):
        seg = {k: v for k, v in DS_SEED[0].items() if draw(st.integers(0, 4))}
        for key in draw(st.lists(st.sampled_from(fields + ["vocalsynth"]), max_size=4)):
            seg[key] = draw(
                st.one_of(JSONISH, st.lists(JSONISH, max_size=5), st.lists(VALUE, max_size=6).map(" ".join))
            )
        segments.append(seg)
    doc = segments[0] if segments and draw(st.booleans()) else segments
    return json.dumps(doc, ensure_ascii=draw(st.booleans())).encode("utf-8")  # fmt: skip


NOTATION_WORDS = [t.decode("utf-8") for t in TOKENS["text"]] + ["la", "C4", "D4/8", "twin-", "-kle", '"x y"']


@st.composite
def notation_texts(draw) -> bytes:
    words = draw(st.lists(st.one_of(st.sampled_from(NOTATION_WORDS), st.text(max_size=6)), max_size=60))
    text = "".join(w + draw(st.sampled_from([" ", " ", "\n", ""])) for w in words)
    return text.encode(draw(st.sampled_from(["utf-8", "utf-16", "utf-8-sig"])), errors="replace")


XML_PIECES = [t for t in TOKENS["musicxml"] if not t.startswith(b"<!ENTITY")] + [
    b"<note><pitch><step>C</step><octave>4</octave></pitch><duration>1</duration><lyric><text>la</text></lyric></note>",
    b"<note><rest/><duration>2</duration></note>",
    b'<note><pitch><step>D</step><octave>5</octave></pitch><duration>3</duration><tie type="start"/></note>',
]


@st.composite
def musicxml_files(draw) -> bytes:
    parts = []
    for p in range(draw(st.integers(1, 3))):
        measures = []
        for m in range(draw(st.integers(0, 6))):
            divisions = draw(st.sampled_from(ABSURD + [b"1", b"2", b"480"]))
            head = b"<attributes><divisions>" + divisions + b"</divisions></attributes>" if m == 0 else b""
            body = b"".join(draw(st.lists(st.sampled_from(XML_PIECES), max_size=12)))
            measures.append(b'<measure number="%d">' % (m + 1) + head + body + b"</measure>")
        parts.append(b'<part id="P%d">' % p + b"".join(measures) + b"</part>")
    doc = b'<?xml version="1.0"?><score-partwise><part-list><score-part id="P0"/></part-list>' + b"".join(
        parts
    )
    return doc + b"</score-partwise>"


def _zipped(xml: bytes) -> bytes:
    return _zip_mxl(xml, "song.musicxml")


def cases(target: str) -> st.SearchStrategy[bytes]:
    """Everything the fuzzer feeds ``target``: mutations of its seeds, and generated documents."""
    generated = {
        "musicxml": musicxml_files(),
        "mxl": st.one_of(musicxml_files(), mutated("musicxml")).map(_zipped),
        "midi": midi_files(),
        "kar": midi_files(),
        "ust": ust_files(),
        "ustx": ustx_files(),
        "ds": ds_files(),
        "text": notation_texts(),
    }[target]
    return st.one_of(mutated(target), mutated(target), generated)


FUZZ = settings(deadline=None, suppress_health_check=list(HealthCheck), print_blob=True)

# ----------------------------------------------------------------------------------------------- the fuzz runs


@pytest.mark.parametrize("target", list(TARGETS))
def test_fuzzed_files_give_a_score_or_a_clear_score_error(target):
    @settings(FUZZ, max_examples=DEFAULT_CASES)
    @given(data=cases(target))
    def run(data):
        check(target, data)

    run()


@pytest.mark.slow
@pytest.mark.parametrize("target", list(TARGETS))
def test_fuzz_at_scale(target):
    TALLY[target].clear()
    started = time.monotonic()

    @settings(FUZZ, max_examples=SLOW_CASES)
    @given(data=cases(target))
    def run(data):
        check(target, data)

    run()
    counts = dict(TALLY[target])
    report = os.environ.get("VOCALSYNTH_FUZZ_REPORT")
    if report:
        path = Path(report)
        done = json.loads(path.read_text()) if path.is_file() else {}
        done[target] = {
            **counts,
            "cases": sum(counts.values()),
            "seconds": round(time.monotonic() - started, 1),
        }
        path.write_text(json.dumps(done, indent=1) + "\n")
    print(f"{target}: {sum(counts.values())} cases, {counts}")
    assert sum(counts.values()) >= SLOW_CASES


# ------------------------------------------------------------------ regressions: what the fuzzing found, fixed


def refused_quickly(fmt: str, data: bytes, words: str, seconds: float = 5.0) -> None:
    source = f"case.{fmt}"
    started = time.monotonic()
    with time_limit(seconds * 4), pytest.raises(ScoreError, match=words) as e:
        read_bytes(data, fmt, source=source)
    assert time.monotonic() - started < seconds, f"refused, but only after {time.monotonic() - started:.1f} s"
    assert_clear(e.value, source)


def read_quickly(fmt: str, data: bytes, seconds: float) -> Score:
    started = time.monotonic()
    with time_limit(seconds * 4):
        score = read_bytes(data, fmt, source=f"case.{fmt}")
    assert time.monotonic() - started < seconds, f"took {time.monotonic() - started:.1f} s"
    return score


@pytest.mark.parametrize(
    "fmt, data",
    [
        ("ds", b'{"note_seq": "C4", "note_dur": ' + b"9" * 5000 + b"}"),
        ("ustx", b"ustx_version: 0.6\nresolution: " + b"9" * 5000 + b"\nvoice_parts: []\n"),
    ],
    ids=["ds", "ustx"],
)
def test_an_integer_of_thousands_of_digits_is_a_score_error(fmt, data):
    # was: ValueError "Exceeds the limit (4300 digits) for integer string conversion" out of json/yaml
    refused_quickly(fmt, data, "integer string conversion")


def test_a_ustx_alias_bomb_is_refused_at_once():
    # was: the error message's repr of 'resolution' expanded 10**9 values: 255 s and gigabytes
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"b{i}: &b{i} [{', '.join(['*' + ('a' if i == 0 else f'b{i - 1}')] * 10)}]\n" for i in range(8)
    )
    refused_quickly("ustx", (bomb + "ustx_version: 0.6\nresolution: *b7\n").encode(), "aliases are refused")


def test_a_musicxml_file_declaring_an_unknown_encoding_is_a_score_error():
    # was: LookupError out of ElementTree
    refused_quickly("musicxml", b'<?xml version="1.0" encoding="UTF0"?><score-partwise/>', "unknown encoding")


@pytest.mark.parametrize("codec", ["zlib_codec", "base64", "rot13", "punycode", "undefined", "idna"])
def test_a_ust_charset_that_is_not_a_text_encoding_is_a_score_error(codec):
    # was: LookupError ("not a text encoding") or UnicodeError out of bytes.decode
    data = f"[#VERSION]\nCharset={codec}\n[#0000]\nLength=480\nLyric=a\nNoteNum=60\n".encode() + b"\xff\xfe"
    refused_quickly("ust", data, "Charset=")


def test_notation_with_a_time_signature_in_every_bar_reads_in_linear_time():
    # was quadratic (every bar looked through every time signature, every mark rebuilt a list): 46 s for 4000 bars
    bars = 8000
    text = "time=1/4 tempo=100 C4/4 la " + " ".join(["| time=1/4 tempo=100 C4/4 la"] * bars) + " |"
    score = read_quickly("text", text.encode(), seconds=5)
    assert len(score.notes) == len(score.time_signatures) == bars + 1


def test_musicxml_whose_divisions_keep_changing_reads_in_linear_time():
    # was: exact fractions over ever new primes grew without end: 15.5 s for 4000 measures, far worse after
    measures = []
    for i in range(6000):
        divisions = 1_000_003 + 2 * i
        measures.append(
            f'<measure number="{i + 1}"><attributes><divisions>{divisions}</divisions></attributes>'
            f"<note><pitch><step>C</step><octave>4</octave></pitch><duration>{divisions // 3}</duration>"
            "<lyric><text>la</text></lyric></note></measure>"
        )
    doc = '<score-partwise><part-list><score-part id="P1"/></part-list><part id="P1">'
    score = read_quickly(
        "musicxml", (doc + "".join(measures) + "</part></score-partwise>").encode(), seconds=8
    )
    assert len(score.notes) == 6000


def _tracks(n: int, lyrics: bool) -> bytes:
    track = (
        b"\x00\x90\x3c\x40" + (b"\x00\xff\x05\x02la" if lyrics else b"") + b"\x60\x80\x3c\x00\x00\xff\x2f\x00"
    )
    chunk = b"MTrk" + struct.pack(">I", len(track)) + track
    return b"MThd" + struct.pack(">IHHH", 6, 1, n, 480) + chunk * n


def _notes_track(n: int) -> bytes:
    track = b"\x00\xff\x05\x02la" + b"\x00\x90\x3c\x40\x10\x80\x3c\x00" * n + b"\x00\xff\x2f\x00"
    return b"MTrk" + struct.pack(">I", len(track)) + track


def test_midi_track_counts_are_bounded():
    # every lyric track was matched against every note track: tracks x tracks x lyrics of work
    refused_quickly("midi", _tracks(5000, lyrics=False), "the limit is 1024")
    refused_quickly("midi", _tracks(300, lyrics=False), "the limit is 256")
    refused_quickly("midi", _tracks(100, lyrics=True), "100 tracks carry lyric events; the limit is 16")
    assert read_quickly("midi", _tracks(16, lyrics=True), seconds=5).parts


@pytest.mark.parametrize("target", list(TARGETS))
def test_input_over_the_size_limit_is_refused_before_parsing(target):
    fmt, _, module = TARGETS[target]
    refused_quickly(fmt, b" " * (module.MAX_BYTES + 1), "is refused: the limit is", seconds=1)


LIMIT = 3000  # the readers' note limit, lowered here (the real one, 100000, works the same, 30x slower)


@pytest.mark.parametrize(
    "fmt, data",
    [
        ("text", ("C4/16 la " * (LIMIT + 1)).encode()),
        ("ust", "".join(f"[#{i:04d}]\nLength=1\nLyric=a\nNoteNum=60\n" for i in range(LIMIT + 1)).encode()),
        ("ds", json.dumps({"note_seq": "C4 " * (LIMIT + 1), "note_dur": "0.1 " * (LIMIT + 1)}).encode()),
        (
            "ustx",
            yaml.safe_dump(
                {"voice_parts": [{"notes": [{"duration": 1, "tone": 60} for _ in range(LIMIT + 1)]}]}
            ).encode(),
        ),
        ("midi", _tracks(1, lyrics=False)[:14] + _notes_track(LIMIT + 1)),
        (
            "musicxml",
            b'<score-partwise><part id="P"><measure><attributes><divisions>1</divisions></attributes>'
            + b"<note><rest/><duration>1</duration></note>" * (LIMIT + 1)
            + b"</measure></part></score-partwise>",
        ),
    ],
    ids=["text", "ust", "ds", "ustx", "midi", "musicxml"],
)
def test_more_notes_than_the_limit_are_refused_while_reading(fmt, data, monkeypatch):
    for module in (ds_format, midi_format, musicxml_format, notation_format, ust_format, ustx_format):
        monkeypatch.setattr(module, "MAX_NOTES", LIMIT)
    refused_quickly(fmt, data, str(LIMIT), seconds=3)


def test_a_message_quotes_little_of_a_huge_token():
    refused_quickly("text", ("C4/4 la " + "x=" + "y" * 200_000).encode(), "unknown directive")
