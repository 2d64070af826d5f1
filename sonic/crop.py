"""Find the face, cut a square crop around it, and paste rendered crops back into the photo.

The crop is the face box grown by ``expand_ratio`` of its size on each side, made square around
the box's centre and scaled so its side is ``min_resolution`` (even, for H.264). Parts of the
square outside the photo are filled by repeating the edge pixels, so a face near the border
still gets a centred crop. ``CropTransform`` remembers where the square came from; ``PasteBack``
puts each rendered frame back with a soft edge so no seam shows and, given the head's pose,
moves the whole picture with it: head and hair fully, shoulders partly, the backdrop not at all
(``body_weight``), so no edge of the crop stands still while the head nods.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from factory.faces import FaceBox, detect_faces
from factory.stages import StageError

log = logging.getLogger(__name__)

# Pasted-back frames larger than this (long side) are scaled down: a 12-megapixel phone photo
# would otherwise encode at a few frames per second, and no video platform shows more.
MAX_PASTE_SIDE = 1920
SHOULDER_FOLLOW = 0.3  # how much of the head's motion the shoulders share


@dataclass(frozen=True)
class CropTransform:
    """The square ``[x0, x0+side) × [y0, y0+side)`` of the photo (may reach outside it), shown
    at ``size × size`` pixels in the crop."""

    x0: int
    y0: int
    side: int
    size: int
    photo_width: int
    photo_height: int

    @property
    def scale(self) -> float:
        """Crop pixels per photo pixel."""
        return self.size / self.side

    def to_crop(self, xy: np.ndarray) -> np.ndarray:
        return (np.asarray(xy, dtype=np.float64) - (self.x0, self.y0)) * self.scale

    def to_photo(self, xy: np.ndarray) -> np.ndarray:
        return np.asarray(xy, dtype=np.float64) / self.scale + (self.x0, self.y0)


@dataclass
class FaceCrop:
    image: np.ndarray
    """The square RGB crop, ``size × size``."""
    transform: CropTransform
    face_box: FaceBox
    """The face used, in photo pixels."""
    warnings: list[str] = field(default_factory=list)
    """Things an editor should know (e.g. several faces found)."""


def square_around(box: FaceBox, expand_ratio: float) -> tuple[int, int, int]:
    """Integer (x0, y0, side) of the square around ``box`` grown by ``expand_ratio`` per side."""
    w, h = box.x1 - box.x0, box.y1 - box.y0
    side = max(w, h) * (1.0 + 2.0 * expand_ratio)
    cx, cy = (box.x0 + box.x1) / 2.0, (box.y0 + box.y1) / 2.0
    side_px = max(2, int(round(side)))
    return int(round(cx - side_px / 2.0)), int(round(cy - side_px / 2.0)), side_px


def face_box_in_crop(side: float, expand_ratio: float) -> tuple[float, float, float, float]:
    """Where ``square_around`` put the face inside a crop of ``side`` pixels: the centred square
    (x0, y0, x1, y1) of side / (1 + 2 * expand_ratio)."""
    half = side / (1.0 + 2.0 * expand_ratio) / 2
    return side / 2 - half, side / 2 - half, side / 2 + half, side / 2 + half


def crop_face(photo: np.ndarray, expand_ratio: float = 0.15, min_resolution: int = 512) -> FaceCrop:
    """Detect the largest face and return its square crop at ``min_resolution`` pixels.

    Raises StageError when the photo shows no face."""
    faces = detect_faces(photo)
    if not faces:
        raise StageError(
            "No face found in the photo. Use a photo where one face is clearly visible, "
            "facing the camera, not too small and not covered."
        )
    warnings = []
    if len(faces) > 1:
        text = (
            f"{len(faces)} faces found in the photo; animating the largest one "
            f"(at x={faces[0].x0:.0f}, y={faces[0].y0:.0f}, {faces[0].x1 - faces[0].x0:.0f} px wide)."
        )
        log.warning(text)
        warnings.append(text)
    box = faces[0]
    x0, y0, side = square_around(box, expand_ratio)
    size = int(min_resolution) // 2 * 2
    transform = CropTransform(x0, y0, side, size, photo.shape[1], photo.shape[0])
    return FaceCrop(image=cut_square(photo, transform), transform=transform, face_box=box, warnings=warnings)


def cut_square(photo: np.ndarray, t: CropTransform) -> np.ndarray:
    """The crop's pixels: the square (edge pixels repeated outside the photo), resized."""
    import cv2

    h, w = photo.shape[:2]
    # Pad only as much as the square reaches outside the photo.
    left, top = max(0, -t.x0), max(0, -t.y0)
    right, bottom = max(0, t.x0 + t.side - w), max(0, t.y0 + t.side - h)
    region = photo[max(0, t.y0) : min(h, t.y0 + t.side), max(0, t.x0) : min(w, t.x0 + t.side)]
    if left or top or right or bottom:
        region = cv2.copyMakeBorder(region, top, bottom, left, right, cv2.BORDER_REPLICATE)
    interpolation = cv2.INTER_AREA if t.side > t.size else cv2.INTER_CUBIC
    return np.ascontiguousarray(cv2.resize(region, (t.size, t.size), interpolation=interpolation))


class PasteBack:
    """Puts rendered crops back into the photo, frame after frame.

    Everything that is the same for every frame (the scaled photo, where the square lands,
    the soft-edged blend mask) is prepared once here. The output size is the photo's (scaled
    down to ``max_side`` if larger), rounded down to even numbers for H.264."""

    def __init__(self, photo: np.ndarray, transform: CropTransform, max_side: int = MAX_PASTE_SIDE):
        import cv2

        h, w = photo.shape[:2]
        k = min(1.0, max_side / max(h, w))
        out_w, out_h = max(2, int(w * k) // 2 * 2), max(2, int(h * k) // 2 * 2)
        if k < 1.0:
            kx, ky = out_w / w, out_h / h
            self.background = cv2.resize(photo, (out_w, out_h), interpolation=cv2.INTER_AREA)
        else:  # an odd row or column is cut off, not resampled
            kx = ky = 1.0
            self.background = np.ascontiguousarray(photo[:out_h, :out_w])
        self.width, self.height = out_w, out_h
        # Where the square lands in the output, in output pixels.
        x0, y0 = int(round(transform.x0 * kx)), int(round(transform.y0 * ky))
        side = max(2, int(round(transform.side * kx)))
        self._side = side
        self._interp = cv2.INTER_AREA if side < transform.size else cv2.INTER_LINEAR
        # The part of the square inside the output frame.
        self._dst = (slice(max(0, y0), min(out_h, y0 + side)), slice(max(0, x0), min(out_w, x0 + side)))
        self._src = (
            slice(self._dst[0].start - y0, self._dst[0].stop - y0),
            slice(self._dst[1].start - x0, self._dst[1].stop - x0),
        )
        # Soft edge: the renderer leaves the crop's border untouched, so blending the outer
        # ~6% of the square hides the resampling difference between crop and photo.
        ramp = np.clip(np.minimum(np.arange(side), np.arange(side)[::-1]) / max(1.0, 0.06 * side), 0.0, 1.0)
        alpha = np.minimum.outer(ramp, ramp).astype(np.float32)
        self._alpha = alpha[self._src][..., None]

        self._origin = (x0, y0)
        self._crop_size = transform.size

    @functools.cached_property
    def _follow(self) -> BodyWeight:
        """The maps that move hair and shoulders with the head: built on the first moving frame
        (a renderer that moves the head inside the crop never needs them)."""
        (x0, y0), side = self._origin, self._side
        return body_weight(self.width, self.height, x0, y0, side)

    def __call__(self, crop_frame: np.ndarray, head: np.ndarray | None = None,
                 pivot: tuple[float, float] | None = None) -> np.ndarray:
        """The photo with ``crop_frame`` in its place. With a head pose (rotation in degrees,
        shift x, shift y in crop pixels, scale; about ``pivot`` in crop pixels, as
        ``sonic.cpu_renderer.head_track`` makes it) the whole picture then follows it: the head
        fully, hair and shoulders less the farther they are, the backdrop not at all, so no edge
        of the crop stands still while the head moves (``body_weight``)."""
        import cv2

        scaled = cv2.resize(crop_frame, (self._side, self._side), interpolation=self._interp)
        out = self.background.copy()
        under = out[self._dst].astype(np.float32)
        over = scaled[self._src].astype(np.float32)
        out[self._dst] = (under + (over - under) * self._alpha + 0.5).astype(np.uint8)
        if head is not None and pivot is not None:
            out = self._move(out, head, pivot)
        return out

    def _move(self, frame: np.ndarray, head: np.ndarray, pivot: tuple[float, float]) -> np.ndarray:
        if at_rest(head):
            return frame
        k = self._side / self._crop_size  # output pixels per crop pixel
        ox, oy = self._origin
        return follow_head(frame, self._follow, self._follow.slices, (ox + pivot[0] * k, oy + pivot[1] * k), head, k)


def at_rest(head: np.ndarray) -> bool:
    """Whether a head pose (rotation in degrees, shift x, shift y, scale) moves nothing."""
    angle, shift_x, shift_y, scale = (float(v) for v in head)
    return abs(angle) < 1e-4 and abs(shift_x) < 1e-3 and abs(shift_y) < 1e-3 and abs(scale - 1.0) < 1e-5


def follow_head(frame: np.ndarray, weights: Any, slices: tuple[slice, slice], pivot: tuple[float, float],
                head: np.ndarray, pixels_per_unit: float = 1.0) -> np.ndarray:
    """Move ``frame[slices]`` (in place) by the head pose about ``pivot``, each pixel as far as its
    weight says: the head fully, what is around it less, the rest not at all. ``weights`` holds
    ``weight``, ``wx`` (weight × grid_x), ``wy``, ``grid_x``, ``grid_y`` over ``slices`` (frame
    pixels); the pose's shifts are in units of ``pixels_per_unit`` frame pixels."""
    import cv2

    angle, shift_x, shift_y, scale = (float(v) for v in head)
    forward = cv2.getRotationMatrix2D(pivot, angle, scale)
    forward[:, 2] += (shift_x * pixels_per_unit, shift_y * pixels_per_unit)
    back = cv2.invertAffineTransform(forward)
    w = weights
    # source = p + weight(p) * (back(p) - p), with the products weight × p prepared once
    map_x = cv2.scaleAdd(w.wx, float(back[0, 0] - 1.0), w.grid_x)
    map_x = cv2.scaleAdd(w.wy, float(back[0, 1]), map_x)
    map_x = cv2.scaleAdd(w.weight, float(back[0, 2]), map_x)
    map_y = cv2.scaleAdd(w.wx, float(back[1, 0]), w.grid_y)
    map_y = cv2.scaleAdd(w.wy, float(back[1, 1] - 1.0), map_y)
    map_y = cv2.scaleAdd(w.weight, float(back[1, 2]), map_y)
    frame[slices] = cv2.remap(frame, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return frame


@dataclass
class BodyWeight:
    """How much each pixel of the output (within ``slices``) follows the head, 0..1."""

    slices: tuple[slice, slice]
    weight: np.ndarray
    grid_x: np.ndarray
    grid_y: np.ndarray
    wx: np.ndarray
    """weight × grid_x and ..."""
    wy: np.ndarray
    """... weight × grid_y, prepared once for the per-frame map."""


def body_weight(width: int, height: int, x0: int, y0: int, side: int) -> BodyWeight:
    """Where the picture follows the head, for a crop square at (x0, y0) of ``side`` output
    pixels with the face in its middle (``crop_face``): all of the head and hair (an ellipse a
    little larger than the square, reaching higher for the hair), easing to nothing over half
    a square around it; the neck and shoulders below it at ``SHOULDER_FOLLOW``, fading out
    over a square below the chin. Smooth everywhere, so nothing tears or shows a still edge."""
    cx, cy = x0 + side / 2.0, y0 + side / 2.0
    reach_x, reach_y = int(1.4 * side), int(1.9 * side)
    bx0, by0 = max(0, int(cx - reach_x)), max(0, int(cy - 1.3 * side))
    bx1, by1 = min(width, int(cx + reach_x)), min(height, int(cy + reach_y))
    if bx1 <= bx0 or by1 <= by0:
        bx0, by0, bx1, by1 = 0, 0, 1, 1
    xs = np.arange(bx0, bx1, dtype=np.float32)
    ys = np.arange(by0, by1, dtype=np.float32)
    gx, gy = np.meshgrid(xs, ys)
    u, v = (gx - cx) / side, (gy - cy) / side

    def ease(x: np.ndarray) -> np.ndarray:
        x = np.clip(x, 0.0, 1.0)
        return x * x * (3.0 - 2.0 * x)

    # Head and hair: 1 inside the ellipse, 0 half a square beyond it.
    r = np.sqrt((u / 0.55) ** 2 + ((v + 0.08) / 0.62) ** 2)
    head = ease(1.0 - (r - 1.0) * 0.55 / 0.5)
    # Neck and shoulders: a band under the chin, as wide as two squares, fading downwards.
    below = ease((v - 0.3) / 0.2) * ease(1.0 - (v - 0.5) / 1.2) * ease(1.0 - (np.abs(u) - 0.6) / 0.6)
    weight = np.maximum(head, SHOULDER_FOLLOW * below).astype(np.float32)
    return BodyWeight(slices=(slice(by0, by1), slice(bx0, bx1)), weight=weight, grid_x=gx, grid_y=gy,
                      wx=weight * gx, wy=weight * gy)
