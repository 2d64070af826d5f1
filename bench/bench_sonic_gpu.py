"""Benchmark the Sonic GPU renderer with random full-size weights (prints numbers, not a test).

    python bench/bench_sonic_gpu.py --size 512 [--size 1024] [--seconds 10] [--steps 25]
           [--no-compile] [--attention cudnn|flash|auto|measure] [--compile-vae] [--decode-chunks 1]
           [--plain] [--sweeps] [--no-cuda-graph] [--json out.json]

Per image size it prints: total seconds for the clip (denoise loop + VAE decode + RIFE + uint8
frames), UNet ms per call (CUDA events around each call), VAE and interpolation seconds, peak GPU
memory, the cold compile seconds (separately: paid once per worker process), and the relative L2
distance of one UNet call (as rendered: fp16, compiled) from an fp32 eager forward on the same
random inputs. `--sweeps` adds: SDPA kernels on the UNet's attention shapes, the UNet eager with
each attention backend, a kernel-time profile of one eager call, VAE chunks per call (time and
memory) and RIFE fp16 vs fp32. The clip's UNet calls replay a CUDA graph, as the renderer's do
(`sonic.gpu.acceleration.CudaGraphCall`; its capture is part of the clip's time), and the
per-call time is the replay's; `--no-cuda-graph` launches them one by one, timed by CUDA events.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
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


def cuda_ms(fn, repeats: int = 3, warmup: int = 1) -> float:
    """Median milliseconds of fn() by CUDA events (after warm-up calls)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        torch.cuda.synchronize()
        times.append(a.elapsed_time(b))
    return float(np.median(times))


# how the diffusion loop calls the UNet (pipeline.denoise): the compiled and replayed call times
# use it; the eager times and the profiles are of calls that compute all three branches in full
LOOP_CALL = {"last_branch_differs_only_in_audio": True}


def unet_inputs(size: int, seed: int = 1, frames: int = 25):
    """Fresh random inputs of one UNet call: 3 guidance branches x `frames` frames, the last two
    differing only in their audio tokens (as in the diffusion loop)."""
    h = size // 8
    g = torch.Generator("cuda").manual_seed(seed)
    x = torch.randn(2, frames, 8, h, h, device="cuda", generator=g)[[0, 1, 1]]
    clip = torch.randn(2 * frames, 1, 1024, device="cuda", generator=g)
    clip = torch.cat([clip, clip[frames:]])
    audio = torch.randn(3 * frames, 32, 1024, device="cuda", generator=g)
    ids = torch.tensor([[12.5, 30.0, 20.0]] * 3, device="cuda")
    t = torch.tensor(1.0, device="cuda")
    mask = torch.zeros(1, 1, size, size, device="cuda")
    mask[..., size // 4 : 3 * size // 4, size // 4 : 3 * size // 4] = 1
    return x, t, clip, audio, ids, mask


def half(args):
    return tuple(a.half() for a in args)


def rel_l2(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a.float() - b.float()).norm() / b.float().norm()).item()


def fp32_reference(unet, args) -> torch.Tensor:
    """The same weights in fp32, eager (a temporary copy; the fp16 model is untouched)."""
    from sonic.gpu.kernels import use_fused_geglu
    from sonic.gpu.unet import use_efficient_temporal_attention, use_fused_audio_attention

    ref_unet = copy.deepcopy(unet).float()
    for m in ref_unet.modules():
        if getattr(m, "fused_qkv", None) is not None:
            m.fused_qkv = m.fused_qkv.float()
    # the reference is diffusers' own math: every kernel switched off by the function that switches it on
    for mark in (use_fused_geglu, use_efficient_temporal_attention, use_fused_audio_attention):
        mark(ref_unet, enabled=False)
    with torch.no_grad():
        out = ref_unet(*args)
    del ref_unet
    torch.cuda.empty_cache()
    return out


def attention_sweep(sizes: list[int]) -> list[dict]:
    """SDPA kernels on the UNet's attention shapes (fp16): flash vs cuDNN vs memory-efficient, on
    contiguous (B, heads, N, 64) inputs and, for cuDNN, on the model's own layout (q, k, v sliced
    from one fused q/k/v projection: strided views); ms and TFLOP/s. The audio attentions (32
    keys) also by plain matrix products + softmax, which SDPA's fused kernels may not beat there."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    import torch.nn.functional as F

    def by_matmul(q, k, v):
        return torch.softmax(q @ k.transpose(-1, -2) * q.shape[-1] ** -0.5, dim=-1) @ v

    rows = []
    for size in sizes:
        side = size // 8
        for level, heads in enumerate((5, 10, 20, 20)):
            tokens = (side >> level) ** 2
            # name: (query shape, number of keys)
            shapes = {f"spatial L{level}": ((75, heads, tokens, 64), tokens)}
            if level < 2:
                shapes[f"temporal L{level}"] = ((3 * tokens, heads, 25, 64), 25)
                shapes[f"spatial audio L{level}"] = ((75, heads, tokens, 64), 32)
                shapes[f"temporal audio L{level}"] = ((3, heads, 25 * tokens, 64), 32)
            for name, (shape, keys) in shapes.items():
                batch, h, n, d = shape
                q = torch.randn(shape, device="cuda", dtype=torch.float16)
                k, v = (torch.randn(batch, h, keys, d, device="cuda", dtype=torch.float16) for _ in range(2))
                cases = [("flash", SDPBackend.FLASH_ATTENTION, (q, k, v)), ("cudnn", SDPBackend.CUDNN_ATTENTION, (q, k, v)),
                         ("efficient", SDPBackend.EFFICIENT_ATTENTION, (q, k, v))]
                if keys == n:       # self-attention: also as self_attention sees it, (B, N, 3C) -> chunk -> views
                    fused = torch.randn(batch, n, 3 * h * d, device="cuda", dtype=torch.float16)
                    views = [t.view(batch, n, h, d).transpose(1, 2) for t in fused.chunk(3, dim=-1)]
                    cases.append(("cudnn_fused_qkv_views", SDPBackend.CUDNN_ATTENTION, views))
                row = {"size": size, "shape": name, "dims": shape, "keys": keys}
                for label, backend, qkv in cases:
                    try:
                        with sdpa_kernel(backend):
                            row[label] = cuda_ms(lambda: F.scaled_dot_product_attention(*qkv), repeats=5)
                    except RuntimeError as exc:
                        row[label] = f"n/a ({str(exc)[:40]})"
                if keys == 32:
                    row["matmul_softmax"] = cuda_ms(lambda: by_matmul(q, k, v), repeats=5)
                    row.update(audio_attention_in_model_layout(batch, h, n, d, spatial=name.startswith("spatial")))
                if isinstance(row["cudnn"], float):
                    row["cudnn_tflops"] = round(4 * batch * h * n * keys * d / row["cudnn"] / 1e9, 1)
                rows.append(row)
                print("attention", row, flush=True)
                del q, k, v, cases
    return rows


def audio_attention_in_model_layout(groups: int, heads: int, length: int, dim: int, spatial: bool) -> dict:
    """The whole audio-attention step as the UNet runs it, on (G, L, heads x 64) queries: SDPA with
    the head split / merge, face mask, scale and CLIP sum compiled around it, against the one
    Triton kernel (`sonic::audio_attention`); ms, and the kernel's relative error vs fp32."""
    from sonic.gpu.kernels import audio_attention, audio_attention_reference

    channels = heads * dim
    q = torch.randn(groups, length, channels, device="cuda", dtype=torch.float16)
    k, v = (torch.randn(groups, 32, channels, device="cuda", dtype=torch.float16) for _ in range(2))
    clip = torch.randn(groups, 1, channels, device="cuda", dtype=torch.float16)
    mask = (torch.rand(1, length, 1, device="cuda") > 0.5).half() if spatial else None
    args = (q, k, v, clip, mask, 0.8, heads)
    compiled = torch.compile(audio_attention_reference, dynamic=False)
    compiled(*args)
    reference = audio_attention_reference(*(a.float() if isinstance(a, torch.Tensor) else a for a in args))
    return {"model_layout_compiled_sdpa": cuda_ms(lambda: compiled(*args), repeats=5),
            "model_layout_triton": cuda_ms(lambda: audio_attention(*args), repeats=5),
            "triton_rel_err": rel_l2(audio_attention(*args), reference),
            "compiled_sdpa_rel_err": rel_l2(compiled(*args), reference)}


def profile_one_call(unet, args, top: int = 15) -> None:
    from torch.profiler import ProfilerActivity, profile

    with torch.no_grad(), profile(activities=[ProfilerActivity.CUDA]) as prof:
        unet(*args)
        torch.cuda.synchronize()
    events = prof.key_averages()
    print(events.table(sort_by="cuda_time_total", row_limit=top, max_name_column_width=70), flush=True)
    print("kernel time by kind, ms:", kernel_time_by_kind(events), flush=True)
    others = sorted((e for e in events if kernel_kind(e) == "other"), key=lambda e: -e.self_device_time_total)
    print("largest 'other' kernels, ms (calls):", [(e.key[:90], round(e.self_device_time_total / 1000, 2), e.count)
                                                   for e in others[:25]], flush=True)
    # which PyTorch operators launched them: a second pass with the CPU side and input shapes
    # (matrix products, convolutions and attention left out: their kernels are named above)
    with torch.no_grad(), profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA], record_shapes=True) as prof:
        unet(*args)
        torch.cuda.synchronize()
    big = ("aten::mm", "aten::addmm", "aten::cudnn_convolution", "aten::_cudnn_attention_forward",
           "aten::_efficient_attention_forward")
    launched = sorted((e for e in prof.key_averages(group_by_input_shape=True)
                       if e.key.startswith("aten::") and e.key not in big and e.self_device_time_total > 0),
                      key=lambda e: -e.self_device_time_total)
    print("other operators by the device time of the kernels they launch, ms (calls, input shapes):",
          [(e.key, round(e.self_device_time_total / 1000, 2), e.count, str(e.input_shapes)[:120])
           for e in launched[:30]], flush=True)


# first match wins; names as the profiler reports them for torch 2.11 + cuDNN 9 on Hopper. Inductor's
# kernels come first: their names list the operations they fuse ("triton_poi_fused_add_convolution_3").
# Our own Triton kernels go by their function names: the audio attention's counts as attention.
KERNEL_KINDS = (("triton", ("triton_", "geglu_kernel")), ("attention", ("sdpa", "fmha", "flash", "attention")),
                ("convolution", ("conv", "xmma_fprop", "implicit")), ("gemm", ("nvjet", "gemm", "cutlass", "sm90_xmma")))


def kernel_kind(event) -> str | None:
    """attention, convolution, gemm, triton or other; None for operators and runtime calls."""
    name = event.key.lower()
    if name.startswith(("aten::", "cuda", "profiler")) or event.device_time_total <= 0:
        return None
    return next((k for k, marks in KERNEL_KINDS if any(m in name for m in marks)), "other")


def kernel_time_by_kind(events) -> dict[str, float]:
    """Summed device time of the profiled kernels by kind (attention, convolution, GEMM, Triton, other)."""
    totals: dict[str, float] = {}
    for event in events:
        kind = kernel_kind(event)
        if kind is not None:
            totals[kind] = totals.get(kind, 0.0) + event.self_device_time_total / 1000
    return {k: round(v, 1) for k, v in sorted(totals.items(), key=lambda kv: -kv[1])}


def run(size: int, args, models) -> dict:
    from sonic.gpu.acceleration import compile_unet_regions, compile_vae_decoder_regions, set_attention_backend
    from dataclasses import replace

    from sonic.gpu.pipeline import (RenderSettings, decode, denoise, face_mask_for, generate, to_25fps, to_uint8,
                                    window_starts)
    from sonic.gpu.rife import interpolate_stream, pairs_per_call_for

    result: dict = {"size": size}
    inputs = half(unet_inputs(size))
    unet = models.unet

    # 1. accuracy reference first (eager fp32), before anything is compiled
    if not args.no_check:
        ref = fp32_reference(unet, unet_inputs(size))
        with torch.no_grad():
            result["rel_l2_eager_fp16"] = rel_l2(unet(*inputs), ref)

    # 2. attention backend (eager UNet call with each)
    backends = ["flash", "cudnn"] if args.attention == "measure" else [args.attention]
    eager = {}
    for name in backends:
        set_attention_backend(name)
        with torch.no_grad():
            eager[name] = cuda_ms(lambda: unet(*inputs), repeats=3)
        print(f"{size}px eager UNet call, attention={name}: {eager[name]:.1f} ms", flush=True)
    best = min(eager, key=eager.get)
    set_attention_backend(best)
    result.update(attention=best, unet_eager_ms=eager[best], unet_eager_by_attention=eager)
    if args.sweeps and size == args.size[0]:
        profile_one_call(unet, inputs)

    # 3. compile (cold: paid once per worker process and image size)
    if not args.no_compile and not getattr(unet, "_bench_compiled", False):
        compile_unet_regions(unet, args.compile_mode)
        unet._bench_compiled = True
    if not args.no_compile:
        tc = time.perf_counter()
        with torch.no_grad():
            unet(*inputs, **LOOP_CALL)
        torch.cuda.synchronize()
        result["compile_s"] = time.perf_counter() - tc
        print(f"{size}px compile (first call) {result['compile_s']:.1f} s", flush=True)
        with torch.no_grad():
            result["unet_compiled_ms"] = cuda_ms(lambda: unet(*inputs, **LOOP_CALL), repeats=5)
            if not args.no_check:    # the reference computes every branch in full
                result["rel_l2_compiled_fp16"] = rel_l2(unet(*inputs, **LOOP_CALL), ref)
        print(f"{size}px compiled UNet call {result['unet_compiled_ms']:.1f} ms", flush=True)
    graphed = None
    if not args.no_cuda_graph:
        from sonic.gpu.acceleration import CudaGraphCall

        graphed = CudaGraphCall(unet)
        with torch.no_grad():
            graphed(*inputs, **LOOP_CALL)       # the first call runs, then captures
            result["unet_graph_ms"] = cuda_ms(lambda: graphed(*inputs, **LOOP_CALL), repeats=5)
        graphed.clear()
        print(f"{size}px UNet call replayed from a CUDA graph {result['unet_graph_ms']:.1f} ms", flush=True)
    if not args.no_check:
        del ref
    settings = RenderSettings(inference_steps=args.steps, decode_chunks_per_call=args.decode_chunks)
    # random latents of a 10 s clip at 12.5 fps for the decoder measurements
    clip_latents = torch.randn(int(args.seconds * 12.5), 4, size // 8, size // 8, device="cuda")
    if args.sweeps:
        sweep_vae_and_rife(models, clip_latents, settings, size, result)
    if args.compile_vae:
        if not getattr(models.vae, "_bench_compiled", False):
            compile_vae_decoder_regions(models.vae, args.compile_mode)
            models.vae._bench_compiled = True
        tv = time.perf_counter()
        for _ in decode(models, clip_latents, settings):   # compiles each chunk shape once
            pass
        torch.cuda.synchronize()
        result["vae_compile_s"] = time.perf_counter() - tv
        tv = time.perf_counter()
        for _ in decode(models, clip_latents, settings):
            pass
        torch.cuda.synchronize()
        result["vae_compiled_s"] = time.perf_counter() - tv
        print(f"{size}px VAE compile {result['vae_compile_s']:.1f} s, compiled decode {result['vae_compiled_s']:.2f} s", flush=True)
    del clip_latents

    # 4. the whole clip, timed per phase
    events: list[tuple[torch.cuda.Event, torch.cuda.Event]] = []

    def timed_unet(*call_args, **call_kwargs):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        out = unet(*call_args, **call_kwargs)
        b.record()
        events.append((a, b))
        return out

    # with CUDA graphs (the renderer's default) the calls replay a graph: no events inside it, the
    # per-call time is the replay's, measured above
    models.unet_graph = graphed
    models.unet_call = None if graphed else timed_unet
    portrait = smooth_portrait(size)
    mask = face_mask_for((size * 0.25, size * 0.2, size * 0.75, size * 0.8), size, size)
    audio = (np.random.default_rng(0).standard_normal(int(args.seconds * 16000)) * 0.1).astype(np.float32)
    # a worker renders two diffusion steps of 2 s of silence before its first job
    # (sonic.gpu.renderer.StageRenderer.warm_up): first-use costs of the conditioning models
    # (whisper, CLIP, the VAE encoder) are paid there, not in the timed clip
    tw = time.perf_counter()
    for _ in generate(models, portrait, mask, np.zeros(32_000, np.float32), replace(settings, inference_steps=2)):
        pass
    result["warm_up_s"] = time.perf_counter() - tw
    events.clear()          # (without CUDA graphs the warm-up's calls were timed too)
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    latents, frames_25 = denoise(models, portrait, mask, audio, settings)
    torch.cuda.synchronize()
    t1 = time.perf_counter()
    peak_denoise = torch.cuda.max_memory_allocated() / 2**30
    chunks = list(decode(models, latents, settings))
    torch.cuda.synchronize()
    t2 = time.perf_counter()
    pairs = pairs_per_call_for(size, size, settings.interpolation_pairs_per_call)
    doubled = list(interpolate_stream(models.interpolator, iter(chunks), pairs))
    torch.cuda.synchronize()
    t3 = time.perf_counter()
    frames = sum(len(to_uint8(c)) for c in doubled)
    t4 = time.perf_counter()
    if graphed:
        unet_ms = [result["unet_graph_ms"]] * (settings.inference_steps * len(window_starts(latents.shape[0], settings)))
    else:
        unet_ms = [a.elapsed_time(b) for a, b in events]
    models.unet_call = models.unet_graph = None
    del chunks, doubled
    # the renderer's own streamed path (decode -> RIFE -> uint8, one chunk in memory): its time and peak
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    t5 = time.perf_counter()
    streamed = sum(1 for _ in to_25fps(models, decode(models, latents, settings), frames_25, settings))
    t6 = time.perf_counter()
    peak_stream = torch.cuda.max_memory_allocated() / 2**30
    result.update(
        frames_generated=int(latents.shape[0]), frames_out=frames, frames_25fps=frames_25, frames_streamed=streamed,
        total_s=(t1 - t0) + (t6 - t5), denoise_s=t1 - t0, vae_s=t2 - t1, rife_s=t3 - t2, to_uint8_s=t4 - t3,
        streamed_decode_rife_uint8_s=t6 - t5, phased_total_s=t4 - t0,
        unet_calls=len(unet_ms), unet_ms_median=float(np.median(unet_ms)), unet_total_s=sum(unet_ms) / 1000,
        peak_gib=max(peak_denoise, peak_stream), peak_denoise_gib=peak_denoise, peak_decode_gib=peak_stream,
        decode_chunks_per_call=args.decode_chunks, rife_pairs_per_call=pairs,
    )
    print(result, flush=True)
    del latents
    torch.cuda.empty_cache()
    return result


def sweep_vae_and_rife(models, latents, settings, size, result) -> None:
    from dataclasses import replace

    from sonic.gpu.pipeline import decode

    base = torch.cuda.memory_allocated()
    vae = {}
    for per_call in (1, 2, 4):
        s = replace(settings, decode_chunks_per_call=per_call)
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        t = time.perf_counter()
        for _ in decode(models, latents, s):
            pass
        torch.cuda.synchronize()
        vae[per_call] = (time.perf_counter() - t, (torch.cuda.max_memory_allocated() - base) / 2**30)
        print(f"{size}px VAE decode, {per_call} chunk(s) of 8 per call: {vae[per_call][0]:.2f} s, "
              f"+{vae[per_call][1]:.2f} GiB over resident", flush=True)
    result["vae_sweep"] = {str(k): v for k, v in vae.items()}

    frames = next(decode(models, latents[:16], settings))
    net = models.interpolator
    with torch.no_grad():
        got = net(frames[:-1], frames[1:])
        ms16 = cuda_ms(lambda: net(frames[:-1], frames[1:]))
        net.float()
        ref = net(frames[:-1], frames[1:])
        ms32 = cuda_ms(lambda: net(frames[:-1], frames[1:]))
        one = cuda_ms(lambda: [net(frames[i : i + 1], frames[i + 1 : i + 2]) for i in range(frames.shape[0] - 1)])
        net.half()
    result["rife_fp16_vs_fp32_rel_l2"] = rel_l2(got, ref)
    result["rife_ms_per_pair"] = {"fp16 batched": ms16 / 15, "fp32 batched": ms32 / 15, "fp32 one pair per call": one / 15}
    print(f"{size}px RIFE per pair: {result['rife_ms_per_pair']}, fp16 vs fp32 rel L2 {result['rife_fp16_vs_fp32_rel_l2']:.2e}",
          flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, action="append")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--steps", type=int, default=25)
    ap.add_argument("--no-compile", action="store_true")
    ap.add_argument("--compile-mode", default="default")
    ap.add_argument("--compile-vae", action="store_true")
    ap.add_argument("--attention", default="cudnn", help="flash, cudnn, auto, or measure (eager UNet with each)")
    ap.add_argument("--no-check", action="store_true", help="skip the fp32 reference forward")
    ap.add_argument("--decode-chunks", type=int, default=1, help="VAE chunks of 8 frames per call at 512 px")
    ap.add_argument("--sweeps", action="store_true")
    ap.add_argument("--compile-only", action="store_true", help="only time the UNet compile (warm-cache check)")
    ap.add_argument("--plain", action="store_true",
                    help="without channels-last (UNet and VAE decoder), memory-efficient frame attention, "
                         "the fused GEGLU, GroupNorm by channel statistics and the fused audio attention")
    ap.add_argument("--no-cuda-graph", action="store_true",
                    help="launch the UNet calls kernel by kernel (then each is timed by CUDA events)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    args.size = args.size or [512]
    print(torch.cuda.get_device_name(), "torch", torch.__version__, time.strftime("%Y-%m-%d"), flush=True)

    from sonic.gpu.models import random_models
    from sonic.gpu.acceleration import Acceleration, rewrite_unet, rewrite_vae_decoder

    t = time.perf_counter()
    models = random_models(tiny=False, device="cuda", dtype=torch.float16)
    # the renderer's exact rewrites (compiling is timed separately below)
    plain = (dict(channels_last=False, efficient_temporal_attention=False, fused_geglu=False, group_norm_by_channel=False,
                  fused_audio_attention=False,
                  vae_decoder_rewrites=False) if args.plain else {})
    options = Acceleration(attention=args.attention if args.attention != "measure" else "cudnn",
                           compile_vae=args.compile_vae, **plain)
    rewrite_unet(models, options)
    rewrite_vae_decoder(models, options)
    print(f"build {time.perf_counter() - t:.1f} s", flush=True)
    if args.compile_only:   # a second worker process: how long its compile takes with a warm inductor cache
        from sonic.gpu.acceleration import compile_unet_regions

        compile_unet_regions(models.unet, args.compile_mode)
        for size in args.size:
            tc = time.perf_counter()
            with torch.no_grad():
                models.unet(*half(unet_inputs(size)))
            torch.cuda.synchronize()
            print(f"{size}px compile in a new process (inductor cache from the last one): "
                  f"{time.perf_counter() - tc:.1f} s", flush=True)
        return
    if args.sweeps:
        attention_sweep(args.size)
    rows = []
    for size in args.size:
        rows.append(run(size, args, models))
        if args.json:
            with open(args.json, "w") as f:
                json.dump(rows, f, indent=1, default=str)
    print("size | frames out | total s | UNet ms/call (calls) | UNet s | VAE s | RIFE s | peak GiB | compile s "
          "| eager ms | relL2 vs fp32 (eager fp16 / compiled)")
    for r in rows:
        print(f"{r['size']} | {r['frames_out']} | {r['total_s']:.1f} | {r['unet_ms_median']:.0f} ({r['unet_calls']}) | "
              f"{r['unet_total_s']:.1f} | {r['vae_s']:.2f} | {r['rife_s']:.2f} | {r['peak_gib']:.2f} | "
              f"{r.get('compile_s', float('nan')):.0f} | {r['unet_eager_ms']:.0f} | "
              f"{r.get('rel_l2_eager_fp16', float('nan')):.2e} / {r.get('rel_l2_compiled_fp16', float('nan')):.2e}")


if __name__ == "__main__":
    os.environ.setdefault("PYTORCH_CUDA_ALLOC_CONF", "expandable_segments:True")
    main()
