"""fp8 linear layers for the Sonic UNet: speed and accuracy (prints numbers, not a test).

    python bench/bench_sonic_fp8.py [--size 512] [--budget 480] [--skip-compile] [--json out.json]

(run in the order 2, 3, 4, 1; each part's numbers are saved to --json as it ends)
1. the UNet's linear shapes (75 frames at `--size`), each compiled as in the renderer:
   fp16 `F.linear` vs `fp8_matmul` (quantisation included), and the GEGLU projection: fp16
   Triton kernel vs fp8 Triton kernel vs fp8 cuBLAS + compiled GELU; ms and rel L2 vs fp32;
2. one eager UNet call (3 x 25 frames, random full-size weights) against an fp32 forward:
   fp16, fp8 everywhere, fp8 in the feed-forwards only, fp8 in the attention projections only;
   and the renderer's start-up check (`fp8_deviation`, 256 px);
3. a whole 2-s clip (25 steps, eager, same noise) in fp32, fp16 and fp8: rel L2 of the decoded
   frames against the fp32 clip;
4. one compiled UNet call, fp16 then fp8 (each compiled cold), ms per call (CUDA events) and the
   top kernels of the fp8 call.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
from bench_sonic_gpu import cuda_ms, fp32_reference, half, profile_one_call, rel_l2, smooth_portrait, unet_inputs  # noqa: E402


def linear_shapes(size: int) -> list[tuple[str, int, int, int]]:
    """(name, tokens, in, out) of the UNet's transformer linear layers at levels 0-2."""
    side = size // 8
    rows = []
    for level in range(3):
        tokens, c = 75 * (side >> level) ** 2, 320 << level
        rows += [(f"L{level} qkv", tokens, c, 3 * c), (f"L{level} ff out", tokens, 4 * c, c)]
    return rows


def kernel_bench(size: int) -> dict:
    from sonic.gpu.fp8 import Fp8Weight, fp8_matmul, quantize_rows
    from sonic.gpu.kernels import geglu, geglu_fp8, geglu_reference

    def fp8_geglu_triton(x, w8, b):
        rows, scale = quantize_rows(x)
        return geglu_fp8(rows, scale, w8.data, w8.scale, b, x.dtype)

    def fp8_geglu_cublas(x, w8, b):
        hidden, gate = fp8_matmul(x, w8, b).chunk(2, dim=-1)
        return hidden * torch.nn.functional.gelu(gate)

    linear16 = torch.compile(lambda x, w: torch.nn.functional.linear(x, w), dynamic=False)
    linear8 = torch.compile(fp8_matmul, dynamic=False)
    geglu8_triton = torch.compile(fp8_geglu_triton, dynamic=False)
    geglu8_cublas = torch.compile(fp8_geglu_cublas, dynamic=False)
    result: dict = {"linear": [], "geglu": []}
    for name, tokens, k, n in linear_shapes(size):
        x = torch.randn(tokens, k, device="cuda", dtype=torch.float16)
        w = (torch.randn(n, k, device="cuda") / k**0.5).half()
        ref = x.float() @ w.float().t()
        w8 = Fp8Weight.from_weight(w)
        row = {"shape": name, "tokens": tokens, "k": k, "n": n,
               "fp16_ms": cuda_ms(lambda: linear16(x, w), repeats=10, warmup=2),
               "fp8_ms": cuda_ms(lambda: linear8(x, w8), repeats=10, warmup=2),
               "fp16_rel": rel_l2(linear16(x, w), ref), "fp8_rel": rel_l2(linear8(x, w8), ref)}
        print("linear", row, flush=True)
        result["linear"].append(row)
    side = size // 8
    for level in range(3):
        tokens, c = 75 * (side >> level) ** 2, 320 << level
        x = torch.randn(tokens, c, device="cuda", dtype=torch.float16)
        w = (torch.randn(8 * c, c, device="cuda") / c**0.5).half()
        b = (torch.randn(8 * c, device="cuda") * 0.1).half()
        ref = geglu_reference(x.float(), w.float(), b.float())
        w8 = Fp8Weight.from_weight(w)
        row = {"shape": f"L{level} geglu", "tokens": tokens, "k": c, "n": 4 * c}
        for label, fn, args in (("fp16_triton", geglu, (x, w, b)), ("fp8_triton", geglu8_triton, (x, w8, b)),
                                ("fp8_cublas", geglu8_cublas, (x, w8, b))):
            row[f"{label}_ms"] = cuda_ms(lambda: fn(*args), repeats=10, warmup=2)
            row[f"{label}_rel"] = rel_l2(fn(*args), ref)
        print("geglu", row, flush=True)
        result["geglu"].append(row)
    return result


def set_fp8(unet, which: str) -> None:
    """fp8 in: all | ff (feed-forwards) | attention (q/k/v/out projections) | none."""
    from sonic.gpu.fp8 import Fp8Linear, use_fp8

    use_fp8(unet, which != "none")
    if which in ("all", "none"):
        return
    for name, module in unet.named_modules():
        is_ff = ".ff" in name or "ff_in" in name
        keep = is_ff if which == "ff" else (".attn" in name)
        if isinstance(module, Fp8Linear) and not keep:
            module.__class__ = torch.nn.Linear
        if which == "ff" and name.endswith("attn1"):
            module.fused_qkv_fp8 = None


def accuracy(models, size: int) -> dict:
    from sonic.gpu.fp8 import fp8_deviation

    unet = models.unet
    ref = fp32_reference(unet, unet_inputs(size))
    inputs = half(unet_inputs(size))
    result = {}
    for which in ("none", "all", "ff", "attention"):
        set_fp8(unet, which)
        with torch.no_grad():
            result[which] = rel_l2(unet(*inputs), ref)
        print(f"eager UNet call, fp8 in {which}: rel L2 vs fp32 {result[which]:.2e}", flush=True)
    set_fp8(unet, "none")
    result["startup_check_256px"] = fp8_deviation(unet)
    print(f"start-up check (fp8 vs fp16, 256 px): {result['startup_check_256px']:.2e}", flush=True)
    return result


def clip_check(models, size: int, seconds: float) -> dict:
    """The same short clip in fp32, fp16 and fp8 from the same noise: decoded frames vs fp32."""
    from sonic.gpu.pipeline import RenderSettings, decode, denoise, face_mask_for

    portrait = smooth_portrait(size)
    mask = face_mask_for((size * 0.25, size * 0.2, size * 0.75, size * 0.8), size, size)
    audio = (np.random.default_rng(0).standard_normal(int(seconds * 16000)) * 0.1).astype(np.float32)
    settings = RenderSettings(interpolate=False)
    n = int(seconds * 12.5)
    noise = torch.randn((1, n, 4, size // 8, size // 8), generator=torch.Generator("cuda").manual_seed(3), device="cuda")

    def frames(m, label: str) -> torch.Tensor:
        t = time.perf_counter()
        latents, _ = denoise(m, portrait, mask, audio, settings, noise=noise.to(m.dtype))
        out = torch.cat([c.float() for c in decode(models, latents.to(models.dtype), settings)])
        print(f"  clip in {label}: {time.perf_counter() - t:.1f} s", flush=True)
        return out

    f16 = frames(models, "fp16")
    set_fp8(models.unet, "all")
    f8 = frames(models, "fp8")
    set_fp8(models.unet, "none")
    m32 = copy.copy(models)      # fp32 copies of the networks that see the clip's dtype
    m32.unet, m32.vae, m32.image_encoder = (copy.deepcopy(n).float() for n in (models.unet, models.vae, models.image_encoder))
    for m in m32.unet.modules():
        if getattr(m, "fused_qkv", None) is not None:
            m.fused_qkv = m.fused_qkv.float()
        m.fused_geglu = m.efficient_kernel = False
    m32.dtype = torch.float32
    f32 = frames(m32, "fp32")
    del m32
    torch.cuda.empty_cache()
    result = {"fp16_vs_fp32": rel_l2(f16, f32), "fp8_vs_fp32": rel_l2(f8, f32), "fp8_vs_fp16": rel_l2(f8, f16),
              "fp16_vs_fp32_max_abs": (f16 - f32).abs().max().item(), "fp8_vs_fp32_max_abs": (f8 - f32).abs().max().item(),
              "frames": int(f16.shape[0])}
    print("clip", result, flush=True)
    return result


def compiled_calls(models, size: int, profile: bool) -> dict:
    from sonic.gpu.acceleration import compile_unet_regions

    unet = models.unet
    inputs = half(unet_inputs(size))
    compile_unet_regions(unet)
    result = {}
    for which in ("none", "all"):
        set_fp8(unet, which)
        torch._dynamo.reset()
        t = time.perf_counter()
        with torch.no_grad():
            unet(*inputs)
        torch.cuda.synchronize()
        compile_s = time.perf_counter() - t
        with torch.no_grad():
            ms = cuda_ms(lambda: unet(*inputs), repeats=5, warmup=1)
        result[which] = {"compile_s": compile_s, "ms_per_call": ms}
        print(f"compiled UNet call, fp8 {which}: {ms:.1f} ms (compile {compile_s:.0f} s)", flush=True)
        if profile and which == "all":
            profile_one_call(unet, inputs, top=30)
    return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--clip-seconds", type=float, default=2.0)
    ap.add_argument("--skip-kernels", action="store_true")
    ap.add_argument("--skip-clip", action="store_true")
    ap.add_argument("--skip-compile", action="store_true")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    print(torch.cuda.get_device_name(), "torch", torch.__version__, time.strftime("%Y-%m-%d"), flush=True)
    from sonic.gpu.acceleration import Acceleration, rewrite_unet
    from sonic.gpu.models import random_models

    result: dict = {"size": args.size, "device": torch.cuda.get_device_name()}

    def save() -> None:
        if args.json:
            with open(args.json, "w") as f:
                json.dump(result, f, indent=1)

    models = random_models(tiny=False, device="cuda", dtype=torch.float16)
    rewrite_unet(models, Acceleration())
    result["accuracy"] = accuracy(models, args.size)
    save()
    if not args.skip_clip:     # eager: before the blocks are compiled
        result["clip"] = clip_check(models, args.size, args.clip_seconds)
        save()
    if not args.skip_compile:
        result["compiled"] = compiled_calls(models, args.size, args.profile)
        save()
    del models
    torch.cuda.empty_cache()
    if not args.skip_kernels:
        result["kernels"] = kernel_bench(args.size)
        save()

    print("\nlinear (ms fp16 / fp8; rel L2 vs fp32 fp16 / fp8):")
    for r in result.get("kernels", {}).get("linear", []):
        print(f"  {r['shape']} {r['tokens']}x{r['k']}->{r['n']}: {r['fp16_ms']:.3f} / {r['fp8_ms']:.3f}; "
              f"{r['fp16_rel']:.1e} / {r['fp8_rel']:.1e}")
    print("GEGLU (ms fp16 Triton / fp8 Triton / fp8 cuBLAS + GELU; rel L2 of fp8 Triton):")
    for r in result.get("kernels", {}).get("geglu", []):
        print(f"  {r['shape']} {r['tokens']}x{r['k']}: {r['fp16_triton_ms']:.3f} / {r['fp8_triton_ms']:.3f} / "
              f"{r['fp8_cublas_ms']:.3f}; {r['fp8_triton_rel']:.1e}")
    print("UNet call rel L2 vs fp32:", {k: f"{v:.2e}" for k, v in result["accuracy"].items()})
    if "clip" in result:
        print("clip:", {k: f"{v:.2e}" if isinstance(v, float) else v for k, v in result["clip"].items()})
    if "compiled" in result:
        print("compiled:", result["compiled"])


if __name__ == "__main__":
    os.environ.setdefault("PYTORCH_CUDA_ALLOC_CONF", "expandable_segments:True")
    main()
