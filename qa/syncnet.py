"""Optional SyncNet adapter: LSE-D / LSE-C for users who bring their own SyncNet weights.

Our own lip-sync score (``qa.lipsync``) needs no model. Papers on talking heads (Wav2Lip and
those after it) report two numbers from a pretrained SyncNet instead: **LSE-D** (lip-sync error
distance, lower is better) and **LSE-C** (lip-sync error confidence, higher is better). When a
user sets ``syncnet_model`` to the ``syncnet_v2.model`` file of the public SyncNet release, the
QA report shows these numbers beside ours, for comparison with published results. They never
decide pass or fail. Off by default: the weights do not ship with any package.

How the numbers are made (the method of syncnet_python, as used by Wav2Lip's evaluation):

* **Audio**: 16 kHz mono, 13 MFCCs every 10 ms (``mfcc`` below, python_speech_features'
  recipe). One video frame (40 ms at 25 fps) is 4 MFCC frames; the audio network sees a window
  of 20 MFCC frames (0.2 s) = 5 video frames and gives a 1024-d embedding.
* **Picture**: per frame, a 224×224 crop around the face, the face box's centre a little above
  the crop's middle so mouth and chin are well inside (``face_crops``). The lip network sees 5
  consecutive crops (BGR, pixel values 0–255, as OpenCV read them in the original) and gives a
  1024-d embedding.
* For every 5-frame window *i*, the distance between the picture embedding at *i* and the audio
  embeddings at *i + d*, for d in −15…+15 (zero vectors beyond the clip's ends, as the original
  pads). Averaged over the clip, that is one mean distance per offset d.
  **LSE-D** = the smallest mean distance; **LSE-C** = median over offsets − that minimum.
  The offset where the minimum lies is reported too.

Sign of the offset: ``offset`` uses this project's convention (positive: the audio is late,
as ``qa.lipsync`` reports it). syncnet_python prints the opposite sign; that value is kept as
``syncnet_python_offset`` for anyone comparing with its output.

Differences from the original pipeline, on purpose: faces come from MediaPipe's face mesh
(``factory.faces``) instead of the S3FD detector (its box is the landmarks' bounding box,
median-smoothed over 13 frames as the original smooths its track), and frames are not
re-encoded to JPEG/XVID before cropping. Expect numbers close to, not identical with,
published ones.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from factory.stages import StageError

if TYPE_CHECKING:  # torch is imported inside the functions that use it
    import torch

SAMPLE_RATE = 16_000
"""The rate the audio network was trained on."""
MFCC_PER_VIDEO_FRAME = 4
"""100 MFCC frames per second / 25 video frames per second."""
WINDOW_FRAMES = 5
"""Video frames per SyncNet window (= 20 MFCC frames of audio)."""
CROP_SIZE = 224


class SyncNetError(StageError):
    """The video cannot be scored by SyncNet (no face, too short, no sound); the message says why."""


class SyncNetWeightsError(SyncNetError):
    """The weights file (setting ``syncnet_model``) is missing or is not a SyncNet v2 checkpoint."""


@dataclass
class SyncNetOptions:
    max_offset: int = 15
    """Offsets tried, in video frames, each way (Wav2Lip's evaluation uses 15)."""
    batch_windows: int = 16
    """5-frame windows per network call (memory: ~40 MB per window on the picture side)."""
    crop_scale: float = 0.4
    """Margin around the face box, as a fraction of its size (the original's ``crop_scale``)."""
    box_smoothing_frames: int = 13
    """Median filter over the face box track, so the crop does not jitter with the landmarks."""
    landmark_max_side: int = 640
    """Frames are shrunk to this before landmarks (speed); crops are taken from the full frame."""


# --- the network ------------------------------------------------------------------------------

# The layer plan of SyncNet v2. Each row is one block: convolution, batch norm, ReLU, then an
# optional max-pool. Module indices inside each ``nn.Sequential`` (and so the checkpoint's key
# names, e.g. ``netcnnaud.4.weight``) follow from this order, so it must not change.
# Audio rows: (in, out, kernel, stride, padding, pool) with pool = (kernel, stride, padding) or None.
_AUDIO_BLOCKS = [
    (1, 64, (3, 3), (1, 1), (1, 1), ((1, 1), (1, 1), (0, 0))),  # a 1×1 pool: a no-op kept for the key names
    (64, 192, (3, 3), (1, 1), (1, 1), ((3, 3), (1, 2), (0, 0))),
    (192, 384, (3, 3), (1, 1), (1, 1), None),
    (384, 256, (3, 3), (1, 1), (1, 1), None),
    (256, 256, (3, 3), (1, 1), (1, 1), ((3, 3), (2, 2), (0, 0))),
    (256, 512, (5, 4), (1, 1), (0, 0), None),  # 13×20 MFCCs have shrunk to 5×4 here: one 512-d vector
]
# Picture rows, 3-D (time, height, width). Only the first convolution looks across time (5 frames).
_LIP_BLOCKS = [
    (3, 96, (5, 7, 7), (1, 2, 2), (0, 0, 0), ((1, 3, 3), (1, 2, 2), (0, 0, 0))),
    (96, 256, (1, 5, 5), (1, 2, 2), (0, 1, 1), ((1, 3, 3), (1, 2, 2), (0, 1, 1))),
    (256, 256, (1, 3, 3), (1, 1, 1), (0, 1, 1), None),
    (256, 256, (1, 3, 3), (1, 1, 1), (0, 1, 1), None),
    (256, 256, (1, 3, 3), (1, 1, 1), (0, 1, 1), ((1, 3, 3), (1, 2, 2), (0, 0, 0))),
    (256, 512, (1, 6, 6), (1, 1, 1), (0, 0, 0), None),  # 224 px have shrunk to 6×6 here
]


def _conv_stack(blocks: list, dims: int) -> torch.nn.Sequential:
    import torch.nn as nn

    conv, norm, pool = (nn.Conv2d, nn.BatchNorm2d, nn.MaxPool2d) if dims == 2 else (nn.Conv3d, nn.BatchNorm3d, nn.MaxPool3d)
    layers: list[nn.Module] = []
    for c_in, c_out, kernel, stride, padding, pooling in blocks:
        layers += [conv(c_in, c_out, kernel_size=kernel, stride=stride, padding=padding), norm(c_out), nn.ReLU()]
        if pooling is not None:
            layers.append(pool(kernel_size=pooling[0], stride=pooling[1], padding=pooling[2]))
    return nn.Sequential(*layers)


def _embedding_head(size: int) -> torch.nn.Sequential:
    import torch.nn as nn

    return nn.Sequential(nn.Linear(512, 512), nn.BatchNorm1d(512), nn.ReLU(), nn.Linear(512, size))


def build_syncnet(embedding_size: int = 1024) -> torch.nn.Module:
    """SyncNet v2 with freshly initialised (random) weights, in eval mode.

    Submodule names match the public checkpoint: ``netcnnaud`` / ``netfcaud`` (audio),
    ``netcnnlip`` / ``netfclip`` (picture)."""
    import torch.nn as nn

    net = nn.Module()
    net.netcnnaud = _conv_stack(_AUDIO_BLOCKS, dims=2)
    net.netfcaud = _embedding_head(embedding_size)
    net.netcnnlip = _conv_stack(_LIP_BLOCKS, dims=3)
    net.netfclip = _embedding_head(embedding_size)
    return net.eval()


def audio_embeddings(net: torch.nn.Module, windows: torch.Tensor) -> torch.Tensor:
    """(N, 1, 13, 20) MFCC windows → (N, 1024) embeddings."""
    features = net.netcnnaud(windows)
    return net.netfcaud(features.flatten(1))


def lip_embeddings(net: torch.nn.Module, frames: torch.Tensor) -> torch.Tensor:
    """(3, T, 224, 224) consecutive BGR crops (0–255) → (T − 4, 1024): one embedding per 5-frame window.

    The original stacks every window separately (each frame copied 5 times). Only the first
    convolution spans time, and it spans exactly the 5 frames of a window, so running it once
    over the whole sequence gives the same numbers (see the tests) for a fifth of the input.
    """
    features = net.netcnnlip(frames.unsqueeze(0))  # (1, 512, T - 4, 1, 1)
    features = features.squeeze(0).flatten(1).T  # (T - 4, 512)
    return net.netfclip(features)


def load_syncnet(path: str | Path, device: str = "cpu") -> torch.nn.Module:
    """SyncNet with the user's weights (a ``torch.save``'d state dict such as ``syncnet_v2.model``).

    Every tensor must match by name and shape; otherwise ``SyncNetWeightsError`` names the missing,
    unexpected or misshapen keys. Accepted extras: a ``{"state_dict": ...}`` wrapper and the
    ``__S__.`` / ``module.`` prefixes that training wrappers add. BatchNorm's
    ``num_batches_tracked`` counters may be absent (checkpoints from before PyTorch 0.4.1 lack
    them; evaluation never reads them).
    """
    import torch

    path = Path(path).expanduser()
    if not path.is_file():
        raise SyncNetWeightsError(f"The SyncNet weights file {path} does not exist (setting syncnet_model).")
    try:
        # weights_only: a checkpoint is data; never run code from a downloaded pickle.
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise SyncNetWeightsError(
            f"{path.name} is not a PyTorch state dict we can read safely ({type(exc).__name__}: {str(exc)[:200]})."
        ) from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise SyncNetWeightsError(f"{path.name} does not hold a state dict (name → tensor) of SyncNet weights.")
    for prefix in ("__S__.", "module."):
        if state and all(k.startswith(prefix) for k in state):
            state = {k[len(prefix) :]: v for k, v in state.items()}

    embedding_size = int(state["netfcaud.3.weight"].shape[0]) if "netfcaud.3.weight" in state else 1024
    net = build_syncnet(embedding_size)
    expected = net.state_dict()
    missing = [k for k in expected if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in expected]
    misshapen = [
        f"{k} {tuple(state[k].shape)} (expected {tuple(expected[k].shape)})"
        for k in state
        if k in expected and state[k].shape != expected[k].shape
    ]
    if missing or unexpected or misshapen:
        problems = []
        if missing:
            problems.append(f"missing keys: {_few(missing)}")
        if unexpected:
            problems.append(f"unexpected keys: {_few(unexpected)}")
        if misshapen:
            problems.append(f"wrong shapes: {_few(misshapen)}")
        raise SyncNetWeightsError(f"{path.name} is not a SyncNet v2 checkpoint; " + "; ".join(problems) + ".")
    for key, value in expected.items():
        if key.endswith("num_batches_tracked") and key not in state:
            state[key] = value
    net.load_state_dict(state, strict=True)
    return net.to(device).eval()


def _few(names: list[str], limit: int = 8) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


# --- audio features ---------------------------------------------------------------------------


def _hz_to_mel(hz):
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def _mel_to_hz(mel):
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


def _mel_filterbank(n_filters: int, n_fft: int, sample_rate: int) -> np.ndarray:
    """(n_filters, n_fft // 2 + 1) triangular filters, evenly spaced in mel from 0 Hz to Nyquist,
    their corners rounded down to FFT bins (as python_speech_features does)."""
    mels = np.linspace(_hz_to_mel(0.0), _hz_to_mel(sample_rate / 2), n_filters + 2)
    corners = np.floor((n_fft + 1) * _mel_to_hz(mels) / sample_rate).astype(int)
    bank = np.zeros((n_filters, n_fft // 2 + 1))
    for j in range(n_filters):
        left, centre, right = corners[j], corners[j + 1], corners[j + 2]
        for i in range(left, centre):
            bank[j, i] = (i - left) / (centre - left)
        for i in range(centre, right):
            bank[j, i] = (right - i) / (right - centre)
    return bank


def mfcc(samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """(frames, 13) MFCCs the way SyncNet was trained: python_speech_features' defaults.

    25 ms frames every 10 ms (100 per second; the last frame zero-padded), no window function,
    pre-emphasis 0.97, 512-point FFT, 26 mel filters, log, orthonormal DCT-II, lifter 22, and
    coefficient 0 replaced by the log of the frame's total power. ``samples`` are floats in
    [−1, 1]; they are scaled to 16-bit integer range first, because the original read 16-bit
    WAV files as integers and the log energies depend on that scale.
    """
    from scipy.fft import dct

    frame_len = int(round(0.025 * sample_rate))
    step = int(round(0.010 * sample_rate))
    n_fft = 512
    x = np.asarray(samples, dtype=np.float64) * 32768.0
    x = np.append(x[:1], x[1:] - 0.97 * x[:-1])  # pre-emphasis: lifts the high frequencies of speech
    n_frames = 1 if x.size <= frame_len else 1 + int(np.ceil((x.size - frame_len) / step))
    x = np.pad(x, (0, (n_frames - 1) * step + frame_len - x.size))
    frames = np.lib.stride_tricks.sliding_window_view(x, frame_len)[::step][:n_frames]
    power = np.abs(np.fft.rfft(frames, n_fft)) ** 2 / n_fft
    eps = np.finfo(float).eps  # log(0) guard, as in the original
    energy = np.maximum(power.sum(axis=1), eps)
    bands = power @ _mel_filterbank(26, n_fft, sample_rate).T
    bands = np.where(bands == 0, eps, bands)
    cepstra = dct(np.log(bands), type=2, axis=1, norm="ortho")[:, :13]
    cepstra *= 1.0 + 11.0 * np.sin(np.pi * np.arange(13) / 22.0)  # lifter L = 22
    cepstra[:, 0] = np.log(energy)
    return cepstra


# --- face crops -------------------------------------------------------------------------------


def face_track(video: str | Path, options: SyncNetOptions | None = None) -> np.ndarray:
    """(frames, 3) face box per frame as (centre x, centre y, half size) in pixels, smoothed.

    Frames where MediaPipe finds no face take their values from the nearest frames that have
    one (linear in between), as the original interpolates its track over missed detections.
    """
    import cv2
    from scipy.ndimage import median_filter

    from factory.faces import FaceMesh
    from factory.media import read_video_frames

    options = options or SyncNetOptions()
    boxes: list[tuple[float, float, float] | None] = []
    with FaceMesh(video=True) as mesh:
        for rgb in read_video_frames(video):
            h, w = rgb.shape[:2]
            scale = min(1.0, options.landmark_max_side / max(h, w))
            small = cv2.resize(rgb, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA) if scale < 1 else rgb
            points = mesh.landmarks(small)
            if points is None:
                boxes.append(None)
                continue
            points = points / scale
            (x0, y0), (x1, y1) = points.min(axis=0), points.max(axis=0)
            boxes.append(((x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, y1 - y0) / 2))
    found = [i for i, b in enumerate(boxes) if b is not None]
    if not found:
        raise SyncNetError(f"No face was found in {Path(video).name}, so SyncNet cannot score it.")
    known = np.array([boxes[i] for i in found], dtype=np.float64)
    every = np.arange(len(boxes))
    track = np.stack([np.interp(every, found, known[:, k]) for k in range(3)], axis=1)
    # "nearest" at the ends (the original's zero padding would pull the first and last boxes).
    return median_filter(track, size=(options.box_smoothing_frames, 1), mode="nearest")


def crop_face(rgb: np.ndarray, centre_x: float, centre_y: float, half: float, crop_scale: float = 0.4) -> np.ndarray:
    """The 224×224 BGR crop SyncNet expects: from the face box's top edge down to well below the
    chin (the box centre sits at 1/2.8 of the crop's height), as wide as tall. Parts outside the
    frame are grey (110), as in the original."""
    import cv2

    top = centre_y - half
    bottom = centre_y + half * (1 + 2 * crop_scale)
    left = centre_x - half * (1 + crop_scale)
    right = centre_x + half * (1 + crop_scale)
    x0, y0, x1, y1 = (int(np.floor(v)) for v in (left, top, right, bottom))
    h, w = rgb.shape[:2]
    pad = max(0, -x0, -y0, x1 - w, y1 - h)
    if pad:
        rgb = cv2.copyMakeBorder(rgb, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(110, 110, 110))
    patch = rgb[y0 + pad : y1 + pad, x0 + pad : x1 + pad]
    patch = cv2.resize(patch, (CROP_SIZE, CROP_SIZE), interpolation=cv2.INTER_LINEAR)
    return np.ascontiguousarray(patch[:, :, ::-1])  # RGB → BGR: the network was trained on OpenCV's order


# --- distances and scores ---------------------------------------------------------------------


def sync_distances(lip: np.ndarray, audio: np.ndarray, max_offset: int = 15) -> np.ndarray:
    """(2 · max_offset + 1,) mean distance between picture window i and audio window i + d, for
    d = −max_offset … +max_offset (index d + max_offset). Audio windows beyond the clip count as
    zero vectors, as in the original, so a far offset on a short clip is not scored on only the
    few windows that overlap."""
    import torch

    lip_t = torch.as_tensor(lip, dtype=torch.float32)
    audio_t = torch.nn.functional.pad(torch.as_tensor(audio, dtype=torch.float32), (0, 0, max_offset, max_offset))
    n = lip_t.shape[0]
    distances = torch.stack(
        [
            # pairwise_distance (with its 1e-6) is the distance the original measures with.
            torch.nn.functional.pairwise_distance(lip_t, audio_t[shift : shift + n])
            for shift in range(2 * max_offset + 1)
        ],
        dim=1,
    )  # (windows, offsets)
    return distances.mean(dim=0).numpy()


def scores_from_distances(mean_distances: np.ndarray, max_offset: int = 15) -> dict[str, Any]:
    """LSE-D, LSE-C and the offset from the mean distance per offset (see the module docstring)."""
    best = int(np.argmin(mean_distances))
    lse_d = float(mean_distances[best])
    offset = best - max_offset  # audio window i + offset matches picture window i: audio late by offset
    return {
        "lse_d": lse_d,
        "lse_c": float(np.median(mean_distances) - lse_d),
        "offset": offset,
        "syncnet_python_offset": -offset,
    }


def syncnet_scores(
    video_path: str | Path,
    model_path: str | Path,
    device: str = "cpu",
    options: SyncNetOptions | None = None,
) -> dict[str, Any]:
    """LSE-D, LSE-C and the audio offset of one video, with the user's SyncNet weights.

    Returns ``{"lse_d", "lse_c", "offset", "syncnet_python_offset", "windows", "max_offset",
    "distances", "seconds", "model"}``: ``offset`` in video frames, positive when the audio is
    late (this project's convention); ``distances`` the mean distance per offset, from −max to +max.
    """
    import torch

    from factory.media import MediaError, decode_audio, read_video_frames

    options = options or SyncNetOptions()
    started = time.perf_counter()
    net = load_syncnet(model_path, device)
    try:
        samples, _ = decode_audio(video_path, SAMPLE_RATE)
    except MediaError as exc:
        raise SyncNetError(f"SyncNet needs the video's sound: {exc}") from None
    track = face_track(video_path, options)
    # As the original: the clip is as long as the shorter of picture and sound, and the last
    # window that would need the final frame is left out.
    usable_frames = min(len(track), samples.size // (SAMPLE_RATE // 25))
    windows = usable_frames - WINDOW_FRAMES
    if windows < 1:
        raise SyncNetError(f"{Path(video_path).name} is too short for SyncNet (it needs at least 6 frames with sound).")

    cepstra = mfcc(samples, SAMPLE_RATE).T.astype(np.float32)  # (13, mfcc frames)
    span = WINDOW_FRAMES * MFCC_PER_VIDEO_FRAME
    audio_windows = np.stack([cepstra[:, MFCC_PER_VIDEO_FRAME * i : MFCC_PER_VIDEO_FRAME * i + span] for i in range(windows)])
    with torch.inference_mode():
        audio_emb = torch.cat(
            [
                audio_embeddings(net, torch.from_numpy(audio_windows[i : i + options.batch_windows]).unsqueeze(1).to(device)).cpu()
                for i in range(0, windows, options.batch_windows)
            ]
        )

        # Picture: stream the frames, embedding a batch of windows whenever enough crops are in
        # hand, so memory stays flat however long the video is.
        lip_chunks: list[torch.Tensor] = []
        crops: list[np.ndarray] = []
        done = 0  # windows embedded so far

        def embed(count: int) -> None:
            nonlocal crops, done
            clip = torch.from_numpy(np.stack(crops[: count + WINDOW_FRAMES - 1])).to(device)
            clip = clip.permute(3, 0, 1, 2).float()  # (3, T, 224, 224)
            lip_chunks.append(lip_embeddings(net, clip).cpu())
            crops = crops[count:]
            done += count

        needed_frames = windows + WINDOW_FRAMES - 1
        for index, rgb in enumerate(read_video_frames(video_path)):
            if index >= needed_frames:
                break
            crops.append(crop_face(rgb, *track[index], crop_scale=options.crop_scale))
            if len(crops) == options.batch_windows + WINDOW_FRAMES - 1:
                embed(options.batch_windows)
        if done < windows:
            if len(crops) < windows - done + WINDOW_FRAMES - 1:
                raise SyncNetError(f"{Path(video_path).name} ended early while SyncNet was reading it.")
            embed(windows - done)
        lip_emb = torch.cat(lip_chunks)

    distances = sync_distances(lip_emb.numpy(), audio_emb.numpy(), options.max_offset)
    result = scores_from_distances(distances, options.max_offset)
    result.update(
        windows=int(windows),
        max_offset=options.max_offset,
        distances=[round(float(d), 4) for d in distances],
        seconds=round(time.perf_counter() - started, 3),
        model=Path(model_path).name,
    )
    return result
