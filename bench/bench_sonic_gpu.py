"""Benchmark the Sonic GPU renderer with random full-size weights (prints numbers, not a test).

    python bench/bench_sonic_gpu.py --seconds 10 --size 512 [--size 1024] [--compile] [--steps 25]

Prints, per image size: total seconds, UNet ms per call, VAE decode seconds, peak GPU memory,
and the relative L2 distance of one fp16 UNet call from an fp32 forward on the same inputs.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch


def smooth_portrait(size: int, seed: int = 0) -> np.ndarray:
    """A non-constant test image (random weights do not care about faces)."""
    rng = np.random.default_rng(seed)
    small = rng.random((8, 8, 3)).astype(np.float32)
    big = torch.nn.functional.interpolate(torch.from_numpy(small).permute(2, 0, 1)[None], size=(size, size),
                                          mode="bicubic", align_corners=False)[0].permute(1, 2, 0).numpy()
    return (np.clip(big, 0, 1) * 255).astype(np.uint8)


def unet_rel_l2(models, size: int) -> float:
    """One UNet call in the render dtype vs the same weights in fp32 (fresh random inputs)."""
    unet = models.unet
    h = size // 8
    g = torch.Generator("cuda").manual_seed(1)
    x = torch.randn(3, 25, 8, h, h, device="cuda", generator=g)
    clip = torch.randn(75, 1, 1024, device="cuda", generator=g)
    audio = torch.randn(75, 32, 1024, device="cuda", generator=g)
    ids = torch.tensor([[12.5, 30.0, 20.0]] * 3, device="cuda")
    t = torch.tensor(1.0, device="cuda")
    mask = torch.zeros(1, 1, size, size, device="cuda")
    mask[..., size // 4 : 3 * size // 4, size // 4 : 3 * size // 4] = 1
    with torch.no_grad():
        out = unet(x.half(), t.half(), clip.half(), audio.half(), ids.half(), mask.half()).float()
        unet.float()
        for m in unet.modules():
            if getattr(m, "fused_qkv", None) is not None:
                m.fused_qkv = m.fused_qkv.float()
        ref = unet(x, t, clip, audio, ids, mask)
        unet.half()
        for m in unet.modules():
            if getattr(m, "fused_qkv", None) is not None:
                m.fused_qkv = m.fused_qkv.half()
    return ((out - ref).norm() / ref.norm()).item()


def run(size: int, seconds: float, steps: int, compile_unet: bool, fuse: bool, check: bool,
        decode_chunks: int = 1) -> dict:
    from sonic.gpu.models import random_models
    from sonic.gpu.pipeline import RenderSettings, decode, denoise, face_mask_for, to_25fps
    from sonic.gpu.unet import fuse_self_attention

    torch.backends.cuda.matmul.allow_fp16_reduced_precision_reduction = True
    t0 = time.perf_counter()
    models = random_models(tiny=False, device="cuda", dtype=torch.float16)
    if fuse:
        fuse_self_attention(models.unet)
    build_s = time.perf_counter() - t0
    rel = unet_rel_l2(models, size) if check else float("nan")

    events: list[tuple[torch.cuda.Event, torch.cuda.Event]] = []
    inner = models.unet
    if compile_unet:
        inner = torch.compile(models.unet)

    def timed_unet(*args):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        out = inner(*args)
        b.record()
        events.append((a, b))
        return out

    models.unet_call = timed_unet
    portrait = smooth_portrait(size)
    mask = face_mask_for((size * 0.25, size * 0.2, size * 0.75, size * 0.8), size, size)
    audio = (np.random.default_rng(0).standard_normal(int(seconds * 16000)) * 0.1).astype(np.float32)
    settings = RenderSettings(inference_steps=steps, decode_chunks_per_call=decode_chunks)

    if compile_unet:  # warm-up (compile once per worker): a 1-step, 1-window render
        tc = time.perf_counter()
        denoise(models, portrait, mask, audio[: 16000 * 2], RenderSettings(inference_steps=1))
        torch.cuda.synchronize()
        print(f"compile warm-up {time.perf_counter() - tc:.1f} s")
        events.clear()

    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    t1 = time.perf_counter()
    latents, frames_25 = denoise(models, portrait, mask, audio, settings)
    torch.cuda.synchronize()
    t2 = time.perf_counter()
    frames = list(to_25fps(decode(models, latents, settings), frames_25))
    torch.cuda.synchronize()
    t3 = time.perf_counter()
    unet_ms = [a.elapsed_time(b) for a, b in events]
    return dict(
        size=size, frames=len(frames), total_s=t3 - t1, loop_s=t2 - t1, vae_s=t3 - t2,
        unet_calls=len(unet_ms), unet_ms_median=float(np.median(unet_ms)),
        unet_total_s=sum(unet_ms) / 1000, peak_gib=torch.cuda.max_memory_allocated() / 2**30,
        rel_l2_vs_fp32=rel, build_s=build_s,
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, action="append")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--steps", type=int, default=25)
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--no-fuse", action="store_true")
    ap.add_argument("--no-check", action="store_true")
    ap.add_argument("--decode-chunks", type=int, default=1, help="VAE chunks of 8 frames per call")
    args = ap.parse_args()
    print(torch.cuda.get_device_name(), "torch", torch.__version__)
    rows = []
    for size in args.size or [512]:
        r = run(size, args.seconds, args.steps, args.compile, not args.no_fuse, not args.no_check,
                args.decode_chunks)
        rows.append(r)
        print(r, flush=True)
        torch.cuda.empty_cache()
    print("size | frames | total s | UNet ms/call (calls) | UNet s | VAE+out s | peak GiB | relL2 vs fp32")
    for r in rows:
        print(f"{r['size']} | {r['frames']} | {r['total_s']:.1f} | {r['unet_ms_median']:.0f} ({r['unet_calls']}) | "
              f"{r['unet_total_s']:.1f} | {r['vae_s']:.1f} | {r['peak_gib']:.2f} | {r['rel_l2_vs_fp32']:.2e}")


if __name__ == "__main__":
    main()
