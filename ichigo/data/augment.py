"""Audio augmentation of train-split speech with sox: speed, pitch, gain, additive noise,
telephone band (8 kHz, 300-3400 Hz) and reverb.

Why: with a few synthetic voices, a model can learn shortcuts from voice properties (rate, pitch,
level, channel). Randomising them per utterance leaves only the words to learn from.

Deterministic: the effects and their parameters come from an RNG seeded by the utterance id and
`data.seed`, and sox runs in repeatable mode (`-R`) with float output (no dither), so a resumed
or repeated build writes the same audio.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import zlib
from dataclasses import dataclass

import numpy as np
import soundfile as sf

from ichigo.audio import SAMPLE_RATE
from ichigo.config.sections import AugmentConfig
from ichigo.data.noise import make_noise
from ichigo.errors import ConfigError, InputError
from ichigo.tts.base import TransientTTSError

NOISE_FOR_SPEECH = ("white", "pink", "hum")  # near_silence would not change the clip
_PEAK = 0.99


@dataclass(frozen=True)
class AugmentPlan:
    """What is done to one clip (None / False: that effect is off)."""

    speed: float | None = None
    pitch_cents: float | None = None
    reverberance: float | None = None
    telephone: bool = False
    noise: tuple[str, float] | None = None  # (kind, SNR dB)
    gain_db: float | None = None

    def describe(self) -> str:
        parts = []
        if self.speed is not None:
            parts.append(f"speed={self.speed:.3f}")
        if self.pitch_cents is not None:
            parts.append(f"pitch={self.pitch_cents:+.0f}c")
        if self.reverberance is not None:
            parts.append(f"reverb={self.reverberance:.0f}")
        if self.noise is not None:
            parts.append(f"noise={self.noise[0]}@{self.noise[1]:.1f}dB")
        if self.telephone:
            parts.append("telephone")
        if self.gain_db is not None:
            parts.append(f"gain={self.gain_db:+.1f}dB")
        return ",".join(parts)

    def sox_effects(self) -> list[str]:
        fx: list[str] = []
        if self.speed is not None:
            fx += ["speed", f"{self.speed:.4f}"]
        if self.pitch_cents is not None:
            fx += ["pitch", f"{self.pitch_cents:.1f}"]
        if self.reverberance is not None:
            fx += ["reverb", f"{self.reverberance:.1f}"]
        if self.telephone:  # narrowband channel: resample to 8 kHz and band-pass the voice band
            fx += ["rate", "-h", "8000", "sinc", "300-3400"]
        return fx


def _rng(utt_id: str, seed: int) -> np.random.Generator:
    return np.random.default_rng([zlib.crc32(utt_id.encode()), seed, 0xA06])


def plan_for(utt_id: str, cfg: AugmentConfig, seed: int) -> AugmentPlan:
    """Draw the effects of one utterance. Every draw happens whether or not the effect fires, so
    changing one probability does not reshuffle the parameters of the others."""
    r = _rng(utt_id, seed)
    u = r.random(6)
    speed = float(r.uniform(*cfg.speed))
    cents = float(r.uniform(*cfg.pitch_cents))
    rev = float(r.uniform(*cfg.reverberance))
    kind = NOISE_FOR_SPEECH[int(r.integers(len(NOISE_FOR_SPEECH)))]
    snr = float(r.uniform(*cfg.snr_db))
    gain = float(r.uniform(*cfg.gain_db))
    return AugmentPlan(
        speed=speed if u[0] < cfg.p_speed else None,
        pitch_cents=cents if u[1] < cfg.p_pitch else None,
        reverberance=rev if u[2] < cfg.p_reverb else None,
        telephone=bool(u[3] < cfg.p_telephone),
        noise=(kind, snr) if u[4] < cfg.p_noise else None,
        gain_db=gain if u[5] < cfg.p_gain else None,
    )


def _sox(wave: np.ndarray, effects: list[str], timeout: float) -> np.ndarray:
    sox = shutil.which("sox")
    if sox is None:
        raise ConfigError("sox not found: install the Debian package sox (scripts/bootstrap.sh "
                          "does) or set tts.augment.enabled: false")
    buf = io.BytesIO()
    sf.write(buf, wave, SAMPLE_RATE, format="WAV", subtype="FLOAT")
    # -R: repeatable (fixed seeds inside sox); float output: no dither noise
    cmd = [sox, "-R", "-V1", "-t", "wav", "-", "-t", "wav", "-e", "floating-point", "-b", "32", "-",
           *effects, "rate", "-h", str(SAMPLE_RATE), "channels", "1"]
    try:
        res = subprocess.run(cmd, input=buf.getvalue(), capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise TransientTTSError(f"sox timed out after {timeout}s on effects {effects}") from None
    if res.returncode != 0:
        raise InputError(f"sox failed (exit {res.returncode}) on effects {effects}: "
                         f"{res.stderr.decode(errors='replace').strip()[:300]}")
    out, _ = sf.read(io.BytesIO(res.stdout), dtype="float32")
    return out.reshape(-1)


def apply_plan(wave: np.ndarray, plan: AugmentPlan, utt_id: str, seed: int,
               timeout: float = 30.0) -> np.ndarray:
    wave = np.asarray(wave, dtype=np.float32).reshape(-1)
    if plan.noise is not None:  # before the channel: a telephone line also band-limits the room noise
        kind, snr = plan.noise
        rng = _rng(utt_id + "#noise", seed)
        noise = make_noise(kind, len(wave) / SAMPLE_RATE + 0.01, rng)[: len(wave)]
        sig_rms = float(np.sqrt(np.mean(wave ** 2))) or 1e-4
        noise_rms = float(np.sqrt(np.mean(noise ** 2))) or 1e-9
        wave = wave + noise * (sig_rms / noise_rms / 10 ** (snr / 20))
    fx = plan.sox_effects()
    if fx:
        wave = _sox(wave, fx, timeout)
    if plan.gain_db is not None:
        wave = wave * 10 ** (plan.gain_db / 20)
    peak = float(np.max(np.abs(wave))) if len(wave) else 0.0
    if peak > _PEAK:  # gain/reverb must not clip: WAV storage is 16-bit
        wave = wave * (_PEAK / peak)
    return wave.astype(np.float32)


def augment(wave: np.ndarray, utt_id: str, cfg: AugmentConfig, seed: int) -> tuple[np.ndarray, str]:
    """The augmented clip and a description of what was done ("" when nothing fired)."""
    plan = plan_for(utt_id, cfg, seed)
    desc = plan.describe()
    return (apply_plan(wave, plan, utt_id, seed) if desc else wave), desc
