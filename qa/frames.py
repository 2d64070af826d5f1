"""One pass over a video's frames, measuring everything the QA checks need per frame.

Decoding is the expensive part of looking at a video, so the lip-sync score and the A/V checks
share this single pass instead of decoding the clip several times:

* ``mouth``: inner-lip gap / face height from MediaPipe's face mesh (NaN where no face is found);
* ``luma_p99``: the bright end of the brightness, 0..255 (a frame is black only if even its
  brightest pixels are dark, so a dim but real picture is not called black);
* ``change``: how much the frame differs from the previous one (99th percentile of the absolute
  difference, 0..255, on a 64-px grey patch of the face box — fixed at the first frame with a
  face, because landmarks jitter — or on a 128-px thumbnail where no face was ever found): 0 means a repeated, frozen frame. On the face and a
  percentile rather than the mean, because a talking head changes only around the mouth.

Frames larger than ``landmark_max_side`` are shrunk before landmarks (MediaPipe crops the face
to 192×192 anyway), which keeps QA fast on 1024-px renders. Where the face mesh finds no face
in the whole frame (a small face in a wide frame), MediaPipe's full-range detector finds it and
landmarks look at a square around it from then on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class ScanOptions:
    landmark_max_side: int = 640
    """Longest side a frame is shrunk to before face landmarks (speed; faces stay ≥ 100 px)."""
    thumbnail_side: int = 128
    """Side of the grey thumbnail used for brightness (and for change where no face is found)."""
    detect_every: int = 50
    """While no face has been found, the full-range face detector looks again every this many
    frames (it finds faces too small for the face mesh's own detector)."""


@dataclass
class FrameScan:
    width: int
    height: int
    mouth: np.ndarray
    luma_p99: np.ndarray
    change: np.ndarray
    """change[0] is +inf: the first frame has no predecessor."""

    @property
    def frames(self) -> int:
        return int(self.mouth.size)

    @property
    def face_found(self) -> np.ndarray:
        return ~np.isnan(self.mouth)


def scan_video(path: str | Path, options: ScanOptions | None = None, progress=None) -> FrameScan:
    """Decode ``path`` once and measure every frame (see the module docstring)."""
    import cv2

    from factory.faces import MOUTH_POINTS, FaceMesh, mouth_opening
    from factory.media import MediaError, read_video_frames, reason

    options = options or ScanOptions()
    mouth: list[float] = []
    luma_p99: list[float] = []
    change: list[float] = []
    previous: np.ndarray | None = None
    face_box: tuple[int, int, int, int] | None = None
    view: tuple[int, int, int, int] | None = None  # the part of the frame landmarks look at (None: all)
    width = height = 0
    with FaceMesh(video=True) as mesh:
        try:
            for index, rgb in enumerate(read_video_frames(path, threaded=True)):
                height, width = rgb.shape[:2]
                if face_box is None and view is None and index % options.detect_every == 0 and index:
                    view = _face_view(rgb)  # no face yet: look for a small one in the full frame
                    if view is not None:
                        previous = None
                region_rgb = rgb if view is None else rgb[view[1] : view[3], view[0] : view[2]]
                small = _shrink(region_rgb, options.landmark_max_side)
                # every landmark until the face box is fixed; from then on the mouth's only
                needed = None if face_box is None else MOUTH_POINTS
                points = mesh.landmarks(small, only=needed)
                if points is None and index == 0 and view is None:
                    view = _face_view(rgb)
                    if view is not None:
                        small = _shrink(rgb[view[1] : view[3], view[0] : view[2]], options.landmark_max_side)
                        points = mesh.landmarks(small, only=needed)
                mouth.append(np.nan if points is None else mouth_opening(points))
                grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
                # Brightness on a small grey thumbnail of the whole frame: enough detail, a fraction of the cost.
                whole = grey if view is None else cv2.cvtColor(_shrink(rgb, options.landmark_max_side), cv2.COLOR_RGB2GRAY)
                thumb = cv2.resize(whole, (options.thumbnail_side, options.thumbnail_side), interpolation=cv2.INTER_AREA)
                luma_p99.append(percentile_u8(thumb, 99))
                # Change is measured on the face when there is one: a talking head moves only a
                # few hundred pixels around the mouth, invisible in a whole-frame thumbnail.
                if face_box is None and points is not None:
                    face_box = _face_box(points, grey.shape)  # fixed for the clip: landmarks jitter
                region = _patch(grey, face_box) if face_box is not None else thumb
                if previous is None or previous.shape != region.shape:
                    change.append(np.inf)
                else:
                    change.append(percentile_u8(cv2.absdiff(region, previous), 99))
                previous = region
                if progress is not None and index % 50 == 0:
                    progress(index)
        except Exception as exc:  # PyAV raises its own error types for damaged streams
            if isinstance(exc, MediaError) or not mouth:
                raise MediaError(f"The video {Path(path).name} cannot be decoded ({reason(exc)}).") from None
            # Keep what was decoded before the damage: the A/V checks then report a short video.
    if not mouth:
        raise MediaError(f"The video {Path(path).name} has no frames.")
    return FrameScan(
        width=width,
        height=height,
        mouth=np.asarray(mouth, dtype=np.float64),
        luma_p99=np.asarray(luma_p99),
        change=np.asarray(change),
    )


def _shrink(rgb: np.ndarray, max_side: int) -> np.ndarray:
    import cv2

    h, w = rgb.shape[:2]
    scale = max_side / max(w, h)
    return cv2.resize(rgb, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA) if scale < 1 else rgb


def _face_view(rgb: np.ndarray, margin: float = 1.0) -> tuple[int, int, int, int] | None:
    """A square around the largest face the full-range detector finds, ``margin`` face sizes
    on each side (room for head motion), or None. The face mesh's own detector looks for faces
    that fill much of the picture, and misses a face that is small in a wide frame."""
    from factory.faces import detect_faces

    faces = detect_faces(rgb)
    if not faces:
        return None
    f = faces[0]
    h, w = rgb.shape[:2]
    half = max(f.x1 - f.x0, f.y1 - f.y0) * (0.5 + margin)
    cx, cy = (f.x0 + f.x1) / 2, (f.y0 + f.y1) / 2
    x0, y0 = int(max(0, cx - half)), int(max(0, cy - half))
    x1, y1 = int(min(w, cx + half)), int(min(h, cy + half))
    return (x0, y0, x1, y1) if x1 - x0 >= 32 and y1 - y0 >= 32 else None


def _face_box(points: np.ndarray, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """The landmarks' bounding box (x0, y0, x1, y1), clipped to the frame."""
    h, w = shape[:2]
    x0, y0 = np.clip(np.floor(points.min(axis=0)).astype(int), 0, [w - 1, h - 1])
    x1, y1 = np.clip(np.ceil(points.max(axis=0)).astype(int), 1, [w, h])
    return int(x0), int(y0), int(max(x1, x0 + 1)), int(max(y1, y0 + 1))


def _patch(grey: np.ndarray, box: tuple[int, int, int, int], side: int = 64) -> np.ndarray:
    """The box resized to side×side."""
    import cv2

    x0, y0, x1, y1 = box
    return cv2.resize(grey[y0:y1, x0:x1], (side, side), interpolation=cv2.INTER_AREA)


def percentile_u8(values: np.ndarray, q: float) -> float:
    """``np.percentile(values, q)`` (linear interpolation) of a uint8 array, from its histogram:
    the same number, in a fraction of the time, which counts when it runs twice per frame."""
    n = values.size
    cumulative = np.cumsum(np.bincount(values.ravel(), minlength=256))
    position = (n - 1) * (q / 100)
    below = int(np.floor(position))
    # The values at sorted positions `below` and `below + 1`: the first grey level whose
    # cumulative count passes that position.
    low = float(np.searchsorted(cumulative, below, side="right"))
    high = float(np.searchsorted(cumulative, min(below + 1, n - 1), side="right"))
    gamma = position - below
    # numpy's own interpolation, so the result is the same to the last bit
    return high - (high - low) * (1 - gamma) if gamma >= 0.5 else low + (high - low) * gamma
