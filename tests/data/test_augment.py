"""sox augmentation: deterministic per utterance, and every effect does what it says."""

import numpy as np
import pytest
from pydantic import ValidationError

from ichigo.config.sections import AugmentConfig
from ichigo.data.augment import AugmentPlan, apply_plan, augment, plan_for
from tests.conftest import need_binary

SR = 16000


@pytest.fixture(scope="module", autouse=True)
def _sox():
    need_binary("sox")


def tone(freq=440.0, seconds=1.0, amp=0.3):
    t = np.arange(int(seconds * SR)) / SR
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def speechlike(seconds=1.5):
    """Harmonic-rich test signal with energy up to 8 kHz (a 150 Hz buzz plus white noise)."""
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * SR)) / SR
    x = sum(np.sin(2 * np.pi * 150 * h * t) / h for h in range(1, 50)) + 0.3 * rng.standard_normal(len(t))
    return (0.3 * x / np.max(np.abs(x))).astype(np.float32)


def band_fraction(x, lo, hi):
    s = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(len(x), 1 / SR)
    return float(s[(f >= lo) & (f < hi)].sum() / s.sum())


def peak_hz(x):
    s = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / SR)[np.argmax(s)])


def rms(x):
    return float(np.sqrt(np.mean(np.asarray(x, dtype=np.float64) ** 2)))


ALL_ON = AugmentConfig(enabled=True, p_speed=1, p_pitch=1, p_gain=1, p_noise=1, p_telephone=1, p_reverb=1)


def test_same_id_same_audio_other_id_other_audio():
    x = speechlike()
    a, da = augment(x, "q-0000001", ALL_ON, seed=0)
    b, db = augment(x, "q-0000001", ALL_ON, seed=0)
    assert da == db and np.array_equal(a, b)
    c, dc = augment(x, "q-0000002", ALL_ON, seed=0)
    d, dd = augment(x, "q-0000001", ALL_ON, seed=1)
    assert dc != da and dd != da
    assert all(e in da for e in ("speed=", "pitch=", "reverb=", "noise=", "telephone", "gain="))


def test_probabilities_pick_effects_and_zero_means_clean():
    x = speechlike(0.5)
    off = AugmentConfig(enabled=True, p_speed=0, p_pitch=0, p_gain=0, p_noise=0, p_telephone=0, p_reverb=0)
    y, desc = augment(x, "q-1", off, seed=0)
    assert desc == "" and y is x
    cfg = AugmentConfig(enabled=True)  # defaults: some fire, some do not
    plans = [plan_for(f"q-{i}", cfg, 0) for i in range(400)]
    frac_tel = sum(p.telephone for p in plans) / len(plans)
    frac_gain = sum(p.gain_db is not None for p in plans) / len(plans)
    assert 0.08 < frac_tel < 0.23 and 0.4 < frac_gain < 0.6
    assert all(cfg.speed[0] <= p.speed <= cfg.speed[1] for p in plans if p.speed is not None)


def test_telephone_removes_energy_above_4khz_and_below_300hz():
    x = speechlike()
    assert band_fraction(x, 4000, 8000) > 0.05
    y = apply_plan(x, AugmentPlan(telephone=True), "u", 0)
    assert len(y) == len(x)
    assert band_fraction(y, 3600, 8000) < 1e-4
    assert band_fraction(y, 0, 250) < 0.01 < band_fraction(x, 0, 250)


def test_speed_changes_duration_and_pitch():
    x = tone(440, 1.0)
    y = apply_plan(x, AugmentPlan(speed=1.25), "u", 0)
    assert abs(len(y) / len(x) - 1 / 1.25) < 0.01
    assert abs(peak_hz(y) - 550) < 5


def test_pitch_shifts_frequency_but_keeps_duration():
    x = tone(440, 1.0)
    y = apply_plan(x, AugmentPlan(pitch_cents=1200), "u", 0)  # one octave
    assert abs(len(y) - len(x)) < 0.01 * len(x)
    assert abs(peak_hz(y) - 880) < 10


def test_gain_scales_level_in_db():
    x = tone(300, 0.5)
    y = apply_plan(x, AugmentPlan(gain_db=-6.0), "u", 0)
    assert abs(20 * np.log10(rms(y) / rms(x)) + 6.0) < 0.05
    loud = apply_plan(x * 3, AugmentPlan(gain_db=6.0), "u", 0)
    assert np.max(np.abs(loud)) <= 0.99 + 1e-6  # never clips 16-bit storage


def test_noise_is_added_at_the_drawn_snr():
    x = tone(300, 1.0)
    for snr in (5.0, 20.0):
        y = apply_plan(x, AugmentPlan(noise=("white", snr)), "u", 0)
        measured = 20 * np.log10(rms(x) / rms(y - x))
        assert abs(measured - snr) < 0.5


def test_reverb_adds_a_decaying_tail():
    x = np.zeros(SR, dtype=np.float32)
    x[: SR // 10] = tone(500, 0.1)  # a 100 ms burst, then silence
    y = apply_plan(x, AugmentPlan(reverberance=80), "u", 0)
    tail = slice(SR // 10 + 800, SR // 2)  # 50..400 ms after the burst ends
    assert rms(x[tail]) == 0 and rms(y[tail]) > 1e-3


def test_bad_ranges_are_rejected_naming_the_field():
    with pytest.raises(ValidationError, match=r"tts.augment.gain_db: low 3.0 is above high -3.0"):
        AugmentConfig(gain_db=(3.0, -3.0))
    with pytest.raises(ValidationError, match="speed must stay within"):
        AugmentConfig(speed=(0.2, 1.0))
    with pytest.raises(ValidationError, match="less than or equal to 1"):
        AugmentConfig(p_noise=1.5)
    with pytest.raises(ValidationError, match="extra"):
        AugmentConfig(p_chorus=0.5)
