"""Face detection and face-mesh landmarks (MediaPipe), shared by the renderer and the QA checks.

MediaPipe 0.10.14–0.10.21 ships its ``.tflite`` models inside the wheel, so this works offline.
Landmark indices follow MediaPipe's 478-point face mesh (468 + 10 iris points).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# Fewer native logs from MediaPipe's C++ side (set before mediapipe is first imported). What
# still slips through before absl's logging starts is filtered by the CLI (factory/cli.py).
os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# A few landmark indices with names, so code reads as anatomy rather than numbers.
UPPER_LIP_INNER = 13
LOWER_LIP_INNER = 14
MOUTH_LEFT = 61
MOUTH_RIGHT = 291
FOREHEAD = 10
CHIN = 152
MOUTH_POINTS = (UPPER_LIP_INNER, LOWER_LIP_INNER, FOREHEAD, CHIN)
"""The landmarks ``mouth_opening`` reads."""


@dataclass
class FaceBox:
    """A detected face in pixels (x0, y0 top-left; x1, y1 bottom-right) with its score."""

    x0: float
    y0: float
    x1: float
    y1: float
    score: float

    @property
    def area(self) -> float:
        return max(0.0, self.x1 - self.x0) * max(0.0, self.y1 - self.y0)


def detect_faces(rgb: np.ndarray, min_score: float = 0.5) -> list[FaceBox]:
    """All faces in an RGB image, largest first."""
    import mediapipe as mp

    h, w = rgb.shape[:2]
    boxes: list[FaceBox] = []
    # model 1 is the full-range detector: it also finds faces that fill only part of a photo.
    with mp.solutions.face_detection.FaceDetection(model_selection=1, min_detection_confidence=min_score) as det:
        result = det.process(np.ascontiguousarray(rgb))
    for d in result.detections or []:
        bb = d.location_data.relative_bounding_box
        x0, y0 = max(0.0, bb.xmin * w), max(0.0, bb.ymin * h)
        x1, y1 = min(float(w), (bb.xmin + bb.width) * w), min(float(h), (bb.ymin + bb.height) * h)
        boxes.append(FaceBox(x0, y0, x1, y1, float(d.score[0])))
    return sorted(boxes, key=lambda b: b.area, reverse=True)


class FaceMesh:
    """478 face landmarks per image, in pixels. Reuse one instance across the frames of a clip:
    in video mode MediaPipe tracks the face between frames, which is faster and steadier."""

    def __init__(self, video: bool = False):
        import mediapipe as mp

        self._mesh = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=not video, max_num_faces=1, refine_landmarks=True, min_detection_confidence=0.5
        )

    def landmarks(self, rgb: np.ndarray, only: Sequence[int] | None = None) -> np.ndarray | None:
        """(478, 2) float32 pixel coordinates of the most prominent face, or None. With ``only``
        (landmark indices, e.g. ``MOUTH_POINTS``) just those rows are filled and the rest are
        NaN: reading every point out of MediaPipe's result costs more than the few a caller needs."""
        result = self._mesh.process(np.ascontiguousarray(rgb))
        if not result.multi_face_landmarks:
            return None
        h, w = rgb.shape[:2]
        pts = result.multi_face_landmarks[0].landmark
        if only is None:
            return np.array([(p.x * w, p.y * h) for p in pts], dtype=np.float32)
        points = np.full((len(pts), 2), np.nan, dtype=np.float32)
        for i in only:
            points[i] = (pts[i].x * w, pts[i].y * h)
        return points

    def close(self) -> None:
        self._mesh.close()

    def __enter__(self) -> FaceMesh:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def face_height(landmarks: np.ndarray) -> float:
    return float(np.linalg.norm(landmarks[FOREHEAD] - landmarks[CHIN]))


def mouth_opening(landmarks: np.ndarray) -> float:
    """Gap between the inner lips divided by face height: 0 closed, ~0.1 wide open.
    Dividing by face size makes it comparable across crops, zooms and videos."""
    gap = float(np.linalg.norm(landmarks[UPPER_LIP_INNER] - landmarks[LOWER_LIP_INNER]))
    return gap / max(face_height(landmarks), 1e-6)
