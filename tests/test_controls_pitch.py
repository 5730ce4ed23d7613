"""Every control does what it says and nothing else, heard on the default voice's audio in two registers.

Key shift moves the sung F0 by exactly its cents; gender, tension, breathiness and dynamics leave it within
20 cents of the same phrase sung without them; tempo scales the length; vibrato 0 removes the vibrato. The F0
is measured on the rendered audio by the conformance report (each note's steady middle) and by the
score-informed tracker; one synthesizer renders every phrase.
"""

from __future__ import annotations

import numpy as np
import pytest

from vocalsynth.audio.note_f0 import Stretch, track_near

pytestmark = pytest.mark.usefixtures("one_thread")

REGISTERS = {
    "C2-C4": "tempo=90 C2/4 ら G2 ら C3 ら E3 ら G3 ら C4/2 ら",
    "C4-C6": "tempo=90 C4/4 ら G4 ら C5 ら E5 ら G5 ら C6/2 ら",
}
HOLDS = 20.0  # cents a control that is not about pitch may move a note
STEADY = 50.0  # a note the voice itself sings further than this off its written pitch can't judge a control
EXACT = 10.0  # cents a key shift may miss its own amount by, per note


@pytest.fixture(scope="module")
def synth():
    from vocalsynth import Synthesizer

    return Synthesizer.from_pretrained("default")


@pytest.fixture(scope="module")
def plain(synth):
    return {name: _cents(synth.sing(song)) for name, song in REGISTERS.items()}


def _cents(rendering) -> np.ndarray:
    """Each note's sung F0 in cents from its written pitch after the key shift (NaN: unvoiced)."""
    return np.array([n.cents for n in rendering.conformance.notes])


def _judged(base: np.ndarray) -> np.ndarray:
    steady = np.isfinite(base) & (np.abs(base) <= STEADY)
    assert steady.sum() >= base.size - 1  # at most one note (C2, below this voice's range) is not steady
    return steady


@pytest.mark.parametrize("register", REGISTERS)
@pytest.mark.parametrize(
    "control, value",
    [
        ("gender", -1.5),
        ("gender", 1.5),
        ("tension", -1.0),
        ("tension", 1.0),
        ("breathiness", -1.0),
        ("breathiness", 1.0),
        ("dynamics", -6.0),
        ("dynamics", 6.0),
    ],
)
def test_timbre_controls_keep_the_pitch(synth, plain, register, control, value):
    base = plain[register]
    moved = _cents(synth.sing(REGISTERS[register], **{control: value}))
    judged = _judged(base)
    assert np.isfinite(moved[judged]).all(), f"{control}={value} left a note unvoiced"
    change = np.abs(moved - base)[judged]
    assert change.max() <= HOLDS, f"{control}={value} moved the pitch by {np.round(moved - base)} cents"


@pytest.mark.parametrize("register", REGISTERS)
@pytest.mark.parametrize("semitones", [-3.0, 2.5])
def test_key_shift_moves_the_sung_pitch_by_exactly_its_cents(synth, plain, register, semitones):
    base = plain[register]
    shifted = synth.sing(REGISTERS[register], key_shift=semitones)
    # the report measures against the shifted written pitch: the shift is exact where nothing else moved
    assert shifted.conformance.notes[0].target_midi == {"C2-C4": 36, "C4-C6": 60}[register] + semitones
    judged = _judged(base)
    miss = np.abs(_cents(shifted) - base)[judged]
    assert miss.max() <= EXACT, f"key shift {semitones} missed by {np.round(_cents(shifted) - base)} cents"


@pytest.mark.parametrize("tempo", [0.5, 2.0])
def test_tempo_scales_the_length(synth, tempo):
    song = REGISTERS["C4-C6"]
    one = synth.sing(song)
    other = synth.sing(song, tempo=tempo)
    frame = 1.0 / synth.audio_config.frames_per_second
    sung = lambda r: r.duration - r.pre_roll  # noqa: E731 - the score's time, after the onset consonants
    assert sung(other) == pytest.approx(sung(one) / tempo, abs=frame)
    assert other.frames.n_frames > 0 and np.abs(other.samples).max() > 0.01


def _wobble(synth, song: str, hz: float, **controls) -> float:
    """Peak-to-peak cents of the F0 over the held middle of a 4 s note, after its straight-line trend."""
    r = synth.sing(song, **controls)
    [(f0, voiced)] = track_near(r.samples, r.sample_rate, [Stretch(r.pre_roll + 1.2, r.pre_roll + 3.6, hz)])
    assert voiced.mean() > 0.9
    c = 1200 * np.log2(f0[voiced] / hz)
    t = np.arange(c.size)
    return float(np.ptp(c - np.polyval(np.polyfit(t, c, 1), t)))


@pytest.mark.parametrize("song, hz", [("tempo=60 G3/1 ら", 196.0), ("tempo=60 G5/1 ら", 783.99)])
def test_vibrato_zero_removes_the_vibrato(synth, song, hz):
    sung = _wobble(synth, song, hz)
    still = _wobble(synth, song, hz, vibrato=0.0)
    assert sung >= 60.0  # the voice's own vibrato, heard
    assert still <= 25.0 and still < sung / 3
