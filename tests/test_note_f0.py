"""The score-informed F0 tracker (`vocalsynth.audio.note_f0`) on generated tones: accurate to a few cents in both
registers, silent and noisy stretches unvoiced, octave errors caught, bad input refused."""

import numpy as np
import pytest

from vocalsynth.audio.note_f0 import Stretch, decimation_rate, track_near

SR = 24000


def tone(
    f0: float, seconds: float = 0.6, *, harmonics: int = 8, noise: float = 0.01, seed: int = 0
) -> np.ndarray:
    t = np.arange(int(SR * seconds)) / SR
    x = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, harmonics + 1) if f0 * k < SR / 2)
    return x + noise * np.random.default_rng(seed).standard_normal(t.size)


def cents_off(f0: np.ndarray, voiced: np.ndarray, true_hz: float) -> float:
    return float(1200 * np.log2(np.median(f0[voiced]) / true_hz))


@pytest.mark.parametrize("hz", [65.41, 130.81, 261.63, 523.25, 1046.5])  # C2 .. C6
@pytest.mark.parametrize("off_cents", [0.0, 250.0, -400.0])
def test_tone_measured_within_three_cents_when_expected_near(hz, off_cents):
    expected = hz * 2 ** (off_cents / 1200)
    [(f0, voiced)] = track_near(tone(hz), SR, [Stretch(0.1, 0.5, expected)])
    assert voiced.all() and f0.size == 41
    assert cents_off(f0, voiced, hz) == pytest.approx(0, abs=3)


def test_a_voice_an_octave_above_the_expected_pitch_reads_an_octave_above():
    [(f0, voiced)] = track_near(tone(440.0), SR, [Stretch(0.1, 0.5, 220.0)])
    assert voiced.mean() > 0.9 and cents_off(f0, voiced, 220.0) == pytest.approx(1200, abs=5)


def test_silence_and_noise_are_unvoiced_and_short_stretches_get_one_frame():
    x = np.concatenate(
        [tone(220.0), np.zeros(SR // 2), 0.3 * np.random.default_rng(1).standard_normal(SR // 2)]
    )
    tracks = track_near(
        x,
        SR,
        [
            Stretch(0.1, 0.5, 220.0),
            Stretch(0.7, 1.0, 220.0),
            Stretch(1.2, 1.5, 220.0),
            Stretch(0.3, 0.303, 220.0),
        ],
    )
    assert tracks[0][1].all()
    assert not tracks[1][1].any() and tracks[1][0].max() == 0
    assert tracks[2][1].mean() < 0.2
    assert tracks[3][0].size == 1 and tracks[3][1].all()


def test_stretches_past_the_signal_read_silence_and_bad_pitch_is_refused():
    [(f0, voiced)] = track_near(tone(220.0, 0.2), SR, [Stretch(0.15, 0.4, 220.0)])
    assert voiced[:3].all() and not voiced[-5:].any()
    with pytest.raises(ValueError, match="expected_hz must be a positive frequency"):
        track_near(tone(220.0), SR, [Stretch(0.1, 0.2, 0.0)])
    assert track_near(tone(220.0), SR, []) == []


def test_decimation_keeps_enough_samples_per_period():
    assert decimation_rate(24000, 300.0) == 6000
    assert decimation_rate(24000, 100.0) == 4000  # never below 4 kHz
    assert decimation_rate(24000, 2000.0) == 24000  # never above the signal's rate
    assert (
        decimation_rate(24000, 1000.0) == 24000
    )  # nor just below it: resampling would cost more than it saves
