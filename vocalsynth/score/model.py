"""`Note`, `Score` and the tempo map: the typed seam between score readers and the phoneme frontend.

Times are kept both in seconds (what the synthesizer sings) and in beats (quarter notes; what
editors and writers need). The tempo map converts between them.
"""

from __future__ import annotations

import bisect
import dataclasses
from dataclasses import dataclass, field

PITCH_NAMES = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]


def pitch_name(pitch: int | None) -> str:
    """MIDI number -> scientific pitch name (60 -> 'C4'); None -> 'R' (rest)."""
    if pitch is None:
        return "R"
    return f"{PITCH_NAMES[pitch % 12]}{pitch // 12 - 1}"


@dataclass
class Note:
    """One note of the sung line (or a rest when ``pitch`` is None).

    ``lyric`` is the text written under the note ('' for a rest or a melisma continuation).
    ``slur`` marks a note that continues the previous note's syllable (melisma, slur,
    UTAU/OpenUtau ``+`` extender, DiffSinger ``note_slur``): it holds the previous vowel.
    ``syllabic`` is the MusicXML-style position of the syllable in its word
    ('single', 'begin', 'middle', 'end') when the source says so.
    ``phonemes`` is an explicit phoneme hint from the source (DiffSinger ``ph_seq``,
    OpenUtau ``yao[ya ao]``), used by the frontend instead of G2P when present.
    ``where`` says where the note came from (``measure 3, note 2``), for error messages.
    """

    start: float
    duration: float
    pitch: int | None
    lyric: str = ""
    start_beat: float = 0.0
    duration_beats: float = 0.0
    slur: bool = False
    syllabic: str | None = None
    phonemes: list[str] | None = None
    phoneme_durations: list[float] | None = None
    language: str | None = None
    where: str = ""

    @property
    def end(self) -> float:
        return self.start + self.duration

    @property
    def end_beat(self) -> float:
        return self.start_beat + self.duration_beats

    @property
    def is_rest(self) -> bool:
        return self.pitch is None

    @property
    def name(self) -> str:
        return pitch_name(self.pitch)

    def replace(self, **changes) -> Note:
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class Tempo:
    """A tempo change: from ``beat`` (quarter notes from the start) on, ``bpm`` quarter notes a minute."""

    beat: float
    bpm: float


@dataclass(frozen=True)
class TimeSignature:
    beat: float
    numerator: int = 4
    denominator: int = 4


class TempoMap:
    """Piecewise-constant tempo: converts beats (quarter notes) <-> seconds."""

    def __init__(self, tempos: list[Tempo]):
        if not tempos:
            tempos = [Tempo(0.0, 120.0)]
        tempos = sorted(tempos, key=lambda t: t.beat)
        if tempos[0].beat > 0:
            tempos.insert(0, Tempo(0.0, tempos[0].bpm))
        self.tempos = tempos
        self._beats = [t.beat for t in tempos]
        self._secs = [0.0]
        for prev, cur in zip(tempos, tempos[1:], strict=False):
            self._secs.append(self._secs[-1] + (cur.beat - prev.beat) * 60.0 / prev.bpm)

    def seconds(self, beat: float) -> float:
        i = max(0, bisect.bisect_right(self._beats, beat) - 1)
        return self._secs[i] + (beat - self._beats[i]) * 60.0 / self.tempos[i].bpm

    def beats(self, seconds: float) -> float:
        i = max(0, bisect.bisect_right(self._secs, seconds) - 1)
        return self._beats[i] + (seconds - self._secs[i]) * self.tempos[i].bpm / 60.0


@dataclass
class Part:
    """One part/track/voice of a score, with its own line of notes."""

    name: str
    notes: list[Note]

    @property
    def has_lyrics(self) -> bool:
        return any(n.lyric.strip() for n in self.notes if not n.is_rest)


@dataclass
class Score:
    """A song: the sung line (``notes``, rests included, in order) plus tempo, metre and metadata.

    ``parts`` holds every part the source had; ``part_index`` says which one ``notes`` is.
    Readers fill gaps between notes with rests, so ``notes`` covers the song from time 0.
    ``warnings``: what the reader found off in the file and read its way (a reader never prints).
    """

    notes: list[Note]
    tempos: list[Tempo] = field(default_factory=lambda: [Tempo(0.0, 120.0)])
    time_signatures: list[TimeSignature] = field(default_factory=lambda: [TimeSignature(0.0)])
    key: str | None = None
    title: str | None = None
    language: str | None = None
    parts: list[Part] = field(default_factory=list)
    part_index: int = 0
    source: str = "<score>"
    warnings: list[str] = field(default_factory=list)

    def __post_init__(self):
        if not self.parts:
            self.parts = [Part(self.title or "voice", self.notes)]

    @property
    def tempo_map(self) -> TempoMap:
        return TempoMap(self.tempos)

    @property
    def duration(self) -> float:
        return max((n.end for n in self.notes), default=0.0)

    @property
    def sung_notes(self) -> list[Note]:
        return [n for n in self.notes if not n.is_rest]

    def select_part(self, index: int) -> Score:
        """The same score singing another part."""
        if not 0 <= index < len(self.parts):
            from vocalsynth.score.errors import ScoreError

            raise ScoreError(
                f"part {index} does not exist (the score has {len(self.parts)} part(s): "
                + ", ".join(f"{i}={p.name!r}" for i, p in enumerate(self.parts))
                + ")",
                source=self.source,
            )
        return dataclasses.replace(self, notes=self.parts[index].notes, part_index=index)
