"""The CPU talking-head renderer: a mesh-driven warp of one photo, fast enough for one core.

How a frame is made (everything that does not change per frame is prepared once, in ``FaceRig``):

1. **Mouth.** The jaw drops by ``open × 6.5 % of the face height``: lower lip, lower teeth and
   chin move down (less towards the jaw angles), the upper lip lifts a little, the corners follow
   half-way; ``width`` pulls the corners out (spread vowels) or in (rounded ones). Smooth
   displacement fields are fitted through the face-mesh landmarks (thin-plate splines, fitted
   in the *output* frame so they can be used directly as ``cv2.remap`` look-up maps) for a
   handful of jaw positions; a frame blends the two nearest. The lips part along the line
   where the photo's upper teeth end (or where the lips meet), and the gap that opens gets a
   mouth interior: a dark cavity, upper teeth (when the photo shows none) and lower teeth, a
   tongue, all coloured from the face itself (``face_colours``: the cavity and tongue from its
   lips, the teeth toned to its skin, so a grey statue gets no red mouth). On f and v the
   upper teeth show over the lower lip. Below ``open = 0`` (m/b/p, pauses) the lips press
   together: on a photo that shows its teeth at rest, the lips stretch over them until their
   inner edges meet half-way (``LipSeal``); closed lips stay as they are.
2. **Eyes.** A blink every 2–6 s (random, seeded), ~150 ms: the upper lids slide down over the
   eyes to the lower lids (the lid skin above them stretches to follow).
3. **Head.** Follows the speech's prosody (``head_track``): a short nod down, with a slight
   tilt, on each stressed syllable (the loudness peaks), a small seeded sway on top, and all of
   it easing to rest in the pauses of 150 ms or more (the mouth's own pause detection,
   ``sonic.mouth.pause_gate``); scaled by ``motion_scale``. In the crop it moves the head
   region only, fading out towards the crop's border, so the crop pastes back without a seam.
   A caller that pastes the crop back into the photo sets ``CpuRenderer.head_outside_crop``
   and moves the head there instead (``sonic.crop.PasteBack`` with ``last_head``), so hair
   and shoulders beyond the crop move with it.

Only the mouth and eye regions and the head's bounding box are resampled per frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

from factory.faces import CHIN, FaceMesh, face_height
from factory.media import FPS, decode_audio, frame_count
from factory.stages import StageError
from sonic.crop import at_rest, follow_head
from sonic.mouth import MouthTrack, mouth_track
from sonic.params import ProgressFn, RenderParams, SpeechFacts

# --- MediaPipe face-mesh indices, each list ordered along the contour ---------------------
UPPER_INNER_LIP = [78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308]  # corner to corner
LOWER_INNER_LIP = [78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308]
UPPER_OUTER_LIP = [61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291]
LOWER_OUTER_LIP = [61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291]
LIP_POINTS = set(UPPER_INNER_LIP + LOWER_INNER_LIP + UPPER_OUTER_LIP + LOWER_OUTER_LIP)
FACE_OVAL = [10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
             152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109]
NOSE_BOTTOM = 2
CHEEKS = [50, 280, 205, 425]  # face-mesh points on both cheeks: where the skin colour is read
# Per eye: (upper lid from corner to corner, lower lid same order, brow)
EYES = [
    ([33, 246, 161, 160, 159, 158, 157, 173, 133], [33, 7, 163, 144, 145, 153, 154, 155, 133], [70, 63, 105, 66, 107, 46, 53, 52, 65, 55]),
    ([362, 398, 384, 385, 386, 387, 388, 466, 263], [362, 382, 381, 380, 374, 373, 390, 249, 263], [300, 293, 334, 296, 336, 276, 283, 282, 295, 285]),
]


@dataclass
class CpuRenderConfig:
    """Tuning of the look; the defaults were chosen by eye on real portraits."""

    jaw_drop: float = 0.065
    """Lower-lip drop at ``open = 1``, as a fraction of the face height (forehead to chin)."""
    upper_lip_lift: float = 0.12
    """Upper-lip lift, as a fraction of the jaw drop."""
    corner_drop: float = 0.3
    """How far the mouth corners follow the jaw."""
    spread: float = 0.16
    """Corner travel for ``width = +1``, as a fraction of the mouth's half-width... per side."""
    rounding: float = 0.22
    """Corner travel inwards for ``width = -1``."""
    max_open: float = 1.5
    """Largest ``open`` the warp covers (``dynamic_scale`` tops out at 1.5)."""
    level_step_px: float = 3.0
    """Jaw positions are prepared every this many pixels of drop (at most ``max_levels``)."""
    max_levels: int = 14
    blink_every_s: tuple[float, float] = (2.0, 6.0)
    blink_s: float = 0.15
    head_rotation_deg: float = 1.2
    head_shift: float = 0.006
    """Head sway, as a fraction of the crop size."""
    nod: float = 0.008
    """Downward nod on a full-strength stressed syllable, as a fraction of the crop size."""
    nod_tilt: float = 0.6
    """Sideways tilt with each nod, as a fraction of ``head_rotation_deg``."""
    sway: float = 0.35
    """Share of the slow seeded sway (the nods carry most of the motion)."""
    teeth_rgb: tuple[int, int, int] = (214, 205, 192)
    """Teeth of a face in natural colour; ``face_colours`` tones them to the face."""
    cavity_shade: float = 0.3
    """The cavity is the lips' colour at this brightness ..."""
    tongue_shade: float = 0.8
    """... and the tongue at this one ..."""
    inside_saturation: float = 1.8
    """... with the lips' colour this much more saturated."""


# --- warp fields ---------------------------------------------------------------------------


@dataclass
class Region:
    """A rectangle of the crop: rows y0:y1, columns x0:x1."""

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.y0, self.y1), slice(self.x0, self.x1)

    @property
    def shape(self) -> tuple[int, int]:
        return self.y1 - self.y0, self.x1 - self.x0


def _region(x0: float, y0: float, x1: float, y1: float, size: int, step: int) -> Region:
    """Clamp to the crop and round the size to a multiple of ``step`` (see ``fit_backward_field``)."""
    x0, y0 = max(0, int(x0)), max(0, int(y0))
    x1, y1 = min(size, int(np.ceil(x1))), min(size, int(np.ceil(y1)))
    w = max(step, (x1 - x0) // step * step)
    h = max(step, (y1 - y0) // step * step)
    return Region(x0, y0, min(size, x0 + w), min(size, y0 + h))


def _border_ring(r: Region, spacing: float) -> np.ndarray:
    """Points along the region's edge: fixed anchors, so the warped patch meets the rest."""
    xs = np.linspace(r.x0, r.x1 - 1, max(2, int((r.x1 - r.x0) / spacing) + 1))
    ys = np.linspace(r.y0, r.y1 - 1, max(2, int((r.y1 - r.y0) / spacing) + 1))
    ring = [np.stack([xs, np.full_like(xs, r.y0)], 1), np.stack([xs, np.full_like(xs, r.y1 - 1)], 1),
            np.stack([np.full_like(ys, r.x0), ys], 1), np.stack([np.full_like(ys, r.x1 - 1), ys], 1)]
    return np.concatenate(ring)


def fit_backward_field(src: np.ndarray, dst: np.ndarray, region: Region, step: int,
                       exact: Region | None = None) -> np.ndarray:
    """A smooth (h, w, 2) field over ``region``: at each output pixel, the offset to the source
    pixel to sample. It is fitted at the *destinations* of the control points (where they end
    up), which is what ``cv2.remap`` needs, so no inversion is required.

    For speed the spline is evaluated every ``step`` pixels and upsampled bilinearly;
    ``region`` sides are multiples of ``step`` so the samples sit on cv2.resize's grid.
    Inside ``exact`` (where the field is steep, e.g. between parting lips) every pixel is
    evaluated, so nothing near the lips is smeared."""
    import cv2
    from scipy.interpolate import RBFInterpolator

    # Control points that land on the same spot would make the fit singular: keep the first.
    keys = np.round(dst * 2.0)
    _, keep = np.unique(keys, axis=0, return_index=True)
    keep = np.sort(keep)
    spline = RBFInterpolator(dst[keep], (src - dst)[keep], kernel="thin_plate_spline", smoothing=1e-3)
    h, w = region.shape
    gx = region.x0 + (np.arange(w // step) + 0.5) * step - 0.5
    gy = region.y0 + (np.arange(h // step) + 0.5) * step - 0.5
    grid = np.stack(np.meshgrid(gx, gy), -1).reshape(-1, 2)
    coarse = spline(grid).reshape(len(gy), len(gx), 2).astype(np.float32)
    field = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_LINEAR)
    if exact is not None:
        x0, y0 = max(exact.x0, region.x0), max(exact.y0, region.y0)
        x1, y1 = min(exact.x1, region.x1), min(exact.y1, region.y1)
        if x1 > x0 and y1 > y0:
            ex, ey = np.meshgrid(np.arange(x0, x1, dtype=np.float64), np.arange(y0, y1, dtype=np.float64))
            values = spline(np.stack([ex.ravel(), ey.ravel()], 1)).reshape(y1 - y0, x1 - x0, 2)
            field[y0 - region.y0 : y1 - region.y0, x0 - region.x0 : x1 - region.x0] = values
    return field


def _pixel_grid(region: Region) -> tuple[np.ndarray, np.ndarray]:
    xs = np.arange(region.x0, region.x1, dtype=np.float32)
    ys = np.arange(region.y0, region.y1, dtype=np.float32)
    gx, gy = np.meshgrid(xs, ys)
    return gx, gy


# --- the rig: everything prepared once per photo -------------------------------------------


@dataclass
class MouthColours:
    """The mouth interior's colours for one face (RGB)."""

    cavity: tuple[int, int, int]
    tongue: tuple[int, int, int]
    teeth: tuple[int, int, int]


def _median_rgb(image: np.ndarray, mask: np.ndarray) -> np.ndarray | None:
    pixels = image[mask > 0]
    return np.median(pixels, axis=0).astype(np.float64) if len(pixels) >= 8 else None


def face_colours(image: np.ndarray, lm: np.ndarray, cfg: CpuRenderConfig) -> MouthColours:
    """Colours of the mouth interior taken from the face: cavity and tongue are the lips'
    own colour darkened (red lips give a red-brown mouth, grey stone a grey one); the teeth
    keep the skin's saturation (no white teeth in a sepia photo) and are at most a little
    brighter than the skin (no glare in a dark photo)."""
    import cv2

    h, w = image.shape[:2]
    outer = np.concatenate([lm[UPPER_OUTER_LIP], lm[LOWER_OUTER_LIP][::-1]]).round().astype(np.int32)
    inner = np.concatenate([lm[UPPER_INNER_LIP], lm[LOWER_INNER_LIP][::-1]]).round().astype(np.int32)
    lips = np.zeros((h, w), np.uint8)
    cv2.fillPoly(lips, [outer], 255)
    cv2.fillPoly(lips, [inner], 0)
    # Skin: the cheeks, below the eyes and beside the nose.
    skin = np.zeros((h, w), np.uint8)
    radius = max(2, int(0.03 * face_height(lm)))
    for i in CHEEKS:
        cv2.circle(skin, (int(round(lm[i, 0])), int(round(lm[i, 1]))), radius, 255, -1)
    lip_rgb = _median_rgb(image, lips)
    skin_rgb = _median_rgb(image, skin)
    if lip_rgb is None or skin_rgb is None:
        lip_rgb, skin_rgb = np.array([150.0, 70.0, 70.0]), np.array([200.0, 160.0, 140.0])

    def shade(rgb: np.ndarray, factor: float) -> tuple[int, int, int]:
        return tuple(int(v) for v in np.clip(np.round(rgb * factor), 0, 255))  # type: ignore[return-value]

    def chroma(rgb: np.ndarray) -> float:
        return float((rgb.max() - rgb.min()) / max(rgb.max(), 1.0))

    teeth = np.array(cfg.teeth_rgb, dtype=np.float64)
    grey = np.full(3, teeth.mean())
    teeth = grey + (teeth - grey) * min(1.0, chroma(skin_rgb) / max(chroma(teeth), 1e-3) / 4.0)
    teeth *= min(1.0, 1.3 * float(skin_rgb.mean()) / float(teeth.mean()))
    # Inside, the lips' hue is deeper than on their sunlit outside.
    inside = np.clip(lip_rgb.mean() + (lip_rgb - lip_rgb.mean()) * cfg.inside_saturation, 0, 255)
    return MouthColours(cavity=shade(inside, cfg.cavity_shade), tongue=shade(inside, cfg.tongue_shade),
                        teeth=shade(teeth, 1.0))


SEAL_MIN_GAP = 0.01
"""A photo whose lips are further apart at rest than this (face heights) gets a ``LipSeal``."""
SEAL_CREASE = 0.35
"""How much darker the line where sealed lips meet is than the lips."""
SEAL_INSET = 0.5
"""Sealed lips meet with the colour from this far (share of a lip's height) inside their
photographed edges: the face mesh, like a viewer, reads a light lip edge as parted lips."""


@dataclass
class LipSeal:
    """How the lips close over teeth that the photo shows at rest (``open`` < 0).

    Per column of ``region`` (crop rows): the inner lip edges ``upper`` and ``lower`` move
    towards ``meet``, half-way between them; the lips, and a little of the skin beyond them,
    stretch to follow, while the rows above ``top`` and below ``bottom`` stay put. The mapping is
    piecewise linear per column, so the lip edges stay sharp where they meet."""

    region: Region
    top: np.ndarray
    upper: np.ndarray
    meet: np.ndarray
    lower: np.ndarray
    bottom: np.ndarray
    upper_inset: np.ndarray
    """(w,) a sealed upper lip shows its colour from this far inside its edge (not the teeth's)."""
    lower_inset: np.ndarray
    crease: np.ndarray
    """(h, w) 0..1: the soft dark line where sealed lips meet (a Gaussian across ``meet``)."""
    grid_x: np.ndarray
    grid_y: np.ndarray

    def shade(self, amount: float) -> np.ndarray | None:
        """(h, w, 1) brightness factor: the soft dark line where the lips meet, fading in as
        they close (nearly sealed lips show it; parted ones show the teeth between them)."""
        strength = SEAL_CREASE * float(np.clip((amount - 0.6) / 0.4, 0.0, 1.0))
        if strength <= 0:
            return None
        return (1.0 - strength * self.crease)[..., None]

    def source_rows(self, amount: float) -> np.ndarray:
        """(h, w) the photo's row to show at each pixel of ``region`` with the lips ``amount``
        (0..1) of the way to sealed."""
        y = self.grid_y
        up_to = self.upper + amount * (self.meet - self.upper)  # where the upper edge is now
        low_to = self.lower - amount * (self.lower - self.meet)
        up_from = self.upper - amount * self.upper_inset  # ... showing the photo's row here
        low_from = self.lower + amount * self.lower_inset
        above = self.top + (y - self.top) * (up_from - self.top) / np.maximum(up_to - self.top, 1e-3)
        between = up_from + (y - up_to) * (low_from - up_from) / np.maximum(low_to - up_to, 1e-3)
        below = low_from + (y - low_to) * (self.bottom - low_from) / np.maximum(self.bottom - low_to, 1e-3)
        rows = np.where(y < up_to, above, np.where(y < low_to, between, below))
        return np.where((y < self.top) | (y >= self.bottom), y, rows).astype(np.float32)


def build_lip_seal(lm: np.ndarray, size: int) -> LipSeal | None:
    """The ``LipSeal`` of a face whose lips are apart at rest; None when they already meet."""
    face_h = face_height(lm)
    upper_in, lower_in = lm[UPPER_INNER_LIP].astype(np.float64), lm[LOWER_INNER_LIP].astype(np.float64)
    if float((lower_in[4:7, 1] - upper_in[4:7, 1]).mean()) <= SEAL_MIN_GAP * face_h:
        return None
    upper_out, lower_out = lm[UPPER_OUTER_LIP].astype(np.float64), lm[LOWER_OUTER_LIP].astype(np.float64)
    # Between the inner corners (beyond them the lips already meet).
    region = _region(upper_in[:, 0].min(), upper_out[:, 1].min() - 0.06 * face_h,
                     upper_in[:, 0].max() + 1, lower_out[:, 1].max() + 0.06 * face_h, size, 1)
    xs = np.arange(region.x0, region.x1, dtype=np.float64)

    def curve(points: np.ndarray) -> np.ndarray:
        order = np.argsort(points[:, 0])
        return np.interp(xs, points[order, 0], points[order, 1])

    upper, lower = curve(upper_in), curve(lower_in)
    lower = np.maximum(lower, upper)
    upper_lip = np.maximum(upper - curve(upper_out), 2.0)  # lip heights, per column
    lower_lip = np.maximum(curve(lower_out) - lower, 2.0)
    # The stretch reaches into the skin beyond the lips (by ~60 % of a lip's height), so the
    # lip itself stretches less; inside the region, so it meets the rest of the frame.
    top = np.maximum(upper - 1.6 * upper_lip, region.y0)
    bottom = np.minimum(lower + 1.6 * lower_lip, region.y1 - 1)
    gx, gy = _pixel_grid(region)
    meet = (upper + lower) / 2.0
    crease = np.exp(-0.5 * ((gy + 0.5 - meet) / max(0.7, 0.004 * face_h)) ** 2).astype(np.float32)
    return LipSeal(region=region, top=top, upper=upper, meet=meet, lower=lower, bottom=bottom,
                   upper_inset=SEAL_INSET * upper_lip, lower_inset=SEAL_INSET * lower_lip,
                   crease=crease, grid_x=gx, grid_y=gy)


@dataclass
class MouthRig:
    region: Region
    levels: np.ndarray
    """(K,) the ``open`` values the fields were fitted for; levels[0] = 0."""
    open_fields: np.ndarray
    """(K, h, w, 2) backward offsets per level."""
    spread_field: np.ndarray
    round_field: np.ndarray
    grid_x: np.ndarray
    grid_y: np.ndarray
    split: np.ndarray
    """(11, 2) where the lips part, corner to corner (the upper teeth's lower edge or the lip line)."""
    upper_unit: np.ndarray
    """(11, 2) forward motion of the upper side of the split for ``open = 1``."""
    lower_unit: np.ndarray
    spread_unit: np.ndarray
    """(11, 2) forward motion of the split for ``width = +1``."""
    round_unit: np.ndarray
    draw_teeth: bool
    face_h: float
    mouth_half_width: float
    colours: MouthColours
    seal: LipSeal | None = None
    """How the lips close over the teeth the photo shows at rest; None: its lips meet already."""


@dataclass
class EyeRig:
    """One eye. A blink slides the upper lid down: per column, the eyelid skin between
    ``skin_top`` and the lash line is stretched down to cover the eye; below the
    moving lid margin the eye stays as it is (the lid goes *over* it, nothing is squeezed)."""

    region: Region
    skin_top: np.ndarray
    """(w,) per column of the region, in crop rows."""
    upper: np.ndarray
    lower: np.ndarray
    lash: float
    """Height of the dark lash line above the lid margin: it moves down without stretching."""
    soft: np.ndarray
    """The region of the photo, blurred: the source of the stretched lid skin."""
    grid_x: np.ndarray
    grid_y: np.ndarray


@dataclass
class HeadRig:
    region: Region
    pivot: tuple[float, float]
    weight: np.ndarray
    """(h, w) how much each pixel follows the head: 1 on the head, 0 on the crop's border."""
    wx: np.ndarray
    wy: np.ndarray
    grid_x: np.ndarray
    grid_y: np.ndarray


@dataclass
class FaceRig:
    image: np.ndarray
    mouth: MouthRig
    eyes: list[EyeRig]
    head: HeadRig
    config: CpuRenderConfig = field(default_factory=CpuRenderConfig)


def _lip_split(image: np.ndarray, upper: np.ndarray, lower: np.ndarray) -> tuple[np.ndarray, bool]:
    """Where the lips part when the jaw drops, and whether the photo already shows teeth.

    Closed lips part along their meeting line. A smile that shows the upper teeth parts below
    the teeth (they belong to the skull, not the jaw): the darkest row between the lips in the
    middle of the mouth marks where upper teeth end."""
    gap = lower[:, 1] - upper[:, 1]
    mid = (upper + lower) / 2.0
    centre_gap = float(gap[4:7].mean())
    if centre_gap < 4.0:
        return mid, False
    gray = image.mean(axis=2)
    fractions = np.linspace(0.3, 0.92, 16)
    darkness = np.zeros_like(fractions)
    for i in range(3, 8):  # middle columns only: the corners are in shadow anyway
        x = int(round((upper[i, 0] + lower[i, 0]) / 2))
        ys = np.clip(np.round(upper[i, 1] + fractions * gap[i]).astype(int), 0, image.shape[0] - 1)
        darkness += gray[ys, np.clip(x, 0, image.shape[1] - 1)]
    fraction = float(fractions[int(np.argmin(darkness))])
    split = upper + (lower - upper) * fraction
    teeth_visible = float(gray[int(round(upper[5, 1] + 0.25 * gap[5])), int(round(upper[5, 0]))]) > 120.0
    return split, teeth_visible


def build_mouth_rig(image: np.ndarray, lm: np.ndarray, size: int, eye_bottom: float, cfg: CpuRenderConfig) -> MouthRig:
    import cv2

    step = max(2, int(round(size / 128)))
    face_h = face_height(lm)
    upper, lower = lm[UPPER_INNER_LIP].astype(np.float64), lm[LOWER_INNER_LIP].astype(np.float64)
    corners = lm[[UPPER_INNER_LIP[0], UPPER_INNER_LIP[-1]]].astype(np.float64)
    centre = corners.mean(axis=0)
    half_w = max(4.0, float(np.linalg.norm(corners[1] - corners[0])) / 2.0)
    split, teeth_visible = _lip_split(image, upper, lower)
    oval = lm[FACE_OVAL]
    lower_face = oval[oval[:, 1] > centre[1] - 0.1 * face_h]
    margin = 0.08 * face_h
    top = max(float(lm[NOSE_BOTTOM, 1]) - 0.02 * face_h, eye_bottom)
    region = _region(lower_face[:, 0].min() - margin, top, lower_face[:, 0].max() + margin,
                     float(lm[CHIN, 1]) + 0.3 * face_h, size, step)
    face_half_w = max(8.0, float(oval[:, 0].max() - oval[:, 0].min()) / 2.0)
    drop = cfg.jaw_drop * face_h

    def along(points: np.ndarray) -> np.ndarray:
        """-1 at the left corner, 0 in the middle, +1 at the right corner."""
        return np.clip((points[:, 0] - centre[0]) / half_w, -1.0, 1.0)

    def jaw_motion(points: np.ndarray) -> np.ndarray:
        """Forward motion for open = 1 of points on the upper (skull) or lower (jaw) side."""
        t = along(points)
        return np.stack([-0.04 * half_w * t, drop * (cfg.corner_drop * t**2 + (1 - t**2))], 1)

    def skull_motion(points: np.ndarray) -> np.ndarray:
        t = along(points)
        return np.stack([-0.04 * half_w * t, drop * (cfg.corner_drop * t**2 - cfg.upper_lip_lift * (1 - t**2))], 1)

    # Every other face-mesh point inside the region: below the corners it rides on the jaw
    # (fully at the chin, little towards the jaw angles), above it stays put.
    inside = [i for i in range(468) if i not in LIP_POINTS
              and region.x0 <= lm[i, 0] < region.x1 and region.y0 <= lm[i, 1] < region.y1]
    others = lm[inside].astype(np.float64)
    below = np.clip((others[:, 1] - centre[1]) / max(1.0, float(lower[5, 1] - centre[1]) + 0.04 * face_h), 0.0, 1.0)
    on_jaw = np.clip(1.0 - ((others[:, 0] - centre[0]) / face_half_w) ** 2, 0.0, 1.0) * below
    others_open = np.stack([np.zeros(len(others)), drop * on_jaw], 1)
    # Mesh points on the lips themselves (between the contours above) move with their lip:
    # above the parting line with the skull, below it with the jaw.
    lip_outline = np.concatenate([lm[UPPER_OUTER_LIP], lm[LOWER_OUTER_LIP][::-1]]).astype(np.float32)
    split_order = np.argsort(split[:, 0])
    on_lips = np.array([cv2.pointPolygonTest(lip_outline, (float(p[0]), float(p[1])), True) > -0.01 * face_h
                        for p in others], dtype=bool)
    for j, p in enumerate(others):
        if on_lips[j]:
            split_y = np.interp(p[0], split[split_order, 0], split[split_order, 1])
            motion = skull_motion if p[1] < split_y else jaw_motion
            others_open[j] = motion(p[None])[0]
    # The neck under the chin and the region's edge stay fixed.
    neck = np.stack([np.linspace(centre[0] - face_half_w, centre[0] + face_half_w, 7),
                     np.full(7, float(lm[CHIN, 1]) + 0.22 * face_h)], 1)
    fixed = np.concatenate([_border_ring(region, 6 * step), neck])

    skull_pts = np.concatenate([lm[UPPER_OUTER_LIP], upper, split])
    jaw_pts = np.concatenate([lm[LOWER_OUTER_LIP], lower, split])
    skull_unit = skull_motion(skull_pts)
    skull_unit[: len(UPPER_OUTER_LIP)] *= 0.8  # the outer upper lip lifts a little less
    jaw_unit = jaw_motion(jaw_pts)
    src = np.concatenate([skull_pts, jaw_pts, others, fixed])
    unit = np.concatenate([skull_unit, jaw_unit, others_open, np.zeros_like(fixed)])

    n_levels = int(np.clip(np.ceil(cfg.max_open * drop / cfg.level_step_px), 2, cfg.max_levels)) + 1
    levels = np.linspace(0.0, cfg.max_open, n_levels)
    h, w = region.shape
    fields = np.zeros((n_levels, h, w, 2), dtype=np.float32)
    lips = np.concatenate([lm[UPPER_OUTER_LIP], lm[LOWER_OUTER_LIP]])
    for k, level in enumerate(levels[1:], start=1):
        # The lips and the gap between them, where the field is steep: evaluated exactly.
        moved = np.concatenate([lips, lips + level * jaw_motion(lips)])
        pad = 0.02 * face_h
        band = Region(int(moved[:, 0].min() - pad), int(moved[:, 1].min() - pad),
                      int(np.ceil(moved[:, 0].max() + pad)), int(np.ceil(moved[:, 1].max() + pad)))
        fields[k] = fit_backward_field(src, src + level * unit, region, step, exact=band)

    # Width: spread pulls the lips sideways from the middle; rounding pushes them in.
    lip_pts = np.concatenate([lm[UPPER_OUTER_LIP], lm[LOWER_OUTER_LIP], upper, lower, split, others[on_lips]])
    sideways = np.stack([along(lip_pts) * half_w, np.zeros(len(lip_pts))], 1)
    static = np.concatenate([others[~on_lips], fixed])
    width_src = np.concatenate([lip_pts, static])
    spread_move = np.concatenate([cfg.spread * sideways, np.zeros_like(static)])
    round_move = np.concatenate([-cfg.rounding * sideways, np.zeros_like(static)])
    spread_field = fit_backward_field(width_src, width_src + spread_move, region, step)
    round_field = fit_backward_field(width_src, width_src + round_move, region, step)

    gx, gy = _pixel_grid(region)
    split_sideways = np.stack([along(split) * half_w, np.zeros(len(split))], 1)
    return MouthRig(
        region=region, levels=levels.astype(np.float32), open_fields=fields,
        spread_field=spread_field, round_field=round_field, grid_x=gx, grid_y=gy,
        split=split, upper_unit=skull_motion(split), lower_unit=jaw_motion(split),
        spread_unit=cfg.spread * split_sideways, round_unit=-cfg.rounding * split_sideways,
        draw_teeth=not teeth_visible, face_h=face_h, mouth_half_width=half_w,
        colours=face_colours(image, lm, cfg), seal=build_lip_seal(lm, size),
    )


def build_eye_rig(image: np.ndarray, lm: np.ndarray, upper_ids: list[int], lower_ids: list[int], brow_ids: list[int]) -> EyeRig:
    import cv2

    size = image.shape[0]
    upper, lower, brow = lm[upper_ids].astype(np.float64), lm[lower_ids].astype(np.float64), lm[brow_ids].astype(np.float64)
    left, right = float(upper[:, 0].min()), float(upper[:, 0].max())
    eye_w = right - left
    region = _region(left - 2, brow[:, 1].max(), right + 3, lower[:, 1].max() + 0.1 * eye_w, size, 1)
    xs = np.arange(region.x0, region.x1, dtype=np.float64)
    up_order, low_order = np.argsort(upper[:, 0]), np.argsort(lower[:, 0])
    upper_y = np.interp(xs, upper[up_order, 0], upper[up_order, 1])
    lower_y = np.interp(xs, lower[low_order, 0], lower[low_order, 1])
    outside = (xs <= left) | (xs >= right)
    lower_y = np.where(outside, upper_y, np.maximum(lower_y, upper_y))  # no gap beyond the corners
    # The lid skin that slides down: from the lid margin up to ~80% of the eye's height,
    # but never above the brow line (the region's top).
    opening = float((lower_y - upper_y).max())
    lash = 0.18 * opening
    skin_top = np.maximum(upper_y - max(0.8 * opening, 2.0) - lash, region.y0)
    gx, gy = _pixel_grid(region)
    # Lashes and creases run up and down: blur mostly sideways.
    soft = cv2.GaussianBlur(np.ascontiguousarray(image[region.slices]), (0, 0),
                            sigmaX=max(1.0, 0.3 * opening), sigmaY=max(0.5, 0.1 * opening))
    return EyeRig(region=region, skin_top=skin_top.astype(np.float32), upper=upper_y.astype(np.float32),
                  lower=lower_y.astype(np.float32), lash=lash, soft=soft, grid_x=gx, grid_y=gy)


def build_head_rig(lm: np.ndarray, size: int) -> HeadRig:
    import cv2

    face_h = face_height(lm)
    oval = lm[FACE_OVAL].astype(np.float64)
    centre = oval.mean(axis=0)
    head = centre + (oval - centre) * 1.12
    head[head[:, 1] < centre[1], 1] -= 0.12 * face_h  # hair above the forehead
    mask = np.zeros((size, size), np.uint8)
    cv2.fillPoly(mask, [np.round(head).astype(np.int32)], 255)
    # Distance outside the head, turned into a smooth 1 → 0 falloff.
    dist = cv2.distanceTransform(255 - mask, cv2.DIST_L2, 5)
    falloff = np.clip(1.0 - dist / (0.25 * face_h), 0.0, 1.0)
    weight = falloff * falloff * (3.0 - 2.0 * falloff)
    # Zero on the crop's border so pasting back shows no seam.
    edge = np.minimum(np.arange(size), np.arange(size)[::-1]) / (0.08 * size)
    edge = np.clip(edge, 0.0, 1.0)
    weight = (weight * np.minimum.outer(edge, edge)).astype(np.float32)
    ys, xs = np.nonzero(weight > 1e-3)
    if len(xs) == 0:
        region = Region(0, 0, 2, 2)
    else:
        region = Region(int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
    w = np.ascontiguousarray(weight[region.slices])
    gx, gy = _pixel_grid(region)
    pivot = (float(lm[CHIN, 0]), float(lm[CHIN, 1]) + 0.15 * face_h)
    return HeadRig(region=region, pivot=pivot, weight=w, wx=w * gx, wy=w * gy, grid_x=gx, grid_y=gy)


def build_rig(image: np.ndarray, config: CpuRenderConfig | None = None) -> FaceRig:
    """Prepare everything that stays the same for every frame of a clip of this face crop."""
    cfg = config or CpuRenderConfig()
    if image.shape[0] != image.shape[1]:
        raise ValueError("the CPU renderer works on a square face crop")
    size = image.shape[0]
    with FaceMesh() as mesh:
        landmarks = mesh.landmarks(image)
    if landmarks is None:
        raise StageError(
            "The face in the photo could not be mapped (eyes, nose and mouth were not found). "
            "Use a sharper, front-facing photo."
        )
    lm = landmarks.astype(np.float64)
    eyes = [build_eye_rig(image, lm, up, low, brow) for up, low, brow in EYES]
    eye_bottom = max(e.region.y1 for e in eyes)
    mouth = build_mouth_rig(image, lm, size, eye_bottom, cfg)
    return FaceRig(image=np.ascontiguousarray(image), mouth=mouth, eyes=eyes,
                   head=build_head_rig(lm, size), config=cfg)


HEAD_SETTLE_S = 0.12  # the head comes to rest this quickly in a pause ...
HEAD_WAKE_S = 0.04  # ... and starts moving this shortly before the next phrase
NOD_S = 0.36  # one nod: down and back up
STRESS_GAP_S = 0.3  # stressed syllables at most about three a second


# --- per-clip motion -----------------------------------------------------------------------


def blink_track(n_frames: int, seed: int, every_s: tuple[float, float] = (2.0, 6.0), blink_s: float = 0.15) -> np.ndarray:
    """Eyelid closure per frame, 0 open .. 1 shut: a quick close, a slower reopening."""
    rng = np.random.default_rng([seed, 1])
    times = (np.arange(n_frames) + 0.5) / FPS
    closure = np.zeros(n_frames, dtype=np.float32)
    t = rng.uniform(0.6, 2.5)
    while t < n_frames / FPS:
        starts = [t] + ([t + 0.3] if rng.random() < 0.1 else [])  # now and then a double blink
        for start in starts:
            phase = (times - start) / blink_s
            close = np.clip(phase / 0.35, 0.0, 1.0)  # closing takes ~35% of the blink
            reopen = np.clip((1.0 - phase) / 0.5, 0.0, 1.0)  # reopening the last 50%
            closure = np.maximum(closure, np.minimum(close, reopen) * ((phase >= 0) & (phase <= 1)))
        t += rng.uniform(*every_s)
    return np.clip(closure * 1.15, 0.0, 1.0)


def speech_activity(gate: np.ndarray, settle_s: float = HEAD_SETTLE_S, wake_s: float = HEAD_WAKE_S) -> np.ndarray:
    """Per frame, 1 while speaking and 0 in the pauses (``gate`` is ``sonic.mouth.pause_gate``:
    0 on silences of 150 ms or more). Inside a pause it eases down over the first ``settle_s``
    and back up over the last ``wake_s``, so the head settles rather than snaps, and is
    still in between."""
    pause = np.asarray(gate) <= 0
    n = len(pause)
    since = np.full(n, np.inf)  # frames since the last spoken frame
    until = np.full(n, np.inf)  # frames until the next one
    last = -np.inf
    for i in range(n):
        last = i if not pause[i] else last
        since[i] = i - last
    following = np.inf
    for i in range(n - 1, -1, -1):
        following = i if not pause[i] else following
        until[i] = following - i

    def ease(frames: np.ndarray, seconds: float) -> np.ndarray:
        x = np.clip(1.0 - frames / (seconds * FPS + 1.0), 0.0, 1.0)
        return x * x * (3.0 - 2.0 * x)

    return np.maximum(ease(since, settle_s), ease(until, wake_s)).astype(np.float32)


def stress_peaks(loud: np.ndarray, gate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Frames of the stressed syllables and their strength (0..1): the loudness peaks that
    stand out from their neighbours, at least ``STRESS_GAP_S`` apart, outside the pauses."""
    from scipy.ndimage import gaussian_filter1d
    from scipy.signal import find_peaks

    if len(loud) < 3:
        return np.zeros(0, dtype=int), np.zeros(0)
    smooth = gaussian_filter1d(np.asarray(loud, np.float64), 1.0) * (np.asarray(gate) > 0)
    frames, props = find_peaks(smooth, height=0.35, prominence=0.15,
                               distance=max(1, int(round(STRESS_GAP_S * FPS))))
    strength = np.clip(props["peak_heights"] * (0.5 + props["prominences"]), 0.0, 1.0)
    return frames, strength


def head_track(n_frames: int, seed: int, motion_scale: float, loud: np.ndarray, gate: np.ndarray,
               size: int, cfg: CpuRenderConfig) -> np.ndarray:
    """(frames, 4): rotation (degrees), shift x, shift y (pixels), scale.

    The head follows the speech: a short nod down (and a slight tilt, its side seeded) centred
    on each stressed syllable (``stress_peaks`` of ``loud``, 0..1 per frame), a slow seeded sway
    on top, and all of it easing to rest in the pauses (``gate``, ``sonic.mouth.pause_gate``)."""
    if n_frames == 0:
        return np.zeros((0, 4), dtype=np.float32)
    rng = np.random.default_rng([seed, 2])
    t = np.arange(n_frames) / FPS

    def sway() -> np.ndarray:
        freqs = rng.uniform(0.07, 0.45, 3)
        phases = rng.uniform(0, 2 * np.pi, 3)
        amps = rng.uniform(0.5, 1.0, 3)
        return (amps[:, None] * np.sin(2 * np.pi * freqs[:, None] * t + phases[:, None])).sum(0) / amps.sum()

    # Nods: a raised-cosine bump of ``NOD_S`` centred on each stressed syllable.
    frames, strength = stress_peaks(loud, gate)
    half = max(1, int(round(NOD_S * FPS / 2)))
    bump = 0.5 + 0.5 * np.cos(np.pi * np.arange(-half, half + 1) / (half + 1))
    impulses = np.zeros(n_frames)
    tilts = np.zeros(n_frames)
    sides = rng.choice([-1.0, 1.0], size=len(frames))
    impulses[frames] = strength
    tilts[frames] = strength * sides
    nod = np.convolve(impulses, bump)[half : half + n_frames]
    tilt = np.convolve(tilts, bump)[half : half + n_frames]
    awake = speech_activity(gate)
    motion = np.stack([
        cfg.head_rotation_deg * (cfg.sway * sway() + cfg.nod_tilt * tilt),
        cfg.head_shift * size * cfg.sway * sway(),
        cfg.head_shift * size * 0.7 * cfg.sway * sway() + cfg.nod * size * nod,
        0.004 * cfg.sway * sway(),
    ], 1) * awake[:, None]
    motion[:, :3] *= motion_scale
    motion[:, 3] += 1.0
    return motion.astype(np.float32)


# --- per-frame drawing ---------------------------------------------------------------------


def _mouth_interior(frame: np.ndarray, rig: MouthRig, opening: float, width: float, cfg: CpuRenderConfig) -> None:
    """Paint the cavity, teeth and tongue into the gap between the lips, in place."""
    import cv2

    sideways = rig.spread_unit if width >= 0 else rig.round_unit
    top = rig.split + opening * rig.upper_unit + abs(width) * sideways
    bottom = rig.split + opening * rig.lower_unit + abs(width) * sideways
    gap = float(bottom[5, 1] - top[5, 1])
    if gap < 1.0:
        return
    polygon = np.concatenate([top, bottom[::-1]])
    pad = 3
    x0, y0 = np.floor(polygon.min(0)).astype(int) - pad
    x1, y1 = np.ceil(polygon.max(0)).astype(int) + pad
    h, w = frame.shape[:2]
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    if x1 <= x0 or y1 <= y0:
        return
    shift = 4  # draw with 1/16-pixel precision
    scale = 1 << shift
    offset = np.array([x0, y0])
    poly = np.round((polygon - offset) * scale).astype(np.int32)
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillPoly(mask, [poly], 255, cv2.LINE_AA, shift)
    colours = rig.colours
    paint = np.empty((y1 - y0, x1 - x0, 3), np.uint8)
    paint[:] = colours.cavity
    strength = min(1.0, gap / (0.05 * rig.face_h))
    # Tongue: low in the mouth, visible once it opens wide.
    if strength > 0.3:
        c = bottom[5] - offset - (0, 0.2 * gap)
        axes = (int(0.5 * rig.mouth_half_width * scale), int(0.35 * gap * scale))
        tongue = tuple(int(a + (b - a) * 0.6 * strength) for a, b in zip(colours.cavity, colours.tongue))
        centre = tuple(int(v) for v in np.round(c * scale))
        cv2.ellipse(paint, centre, axes, 0, 0, 360, tongue, -1, cv2.LINE_AA, shift)
    # Lower teeth: a thinner, shaded band just inside the lower lip, seen once the jaw is well
    # down (they sit behind the lip and come into view late).
    if strength > 0.5:
        band = min(0.15 * gap, 0.01 * rig.face_h) * min(1.0, (strength - 0.5) / 0.3)
        if band >= 1.0:
            line = bottom[3:8] - offset - (0, band / 2.0)
            shaded = tuple(int(0.75 * v) for v in colours.teeth)  # in the shadow of the upper lip
            cv2.polylines(paint, [np.round(line * scale).astype(np.int32)], False, shaded,
                          max(1, int(round(band))), cv2.LINE_AA, shift)
    # Upper teeth: a band under the upper lip, across the middle of the mouth.
    if rig.draw_teeth:
        band = min(0.35 * gap, 0.02 * rig.face_h)
        if band >= 1.0:
            line = top[2:9] - offset + (0, band / 2.0)
            cv2.polylines(paint, [np.round(line * scale).astype(np.int32)], False, colours.teeth,
                          max(1, int(round(band))), cv2.LINE_AA, shift)
    alpha = cv2.GaussianBlur(mask, (3, 3), 0).astype(np.float32) * (1.0 / 255.0)
    roi = frame[y0:y1, x0:x1]
    blended = roi + (paint.astype(np.float32) - roi) * alpha[..., None]
    roi[:] = blended.astype(np.uint8)


def _teeth_on_lip(frame: np.ndarray, rig: MouthRig, opening: float, width: float, amount: float) -> None:
    """f and v: the upper teeth's edge shows over the lower lip, in the middle of the mouth."""
    import cv2

    sideways = rig.spread_unit if width >= 0 else rig.round_unit
    top = rig.split + opening * rig.upper_unit + abs(width) * sideways
    band = 0.018 * rig.face_h
    if band < 1.0:
        return
    # A lens of teeth under the lip line: full height in the middle, thin towards the corners.
    lower_edge = top[3:8] + np.stack([np.zeros(5), band * np.array([0.5, 0.9, 1.0, 0.9, 0.5])], 1)
    polygon = np.concatenate([top[3:8], lower_edge[::-1]])
    x0, y0 = np.floor(polygon.min(0)).astype(int) - 2
    x1, y1 = np.ceil(polygon.max(0)).astype(int) + 2
    h, w = frame.shape[:2]
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    if x1 <= x0 or y1 <= y0:
        return
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillPoly(mask, [np.round((polygon - (x0, y0)) * 16).astype(np.int32)], 255, cv2.LINE_AA, 4)
    alpha = cv2.GaussianBlur(mask, (3, 3), 0).astype(np.float32) * (min(1.0, amount) * 0.85 / 255.0)
    roi = frame[y0:y1, x0:x1]
    roi[:] = (roi + (np.asarray(rig.colours.teeth, np.float32) - roi) * alpha[..., None]).astype(np.uint8)


def render_frame(rig: FaceRig, opening: float, width: float, blink: float, head: np.ndarray,
                 teeth_on_lip: float = 0.0) -> np.ndarray:
    """One output frame (a new array) for the given mouth, blink and head pose; ``opening`` below
    0 presses the lips together (-1: sealed); ``teeth_on_lip`` (0..1) shows the upper teeth over
    the lower lip (f, v)."""
    import cv2

    src = rig.image
    frame = src.copy()
    cfg = rig.config

    m = rig.mouth
    if opening < -1e-3 and m.seal is not None:
        seal = m.seal
        amount = min(1.0, -opening)
        closed = cv2.remap(src, seal.grid_x, seal.source_rows(amount), cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REPLICATE)
        shade = seal.shade(amount)
        frame[seal.region.slices] = closed if shade is None else (closed * shade).astype(np.uint8)
    sealed = opening < -1e-3 and m.seal is not None
    opening = max(opening, 0.0)
    if opening > 1e-3 or abs(width) > 1e-3:
        if sealed:
            src = frame.copy()  # the width warp moves the closed lips
        k = int(np.clip(np.searchsorted(m.levels, opening) - 1, 0, len(m.levels) - 2))
        frac = float(np.clip((opening - m.levels[k]) / (m.levels[k + 1] - m.levels[k]), 0.0, 1.0))
        offsets = m.open_fields[k] * (1.0 - frac) + m.open_fields[k + 1] * frac
        if width > 0:
            offsets += width * m.spread_field
        elif width < 0:
            offsets += -width * m.round_field
        map_x = offsets[..., 0] + m.grid_x
        map_y = offsets[..., 1] + m.grid_y
        frame[m.region.slices] = cv2.remap(src, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        _mouth_interior(frame, m, opening, width, cfg)
    if teeth_on_lip > 0.05:
        _teeth_on_lip(frame, m, opening, width, teeth_on_lip)

    if blink > 1e-3:
        for eye in rig.eyes:
            # The lid margin moves from ``upper`` to ``closed``; rows above it show the lid skin
            # stretched down, rows below it the eye as it was.
            # The lash line just above the margin moves down as it is; the skin above it stretches.
            closed = eye.upper + (0.97 * blink) * (eye.lower - eye.upper)
            y = eye.grid_y
            lash_top = closed - eye.lash
            stretch = (eye.upper - eye.lash - eye.skin_top) / np.maximum(lash_top - eye.skin_top, 1e-3)
            lid = np.where(y >= lash_top, y - (closed - eye.upper), eye.skin_top + (y - eye.skin_top) * stretch)
            # 1 on the lid, 0 below it, fractional on the row the margin crosses (no stair steps).
            cover = np.clip(closed + 0.5 - y, 0.0, 1.0) * (y >= eye.skin_top)
            map_y = (y + cover * (lid - y)).astype(np.float32)
            sharp = cv2.remap(src, eye.grid_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            # Stretched lid skin would stretch every lash and crease into streaks: take it from
            # a blurred copy instead (skin is smooth at that scale), fading in above the lashes.
            soft = cv2.remap(eye.soft, eye.grid_x - eye.region.x0, map_y - eye.region.y0, cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_REPLICATE)
            moved = np.abs(lid - y) / (2.0 * max(eye.lash, 1.0))
            skin = np.clip((lash_top - y) / max(eye.lash, 1.0), 0.0, 1.0) * np.clip(moved, 0.0, 1.0) * cover
            skin = skin[..., None].astype(np.float32)
            frame[eye.region.slices] = (sharp + (soft.astype(np.float32) - sharp) * skin).astype(np.uint8)

    if not at_rest(head):
        # the head follows the pose, the crop's border does not
        follow_head(frame, rig.head, rig.head.region.slices, rig.head.pivot, head)
    return frame


@dataclass
class Performance:
    """The per-frame inputs of a clip: the mouth track, blinks and head pose."""

    mouth: MouthTrack
    blink: np.ndarray
    head: np.ndarray

    @property
    def frames(self) -> int:
        return len(self.blink)


def speech_prosody(mouth: MouthTrack) -> tuple[np.ndarray, np.ndarray]:
    """(loudness 0..1, pause gate) per frame, as the mouth track heard them (``sonic.mouth``):
    the audio's loudness when the track was made with the audio, else the mouth's opening."""
    pauses = mouth.pauses if mouth.pauses is not None else np.ones(len(mouth.open), dtype=np.float32)
    if mouth.loudness is not None:
        return mouth.loudness, pauses
    opening = np.maximum(mouth.open, 0.0)  # closed lips (below 0) are as quiet as rest
    peak = float(opening.max()) if len(opening) else 0.0
    return (opening / peak if peak > 0 else opening).astype(np.float32), pauses


def plan_performance(rig: FaceRig, n_frames: int, params: RenderParams, samples: np.ndarray | None,
                     sample_rate: int | None, phonemes: Sequence[Sequence] | None) -> Performance:
    cfg = rig.config
    mouth = mouth_track(n_frames, samples, sample_rate, phonemes, params.dynamic_scale)
    mouth.open = np.minimum(mouth.open, cfg.max_open)
    blink = blink_track(n_frames, params.seed, cfg.blink_every_s, cfg.blink_s)
    loud, gate = speech_prosody(mouth)
    head = head_track(n_frames, params.seed, params.motion_scale, loud, gate, rig.image.shape[0], cfg)
    return Performance(mouth=mouth, blink=blink, head=head)


REST_POSE = np.array([0.0, 0.0, 0.0, 1.0], dtype=np.float32)


def render_frames(rig: FaceRig, performance: Performance, move_head: bool = True) -> Iterator[np.ndarray]:
    """The clip's frames; with ``move_head`` off the head stays at rest in them (the caller
    moves it, e.g. ``sonic.crop.PasteBack`` moving the whole picture)."""
    teeth = performance.mouth.teeth_on_lip
    for i in range(performance.frames):
        yield render_frame(rig, float(performance.mouth.open[i]), float(performance.mouth.width[i]),
                           float(performance.blink[i]), performance.head[i] if move_head else REST_POSE,
                           float(teeth[i]) if teeth is not None else 0.0)


class CpuRenderer:
    """The built-in renderer (see the module docstring); implements ``sonic.params.Renderer``."""

    name = "cpu"
    version = "5"   # 2: long vowels ("ɑː") shaped as vowels (sonic.mouth.viseme); 3: closed in pauses,
    # mouth colours from the face, lower teeth, teeth on the lip for f/v; 4: the head nods on
    # stressed syllables and rests in pauses; 5: lips sealed on m/b/p and in pauses

    def __init__(self, config: CpuRenderConfig | None = None):
        self.config = config or CpuRenderConfig()
        self.last_mouth_source: str | None = None
        """"phonemes" or "energy" after a render: what drove the mouth."""
        self.head_outside_crop = False
        """Set by a caller that pastes the frames back (``sonic.crop.PasteBack``) and moves the
        head there, with hair and shoulders: the frames then show the head at rest."""
        self.last_head: np.ndarray | None = None
        """(frames, 4) after a render: the head pose per frame (``head_track``) ..."""
        self.last_pivot: tuple[float, float] | None = None
        """... about this point of the crop."""

    def render(
        self,
        image_rgb: np.ndarray,
        audio_path: Path,
        speech: SpeechFacts | None,
        params: RenderParams,
        progress: ProgressFn | None = None,
    ) -> Iterator[np.ndarray]:
        note: Callable[[float, str], None] = progress or (lambda fraction, text: None)
        samples, rate = decode_audio(audio_path)
        n_frames = frame_count(len(samples) / rate)
        note(0.0, "mapping the face")
        rig = build_rig(image_rgb, config=self.config)
        phonemes = speech.phonemes if speech and speech.phonemes else None  # None: the mouth follows the sound
        performance = plan_performance(rig, n_frames, params, samples, rate, phonemes)
        self.last_mouth_source = performance.mouth.source
        self.last_head, self.last_pivot = performance.head, rig.head.pivot
        return render_frames(rig, performance, move_head=not self.head_outside_crop)


def create_renderer(settings=None) -> CpuRenderer:
    """Factory used by ``sonic.stage`` (the GPU renderer offers the same function)."""
    return CpuRenderer()


def engine_version(settings=None) -> str:
    """Cache-key text for the render stage (``sonic.stage``; ``sonic.gpu`` offers the same)."""
    return CpuRenderer.version
