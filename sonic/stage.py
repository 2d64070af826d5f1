"""The render stage: photo + narration audio → talking-portrait MP4 (H.264 + AAC).

Reads   files:  image, audio (the speak stage turns an uploaded recording into "audio" too)
        values: speech (``factory.payloads.SpeechFacts``; optional: its phoneme timings drive
                the CPU renderer's mouth)
        params: the render parameters of ``sonic.params`` and ``renderer``
Writes  files:  video
        values: render (``factory.payloads.RenderFacts``: renderer, size, frames, face box,
                warnings, parameters used, and what the renderer reports of itself)

The renderer is ``params["renderer"]`` or ``settings.renderer``: ``cpu`` (built in) or
``sonic`` (GPU, ``sonic.gpu``). A renderer that cannot run fails the job with instructions;
it never falls back to another one silently (the video would not be what was asked for).
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any

from factory.payloads import ModelUsed, RenderFacts, SpeechFacts
from factory.stages import Stage, StageContext, StageError, StageResult
from sonic.doctor import checks as sonic_checks
from sonic.params import RenderParams, Renderer, param_specs

# name → "module:factory function"; the factory takes the Settings and returns a Renderer.
RENDERERS: dict[str, str] = {
    "cpu": "sonic.cpu_renderer:create_renderer",
    "sonic": "sonic.gpu:create_renderer",
}
PROGRESS_EVERY = 25  # frames (one second of video)

# What each renderer's jobs record about the weights behind them (``factory jobs show``, the console).
RENDERER_MODELS: dict[str, ModelUsed] = {
    "cpu": ModelUsed("renderer", "CPU renderer with MediaPipe face mesh", "Apache-2.0", True,
                     "built in; face mesh from the mediapipe package"),
    "sonic": ModelUsed("renderer", "Sonic on Stable Video Diffusion img2vid-xt",
                       "Sonic weights CC BY-NC-SA 4.0 (non-commercial); SVD-xt under Stability AI's licence",
                       False, "your checkpoint folder (FACTORY_SONIC_MODEL_DIR)"),
}


def renderer_name(ctx: StageContext) -> str:
    return str(ctx.params.get("renderer") or default_renderer(ctx.settings))


def default_renderer(settings: Any) -> str:
    """The renderer of jobs that do not name one: ``settings.renderer`` (``FACTORY_RENDERER``)."""
    return str(settings.renderer or "cpu")


def load_renderer(name: str, settings: Any) -> Renderer:
    """Import and create the renderer ``name``; StageError with instructions if it can't run."""
    if name not in RENDERERS:
        raise StageError(f"Unknown renderer {name!r}; choose one of: {', '.join(RENDERERS)}.")
    module_name, attr = RENDERERS[name].split(":")
    try:
        module = importlib.import_module(module_name)
        factory = getattr(module, attr)
    except (ImportError, AttributeError) as exc:
        hint = ""
        if name == "sonic":
            hint = (" The Sonic GPU renderer needs a CUDA GPU, torch and diffusers, and Sonic's official "
                    "checkpoints in the folder set by FACTORY_SONIC_MODEL_DIR (run `factory doctor`). "
                    "Or render with --renderer cpu.")
        raise StageError(f"The {name} renderer is not available ({exc}).{hint}") from None
    return factory(settings)


def _engine_version(ctx: StageContext) -> str:
    """Part of the cache key: which renderer, and its version, made the frames. Each renderer's
    module (``RENDERERS``) offers ``engine_version(settings)`` beside its factory."""
    name = renderer_name(ctx)
    if name not in RENDERERS:
        return f"{name}-unknown"    # the job fails in run() with the list of renderers
    try:
        module = importlib.import_module(RENDERERS[name].split(":")[0])
    except ImportError:
        return f"{name}-unavailable"
    return f"{name}-{module.engine_version(ctx.settings)}"


def run(ctx: StageContext) -> StageResult:
    from factory.media import FPS, VideoWriter, decode_audio, frame_count, load_image
    from sonic.crop import PasteBack, crop_face

    name = renderer_name(ctx)
    params = RenderParams.from_dict(ctx.params, renderer=name)
    audio_path = ctx.files.get("audio")
    if audio_path is None:
        raise StageError("There is no audio to render the video from.")
    if ctx.params.get("seed") is None:
        params = dataclasses.replace(params, seed=content_seed(audio_path))
    renderer = load_renderer(name, ctx.settings)

    ctx.progress(0.0, "finding the face")
    photo = load_image(ctx.files["image"], max_pixels=ctx.settings.max_image_pixels)
    crop = crop_face(photo, params.expand_ratio, params.min_resolution)
    samples, rate = decode_audio(audio_path)
    seconds = len(samples) / rate
    expected = frame_count(seconds)
    if params.keep_crop:
        paste = None
        width = height = crop.transform.size
    else:
        paste = PasteBack(photo, crop.transform)
        width, height = paste.width, paste.height

    speech = SpeechFacts.from_value(ctx.values["speech"]) if ctx.values.get("speech") else None
    # a renderer that works before its first frame (Sonic's diffusion) reports that part itself
    before = float(getattr(renderer, "work_before_frames", 0.0))
    if paste is not None and hasattr(renderer, "head_outside_crop"):
        renderer.head_outside_crop = True  # the paste moves the head with its hair and shoulders
    frames = renderer.render(crop.image, audio_path, speech, params, lambda f, note: ctx.progress(before * f, note))
    head = getattr(renderer, "last_head", None) if paste is not None else None
    video_path = ctx.workdir / "video.mp4"
    written = 0
    with VideoWriter(video_path, width, height, fps=FPS, audio=audio_path) as video:
        for frame in frames:
            if paste is None:
                video.write(frame)
            elif head is not None:
                video.write(paste(frame, head[written], renderer.last_pivot))
            else:
                video.write(paste(frame))
            written += 1
            if written % PROGRESS_EVERY == 0:
                ctx.progress(min(0.99, before + (1 - before) * written / max(1, expected)), f"frame {written}/{expected}")
        if written != expected:
            # A wrong count would freeze or cut the end of the speech: a bug, not bad input.
            raise RuntimeError(f"the {name} renderer made {written} frames for {seconds:.2f} s; expected {expected}")
    ctx.progress(1.0, "video written")

    box = crop.face_box
    report = getattr(renderer, "last_report", None)     # Sonic: seconds, time to first frame, peak GPU memory
    facts = RenderFacts(
        renderer=f"{renderer.name}-{renderer.version}",
        fps=FPS,
        frames=written,
        width=width,
        height=height,
        seconds=written / FPS,
        face_box=(round(box.x0, 1), round(box.y0, 1), round(box.x1, 1), round(box.y1, 1)),
        warnings=list(crop.warnings),
        params=params.to_dict(),
        mouth=getattr(renderer, "last_mouth_source", None) or None,     # the CPU renderer's
        renderer_report=dict(report) if report else None,
    )
    models = [RENDERER_MODELS[name].to_value()] if name in RENDERER_MODELS else []
    return StageResult(files={"video": video_path}, values={"render": facts.to_value(), "models": models})


def content_seed(audio_path: Any) -> int:
    """The seed of a job that names none: from its audio, so different videos blink and move
    differently while the same narration renders the same (and its render can be reused)."""
    from factory.artifacts import file_sha256

    return int(file_sha256(audio_path)[:8], 16)


def warm_up(settings: Any) -> None:
    """Before a render worker's first job: load the default renderer (``FACTORY_RENDERER``; jobs
    that ask for another one load it themselves) and let it prepare: Sonic loads its weights and
    compiles for ``sonic_warmup_sizes``; the CPU renderer needs nothing more."""
    renderer = load_renderer(default_renderer(settings), settings)
    prepare = getattr(renderer, "warm_up", None)
    if prepare is not None:
        prepare(settings)


STAGE = Stage(
    name="render",
    run=run,
    version="1",
    reads_files=("image", "audio"),
    reads_values=("speech",),
    reads_params=(*(f.name for f in dataclasses.fields(RenderParams)), "renderer"),
    engine_version=_engine_version,
    check_params=lambda params: RenderParams.from_dict(params, renderer=params.get("renderer") or "cpu"),
    params=param_specs(tuple(RENDERERS)),
    doctor=sonic_checks,
    warm_up=warm_up,
)
