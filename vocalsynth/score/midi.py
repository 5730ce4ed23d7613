"""Standard MIDI files (.mid/.midi/.kar, RIFF-RMID): every track as a part, lyric and Soft-Karaoke text
events attached to the melody, the tempo map and metre; `dumps` writes the sung line back as type 1.
"""

from __future__ import annotations

import bisect
import io
import math
import re
import struct
import unicodedata
from collections import defaultdict, deque
from dataclasses import dataclass, field

import mido
from mido.midifiles.midifiles import read_track

from vocalsynth.score.build import MB, check_size, fill_from_beats
from vocalsynth.score.errors import ScoreError
from vocalsynth.score.model import Note, Part, Score, Tempo, TempoMap, TimeSignature
from vocalsynth.score.validate import MAX_NOTES

DRUM_CHANNEL = 9  # "channel 10" in the General MIDI numbering users see: percussion, never sung
MIN_TEMPO_US = 30_000  # microseconds a quarter note: faster than 2000 bpm is a broken file, not music
CHORD_TOLERANCE_BEATS = 1 / 48  # onsets this close are one chord (humanised or doubled lines)
LYRIC_AFTER_BEATS = 1 / 8  # a lyric belongs to the note starting at its tick or up to this much later
LYRIC_BEFORE_BEATS = 1 / 32  # ... or, failing that, starting this little earlier
LYRIC_FALLBACK_BEATS = (1 / 4, 1 / 2)  # wider window (before, after) for badly aligned karaoke
CONTINUATION_LYRICS = {"+", "-"}  # editors that write an extender as a lyric of its own
WRITE_TICKS_PER_BEAT = 480
# Bounds on what one file may ask of the reader (each parsed event takes ~100x its bytes in memory, and
# matching lyric tracks to note tracks costs streams x parts): real songs stay far below them.
MAX_BYTES = 2 * MB
MAX_TRACKS = 1024
MAX_PARTS = 256  # tracks (channels, in format 0) that hold notes
MAX_LYRIC_STREAMS = 16  # tracks that carry lyric events
MATCH_SAMPLE = 512  # lyric events of a stream used to judge which part it belongs to
# the events the reader uses; controllers, pitch bends, sysex... are dropped as soon as a track is parsed
_KEPT = frozenset(
    {"note_on", "note_off", "lyrics", "text", "set_tempo", "time_signature", "key_signature", "track_name"}
)

_LANGUAGE_CODES = {
    "ENG": "en",
    "DEU": "de",
    "GER": "de",
    "FRA": "fr",
    "FRE": "fr",
    "ESP": "es",
    "SPA": "es",
    "ITA": "it",
    "JAP": "ja",
    "JPN": "ja",
    "CHI": "zh",
    "CHN": "zh",
    "ZHO": "zh",
    "KOR": "ko",
    "RUS": "ru",
    "POR": "pt",
    "NED": "nl",
    "DUT": "nl",
}


# ----------------------------------------------------------------------------------------------- reading


@dataclass
class _Track:
    index: int
    events: list[tuple[int, mido.Message | mido.MetaMessage]]
    name: bytes = b""
    end: int = 0  # the tick of the track's last event (notes never switched off end here)


@dataclass
class _RawNote:
    start: int
    end: int
    pitch: int


@dataclass
class _Syllable:
    """One lyric event, decoded and split into its text and the karaoke marks around it."""

    tick: int
    text: str  # the syllable without marks ('' when the event only carried a line mark or space)
    starts_word: bool = False  # a leading space, line mark or an empty event before it
    ends_word: bool = False  # a trailing space
    hyphen_before: bool = False
    hyphen_after: bool = False

    @property
    def is_continuation(self) -> bool:
        return self.text in CONTINUATION_LYRICS


@dataclass
class _PartData:
    name: str
    track: int
    raw: list[_RawNote]
    syllables: dict[int, _Syllable] = field(default_factory=dict)  # index into raw -> its lyric


def read(data: bytes, *, source: str, verse: int | None = None) -> Score:
    """Parse a Standard MIDI file into a `Score` with one part per track (per channel in format 0)."""
    if verse is not None and verse > 1:
        raise ScoreError(
            f"a MIDI file carries one line of lyrics; verse {verse} does not exist", source=source
        )
    check_size(data, MAX_BYTES, source, "a MIDI file")
    fmt, tpb, chunks = _split_chunks(_unwrap_riff(data, source), source)
    tracks = [_parse_track(k, pos, chunk, source) for k, (pos, chunk) in enumerate(chunks)]
    n_notes = sum(msg.type == "note_on" for tr in tracks for _, msg in tr.events)
    if n_notes > MAX_NOTES:
        raise ScoreError(f"{n_notes} note-on events: more than the limit of {MAX_NOTES}", source=source)

    tempos, time_sigs, key = _conductor(tracks, tpb, source)
    headers, streams = _lyric_streams(tracks, source)

    lyric_encoding = _detect_encoding([raw for s in streams.values() for _, raw in s])
    name_raws = [t.name for t in tracks] + [v for k, v in headers if k == "T"]
    name_encoding = _detect_encoding(name_raws, default=lyric_encoding)

    parts = _note_parts(tracks, fmt, name_encoding, source)
    if not parts:
        raise ScoreError(
            "no notes: no track has a note to sing (drums on channel 10 are not sung)", source=source
        )

    syllable_streams = {k: _syllables(s, lyric_encoding) for k, s in streams.items()}
    _attach_lyrics(parts, syllable_streams, tpb)

    tempo_map = TempoMap(tempos)
    out_parts = [Part(p.name, _build_notes(p, tpb, tempo_map)) for p in parts]

    titles = [_decode(v, name_encoding).strip() for k, v in headers if k == "T"]
    title = titles[0] if titles and titles[0] else None
    if title is None and fmt == 1 and tracks and tracks[0].name and not any(p.track == 0 for p in parts):
        title = _decode(tracks[0].name, name_encoding).strip() or None  # the conductor track names the song
    language = _language(headers, out_parts)
    return Score(
        notes=out_parts[0].notes,
        tempos=tempos,
        time_signatures=time_sigs,
        key=key,
        title=title,
        language=language,
        parts=out_parts,
        part_index=0,
        source=source,
    )


def _unwrap_riff(data: bytes, source: str) -> bytes:
    """RIFF-RMID wraps a plain SMF in a 'data' chunk; anything else must start with MThd."""
    if data[:4] != b"RIFF":
        return data
    if data[8:12] != b"RMID":
        raise ScoreError("not a MIDI file: a RIFF file that is not RIFF-RMID", source=source)
    pos = 12
    while pos + 8 <= len(data):
        cid, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        if cid == b"data":
            return data[pos + 8 : pos + 8 + size]
        pos += 8 + size + (size & 1)  # RIFF chunks are padded to even sizes
    raise ScoreError("RIFF-RMID file without a 'data' chunk holding the MIDI data", source=source)


def _split_chunks(data: bytes, source: str) -> tuple[int, int, list[tuple[int, bytes]]]:
    """Check the header and cut the file into its MTrk chunks: (format, ticks per beat, [(offset, chunk)])."""
    if data[:4] != b"MThd":
        raise ScoreError("not a MIDI file: it does not start with the 'MThd' header", source=source)
    if len(data) < 14:
        raise ScoreError("truncated MIDI file: the header is cut short", source=source)
    header_len = struct.unpack(">I", data[4:8])[0]
    if header_len < 6:
        raise ScoreError(f"broken MIDI header: length {header_len}, expected 6", source=source)
    fmt, ntracks, division = struct.unpack(">HHH", data[8:14])
    if division & 0x8000:
        raise ScoreError(
            "SMPTE time division (frames per second) is not supported: save the file with ticks per beat",
            source=source,
        )
    if division == 0:
        raise ScoreError("broken MIDI header: 0 ticks per beat", source=source)
    if fmt == 2:
        raise ScoreError(
            "MIDI format 2 (independent sequences) is not supported; use format 0 or 1", source=source
        )
    if fmt not in (0, 1):
        raise ScoreError(f"broken MIDI header: unknown format {fmt}", source=source)
    if ntracks > MAX_TRACKS:
        raise ScoreError(f"the header announces {ntracks} tracks; the limit is {MAX_TRACKS}", source=source)
    chunks: list[tuple[int, bytes]] = []
    pos = 8 + header_len
    while len(chunks) < ntracks:
        if pos >= len(data):
            raise ScoreError(
                f"truncated MIDI file: the header announces {ntracks} tracks but the file ends after {len(chunks)}",
                source=source,
            )
        if pos + 8 > len(data):
            raise ScoreError(
                f"truncated MIDI file: track {len(chunks)} is cut off in its header", source=source
            )
        cid, size = data[pos : pos + 4], struct.unpack(">I", data[pos + 4 : pos + 8])[0]
        if pos + 8 + size > len(data):
            raise ScoreError(
                f"truncated MIDI file: track {len(chunks)} announces {size} bytes but only "
                f"{len(data) - pos - 8} remain",
                source=source,
            )
        if cid == b"MTrk":
            chunks.append((pos, data[pos : pos + 8 + size]))
        elif not all(0x20 <= b < 0x7F for b in cid):
            raise ScoreError(f"broken MIDI file: no track chunk at byte {pos} (found {cid!r})", source=source)
        # other chunk types are allowed by the standard and skipped
        pos += 8 + size
    return fmt, division, chunks


def _parse_track(index: int, offset: int, chunk: bytes, source: str) -> _Track:
    # Each track is parsed on its own, so a broken event can't run on into the next track.
    stream = io.BytesIO(chunk)
    try:
        messages = read_track(stream)
    except Exception as e:  # mido raises OSError, EOFError, ValueError, KeyError... for broken events
        detail = str(e) or "the track ends in the middle of an event"
        raise ScoreError(
            f"broken event at byte {offset + stream.tell()} ({type(e).__name__}: {detail})",
            source=source,
            where=f"track {index}",
        ) from e
    events = []
    tick = 0
    name = b""
    for msg in messages:
        tick += msg.time
        if msg.type in _KEPT:
            events.append((tick, msg))
        if msg.type == "track_name" and not name:
            name = _raw(msg.name)
    return _Track(index, events, name, tick)


def _raw(text: str) -> bytes:
    """mido decodes meta text as latin-1: encoding it back gives the file's bytes."""
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")


def _conductor(
    tracks: list[_Track], tpb: int, source: str
) -> tuple[list[Tempo], list[TimeSignature], str | None]:
    """Tempo map, time signatures and key from whichever tracks carry them."""
    tempo_at: dict[int, int] = {}
    sig_at: dict[int, TimeSignature] = {}
    key = None
    for tr in tracks:
        for tick, msg in tr.events:
            if msg.type == "set_tempo":
                if msg.tempo < MIN_TEMPO_US:
                    bpm = f"{60e6 / msg.tempo:.0f} bpm" if msg.tempo else "infinitely fast"
                    raise ScoreError(
                        f"absurd tempo: {msg.tempo} microseconds a beat ({bpm}; the limit is 2000 bpm)",
                        source=source,
                        where=f"track {tr.index}, tick {tick}",
                    )
                tempo_at[tick] = msg.tempo
            elif msg.type == "time_signature":
                # a nonsensical metre is dropped: it only labels bars, timing does not depend on it
                if msg.numerator > 0 and 1 <= msg.denominator <= 64:
                    sig_at[tick] = TimeSignature(tick / tpb, msg.numerator, msg.denominator)
            elif msg.type == "key_signature" and key is None:
                key = msg.key
    tempos = [Tempo(tick / tpb, _bpm(us)) for tick, us in sorted(tempo_at.items())]
    if not tempos or tempos[0].beat > 0:
        tempos.insert(0, Tempo(0.0, 120.0))  # the MIDI default until the first set_tempo
    sigs = [sig_at[t] for t in sorted(sig_at)]
    if not sigs or sigs[0].beat > 0:
        sigs.insert(0, TimeSignature(0.0, 4, 4))
    return tempos, sigs, key


def _bpm(us: int) -> float:
    """The roundest bpm that the file's whole microseconds stand for (833333 us -> 72, not 72.0000288)."""
    exact = 60e6 / us
    for digits in range(4):
        bpm = round(exact, digits)
        if bpm > 0 and round(60e6 / bpm) == us:
            return bpm
    return exact


def _lyric_streams(
    tracks: list[_Track], source: str
) -> tuple[list[tuple[str, bytes]], dict[int, list[tuple[int, bytes]]]]:
    """Soft-Karaoke headers ('@T' ...) and the lyric events of each track: (tick, raw bytes).

    `lyrics` meta events win; without them, `text` events are lyrics in a karaoke file (an '@' header,
    a .kar name or a 'Words' track) or when there are many of them at distinct ticks.
    """
    headers: list[tuple[str, bytes]] = []
    lyrics: dict[int, list[tuple[int, bytes]]] = defaultdict(list)
    texts: dict[int, list[tuple[int, bytes]]] = defaultdict(list)
    for tr in tracks:
        for tick, msg in tr.events:
            if msg.type == "lyrics":
                lyrics[tr.index].append((tick, _raw(msg.text)))
            elif msg.type == "text":
                raw = _raw(msg.text)
                if raw.startswith(b"@"):
                    headers.append((chr(raw[1]).upper() if len(raw) > 1 else "", raw[2:]))
                else:
                    texts[tr.index].append((tick, raw))
    lyrics = {k: v for k, v in lyrics.items() if any(raw.strip() for _, raw in v)}
    if len(lyrics) > MAX_LYRIC_STREAMS:
        raise ScoreError(
            f"{len(lyrics)} tracks carry lyric events; the limit is {MAX_LYRIC_STREAMS}", source=source
        )
    if lyrics:
        return headers, lyrics
    if not texts:
        return headers, {}
    # Only the richest text track: a stray 'Sequenced by' text elsewhere must not become a lyric.
    best = max(texts, key=lambda k: len(texts[k]))
    karaoke = (
        bool(headers)
        or source.lower().endswith(".kar")
        or any(tr.name.strip().lower() in (b"words", b"lyrics") for tr in tracks)
    )
    if karaoke or len({tick for tick, _ in texts[best]}) >= 8:
        return headers, {best: texts[best]}
    return headers, {}


def _note_parts(tracks: list[_Track], fmt: int, encoding: str, source: str) -> list[_PartData]:
    """Pair note-ons with note-offs per (track, channel); one part per group that has notes, drums left out."""
    parts: list[_PartData] = []
    for tr in tracks:
        by_channel = _pair_notes(tr.events, tr.end)
        name = _decode(tr.name, encoding).strip() if tr.name else ""
        channels = sorted(ch for ch, notes in by_channel.items() if notes)
        for ch in channels:
            if len(channels) == 1:
                part_name = name or (f"track {tr.index}" if fmt == 1 else f"channel {ch + 1}")
            else:
                part_name = f"{name} (channel {ch + 1})" if name else f"channel {ch + 1}"
            if len(parts) == MAX_PARTS:
                raise ScoreError(
                    f"more than {MAX_PARTS} tracks (or channels) hold notes; the limit is {MAX_PARTS}",
                    source=source,
                )
            parts.append(
                _PartData(part_name, tr.index, sorted(by_channel[ch], key=lambda n: (n.start, -n.pitch)))
            )
    return parts


def _pair_notes(
    events: list[tuple[int, mido.Message | mido.MetaMessage]], last_tick: int
) -> dict[int, list[_RawNote]]:
    """channel -> notes; a note-on with velocity 0 is a note-off, a note never switched off ends with the
    track (at ``last_tick``)."""
    by_channel: dict[int, list[_RawNote]] = defaultdict(list)
    sounding: dict[tuple[int, int], deque[int]] = defaultdict(deque)
    ends = [
        (tick, msg.channel, msg.note, msg.type == "note_on" and msg.velocity > 0)
        for tick, msg in events
        if msg.type in ("note_on", "note_off") and msg.channel != DRUM_CHANNEL
    ]
    for tick, channel, pitch, is_on in ends:
        starts = sounding[(channel, pitch)]
        if is_on:
            starts.append(tick)
        elif starts:
            start = starts.popleft()  # first on, first off
            if tick > start:
                by_channel[channel].append(_RawNote(start, tick, pitch))
    for (channel, pitch), starts in sounding.items():
        for start in starts:
            if last_tick > start:
                by_channel[channel].append(_RawNote(start, last_tick, pitch))
    return by_channel


def _monophonic(notes: list[_RawNote], tpb: int) -> list[_RawNote]:
    """One voice: the highest note of a chord, and a legato overlap cut where the next note starts."""
    tol = tpb * CHORD_TOLERANCE_BEATS
    line: list[_RawNote] = []
    group: list[_RawNote] = []
    for n in sorted(notes, key=lambda n: n.start):
        if group and n.start - group[0].start > tol:
            line.append(max(group, key=lambda g: (g.pitch, g.end)))
            group = []
        group.append(n)
    if group:
        line.append(max(group, key=lambda g: (g.pitch, g.end)))
    out: list[_RawNote] = []
    for i, n in enumerate(line):
        end = n.end
        if i + 1 < len(line) and line[i + 1].start < end:
            end = line[i + 1].start
        if end > n.start:
            out.append(_RawNote(n.start, end, n.pitch))
    return out


# ------------------------------------------------------------------------------------------------ lyrics


_LINE_MARKS = "\\/"


def _syllables(events: list[tuple[int, bytes]], encoding: str) -> list[_Syllable]:
    """Decode lyric events and strip the karaoke marks: '\\' paragraph, '/' line, spaces and hyphens."""
    out: list[_Syllable] = []
    pending_break = True  # the first syllable starts a word
    for tick, raw in sorted(events, key=lambda e: e[0]):
        text = _decode(raw, encoding)
        text = text.replace("\r", "\n").replace("\ufeff", "")  # CR line ends; a UTF-8 BOM
        starts = pending_break or text[:1].isspace()
        text = text.lstrip()
        while text[:1] in _LINE_MARKS and text:
            starts = True
            text = text[1:].lstrip()
        ends = text[-1:].isspace() or text.rstrip().endswith(tuple(_LINE_MARKS))
        text = text.rstrip().rstrip(_LINE_MARKS).rstrip()
        if not text:
            pending_break = pending_break or starts or ends or bool(raw)
            continue
        pending_break = False
        syl = _Syllable(tick, text, starts_word=starts, ends_word=ends)
        if text not in CONTINUATION_LYRICS:
            if len(text) > 1 and text.endswith("-"):
                syl.hyphen_after, syl.text = True, text.rstrip("-")
            if len(syl.text) > 1 and syl.text.startswith("-"):
                syl.hyphen_before, syl.text = True, syl.text.lstrip("-")
        out.append(syl)
    return out


def _match_score(
    syls: list[_Syllable], onsets: list[int], tpb: int, own: bool, window: tuple[float, float]
) -> tuple[float, int]:
    """How well a part's note onsets follow the lyric ticks: F1 of matched lyrics and onsets, + own track."""
    if not syls or not onsets:
        return 0.0, 0
    before, after = tpb * window[0], tpb * window[1]
    matched_onsets: set[int] = set()
    matched = 0
    for s in syls:
        hits = onsets[
            bisect.bisect_left(onsets, s.tick - before) : bisect.bisect_right(onsets, s.tick + after)
        ]
        if hits:
            matched += 1
            matched_onsets.add(min(hits, key=lambda o: abs(o - s.tick)))
    if not matched:
        return 0.0, 0
    lo, hi = syls[0].tick - tpb, syls[-1].tick + tpb
    in_span = bisect.bisect_right(onsets, hi) - bisect.bisect_left(onsets, lo) or 1
    recall, precision = matched / len(syls), len(matched_onsets) / in_span
    return 2 * recall * precision / (recall + precision) + (0.05 if own else 0.0), matched


def _attach_lyrics(parts: list[_PartData], streams: dict[int, list[_Syllable]], tpb: int) -> None:
    """Give each lyric stream to the part whose onsets best match it, then each syllable to its note."""
    for p in parts:
        p.raw = _monophonic(p.raw, tpb)
    chosen: dict[int, tuple[int, int]] = {}  # part index -> (matches, stream track)
    for track, syls in streams.items():
        best, best_score, best_matches = None, 0.0, 0
        # lyrics written a little off the notes (sloppy karaoke) are matched in the wider window
        for window in ((LYRIC_BEFORE_BEATS, LYRIC_AFTER_BEATS), LYRIC_FALLBACK_BEATS):
            for i, p in enumerate(parts):
                onsets = [n.start for n in p.raw]
                # judged on the stream's first lyrics, so the work stays bounded (streams x parts)
                score, matches = _match_score(
                    syls[:MATCH_SAMPLE], onsets, tpb, own=p.track == track, window=window
                )
                if score > best_score:
                    best, best_score, best_matches = i, score, matches
            if best is not None:
                break
        if best is not None and best_matches > chosen.get(best, (0, -1))[0]:
            chosen[best] = (best_matches, track)  # two streams on one part: the one that fits more wins
    for i, (_, track) in chosen.items():
        parts[i].syllables = _place_syllables(streams[track], parts[i].raw, tpb)


def _place_syllables(syls: list[_Syllable], notes: list[_RawNote], tpb: int) -> dict[int, _Syllable]:
    placed: dict[int, _Syllable] = {}
    starts = [n.start for n in notes]
    windows = [
        (tpb * LYRIC_BEFORE_BEATS, tpb * LYRIC_AFTER_BEATS),
        tuple(tpb * b for b in LYRIC_FALLBACK_BEATS),
    ]
    for s in syls:
        target = None
        for w, (before, after) in enumerate(windows):
            cands = list(
                range(
                    bisect.bisect_left(starts, s.tick - before), bisect.bisect_right(starts, s.tick + after)
                )
            )
            # nearest first; at equal distance the note after the lyric
            cands.sort(key=lambda i: (abs(starts[i] - s.tick), starts[i] < s.tick))
            free = [i for i in cands if i not in placed]
            if free:
                target = free[0]
                break
            if cands and w == 0:
                # two events on one note (a word split across events): join them
                prev = placed[cands[0]]
                sep = " " if prev.ends_word or s.starts_word else ""
                prev.text = f"{prev.text}{sep}{s.text}"
                prev.ends_word, prev.hyphen_after = s.ends_word, s.hyphen_after
                break
        if target is not None:
            placed[target] = _Syllable(**vars(s))
    return placed


def _syllabic(syls: list[_Syllable]) -> list[str | None]:
    """MusicXML-style word positions from hyphens ('Twin-' 'kle') or karaoke spaces ('Twin' 'kle ')."""
    words = [s for s in syls if not s.is_continuation]
    hyphens = any(s.hyphen_after or s.hyphen_before for s in words)
    spaces = any(s.starts_word and i > 0 or s.ends_word for i, s in enumerate(words))
    if not (hyphens or spaces):
        return [None] * len(syls)
    joined_to_next = []
    for a, b in zip(words, words[1:], strict=False):
        if hyphens:
            joined_to_next.append(a.hyphen_after or b.hyphen_before)
        else:
            joined_to_next.append(not (a.ends_word or b.starts_word))
    joined_to_next.append(False)
    position: dict[int, str] = {}
    prev_joined = False
    for s, joined in zip(words, joined_to_next, strict=True):
        position[id(s)] = {
            (False, False): "single",
            (False, True): "begin",
            (True, True): "middle",
            (True, False): "end",
        }[(prev_joined, joined)]
        prev_joined = joined
    return [position.get(id(s)) for s in syls]


def _is_rest_between(gap: int, prev_duration: int, tpb: int) -> bool:
    """A gap is a rest (not articulation) from a sixteenth note and a quarter of the previous note up."""
    return gap >= tpb / 4 and gap >= prev_duration / 4


def _build_notes(part: _PartData, tpb: int, tempo_map: TempoMap) -> list[Note]:
    order = sorted(part.syllables)
    syllabics = dict(zip(order, _syllabic([part.syllables[i] for i in order]), strict=True))
    carries_lyrics = bool(part.syllables)
    notes: list[Note] = []
    in_syllable = False  # the previous note sings a syllable that a lyric-less note may continue
    prev: _RawNote | None = None
    for i, raw in enumerate(part.raw):
        note = Note(
            start=0.0,
            duration=0.0,
            pitch=raw.pitch,
            start_beat=raw.start / tpb,
            duration_beats=(raw.end - raw.start) / tpb,
            where=f"track {part.track} {part.name!r}, tick {raw.start}",
        )
        syl = part.syllables.get(i)
        rest_before = prev is None or _is_rest_between(raw.start - prev.end, prev.end - prev.start, tpb)
        if syl is not None and syl.is_continuation:
            note.slur = True
        elif syl is not None:
            note.lyric = syl.text
            note.syllabic = syllabics.get(i)
        elif carries_lyrics and in_syllable and not rest_before:
            note.slur = True  # melisma: a note without a lyric holds the previous syllable
        if notes and not rest_before and raw.start > prev.end:
            # Performed MIDI releases notes early; a gap too short to be a rest is articulation,
            # and a singer carries the note through it (otherwise the next consonant gets squeezed).
            notes[-1].duration_beats = note.start_beat - notes[-1].start_beat
        in_syllable = bool(note.lyric or note.slur)
        notes.append(note)
        prev = raw
    return fill_from_beats(notes, tempo_map)


def _language(headers: list[tuple[str, bytes]], parts: list[Part]) -> str | None:
    for kind, value in headers:
        if kind == "L":
            code = value.decode("latin-1").strip().upper()[:3]
            if code in _LANGUAGE_CODES:
                return _LANGUAGE_CODES[code]
    text = "".join(n.lyric for p in parts for n in p.notes)
    if any(_is_kana(c) for c in text):
        return "ja"
    if any(_is_hanzi(c) for c in text):
        return "zh"
    return None


# ---------------------------------------------------------------------------------------------- encoding


_ENCODINGS = ("latin-1", "cp932", "gbk")  # in this order on a tie


def _decode(raw: bytes, encoding: str) -> str:
    if encoding == "latin-1":
        try:
            return raw.decode("cp1252")  # Windows files: curly quotes and dashes in 0x80-0x9f
        except UnicodeDecodeError:
            return raw.decode("latin-1")
    return raw.decode(encoding, errors="replace")


def _detect_encoding(raws: list[bytes], default: str = "utf-8") -> str:
    """UTF-8 when every string decodes strictly as UTF-8; otherwise the most plausible of Shift-JIS
    (kana), GBK (common hanzi) and Latin-1 (accented letters amid ASCII)."""
    high = [r for r in raws if any(b >= 0x80 for b in r)]
    if not high:
        return default
    try:
        for r in high:
            r.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    scores = {enc: sum(_plausibility(_decode(r, enc), enc) for r in high) for enc in _ENCODINGS}
    return max(_ENCODINGS, key=lambda enc: scores[enc])


def _is_kana(c: str) -> bool:
    return "\u3040" <= c <= "\u30ff"


def _is_hanzi(c: str) -> bool:
    return "\u4e00" <= c <= "\u9fff"


def _next_to_ascii_letter(text: str, k: int) -> bool:
    return any(0 <= j < len(text) and text[j].isascii() and text[j].isalpha() for j in (k - 1, k + 1))


def _plausibility(text: str, encoding: str) -> float:
    """Points per decoded non-ASCII character, about one per byte for text that reads right."""
    score = 0.0
    run_of = {}  # position -> length of the run of non-ASCII characters it is in
    for m in re.finditer(r"[^\x00-\x7f]+", text):
        for k in range(m.start(), m.end()):
            run_of[k] = len(m.group())
    for k, c in enumerate(text):
        if c < "\x80":
            continue
        if c == "\ufffd" or "\ue000" <= c <= "\uf8ff":  # undecodable, or the private-use area
            score -= 2
        elif encoding != "latin-1" and _next_to_ascii_letter(text, k):
            # 'c忖r' is 'cœur' read as Shift-JIS: CJK lyrics don't put a character inside a Latin word
            continue
        elif encoding == "cp932":
            if _is_kana(c):
                score += 2
            elif _is_hanzi(c):
                score += 2 if 0x88 <= c.encode("cp932")[0] <= 0x9F else 1  # JIS level 1 kanji: common
            elif "\uff61" <= c <= "\uff9f":
                score += 0.5  # half-width katakana: old files use it, but it is also what GBK bytes give
            elif "\u3000" <= c <= "\u303f" or "\uff01" <= c <= "\uff5e":
                score += 1
        elif encoding == "gbk":
            try:
                lead = c.encode("gb2312")[0]
            except UnicodeEncodeError:
                continue  # outside GB2312: rare characters, what other encodings' bytes decode to
            if 0xB0 <= lead <= 0xD7:
                score += 2  # GB2312 level 1: the common hanzi
            elif 0xD8 <= lead <= 0xF7:
                score += 1
            else:
                score += 0.5  # punctuation and symbols
        else:
            if c.isalpha() and unicodedata.category(c).startswith("L") and run_of.get(k, 9) <= 2:
                score += 1  # an accented letter amid ASCII ones: 'Grüße', 'schön'
            elif c in "\u2018\u2019\u201c\u201d\u2013\u2014\u2026":
                score += 0.5
    return score


# ----------------------------------------------------------------------------------------------- writing


def _text(text: str) -> str:
    """mido writes meta text as latin-1: hand it UTF-8 bytes dressed as latin-1 to get UTF-8 in the file."""
    return text.encode("utf-8").decode("latin-1")


def dumps(score: Score) -> bytes:
    """The sung line as a type-1 MIDI file: track 0 the tempo map, metre and title, track 1 the notes
    with UTF-8 `lyrics` events ('Twin-' 'kle ' for word positions, '+' only for a slur after a rest)."""
    tpb = WRITE_TICKS_PER_BEAT
    tempo_map = score.tempo_map

    def tick(beat: float) -> int:
        return max(0, round(beat * tpb))

    conductor: list[tuple[int, int, mido.MetaMessage]] = []
    if score.title:
        conductor.append((0, 0, mido.MetaMessage("track_name", name=_text(score.title))))
    for ts in score.time_signatures:
        if ts.numerator > 0 and ts.denominator > 0 and ts.denominator & (ts.denominator - 1) == 0:
            conductor.append(
                (
                    tick(ts.beat),
                    1,
                    mido.MetaMessage("time_signature", numerator=ts.numerator, denominator=ts.denominator),
                )
            )
    if score.key:
        try:
            conductor.append((0, 1, mido.MetaMessage("key_signature", key=score.key)))
        except (ValueError, KeyError):
            pass  # a key name MIDI can't express (e.g. 'D dorian') is left out
    for t in tempo_map.tempos:
        if not (math.isfinite(t.bpm) and 60e6 / 0xFFFFFF <= t.bpm <= 60e6 / MIN_TEMPO_US):
            raise ScoreError(
                f"tempo {t.bpm:g} bpm at beat {t.beat:g} can't be written to MIDI", source=score.source
            )
        us = round(60e6 / t.bpm)
        conductor.append((tick(t.beat), 2, mido.MetaMessage("set_tempo", tempo=us)))

    part_name = "voice"
    if 0 <= score.part_index < len(score.parts) and score.parts[score.part_index].name:
        part_name = score.parts[score.part_index].name
    voice: list[tuple[int, int, mido.Message | mido.MetaMessage]] = [
        (0, -1, mido.MetaMessage("track_name", name=_text(part_name)))
    ]
    sung = sorted(score.sung_notes, key=lambda n: n.start)
    spans = []
    for n in sung:
        b0 = n.start_beat if n.duration_beats > 0 else tempo_map.beats(n.start)
        b1 = b0 + n.duration_beats if n.duration_beats > 0 else tempo_map.beats(n.end)
        spans.append([tick(b0), tick(b1)])
    for k in range(len(spans) - 1):  # rounding must not make one note overlap the next
        spans[k][1] = min(spans[k][1], spans[k + 1][0])
    prev_end, prev_dur, in_syllable = None, 0, False
    for n, (on, off) in zip(sung, spans, strict=True):
        if not 0 <= n.pitch <= 127:
            raise ScoreError(
                f"pitch {n.pitch} is outside MIDI 0-127", source=score.source, where=n.where or None
            )
        if off <= on:
            continue
        lyric = None
        if n.lyric:
            lyric = n.lyric + ("-" if n.syllabic in ("begin", "middle") else "")
            lyric += " " if n.syllabic in ("end", "single") else ""
        elif n.slur:
            rest = prev_end is None or _is_rest_between(on - prev_end, prev_dur, tpb)
            if rest or not in_syllable:
                lyric = "+"  # the reader would not see a continuation here without the mark
        if lyric is not None:
            voice.append((on, 1, mido.MetaMessage("lyrics", text=_text(lyric))))
        voice.append((on, 2, mido.Message("note_on", note=n.pitch, velocity=100)))
        voice.append((off, 0, mido.Message("note_off", note=n.pitch, velocity=0)))
        prev_end, prev_dur, in_syllable = off, off - on, bool(n.lyric or n.slur)

    mf = mido.MidiFile(type=1, ticks_per_beat=tpb)
    for events in (conductor, voice):
        track = mido.MidiTrack()
        now = 0
        for t, _, msg in sorted(events, key=lambda e: (e[0], e[1])):
            track.append(msg.copy(time=t - now))
            now = t
        mf.tracks.append(track)
    buf = io.BytesIO()
    mf.save(file=buf)
    return buf.getvalue()
