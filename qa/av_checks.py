"""Technical checks of a rendered video: the faults a viewer notices before any lip-sync detail.

Each check returns a ``Check``: (name, passed, value, threshold, message). They work on one
``qa.frames.FrameScan`` (per-frame measures from a single decode), the container facts from
``factory.media.probe_video`` and the per-frame speech energy, so they cost nothing extra.
Sound is judged where a player puts it: on the picture's timeline, after the container's start
times and edit lists (``factory.media.stream_times``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from factory.media import FPS, VideoInfo
from factory.settings import Settings


@dataclass
class Check:
    name: str
    passed: bool
    value: Any
    threshold: Any
    message: str

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("value", "threshold"):
            if isinstance(data[key], (float, np.floating)):
                data[key] = round(float(data[key]), 4)
        data["passed"] = bool(self.passed)
        return data


@dataclass
class AVThresholds:
    min_face_fraction: float = Settings().qa_min_face_fraction  # documented in factory/settings.py
    max_frozen_seconds: float = Settings().qa_max_frozen_seconds
    frozen_change: float = 2.0
    """A frame whose 99th-percentile grey-level change from the previous frame is at most this
    (of 255) counts as a repeat. A talking head that moves only its mouth still changes by 10+."""
    black_luma: float = 20.0
    """A frame is black when even its brightest 1 % of pixels are darker than this (of 255)."""
    speech_db: float = -40.0
    """Frames louder than this (RMS dB) carry speech; pauses up to ``speech_gap_frames`` are bridged."""
    speech_gap_frames: int = 8
    fps_tolerance: float = 0.01


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, length) of every run of True values."""
    runs, start = [], None
    for i, flag in enumerate(mask):
        if flag and start is None:
            start = i
        elif not flag and start is not None:
            runs.append((start, i - start))
            start = None
    if start is not None:
        runs.append((start, len(mask) - start))
    return runs


def speech_mask(energy_db: np.ndarray, thresholds: AVThresholds) -> np.ndarray:
    """Frames with speech, short pauses between words bridged."""
    mask = energy_db > thresholds.speech_db
    for start, length in _runs(~mask):
        if 0 < start and start + length < mask.size and length <= thresholds.speech_gap_frames:
            mask[start : start + length] = True
    return mask


def check_duration(info: VideoInfo, audio_seconds: float | None, audio_delay: float = 0.0,
                   offset_limits: tuple[int, int] = (0, 0)) -> Check:
    """Picture and sound end together, as a player plays them: a gap means a frozen or cut ending.

    ``audio_seconds`` is where the sound ends, in seconds after the first picture (its start time
    in the container plus its length); ``audio_delay`` is where it starts (negative: before the
    picture), named in the message because a late start is the usual cause of a late end.
    ``offset_limits`` = (most negative, most positive) accepted lip-sync offset in frames
    (``QAThresholds.offset_limits``): the sound may end as many frames before or after the
    picture, plus half a frame for the picture's length being whole frames, so that a sound track
    starting a little late (within what viewers forgive and the offset check accepts), and so
    ending as late, is not refused a second time here.
    """
    frame = 1.0 / (info.fps or FPS)
    if audio_seconds is None:
        return Check("duration", False, None, frame, "The video has no sound track.")
    end_gap = audio_seconds - info.video_seconds              # > 0: the sound ends after the picture
    early, late = -offset_limits[0] * frame, offset_limits[1] * frame
    allowed = (late if end_gap > 0 else early) + frame / 2
    ok = abs(end_gap) <= allowed + 1e-6
    start = ""
    if abs(audio_delay) >= 0.0005:
        start = f" The sound starts {abs(audio_delay):.2f} s {'after' if audio_delay > 0 else 'before'} the picture."
    if ok:
        msg = f"Picture {info.video_seconds:.2f} s and sound {audio_seconds:.2f} s end together." + start
    else:
        msg = (
            f"The picture ends at {info.video_seconds:.2f} s but the sound at {audio_seconds:.2f} s ({abs(end_gap):.2f} s "
            f"{'later' if end_gap > 0 else 'earlier'}; at most {allowed:.2f} s is allowed)." + start
        )
    return Check("duration", ok, abs(end_gap), allowed, msg)


def check_fps(info: VideoInfo, expected_fps: float = FPS, thresholds: AVThresholds | None = None) -> Check:
    thresholds = thresholds or AVThresholds()
    ok = abs(info.fps - expected_fps) <= thresholds.fps_tolerance
    msg = f"{info.fps:g} frames per second" + ("." if ok else f", but {expected_fps:g} were requested.")
    return Check("fps", ok, info.fps, expected_fps, msg)


def check_size(info: VideoInfo, expected: tuple[int, int] | None) -> Check:
    size = f"{info.width}x{info.height}"
    if expected is None:
        return Check("size", True, size, None, f"{size} pixels (no size was requested).")
    want = f"{expected[0]}x{expected[1]}"
    ok = size == want
    return Check("size", ok, size, want, f"{size} pixels" + ("." if ok else f", but {want} was requested."))


def check_face(face_found: np.ndarray, thresholds: AVThresholds | None = None) -> Check:
    thresholds = thresholds or AVThresholds()
    fraction = float(face_found.mean()) if face_found.size else 0.0
    ok = fraction >= thresholds.min_face_fraction
    msg = f"A face is visible in {fraction * 100:.1f} % of frames" + (
        "." if ok else f" (at least {thresholds.min_face_fraction * 100:.0f} % needed)."
    )
    return Check("face_visible", ok, fraction, thresholds.min_face_fraction, msg)


def check_frozen(change: np.ndarray, energy_db: np.ndarray, fps: float = FPS, thresholds: AVThresholds | None = None) -> Check:
    """No stretch longer than ``max_frozen_seconds`` where the picture stands still while speech plays."""
    thresholds = thresholds or AVThresholds()
    n = min(change.size, energy_db.size)
    still = change[:n] <= thresholds.frozen_change
    frozen_speech = still & speech_mask(energy_db[:n], thresholds)
    longest, where = 0, 0
    for start, length in _runs(frozen_speech):
        if length > longest:
            longest, where = length, start
    seconds = longest / (fps or FPS)
    ok = seconds <= thresholds.max_frozen_seconds
    msg = (
        f"Longest still picture during speech: {seconds:.2f} s."
        if ok
        else f"The picture is frozen for {seconds:.2f} s from {where / (fps or FPS):.2f} s while speech plays (at most {thresholds.max_frozen_seconds:g} s allowed)."
    )
    return Check("no_frozen_picture", ok, seconds, thresholds.max_frozen_seconds, msg)


def check_black(luma_p99: np.ndarray, fps: float = FPS, thresholds: AVThresholds | None = None) -> Check:
    thresholds = thresholds or AVThresholds()
    black = np.flatnonzero(luma_p99 < thresholds.black_luma)
    ok = black.size == 0
    msg = "No black frames." if ok else f"{black.size} black frame(s), the first at {black[0] / (fps or FPS):.2f} s."
    return Check("no_black_frames", ok, int(black.size), 0, msg)


def check_sound(energy_db: np.ndarray, thresholds: AVThresholds | None = None) -> Check:
    thresholds = thresholds or AVThresholds()
    loudest = float(energy_db.max()) if energy_db.size else -60.0
    ok = loudest > thresholds.speech_db
    msg = f"Loudest frame {loudest:.1f} dB." if ok else f"The sound track is silent (loudest frame {loudest:.1f} dB)."
    return Check("sound_present", ok, loudest, thresholds.speech_db, msg)


def run_av_checks(
    scan,
    info: VideoInfo,
    energy_db: np.ndarray,
    audio_seconds: float | None,
    expected_fps: float = FPS,
    expected_size: tuple[int, int] | None = None,
    thresholds: AVThresholds | None = None,
    audio_delay: float = 0.0,
    offset_limits: tuple[int, int] = (0, 0),
) -> list[Check]:
    """All technical checks for one video (``scan`` is a ``qa.frames.FrameScan``; ``energy_db``
    per picture frame and ``audio_seconds``, ``audio_delay`` on the picture's timeline, as
    ``qa.report.check_video`` reads them; ``offset_limits`` as ``check_duration`` takes it)."""
    thresholds = thresholds or AVThresholds()
    fps = info.fps or FPS
    return [
        check_duration(info, audio_seconds, audio_delay, offset_limits),
        check_fps(info, expected_fps, thresholds),
        check_size(info, expected_size),
        check_sound(energy_db, thresholds),
        check_face(scan.face_found, thresholds),
        check_frozen(scan.change, energy_db, fps, thresholds),
        check_black(scan.luma_p99, fps, thresholds),
    ]
