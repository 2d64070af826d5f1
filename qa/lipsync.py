"""Model-free lip-sync score: does the mouth move when, and only when, the voice does?

Works on any video with a face and a sound track, whoever rendered it.

1. Per video frame, the mouth opening (inner-lip gap / face height, MediaPipe face mesh; see
   ``qa.frames``) and the speech energy (RMS dB of that frame's audio, ``factory.media``).
2. Both series are high-passed (a 0.6-second moving average is subtracted, so slow changes such
   as a head tilt, or the silence before the first word that every clip shares, do not dominate)
   and standardised. 15 frames beat 5, 9, 25 and 35 frames and first differences on the
   calibration set (best ratio of the weakest matched z to the strongest mismatched z).
3. Their correlation is computed at every lag from -15 to +15 frames. The lag with the highest
   correlation is the **offset**: positive means the audio is late relative to the mouth.
4. **Confidence** is the peak correlation minus the median over all lags — the way SyncNet
   reports it (there with distances): a sharp, dominant peak means the mouth really follows
   this sound; a flat curve means it does not.

Why a threshold that depends on length: for unrelated audio the correlations are noise whose
spread shrinks like 1/sqrt(frames), so a short clip reaches a high peak by chance more easily.
The pass threshold is therefore ``SYNC_Z_THRESHOLD / sqrt(frames)``: a z-score. The constant
was calibrated on mismatched pairs (the mouth of one clip against the audio of another); see
``bench/bench_qa_calibrate.py`` and the numbers next to the constant.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from factory.media import DecodedSound
from factory.settings import Settings

MAX_OFFSET_FRAMES = 15

# Calibration (bench/bench_qa_calibrate.py, 2026-11-25, 2-core machine): 32 Piper clips, 3.6-13 s
# (24 single sentences, 8 three-sentence clips), encoded to MP4 and measured back with
# MediaPipe. Null: mismatched pairs (mouth of clip i, audio of clip j, no shared sentence) at
# full length and in random 75/125/250-frame windows, 2,090 windows per renderer:
#   renderer                      null z: p50   p99        p99.9  max  | matched z: min 3 s / 5 s / full
#   qa.synthetic_clips (--renderer synthetic)  2.7  4.7-5.0    5.6    6.1  |  6.4 / 9.0 / 8.0
#   sonic CPU renderer (--renderer cpu)        2.9  5.6-6.1    6.7    7.6  |  6.3 / 9.0 / 8.2
# 7.0 lets about 1 in 4,000 unrelated pairs through (1 of 4,180 windows, a 3-s one) and passes
# every in-sync clip of 5 s or more. Clips of ~3 s often cannot be confirmed (matched z 6.3-7):
# they fail the check and go to a re-render or review rather than risk a false pass; clips under
# ~2.7 s cannot reach it at all and are reported "not measured" (qa.gate).
SYNC_Z_THRESHOLD = Settings().qa_min_sync_z  # 7.0; the deployment setting is the one source
MIN_SCORABLE_FRAMES = 25
"""Below one second of face + sound there is too little evidence to score."""


@dataclass
class LipSyncResult:
    offset: int
    """Frames; positive: the audio is late relative to the mouth."""
    confidence: float
    """Peak correlation minus the median correlation over all lags."""
    min_confidence: float
    """Pass threshold for this clip's length (``min_confidence_for``)."""
    frames: int
    """Frames used (face found and sound present in the clip)."""
    lags: list[int] = field(default_factory=list)
    correlation: list[float] = field(default_factory=list)
    note: str = ""

    @property
    def z(self) -> float:
        """Confidence × sqrt(frames): comparable across clip lengths."""
        return self.confidence * float(np.sqrt(max(self.frames, 1)))

    @property
    def confident(self) -> bool:
        return self.frames >= MIN_SCORABLE_FRAMES and self.confidence >= self.min_confidence

    def to_dict(self) -> dict[str, Any]:
        return {
            "offset_frames": self.offset,
            "confidence": round(self.confidence, 4),
            "min_confidence": round(self.min_confidence, 4),
            "z": round(self.z, 3),
            "confident": self.confident,
            "frames": self.frames,
            "lags": self.lags,
            "correlation": [round(c, 4) for c in self.correlation],
            "note": self.note,
        }


def min_confidence_for(frames: int, z_threshold: float = SYNC_Z_THRESHOLD) -> float:
    """The confidence a clip of ``frames`` frames needs to pass (calibrated z / sqrt(frames))."""
    return z_threshold / float(np.sqrt(max(frames, 1)))


def _high_pass(x: np.ndarray, window: int = 15) -> np.ndarray:
    if x.size <= window:
        return x - x.mean()
    kernel = np.ones(window) / window
    padded = np.pad(x, window // 2, mode="edge")
    return x - np.convolve(padded, kernel, mode="valid")[: x.size]


def _standardise(x: np.ndarray) -> np.ndarray:
    std = x.std()
    return (x - x.mean()) / std if std > 1e-9 else np.zeros_like(x)


def _fill_gaps(mouth: np.ndarray) -> np.ndarray:
    """Linear interpolation over frames without a face (short detection drop-outs)."""
    valid = ~np.isnan(mouth)
    if valid.all() or not valid.any():
        return mouth
    idx = np.arange(mouth.size)
    return np.interp(idx, idx[valid], mouth[valid])


def score_series(
    mouth: np.ndarray,
    energy_db: np.ndarray,
    max_offset: int = MAX_OFFSET_FRAMES,
    z_threshold: float = SYNC_Z_THRESHOLD,
) -> LipSyncResult:
    """Offset and confidence from per-frame mouth opening and speech energy (dB) series.

    The series are cut to their common length. Mouth values may be NaN (no face): short gaps are
    interpolated; a clip with no usable face or no usable sound gets confidence 0.
    """
    n = min(mouth.size, energy_db.size)
    mouth = np.asarray(mouth[:n], dtype=np.float64)
    energy = np.asarray(energy_db[:n], dtype=np.float64)
    lags = list(range(-max_offset, max_offset + 1))
    faces = int((~np.isnan(mouth)).sum())
    if faces < MIN_SCORABLE_FRAMES or n < MIN_SCORABLE_FRAMES:
        return LipSyncResult(0, 0.0, min_confidence_for(n, z_threshold), faces, lags, [0.0] * len(lags), note="too few frames with a face to score lip sync")
    m = _standardise(_high_pass(_fill_gaps(mouth)))
    e = _standardise(_high_pass(energy))
    if not m.any() or not e.any():
        what = "the mouth never moves" if not m.any() else "the sound track is silent"
        return LipSyncResult(0, 0.0, min_confidence_for(n, z_threshold), n, lags, [0.0] * len(lags), note=what)
    corr = []
    for lag in lags:
        # Pair mouth[t] with energy[t + lag]: a peak at lag > 0 means the sound comes later.
        if lag >= 0:
            a, b = m[: n - lag], e[lag:]
        else:
            a, b = m[-lag:], e[: n + lag]
        corr.append(float(np.mean(a * b)) if a.size else 0.0)
    corr_arr = np.asarray(corr)
    peak = int(np.argmax(corr_arr))
    confidence = float(corr_arr[peak] - np.median(corr_arr))
    return LipSyncResult(
        offset=lags[peak],
        confidence=confidence,
        min_confidence=min_confidence_for(n, z_threshold),
        frames=n,
        lags=lags,
        correlation=corr,
    )


@dataclass(kw_only=True)
class Sound(DecodedSound):
    """A video's sound as a player plays it against the picture: ``samples[0]`` plays with the
    first picture (``track``, when asked for, counts from the track's own first sample, so
    speech recognition's word times count from the first sound)."""

    delay: float
    """Seconds from the first picture to the first sound sample (negative: sound first)."""
    end: float
    """Seconds from the first picture to the end of the sound."""


def sound_as_played(path: str | Path, track_rate: int | None = None) -> Sound:
    """The sound of the video ``path`` on the picture's timeline (start times and edit lists
    applied), decoded once; with ``track_rate`` also the whole track at that rate. Raises
    ``MediaError`` for a file without a picture or a usable sound track."""
    from factory.media import MediaError, decode_sound, stream_times

    times = stream_times(path)
    if times.audio_start is None:
        raise MediaError(f"{Path(path).name} has no audio track.")
    decoded = decode_sound(path, times.video_start, end=times.audio_end, track_rate=track_rate)
    # The container's audio end honours the AAC edit list; decoding alone would add the
    # encoder's padding (up to 1024 samples), which would count as a false mismatch.
    end = times.audio_end - times.video_start if times.audio_end is not None else decoded.samples.size / decoded.rate
    return Sound(**vars(decoded), delay=times.audio_delay, end=end)


def speech_energy(path: str | Path, frames: int) -> np.ndarray:
    """Speech energy (dB) per video frame of the sound in ``path`` (a video or an audio file).

    A video's sound is read where a player plays it against the picture (its start time in the
    container and its edit list applied), so a sound track that starts late reads as late.
    """
    from factory.media import MediaError, decode_audio, frame_energy

    try:
        sound = sound_as_played(path)
        samples, rate = sound.samples, sound.rate
    except MediaError:  # an audio file (no picture) or an unreadable one: decode_audio says which
        samples, rate = decode_audio(path)
    return frame_energy(samples, rate, frames)


def lip_sync(video: str | Path, audio: str | Path | None = None, scan=None) -> LipSyncResult:
    """Score a video's lip sync against its own sound track (or a separate ``audio`` file).

    ``scan`` (a ``qa.frames.FrameScan``) may be passed to reuse an existing pass over the frames.
    """
    from qa.frames import scan_video

    scan = scan if scan is not None else scan_video(video)
    energy = speech_energy(audio or video, scan.frames)
    return score_series(scan.mouth, energy)
