"""Which UNet speed-ups pay on this GPU: one compiled UNet call with each variant (prints numbers).

    python bench/bench_sonic_kernels.py [--size 512] [--profile] [--attention] [--json out.json]

1. the fused GEGLU kernel (sonic/gpu/kernels.py) against PyTorch's GEGLU (eager and compiled) on
   the UNet's feed-forward shapes: milliseconds and relative error against fp32;
2. GroupNorm + SiLU compiled, PyTorch's against `group_norm_by_channel` (sonic/gpu/group_norm.py),
   on the UNet's spatial (NHWC) and temporal (NDHWC) shapes: milliseconds, error against fp32;
3. the compiled UNet call (3 guidance branches x 25 frames, random full-size weights, fp16) with
   each variant of `--variants` applied on top of the ones before it (default: baseline,
   + channels-last convolutions and memory-efficient temporal attention, + fused GEGLU at level 0
   only, + GroupNorm by channel statistics, + the fused audio attention: the renderer's defaults):
   ms per call (CUDA events, median of 5), cold compile seconds, relative L2 against an fp32 eager
   forward (limit 2e-2);
   `--profile` adds the top kernels of one compiled call per variant;
4. `--attention`: SDPA kernels on the UNet's attention shapes (bench_sonic_gpu.attention_sweep);
5. `--vae`: the compiled VAE decoder on one 8-frame chunk, as the renderer runs it and with
   channels-last convolutions and GroupNorm by channel statistics on top.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(__file__))
from bench_sonic_gpu import LOOP_CALL, attention_sweep, cuda_ms, fp32_reference, half, profile_one_call, rel_l2, unet_inputs  # noqa: E402


def geglu_shapes(size: int) -> list[tuple[str, int, int]]:
    """(name, tokens, channels) of the UNet's GEGLU feed-forwards at levels 0-2 (75 frames)."""
    side = size // 8
    return [(f"L{level}", 75 * (side >> level) ** 2, 320 << level) for level in range(3)]


def geglu_bench(size: int) -> list[dict]:
    from sonic.gpu.kernels import _tuned_geglu_kernel, geglu_reference, geglu_triton

    compiled = torch.compile(geglu_reference, dynamic=False)
    rows = []
    for name, tokens, channels in geglu_shapes(size):
        inner = 4 * channels
        x = torch.randn(tokens, channels, device="cuda", dtype=torch.float16)
        w = torch.randn(2 * inner, channels, device="cuda", dtype=torch.float16) / channels ** 0.5
        b = torch.randn(2 * inner, device="cuda", dtype=torch.float16) * 0.1
        ref = geglu_reference(x.float(), w.float(), b.float())
        row = {"shape": name, "tokens": tokens, "channels": channels}
        for label, fn in (("eager", geglu_reference), ("compiled", compiled), ("triton", geglu_triton)):
            out = fn(x, w, b)
            row[f"{label}_ms"] = cuda_ms(lambda: fn(x, w, b), repeats=10, warmup=2)
            row[f"{label}_rel_err"] = rel_l2(out, ref)
        row["best_tiles"] = {str(k): str(v) for k, v in getattr(_tuned_geglu_kernel(), "cache", {}).items()}
        print("geglu", row, flush=True)
        rows.append(row)
        del x, w, b, ref
    return rows


def group_norm_shapes(size: int) -> list[tuple[str, tuple[int, ...], torch.memory_format]]:
    """(name, shape, layout) of the UNet's GroupNorm inputs at levels 0-2: spatial (75 frames as the
    batch, NHWC) and temporal (3 branches x C x 25 frames x H x W, NDHWC)."""
    side = size // 8
    shapes = []
    for level in range(3):
        s, c = side >> level, 320 << level
        shapes.append((f"L{level} spatial", (75, c, s, s), torch.channels_last))
        shapes.append((f"L{level} temporal", (3, c, 25, s, s), torch.channels_last_3d))
    return shapes


def group_norm_bench(size: int) -> list[dict]:
    """GroupNorm + SiLU, compiled: PyTorch's GroupNorm against `group_norm_by_channel`."""
    import torch.nn.functional as F

    from sonic.gpu.group_norm import group_norm_by_channel

    def stock(x, w, b):
        return F.silu(F.group_norm(x, 32, w, b, 1e-5))

    def by_channel(x, w, b):
        return F.silu(group_norm_by_channel(x, 32, w, b, 1e-5))

    candidates = {"compiled": torch.compile(stock, dynamic=False), "by_channel": torch.compile(by_channel, dynamic=False)}
    rows = []
    for name, shape, layout in group_norm_shapes(size):
        x = (torch.randn(shape, device="cuda") * 2 + 0.5).half().contiguous(memory_format=layout)
        w = (1 + 0.1 * torch.randn(shape[1], device="cuda")).half()
        b = (0.1 * torch.randn(shape[1], device="cuda")).half()
        ref = stock(x.float(), w.float(), b.float())
        row = {"shape": name, "size": list(shape), "mb": x.numel() * 2 / 2 ** 20}
        for label, fn in candidates.items():
            out = fn(x, w, b)
            row[f"{label}_ms"] = cuda_ms(lambda: fn(x, w, b), repeats=10, warmup=2)
            row[f"{label}_rel_err"] = rel_l2(out, ref)
            row[f"{label}_keeps_layout"] = out.is_contiguous(memory_format=layout)
        print("group_norm", row, flush=True)
        rows.append(row)
        del x, ref
    return rows


def unet_variants(size: int, profile: bool, budget_s: float, names: list[str]) -> list[dict]:
    from sonic.gpu.acceleration import compile_unet_regions, set_attention_backend, to_channels_last
    from sonic.gpu.group_norm import use_channel_stats_group_norm
    from sonic.gpu.kernels import use_fused_geglu
    from sonic.gpu.models import random_models
    from sonic.gpu.unet import fuse_self_attention, use_efficient_temporal_attention, use_fused_audio_attention

    models = random_models(tiny=False, device="cuda", dtype=torch.float16, interpolator=False)
    unet = models.unet
    fuse_self_attention(unet)
    set_attention_backend("cudnn")
    ref = fp32_reference(unet, unet_inputs(size))
    inputs = half(unet_inputs(size))
    compile_unet_regions(unet)

    def coordinate_descent():
        import torch._inductor.config as inductor_config

        inductor_config.coordinate_descent_tuning = True   # tunes the generated norm/pointwise kernels

    def autotune_gemm():
        import torch._inductor.config as inductor_config

        # Triton GEMM templates compete with cuBLAS, and a winning template takes the bias / residual
        # add into its epilogue: at level 0 (K = 320) the products are memory-bound
        inductor_config.max_autotune_gemm = True
        inductor_config.max_autotune_gemm_backends = "ATEN,TRITON"

    def cudnn_benchmark():
        torch.backends.cudnn.benchmark = True    # time cuDNN's convolution algorithms per shape

    known = {
        "baseline": ("baseline (compiled, cuDNN attention, fused QKV)", lambda: None),
        "channels-last": ("+ channels-last + memory-efficient temporal attention",
                          lambda: (to_channels_last(unet), use_efficient_temporal_attention(unet))),
        "geglu-l0": ("+ fused GEGLU at level 0 only (320 features)", lambda: use_fused_geglu(unet, max_width=320)),
        "geglu-all": ("+ fused GEGLU everywhere", lambda: use_fused_geglu(unet)),
        "group-norm": ("+ GroupNorm by channel statistics", lambda: use_channel_stats_group_norm(unet)),
        "audio-attention": ("+ fused audio attention", lambda: use_fused_audio_attention(unet)),
        "cudnn-benchmark": ("+ cuDNN convolution algorithms timed per shape", cudnn_benchmark),
        "autotune-gemm": ("+ inductor GEMM autotuning (Triton templates with fused epilogues)", autotune_gemm),
        # slow: did not finish compiling within 10 minutes on an H100
        "coordinate-descent": ("+ inductor coordinate-descent tuning", coordinate_descent),
    }
    # "a+b" applies a and b before one compile: one measurement, one cold compile fewer
    unknown = [part for n in names for part in n.split("+") if part not in known]
    if unknown:
        raise SystemExit(f"unknown variant(s) {unknown}: choose from {', '.join(known)}")
    variants = [(" ".join(known[part][0] for part in n.split("+")),
                 lambda n=n: [known[part][1]() for part in n.split("+")]) for n in names]
    rows = []
    start = time.perf_counter()
    for name, apply in variants:
        if time.perf_counter() - start > budget_s:
            print("time budget spent: skipping", name, flush=True)
            continue
        apply()
        torch._dynamo.reset()         # the blocks read the flags at trace time: trace them again
        t = time.perf_counter()
        with torch.no_grad():
            out = unet(*inputs)
        torch.cuda.synchronize()
        row = {"variant": name, "compile_s": time.perf_counter() - t, "rel_l2": rel_l2(out, ref)}
        with torch.no_grad():
            row["ms_per_call"] = cuda_ms(lambda: unet(*inputs), repeats=5, warmup=1)
            # as the diffusion loop calls it: the first layers shared by the last two branches
            row["rel_l2_shared_prefix"] = rel_l2(unet(*inputs, **LOOP_CALL), ref)
            row["ms_per_call_shared_prefix"] = cuda_ms(lambda: unet(*inputs, **LOOP_CALL), repeats=5, warmup=1)
        print("unet", row, flush=True)
        if profile:
            profile_one_call(unet, inputs, top=40)
        rows.append(row)
    return rows


def vae_variants(size: int, profile: bool) -> list[dict]:
    """The compiled temporal VAE decoder on one chunk of 8 frames (random weights, fp16): as the
    renderer runs it, then + channels-last convolutions, then + GroupNorm by channel statistics."""
    from sonic.gpu.acceleration import compile_vae_decoder_regions, to_channels_last
    from sonic.gpu.group_norm import use_channel_stats_group_norm
    from sonic.gpu.models import random_vae

    torch.manual_seed(0)
    vae = random_vae().to("cuda", torch.float16).eval()
    latents = torch.randn(8, 4, size // 8, size // 8, device="cuda", dtype=torch.float16)

    def decode():
        with torch.no_grad():
            return vae.decode(latents, num_frames=8).sample

    reference = decode().float()          # eager fp16: the compiled variants should match it closely
    compile_vae_decoder_regions(vae)
    variants = (("compiled (the renderer's)", lambda: None), ("+ channels-last", lambda: to_channels_last(vae.decoder)),
                ("+ GroupNorm by channel statistics", lambda: use_channel_stats_group_norm(vae.decoder)))
    rows = []
    for name, apply in variants:
        apply()
        torch._dynamo.reset()
        t = time.perf_counter()
        out = decode()
        torch.cuda.synchronize()
        row = {"variant": name, "compile_s": time.perf_counter() - t, "rel_l2_vs_eager": rel_l2(out, reference),
               "ms_per_chunk": cuda_ms(decode, repeats=5, warmup=1)}
        print("vae", row, flush=True)
        if profile:
            profile_one_call(decode, (), top=20)
        rows.append(row)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--skip-unet", action="store_true")
    ap.add_argument("--variants", default="baseline,channels-last,geglu-l0,group-norm,audio-attention",
                    help="comma-separated, each applied on top of the ones before it (a+b: both, then one "
                         "measurement): baseline, channels-last, "
                         "geglu-l0, geglu-all, group-norm, audio-attention, cudnn-benchmark, autotune-gemm, "
                         "coordinate-descent")
    ap.add_argument("--skip-geglu", action="store_true")
    ap.add_argument("--skip-group-norm", action="store_true")
    ap.add_argument("--attention", action="store_true", help="also time SDPA kernels on the UNet's attention shapes")
    ap.add_argument("--vae", action="store_true", help="also time the compiled VAE decoder with layout variants")
    ap.add_argument("--budget", type=float, default=420, help="seconds after which no further variant starts")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    print(torch.cuda.get_device_name(), "torch", torch.__version__, time.strftime("%Y-%m-%d"), flush=True)
    result = {"size": args.size}
    if not args.skip_geglu:
        result["geglu"] = geglu_bench(args.size)
    if not args.skip_group_norm:
        result["group_norm"] = group_norm_bench(args.size)
    if args.attention:
        result["attention"] = attention_sweep([args.size])
    if args.vae:
        result["vae"] = vae_variants(args.size, args.profile)
    if not args.skip_unet:
        result["unet"] = unet_variants(args.size, args.profile, args.budget, args.variants.split(","))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    print("\nGEGLU (ms: eager / compiled / triton; rel err vs fp32 of triton):")
    for r in result.get("geglu", []):
        print(f"  {r['shape']} {r['tokens']}x{r['channels']}: {r['eager_ms']:.2f} / {r['compiled_ms']:.2f} / "
              f"{r['triton_ms']:.2f}; {r['triton_rel_err']:.1e} "
              f"(compiled {r['compiled_rel_err']:.1e})")
    print("\nGroupNorm + SiLU (ms: compiled stock / compiled by channel; rel err vs fp32):")
    for r in result.get("group_norm", []):
        print(f"  {r['shape']} {r['mb']:.0f} MB: {r['compiled_ms']:.3f} / {r['by_channel_ms']:.3f}; "
              f"{r['compiled_rel_err']:.1e} / {r['by_channel_rel_err']:.1e}")
    for r in result.get("vae", []):
        print(f"  VAE decoder {args.size}px, 8 frames, {r['variant']}: {r['ms_per_chunk']:.1f} ms, "
              f"compile {r['compile_s']:.0f} s, rel L2 vs eager {r['rel_l2_vs_eager']:.1e}")
    for r in result.get("unet", []):
        print(f"  UNet {args.size}px {r['variant']}: {r['ms_per_call']:.1f} ms/call, compile {r['compile_s']:.0f} s, "
              f"rel L2 {r['rel_l2']:.2e}; first layers shared by the last two branches: "
              f"{r['ms_per_call_shared_prefix']:.1f} ms/call, rel L2 {r['rel_l2_shared_prefix']:.2e}")


if __name__ == "__main__":
    os.environ.setdefault("PYTORCH_CUDA_ALLOC_CONF", "expandable_segments:True")
    main()
