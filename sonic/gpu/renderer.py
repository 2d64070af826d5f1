"""`SonicRenderer`: the GPU talking-head renderer behind the render stage.

One model per worker process (`get_renderer`): loading ~4 GB of weights, the speed settings
(`acceleration.py`: fused attention projections, attention kernels, channels-last convolutions,
the fused Triton GEGLU, regional torch.compile) and the first render's compile are paid once per
worker, not per job (and the compiled kernels are kept on disk for the next worker). `render`
yields 25-fps RGB frames as they are decoded, so a long video never holds all its frames in memory.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from sonic.crop import face_box_in_crop
from sonic.gpu.spec import DEFAULTS, doctor

log = logging.getLogger(__name__)


class SonicRenderer:
    name = "sonic-gpu"

    def __init__(self, model_dir: str | Path | None, device: str = "cuda", models: Any = None,
                 interpolate: bool = True, acceleration: Any = None):
        """Load the official checkpoints from `model_dir` (or take prepared `models`, e.g. random ones).

        interpolate: run RIFE when `RIFE/flownet.pkl` is present (else frames are shown twice).
        acceleration: a `sonic.gpu.acceleration.Acceleration`; None reads the sonic_compile and
        sonic_attention settings (compiling is on by default on CUDA, off on the CPU).
        """
        if models is None:
            report = doctor(model_dir)
            if not report.ok:
                from factory.stages import StageError

                raise StageError(report.message())
            from sonic.gpu.models import load_models

            models = load_models(model_dir, device=device, interpolate=interpolate)
        from sonic.gpu.acceleration import accelerate

        self.acceleration = accelerate(models, acceleration)
        self.models = models
        self.interpolate = interpolate
        self.last_peak_memory_gib: float | None = None   # of the last render, on CUDA

    def render(
        self,
        portrait: np.ndarray,
        audio: np.ndarray,
        sample_rate: int,
        face_box: tuple[float, float, float, float] | None = None,
        inference_steps: int = DEFAULTS.num_inference_steps,
        dynamic_scale: float = 1.0,
        seed: int = DEFAULTS.seed,
        noise: Any = None,
        progress: Any = None,
        frames: int | None = None,
    ) -> Iterator[np.ndarray]:
        """Frames (H, W, 3) uint8 at 25 fps, as many as the audio lasts (floor(seconds x 25)), or
        exactly `frames` when given (the last frame held to make up the count).

        portrait: the cropped face image, sides multiples of 64 (the render stage's square crop,
        `sonic.crop.crop_face`, resized by `StageRenderer`).
        audio: mono float32, best at 16 kHz (Sonic's rate; `factory.media.decode_audio(path,
        sample_rate=16_000)` gives that); other rates are resampled linearly. face_box (x1, y1,
        x2, y2) in portrait pixels limits where the audio may move the image (the official face
        mask); None = whole image.
        noise: optional fixed initial noise (1, n, 4, H/8, W/8) to compare implementations exactly.
        progress: optional (fraction, note) callback, told after each diffusion step.
        """
        import torch

        from sonic.gpu.pipeline import RenderSettings, face_mask_for, generate

        if portrait.shape[0] % 64 or portrait.shape[1] % 64:
            raise ValueError(f"portrait sides must be multiples of 64, got {portrait.shape[:2]}")
        samples = _resample_16k(audio, sample_rate)
        mask = face_mask_for(face_box, *portrait.shape[:2]) if face_box is not None else None
        settings = RenderSettings(inference_steps=inference_steps, dynamic_scale=dynamic_scale, seed=seed,
                                  interpolate=self.interpolate)
        cuda = self.models.device.type == "cuda"
        if cuda:
            torch.cuda.reset_peak_memory_stats(self.models.device)
        yield from generate(self.models, portrait, mask, samples, settings, noise, progress, frames)
        if cuda:
            self.last_peak_memory_gib = torch.cuda.max_memory_allocated(self.models.device) / 2**30


def _resample_16k(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    audio = np.asarray(audio, dtype=np.float32)
    if sample_rate == 16_000:
        return audio
    # for callers with arrays at other rates (the stage decodes at 16 kHz, anti-aliased):
    # linear interpolation is enough for whisper's 80-mel features of speech
    duration = len(audio) / sample_rate
    target = np.linspace(0, len(audio) - 1, int(round(duration * 16_000)))
    return np.interp(target, np.arange(len(audio)), audio).astype(np.float32)


_RENDERERS: dict[tuple[str, str, bool], SonicRenderer] = {}


def get_renderer(model_dir: str | Path, device: str = "cuda", interpolate: bool = True, acceleration: Any = None) -> SonicRenderer:
    """The process-wide renderer for these weights (loaded on first use, then reused)."""
    key = (str(Path(model_dir).resolve()), device, interpolate)
    if key not in _RENDERERS:
        _RENDERERS[key] = SonicRenderer(model_dir, device=device, interpolate=interpolate, acceleration=acceleration)
    return _RENDERERS[key]


class StageRenderer:
    """The render stage's view of Sonic (``sonic.params.Renderer``): it gets the square face
    crop the stage made, and hands back frames of the same size.

    Sonic wants sides that are multiples of 64 and a face box for its audio mask; both are
    derived here so the stage stays renderer-agnostic.
    """

    name = "sonic"
    # share of the stage's time spent before the first frame (the diffusion steps): the stage
    # scales progress by it, so the bar moves during diffusion instead of waiting for frames
    work_before_frames = 0.9

    def __init__(self, sonic: SonicRenderer):
        self.sonic = sonic
        # part of the render cache key: RIFE on/off gives different videos
        from sonic.gpu import VERSION

        rife = sonic.interpolate and sonic.models.interpolator is not None
        self.version = f"{VERSION}-rife" if rife else VERSION
        self.last_report: dict[str, Any] = {}    # of the last render, stored with the job by the stage

    def warm_up(self, settings: Any) -> dict[int, float]:
        """Compile for each of `settings.sonic_warmup_sizes` now, not in a job: two diffusion steps
        over 2 s of silence at that size, with a face box (the shapes and code paths a job takes:
        the second step replays the CUDA graph the first one captured).
        Returns the seconds per size (minutes cold, much less from the on-disk compile cache)."""
        from sonic.params import RenderParams

        seconds = {}
        for size in parse_sizes(settings.sonic_warmup_sizes):
            started = time.perf_counter()
            portrait = np.full((size, size, 3), 128, np.uint8)
            box = face_box_in_crop(size, RenderParams().expand_ratio)
            for _ in self.sonic.render(portrait, np.zeros(32_000, np.float32), 16_000, face_box=box, inference_steps=2):
                pass
            seconds[size] = round(time.perf_counter() - started, 1)
            log.info("Sonic renderer ready for %d px (%.0f s)", size, seconds[size])
        return seconds

    def render(self, image_rgb: np.ndarray, audio_path: Path, speech: Any, params: Any, progress: Any = None) -> Iterator[np.ndarray]:
        import cv2

        from factory.faces import detect_faces
        from factory.media import decode_audio, frame_count

        height, width = image_rgb.shape[:2]
        side = sonic_side(min(height, width))
        portrait = cv2.resize(image_rgb, (side, side), interpolation=cv2.INTER_AREA)
        faces = detect_faces(portrait)
        if faces:
            box = (faces[0].x0, faces[0].y0, faces[0].x1, faces[0].y1)
        else:
            # not found again on the resized crop: the face is where the stage cut the crop around
            # it, so the audio still moves only the face, and the UNet keeps the masked code path
            # it was compiled (and warmed up) for
            box = face_box_in_crop(side, params.expand_ratio)
        # the frame count from the file's own rate, as the stage counts it: resampling to 16 kHz may
        # move the length by a sample, enough to round the other way at a half frame
        native, rate = decode_audio(audio_path)
        total = frame_count(len(native) / rate)
        del native
        samples, rate = decode_audio(audio_path, sample_rate=16_000)
        started = time.perf_counter()
        self.last_report = {"size": side}
        # Sonic makes floor(seconds x 25) frames, the stage wants round(seconds x 25): ask for `total`
        frames = self.sonic.render(portrait, samples, rate, face_box=box, inference_steps=params.inference_steps,
                                   dynamic_scale=params.dynamic_scale, seed=params.seed, progress=progress,
                                   frames=total)
        for index, frame in enumerate(frames):
            if index == 0:
                self.last_report["seconds_to_first_frame"] = round(time.perf_counter() - started, 2)
            yield frame if frame.shape[:2] == (height, width) else cv2.resize(frame, (width, height), interpolation=cv2.INTER_CUBIC)
        self.last_report["seconds"] = round(time.perf_counter() - started, 2)
        if self.sonic.last_peak_memory_gib is not None:
            self.last_report["peak_gpu_memory_gib"] = round(self.sonic.last_peak_memory_gib, 2)


def sonic_side(pixels: float) -> int:
    """The square size Sonic renders a crop of `pixels` at: the nearest multiple of 64."""
    return max(64, int(round(pixels / 64)) * 64)


def parse_sizes(text: str | list[int] | tuple[int, ...]) -> list[int]:
    """`sonic_warmup_sizes` ("1024", "512,1024", "" = none; a TOML list too) -> the sizes Sonic renders them at."""
    parts = text if isinstance(text, (list, tuple)) else str(text).replace(" ", "").split(",")
    try:
        pixels = [float(part) for part in parts if str(part)]
    except ValueError:
        pixels = [0.0]     # not a number: refused below with the same message as a size <= 0
    if any(p <= 0 for p in pixels):
        raise ValueError(f"sonic_warmup_sizes must be pixel sizes separated by commas, got {text!r}")
    return sorted({sonic_side(p) for p in pixels})


def create_renderer(settings: Any) -> StageRenderer:
    """For ``sonic.stage``: the process-wide Sonic model named by the settings, or a StageError
    with the doctor's message when the weights are not there (never a silent CPU fallback)."""
    import os

    # torch.compile's kernels on disk beside the data, not in /tmp: a restarted worker (or a new
    # container with the data volume) then loads most of them instead of compiling them again,
    # a fraction of the cold compile time (bench/RESULTS.md)
    cache = Path(settings.data_dir) / "compile-cache"
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(cache))
    os.environ.setdefault("TRITON_CACHE_DIR", str(cache / "triton"))    # our own Triton kernel too
    if not settings.sonic_model_dir:
        from factory.stages import StageError

        raise StageError(doctor(None).message() + "\n  Set FACTORY_SONIC_MODEL_DIR to Sonic's checkpoints/ folder.")
    from sonic.gpu.acceleration import Acceleration

    acceleration = Acceleration.from_settings(settings, settings.sonic_device)
    return StageRenderer(get_renderer(settings.sonic_model_dir, settings.sonic_device, settings.sonic_interpolate, acceleration))
