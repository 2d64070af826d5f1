"""Speech loudness: measure it over the voiced parts, bring it to one level, detect silence.

Why these numbers:
* Target -20 dBFS RMS over voiced 20 ms frames. Broadcast loudness (EBU R128, -23 LUFS) is a
  little quieter and podcasts (-16 LUFS) louder; -20 dBFS sits between them, so every video
  from the factory sounds equally loud, and speech (crest factor ~15-18 dB) keeps its peaks
  under the limit without compression in almost all cases.
* Peaks limited to -1 dBFS: the AAC encoder can overshoot a full-scale sample slightly; 1 dB of
  headroom avoids clipping after encoding. If a recording is so peaky that reaching -20 dBFS
  would push a peak over -1 dBFS, we lower the gain (quieter but clean) rather than distort it.
* Only voiced frames count (within 40 dB of the loudest frame, above -70 dBFS), so pauses
  between sentences do not make a speaker with long pauses louder than one without.
"""

from __future__ import annotations

import numpy as np

TARGET_DBFS = -20.0
PEAK_LIMIT_DBFS = -1.0
SILENCE_DBFS = -50.0
"""A recording whose loudest 20 ms is below this has nothing a listener would hear as speech."""

_FRAME_SECONDS = 0.02
_RELATIVE_GATE_DB = 40.0
_ABSOLUTE_GATE_DBFS = -70.0


def _frame_power(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """Mean power of consecutive 20 ms frames (the last partial frame is dropped unless it is all)."""
    size = max(1, int(sample_rate * _FRAME_SECONDS))
    x = samples.astype(np.float64)
    n = len(x) // size
    if n == 0:
        return np.array([np.mean(x**2)]) if len(x) else np.zeros(0)
    return np.mean(x[: n * size].reshape(n, size) ** 2, axis=1)


def _db(power: float | np.ndarray) -> float | np.ndarray:
    return 10.0 * np.log10(np.maximum(power, 1e-12))


def loudest_frame_dbfs(samples: np.ndarray, sample_rate: int) -> float:
    power = _frame_power(samples, sample_rate)
    return float(_db(power.max())) if power.size else -120.0


def is_silent(samples: np.ndarray, sample_rate: int, threshold_dbfs: float = SILENCE_DBFS) -> bool:
    """True when no 20 ms stretch of the audio is louder than ``threshold_dbfs`` RMS."""
    return loudest_frame_dbfs(samples, sample_rate) < threshold_dbfs


def voiced_level_dbfs(samples: np.ndarray, sample_rate: int) -> float | None:
    """RMS level in dBFS over the voiced frames; None when nothing is voiced."""
    power = _frame_power(samples, sample_rate)
    if not power.size:
        return None
    levels = _db(power)
    gate = max(float(levels.max()) - _RELATIVE_GATE_DB, _ABSOLUTE_GATE_DBFS)
    voiced = power[levels >= gate]
    if not voiced.size:
        return None
    return float(_db(voiced.mean()))


def peak_dbfs(samples: np.ndarray) -> float:
    return float(20.0 * np.log10(max(float(np.max(np.abs(samples))) if samples.size else 0.0, 1e-6)))


def normalize_loudness(
    samples: np.ndarray,
    sample_rate: int,
    target_dbfs: float = TARGET_DBFS,
    peak_limit_dbfs: float = PEAK_LIMIT_DBFS,
) -> np.ndarray:
    """One gain for the whole clip: voiced RMS to ``target_dbfs``, sample peaks at most
    ``peak_limit_dbfs``. A single gain keeps the speaker's own dynamics intact."""
    level = voiced_level_dbfs(samples, sample_rate)
    if level is None:
        return samples.astype(np.float32)
    gain_db = target_dbfs - level
    headroom_db = peak_limit_dbfs - peak_dbfs(samples)
    gain = 10.0 ** (min(gain_db, headroom_db) / 20.0)
    return np.clip(samples * gain, -1.0, 1.0).astype(np.float32)
