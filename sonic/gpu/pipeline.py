"""Sonic inference: portrait + speech -> talking-head frames (the official algorithm, faster).

Steps (as the official `sonic.py` / `pipeline_sonic.py`, rewritten):
1. whisper-tiny encoder on 16 kHz audio (50 encoder frames per second); per generated frame
   (12.5 fps) a 10-frame window of all 5 hidden states -> 32 audio tokens, and a 50-frame window
   of the last state + CLIP image embedding -> (motion bucket, expression) * 16 + 16, times
   `dynamic_scale`;
2. the portrait -> VAE latents (the condition) and a CLIP image embedding;
3. 25 Euler steps (Karras sigmas, v-prediction). Each step covers the whole clip in windows of
   25 frames whose start shifts by 7 frames per step (so window seams move and vanish); each
   UNet call evaluates three guidance branches in one batch: no image + no audio, image only,
   image + audio; pred = u + 2.0 (image - u) + 7.5 (full - image);
4. VAE temporal decode in chunks of 8 frames, several chunks per call (the last, shorter chunk
   eagerly: its length varies by clip); frames streamed out;
5. RIFE (`rife.py`) inserts the frame half-way between every two generated frames: 12.5 -> 25 fps.

What differs from the official code, on purpose: the loop has no host syncs (window indices,
motion buckets and guidance scales are prepared up front), and on CUDA its UNet calls replay one
CUDA graph; the two image branches share the UNet's layers before its first audio attention
(they are equal until there); latents are kept in fp32 between steps
(the official keeps fp16; the UNet itself runs in fp16 like the official); the face mask is
resized to every UNet level once per render, not once per call; RIFE runs batched in fp16 (the
official: one pair per call in fp32). Without RIFE weights (or with `interpolate=False`) each
12.5 fps frame is shown twice.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np
import torch

from sonic.gpu.spec import DEFAULTS

WHISPER_RATE = 16_000
SAMPLES_PER_VIDEO_FRAME = 640          # 16 kHz / 25 fps
WHISPER_WINDOW_SAMPLES = 750 * 640     # 30 s: whisper's fixed input length
LATENT_SCALE = 0.18215


@dataclass
class SonicModels:
    """Everything one render needs, loaded once per worker process."""

    unet: Any
    vae: Any
    image_encoder: Any            # transformers CLIPVisionModelWithProjection
    whisper_encoder: Any          # transformers WhisperModel(...).encoder
    feature_extractor: Any        # transformers WhisperFeatureExtractor
    clip_processor: Any           # transformers CLIPImageProcessor
    audio_to_tokens: Any
    audio_to_bucket: Any
    scheduler: Any                # diffusers EulerDiscreteScheduler (only for its sigma table)
    device: torch.device
    dtype: torch.dtype = torch.float16
    unet_call: Callable[..., torch.Tensor] | None = None   # when set, called instead of the UNet (e.g. timing; no CUDA graph then)
    unet_graph: Any = None        # acceleration.CudaGraphCall of the UNet: each render's calls replay one CUDA graph
    interpolator: Any = None      # sonic.gpu.rife.FrameInterpolator, when RIFE weights are present


@dataclass
class RenderSettings:
    inference_steps: int = DEFAULTS.num_inference_steps
    dynamic_scale: float = 1.0
    frames_per_window: int = DEFAULTS.frames_per_window
    overlap: int = DEFAULTS.overlap
    shift_offset: int = DEFAULTS.shift_offset
    appearance_guidance: float = DEFAULTS.appearance_guidance
    audio_guidance: float = DEFAULTS.audio_guidance
    fps: float = DEFAULTS.generation_fps
    decode_chunk_size: int = DEFAULTS.decode_chunk_size
    decode_chunks_per_call: int = 1     # at 512 px (fewer when larger; 0: one at any size): >1 is the same function, more memory per extra chunk
    interpolate: bool = DEFAULTS.use_interframe   # RIFE 12.5 -> 25 fps when models.interpolator is loaded
    interpolation_pairs_per_call: int = 32        # at 512 px (fewer when larger)
    ip_scale: float = DEFAULTS.ip_audio_scale
    seed: int = DEFAULTS.seed


# ---------------------------------------------------------------- audio

@torch.no_grad()
def audio_features(models: SonicModels, samples: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Whisper hidden states for 16 kHz mono audio.

    Returns (all_layers (T, 5, 384), last_layer (T, 1, 384), video_frames_25fps), T = 2 per 25-fps frame.
    """
    mels = [
        models.feature_extractor(samples[i : i + WHISPER_WINDOW_SAMPLES], sampling_rate=WHISPER_RATE,
                                 return_tensors="pt").input_features
        for i in range(0, len(samples), WHISPER_WINDOW_SAMPLES)
    ]
    mel = torch.cat(mels, dim=-1).to(models.device, torch.float32)
    layers, last = [], []
    for i in range(0, mel.shape[-1], 3000):
        out = models.whisper_encoder(mel[:, :, i : i + 3000], output_hidden_states=True)
        layers.append(torch.stack(out.hidden_states, dim=2)[0])
        last.append(out.last_hidden_state[0].unsqueeze(1))
    frames = len(samples) // SAMPLES_PER_VIDEO_FRAME
    return torch.cat(layers)[: frames * 2], torch.cat(last)[: frames * 2], frames


def _padded(x: torch.Tensor, front: int, back: int) -> torch.Tensor:
    """x with `front` zero rows before and `back` after."""
    return torch.cat([x.new_zeros(front, *x.shape[1:]), x, x.new_zeros(back, *x.shape[1:])])


def _windows(padded: torch.Tensor, first: int, count: int, stride: int, size: int) -> torch.Tensor:
    """Windows first .. first + count - 1 of `size` rows, `stride` apart, from `padded`."""
    index = torch.arange(first, first + count, device=padded.device)[:, None] * stride
    return padded[index + torch.arange(size, device=padded.device)[None]]


AUDIO_FRAMES_PER_BATCH = 1000
"""Generated frames (80 s of video) whose audio windows go through the audio networks at once: a
long video's conditioning then needs the memory of 80 s, not of the whole video (the windows and
the networks' fp32 activations take ~0.5 MB a frame); clips up to 80 s run in one batch."""


@torch.no_grad()
def audio_conditioning(models: SonicModels, samples: np.ndarray, image_embed: torch.Tensor,
                       step: int = DEFAULTS.audio_frames_per_video_frame, dtype: torch.dtype | None = None):
    """Per generated frame: audio tokens (n, 32, 1024), silent tokens (1, 32, 1024), buckets (n, 2).

    The tokens come back in `dtype` (default: the audio network's float32)."""
    layers, last, frames_25 = audio_features(models, samples)
    n = frames_25 // step
    if n < 1:
        raise ValueError("audio is shorter than one generated frame (80 ms)")
    per_frame = 2 * step                   # whisper frames per generated frame
    token_rows, bucket_rows = _padded(layers, 4, 6), _padded(last, 24, 26)
    tokens, buckets = [], []
    for first in range(0, n, AUDIO_FRAMES_PER_BATCH):
        count = min(AUDIO_FRAMES_PER_BATCH, n - first)
        token_windows = _windows(token_rows, first, count, per_frame, 10)
        tokens.append(models.audio_to_tokens(token_windows).to(dtype or torch.float32))
        bucket_windows = _windows(bucket_rows, first, count, per_frame, 50)
        buckets.append(models.audio_to_bucket(bucket_windows, image_embed.float()) * 16 + 16)
    silent = models.audio_to_tokens(torch.zeros_like(token_windows[:1])).to(dtype or torch.float32)
    return torch.cat(tokens), silent, torch.cat(buckets), frames_25


# ---------------------------------------------------------------- image

@torch.no_grad()
def image_conditioning(models: SonicModels, portrait: np.ndarray):
    """portrait: (H, W, 3) uint8, H and W multiples of 64.

    Returns (reference latents scaled (1,4,h,w), condition latents (1,4,h,w), CLIP embed (1,1024)).
    """
    from PIL import Image

    ref = torch.from_numpy(portrait).to(models.device).permute(2, 0, 1)[None].float() / 127.5 - 1.0
    ref = ref.to(models.dtype)
    clip_in = models.clip_processor(images=Image.fromarray(portrait).resize((224, 224), Image.LANCZOS),
                                    return_tensors="pt").pixel_values
    image_embed = models.image_encoder(clip_in.to(models.device, models.dtype)).image_embeds
    dist = models.vae.encode(ref).latent_dist
    return dist.mean * LATENT_SCALE, dist.mode(), image_embed


# ---------------------------------------------------------------- sampling

def window_starts(frames: int, settings: RenderSettings) -> range:
    """Where each diffusion step's frame windows start (before that step's shift): one UNet call each."""
    return range(0, frames, settings.frames_per_window - settings.overlap)


def sigma_schedule(models: SonicModels, steps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(sigmas (steps+1,), timesteps (steps,)) exactly as the official Euler scheduler sets them."""
    models.scheduler.set_timesteps(steps, device=models.device)
    return models.scheduler.sigmas.to(models.device, torch.float32), models.scheduler.timesteps.to(models.device)


@torch.no_grad()
def denoise(models: SonicModels, portrait: np.ndarray, face_mask: np.ndarray | None, samples: np.ndarray,
            settings: RenderSettings, noise: torch.Tensor | None = None,
            progress: Callable[[float, str], None] | None = None) -> tuple[torch.Tensor, int]:
    """Run the diffusion loop; returns (latents (n, 4, h, w) unscaled for the VAE, frames at 25 fps).

    progress(fraction, note) is told after each diffusion step (no GPU sync: the GPU is at most
    about one step behind what is reported)."""
    dev, dt = models.device, models.dtype
    ref_latents, cond_latents, image_embed = image_conditioning(models, portrait)
    tokens, silent, buckets, frames_25 = audio_conditioning(models, samples, image_embed, dtype=dt)
    n = tokens.shape[0]
    window = settings.frames_per_window

    generator = torch.Generator(dev).manual_seed(settings.seed)
    # the official pipeline draws an image-augmentation noise first: keep the same random stream
    torch.randn((1, 3, *portrait.shape[:2]), generator=generator, device=dev, dtype=dt)
    if noise is None:
        noise = torch.randn((1, n, 4, *ref_latents.shape[-2:]), generator=generator, device=dev, dtype=dt)
    sigmas, timesteps = sigma_schedule(models, settings.inference_steps)
    latents = ref_latents.float().unsqueeze(1) + noise.to(dev).float() * sigmas[0]          # (1, n, 4, h, w)
    del noise

    # three guidance branches, batched: [no image + silent, image + silent, image + audio]
    clip_rows = torch.cat([torch.zeros_like(image_embed), image_embed, image_embed])[:, None]   # (3, 1, 1024)
    cond = torch.cat([torch.zeros_like(cond_latents), cond_latents, cond_latents]).to(dt)      # (3, 4, h, w)
    mask = None
    if face_mask is not None:
        from sonic.gpu.unet import face_mask_pyramid

        full_mask = torch.from_numpy(face_mask.astype(np.float32)).to(dev, dt)[None, None]
        levels = len(models.unet.config.block_out_channels)
        mask = face_mask_pyramid(full_mask, *ref_latents.shape[-2:], levels, dt)
    buckets = buckets * settings.dynamic_scale

    # every window's frame indices, prepared before the loop (no host syncs inside)
    plans = []
    shift = 0
    for _ in range(settings.inference_steps):
        step_windows = []
        for start in window_starts(n, settings):
            idx = torch.arange(start - shift, start - shift + window, device=dev) % n
            ids = torch.cat([torch.full((1,), settings.fps, device=dev), buckets[idx].mean(0)])
            step_windows.append((idx, ids.to(dt)[None].expand(3, 3)))
        plans.append(step_windows)
        shift += settings.shift_offset

    g1, g2 = settings.appearance_guidance, settings.audio_guidance
    # one buffer for every step's window sums: a long clip's latents are large (0.25 GB per 5 min
    # at 512 px), so the loop holds two copies of them, not three
    total = torch.empty_like(latents)
    count = torch.empty((n,), device=dev)
    with _unet_for_render(models) as unet:
        for i in range(settings.inference_steps):
            sigma, sigma_next = sigmas[i], sigmas[i + 1]
            in_scale = 1.0 / torch.sqrt(sigma**2 + 1)
            total.zero_()
            count.zero_()
            for idx, ids in plans[i]:
                lat = latents[:, idx]                                                       # (1, F, 4, h, w)
                x = (lat * in_scale).to(dt).expand(3, -1, -1, -1, -1)
                x = torch.cat([x, cond[:, None].expand(-1, window, -1, -1, -1)], dim=2)
                audio = torch.cat([silent.expand(2 * window, -1, -1), tokens[idx]])
                clip = clip_rows.repeat_interleave(window, dim=0)
                # branches 2 and 3 differ only in their audio: the UNet shares their first layers
                out = unet(x, timesteps[i].to(dt), clip, audio, ids, mask, settings.ip_scale,
                           last_branch_differs_only_in_audio=True).float()
                u, img, full = out.chunk(3)
                pred = u + g1 * (img - u) + g2 * (full - img)
                # Euler step, v-prediction (diffusers EulerDiscreteScheduler with s_churn = 0)
                denoised = pred * (-sigma / torch.sqrt(sigma**2 + 1)) + lat / (sigma**2 + 1)
                stepped = lat + (lat - denoised) / sigma * (sigma_next - sigma)
                total.index_add_(1, idx, stepped)
                count.index_add_(0, idx, torch.ones_like(idx, dtype=count.dtype))
            torch.div(total, count[None, :, None, None, None], out=latents)     # the windows' average
            if progress:
                progress((i + 1) / settings.inference_steps, f"diffusion step {i + 1}/{settings.inference_steps}")
    del total
    return latents[0].div_(LATENT_SCALE), frames_25


@contextlib.contextmanager
def _unet_for_render(models: SonicModels) -> Iterator[Callable[..., torch.Tensor]]:
    """What the diffusion loop calls for one render: `models.unet_call` when set, else the UNet's
    CUDA graph when there is one (its memory freed when the loop ends), else the UNet."""
    unet = models.unet_call or models.unet_graph or models.unet
    try:
        yield unet
    finally:
        if unet is models.unet_graph:
            unet.clear()            # the graph's activations: the decoder needs that memory next


@torch.no_grad()
def decode(models: SonicModels, latents: torch.Tensor, settings: RenderSettings) -> Iterator[torch.Tensor]:
    """VAE temporal decode, chunk by chunk; yields (k, 3, H, W) float32 frames in [0, 1] on the GPU."""
    chunk = settings.decode_chunk_size
    n = latents.shape[0]
    full = (n // chunk) * chunk
    # several chunks per call at 512 px; fewer at larger sizes so the decoder's activations stay small
    pixels = latents.shape[-1] * latents.shape[-2] * 64
    per_call = max(1, int(settings.decode_chunks_per_call * (512 * 512) / pixels))
    group = chunk * per_call
    starts = [(s, min(group, full - s)) for s in range(0, full, group)]
    if full < n:
        starts.append((full, n - full))
    for start, size in starts:
        part = latents[start : start + size].to(models.dtype)
        if size % chunk == 0:
            images = models.vae.decode(part, num_frames=chunk).sample
        else:
            # the last, shorter chunk (1-7 frames, by the clip's length) runs eagerly: compiled, each
            # new length would cost a fresh compile of the decoder (minutes cold) in the middle of a job.
            # (With decode_chunks_per_call > 1 the last full group can be shorter too, and compiles.)
            with torch.compiler.set_stance("force_eager"):
                images = models.vae.decode(part, num_frames=size).sample
        yield (images.float() * 0.5 + 0.5).clamp(0, 1)


def to_uint8(frames: torch.Tensor) -> np.ndarray:
    """(k, 3, H, W) floats in [0, 1] -> (k, H, W, 3) uint8 on the CPU, truncating as the official writer."""
    return (frames * 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


def to_25fps(models: SonicModels, chunks: Iterator[torch.Tensor], total: int,
             settings: RenderSettings) -> Iterator[np.ndarray]:
    """12.5-fps frame chunks -> exactly `total` frames at 25 fps: RIFE middles between neighbours
    when the interpolator is loaded and enabled, else each frame twice; padded with the last frame."""
    if settings.interpolate and models.interpolator is not None:
        stream = _interpolated(models.interpolator, chunks, settings.interpolation_pairs_per_call)
    else:
        stream = (c.repeat_interleave(2, dim=0) for c in chunks)
    produced = 0
    last = None
    for batch in stream:
        for frame in to_uint8(batch):
            if produced < total:
                produced += 1
                yield frame
            last = frame
    while last is not None and produced < total:
        produced += 1
        yield last


def _interpolated(net: Any, chunks: Iterator[torch.Tensor], pairs_at_512: int) -> Iterator[torch.Tensor]:
    """RIFE over the stream; the pair batch size follows the frame size, known at the first chunk."""
    from sonic.gpu.rife import interpolate_stream, pairs_per_call_for

    iterator = iter(chunks)
    first = next(iterator, None)
    if first is None:
        return
    pairs = pairs_per_call_for(*first.shape[-2:], pairs_at_512)

    def all_chunks() -> Iterator[torch.Tensor]:
        yield first
        yield from iterator

    yield from interpolate_stream(net, all_chunks(), pairs)


def generate(models: SonicModels, portrait: np.ndarray, face_mask: np.ndarray | None, samples: np.ndarray,
             settings: RenderSettings | None = None, noise: torch.Tensor | None = None,
             progress: Callable[[float, str], None] | None = None, frames: int | None = None) -> Iterator[np.ndarray]:
    """All frames at 25 fps as (H, W, 3) uint8 arrays; as many frames as the audio lasts
    (floor(seconds x 25)), or exactly `frames` when given (cut, or padded with the last frame).
    `progress` follows the diffusion steps (see `denoise`), which come before the first frame."""
    settings = settings or RenderSettings()
    latents, frames_25 = denoise(models, portrait, face_mask, samples, settings, noise, progress)
    return to_25fps(models, decode(models, latents, settings), frames_25 if frames is None else frames, settings)


def face_mask_for(box: tuple[float, float, float, float], height: int, width: int,
                  area: float = DEFAULTS.face_mask_area) -> np.ndarray:
    """The audio-attention mask: the face box scaled by `area` around its centre, 1 inside."""
    x1, y1, x2, y2 = box
    bw, bh = (x2 - x1) * area, (y2 - y1) * area
    cx, cy = (x1 + x2) // 2, (y1 + y2) // 2
    mask = np.zeros((height, width), np.float32)
    top, left = int(max(cy - bh // 2, 0)), int(max(cx - bw // 2, 0))
    bottom, right = int(min(cy + bh // 2, height)), int(min(cx + bw // 2, width))
    mask[top:bottom, left:right] = 1.0
    return mask

