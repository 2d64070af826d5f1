"""Our Sonic networks against the official code, same random weights and inputs (prints numbers).

    python bench/compare_official.py --official /path/to/Sonic [--full] [--device cuda] [--dtype float32]

`--official` is a checkout of github.com/jixiaozhong/Sonic (not shipped with this project; its
modules need `einops`). With the same weights, loaded into both by state_dict (so the official
parameter names are checked too), and the same inputs, it prints the relative L2 distance of:

- one UNet call (3 guidance branches x frames, with the face mask, the audio adapters and the
  frame-averaged temporal context): the official UNet + IP-adapter processors vs our SonicUNet
  (eager, then with the speed rewrites that run on this device); on a GPU also the milliseconds
  of one eager call of each (official, ours, ours with the rewrites) on the same card;
- audio2token and audio2bucket on random whisper features;
- (tiny only) a whole clip: the official `test()` function of sonic.py (run as written) with its
  SonicPipeline against our `denoise` + `decode`, the same tiny random models and initial noise,
  and a control clip from other audio.

Default: a tiny UNet (same structure, small widths) in float64 on the CPU, where equal math gives
~1e-12. `--full` uses the official sizes (a GPU is advised; float32: ~1e-6). The fused Triton
kernels run only in half precision: on a GPU, `--dtype float16` compares them too (expect ~1e-3,
fp16 rounding).
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import time
from types import SimpleNamespace

import torch

sys.path.insert(0, os.path.dirname(__file__))
from bench_sonic_gpu import cuda_ms  # noqa: E402


def randomize(module: torch.nn.Module, seed: int) -> None:
    """Every parameter random (the official init copies the CLIP K/V into the audio adapters,
    which would hide a swapped pair), at scales that keep the full-size network's activations in
    fp16 range: matrices and kernels ~ N(0, 1/fan_in), norm scales 1 + N(0, 0.05^2), biases
    N(0, 0.02^2). (One std of 0.05 everywhere overflowed fp16 at full size.)"""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            noise = torch.randn(p.shape, generator=g, dtype=torch.float64)
            if name.endswith("bias"):
                value = noise * 0.02
            elif p.ndim == 1:
                value = 1 + noise * 0.05
            else:
                value = noise / (p[0].numel() ** 0.5)
            p.copy_(value.to(p.dtype))


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    # in float64 (bench_sonic_gpu.rel_l2 uses float32): these distances go down to 1e-16
    return ((a.double() - b.double()).norm() / b.double().norm()).item()


def compare_unet(full: bool, device: str, dtype: torch.dtype, frames: int) -> dict:
    from src.models.base.unet_spatio_temporal_condition import (
        UNetSpatioTemporalConditionModel as OfficialUNet, add_ip_adapters,
    )

    from sonic.gpu.acceleration import Acceleration, rewrite_unet
    from sonic.gpu.spec import unet_config
    from sonic.gpu.unet import build_unet, tiny_unet_config

    cfg = unet_config() if full else tiny_unet_config()
    official = OfficialUNet(**cfg)
    add_ip_adapters(official, [32], [1.0])
    randomize(official, seed=0)
    official = official.to(device, dtype).eval()
    ours = build_unet(cfg)
    ours.load_state_dict(official.state_dict(), strict=True)      # same names and shapes, or an error
    ours = ours.to(device, dtype).eval()

    g = torch.Generator().manual_seed(1)
    side = 64 if full else 8
    dim = cfg["cross_attention_dim"]

    def rand(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float64).to(device, dtype)

    sample = rand(3, frames, 8, side, side)
    t = torch.tensor(0.7, device=device, dtype=dtype)
    clip = rand(3 * frames, 1, dim)
    audio = rand(3 * frames, 32, dim)
    ids = torch.tensor([[12.5, 31.0, 17.0]] * 3, device=device, dtype=dtype)
    mask = torch.zeros(1, 1, side * 8, side * 8, device=device, dtype=dtype)
    mask[..., side * 2 : side * 6, side * 2 : side * 5] = 1          # a face box, not centred

    with torch.no_grad():
        t0 = time.perf_counter()
        want = official(sample, t, encoder_hidden_states=(clip, [audio]), added_time_ids=ids,
                        cross_attention_kwargs={"ip_adapter_masks": [mask]}, return_dict=False)[0]
        t1 = time.perf_counter()
        got = ours(sample, t, clip, audio, ids, mask)
        t2 = time.perf_counter()
        result = {"unet_rel_l2_eager": rel(got, want), "official_s": t1 - t0, "ours_s": t2 - t1,
                  "parameters": sum(p.numel() for p in ours.parameters())}
        # the speed rewrites this device runs (channels-last, fused GEGLU, ... on CUDA)
        fast = copy.deepcopy(ours)
        rewrite_unet(SimpleNamespace(unet=fast, device=torch.device(device)), Acceleration(compile_mode=None))
        result["unet_rel_l2_rewritten"] = rel(fast(sample, t, clip, audio, ids, mask), want)
        if device.startswith("cuda"):    # same-card speed of one eager call: official vs ours (+ rewrites)
            calls = {"official": lambda: official(sample, t, encoder_hidden_states=(clip, [audio]), added_time_ids=ids,
                                                  cross_attention_kwargs={"ip_adapter_masks": [mask]}, return_dict=False),
                     "ours": lambda: ours(sample, t, clip, audio, ids, mask),
                     "ours_rewritten": lambda: fast(sample, t, clip, audio, ids, mask)}
            for name, call in calls.items():
                result[f"{name}_eager_ms"] = cuda_ms(call)
        # the check can fail: a different audio context must move the output
        other = ours(sample, t, clip, audio.flip(0), ids, mask)
        result["unet_rel_l2_other_audio"] = rel(other, want)
    return result


def compare_audio_models(device: str, dtype: torch.dtype) -> dict:
    from src.models.audio_adapter.audio_proj import AudioProjModel
    from src.models.audio_adapter.audio_to_bucket import Audio2bucketModel

    from sonic.gpu.audio_models import AudioToBucket, AudioToTokens

    # the official constructor arguments (sonic.py)
    off_tokens = AudioProjModel(seq_len=10, blocks=5, channels=384, intermediate_dim=1024, output_dim=1024,
                                context_tokens=32)
    off_bucket = Audio2bucketModel(seq_len=50, blocks=1, channels=384, clip_channels=1024, intermediate_dim=1024,
                                   output_dim=1, context_tokens=2)
    randomize(off_tokens, 2)
    randomize(off_bucket, 3)
    tokens, bucket = AudioToTokens(), AudioToBucket()
    tokens.load_state_dict(off_tokens.state_dict(), strict=True)
    bucket.load_state_dict(off_bucket.state_dict(), strict=True)
    models = [m.to(device, dtype).eval() for m in (off_tokens, off_bucket, tokens, bucket)]
    g = torch.Generator().manual_seed(4)
    windows = torch.randn(6, 10, 5, 384, generator=g, dtype=torch.float64).to(device, dtype)
    bucket_windows = torch.randn(6, 50, 1, 384, generator=g, dtype=torch.float64).to(device, dtype)
    clip = torch.randn(1, 1024, generator=g, dtype=torch.float64).to(device, dtype)
    with torch.no_grad():
        want_tokens = models[0](windows[None])[0]                       # official: (batch, frames, ...)
        want_bucket = torch.cat([models[1](w[None, None], clip) for w in bucket_windows])   # one frame a call, as sonic.py
        return {"audio2token_rel_l2": rel(models[2](windows), want_tokens),
                "audio2bucket_rel_l2": rel(models[3](bucket_windows, clip), want_bucket.reshape(6, 2))}


def official_function(path: str, name: str):
    """One top-level function of an official source file, run as written (its module imports
    torchvision and librosa, which this harness does not need)."""
    import ast

    tree = ast.parse(open(path).read())
    node = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name)
    namespace = {"torch": torch, "tqdm": __import__("tqdm").tqdm}
    exec(compile(ast.Module(body=[node], type_ignores=[]), path, "exec"), namespace)
    return namespace[name]


def compare_pipeline(official_dir: str, size: int = 128, seconds: float = 1.6, window: int = 4, steps: int = 3) -> dict:
    """The whole clip: official `test()` + SonicPipeline vs our `denoise` + `decode`, same tiny random
    models, same initial noise (float32: the official code casts its inputs to float32)."""
    import os

    import numpy as np
    from diffusers import EulerDiscreteScheduler
    from PIL import Image
    from src.models.audio_adapter.audio_proj import AudioProjModel
    from src.models.audio_adapter.audio_to_bucket import Audio2bucketModel
    from src.models.base.unet_spatio_temporal_condition import (
        UNetSpatioTemporalConditionModel as OfficialUNet, add_ip_adapters,
    )
    from src.pipelines.pipeline_sonic import SonicPipeline

    from sonic.gpu.models import random_models
    from sonic.gpu.pipeline import RenderSettings, decode, denoise, face_mask_for
    from sonic.gpu.spec import scheduler_config
    from sonic.gpu.unet import tiny_unet_config

    test = official_function(os.path.join(official_dir, "sonic.py"), "test")
    models = random_models(tiny=True, device="cpu", dtype=torch.float32, interpolator=False)
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():                    # norms and biases away from their 1 / 0 init as well
        for m in (models.unet, models.vae):
            for p in m.parameters():
                if p.dim() == 1:
                    p.add_(torch.randn(p.shape, generator=g) * 0.05)
    unet = OfficialUNet(**tiny_unet_config())
    add_ip_adapters(unet, [32], [1.0])
    unet.load_state_dict(models.unet.state_dict(), strict=True)
    dim = tiny_unet_config()["cross_attention_dim"]
    audio_pe = AudioProjModel(seq_len=10, blocks=5, channels=384, intermediate_dim=64, output_dim=dim, context_tokens=32)
    audio_pe.load_state_dict(models.audio_to_tokens.state_dict(), strict=True)
    audio2bucket = Audio2bucketModel(seq_len=50, blocks=1, channels=384, clip_channels=dim, intermediate_dim=64,
                                     output_dim=1, context_tokens=2)
    audio2bucket.load_state_dict(models.audio_to_bucket.state_dict(), strict=True)
    pipe = SonicPipeline(vae=models.vae, image_encoder=models.image_encoder, unet=unet.eval(),
                         scheduler=EulerDiscreteScheduler.from_config(scheduler_config()))

    rng = np.random.default_rng(0)
    portrait = (rng.random((size, size, 3)) * 255).astype(np.uint8)
    t = np.arange(int(seconds * 16000)) / 16000
    samples = (0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t)) + 0.05 * rng.standard_normal(t.size))
    samples = samples.astype(np.float32)
    box = (size * 0.3, size * 0.2, size * 0.7, size * 0.7)
    mask = face_mask_for(box, size, size)

    # official batch, as image_audio_to_tensor builds it (ToTensor + Normalize(0.5, 0.5); mask in [0, 1])
    batch = {
        "ref_img": torch.from_numpy(portrait).permute(2, 0, 1).float() / 127.5 - 1.0,
        "clip_images": models.clip_processor(images=Image.fromarray(portrait).resize((224, 224), Image.LANCZOS),
                                             return_tensors="pt").pixel_values[0],
        "face_mask": torch.from_numpy(mask)[None].repeat(3, 1, 1),
        "audio_feature": models.feature_extractor(samples, sampling_rate=16000, return_tensors="pt").input_features[0],
        "audio_len": len(samples) // 640,
    }
    settings = RenderSettings(inference_steps=steps, frames_per_window=window, interpolate=False)
    config = SimpleNamespace(step=2, decode_chunk_size=settings.decode_chunk_size, motion_bucket_scale=1.0,
                             fps=settings.fps, noise_aug_strength=0.0, overlap=settings.overlap,
                             shift_offset=settings.shift_offset, n_sample_frames=window, num_inference_steps=steps,
                             min_appearance_guidance_scale=settings.appearance_guidance,
                             max_appearance_guidance_scale=settings.appearance_guidance,
                             audio_guidance_scale=settings.audio_guidance, i2i_noise_strength=1.0)
    n = batch["audio_len"] // config.step
    torch.manual_seed(11)
    torch.randn(1, 3, size, size)                            # the official draws its augmentation noise first
    noise = torch.randn(1, n, 4, size // 8, size // 8)
    torch.manual_seed(11)
    with torch.no_grad():
        want = test(pipe, config, SimpleNamespace(encoder=models.whisper_encoder), audio_pe.eval(),
                    audio2bucket.eval(), models.image_encoder, size, size, batch)[0].permute(1, 0, 2, 3)   # (F, 3, H, W)
        latents, _ = denoise(models, portrait, mask, samples, settings, noise=noise)
        got = torch.cat(list(decode(models, latents, settings))).cpu()
        other = torch.cat(list(decode(models, denoise(models, portrait, mask, samples[::-1].copy(), settings,
                                                          noise=noise)[0], settings))).cpu()
    return {"pipeline_frames": f"{got.shape[0]} ours, {want.shape[0]} official",
            "pipeline_rel_l2": rel(got, want), "pipeline_max_abs": (got - want).abs().max().item(),
            "pipeline_control_reversed_audio_rel_l2": rel(other, want)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--official", required=True, help="a checkout of github.com/jixiaozhong/Sonic")
    ap.add_argument("--full", action="store_true", help="official sizes (default: tiny widths)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default=None, help="float64 (default on the CPU) or float32")
    ap.add_argument("--frames", type=int, default=None, help="frames per window (default 4 tiny, 25 full)")
    args = ap.parse_args()
    # ours first: the official checkout has a top-level sonic.py that would shadow our package
    import sonic.gpu.acceleration, sonic.gpu.audio_models, sonic.gpu.unet  # noqa: E401, F401

    sys.path.append(args.official)
    dtype = getattr(torch, args.dtype or ("float64" if args.device == "cpu" else "float32"))
    frames = args.frames or (25 if args.full else 4)
    print(f"official code: {args.official}; {'full' if args.full else 'tiny'} UNet, {frames} frames, "
          f"{args.device}, {dtype}", flush=True)
    result = compare_unet(args.full, args.device, dtype, frames)
    result.update(compare_audio_models(args.device, dtype))
    if not args.full:
        result.update(compare_pipeline(args.official))
    for key, value in result.items():
        print(f"  {key}: {value:.3e}" if isinstance(value, float) else f"  {key}: {value}")


if __name__ == "__main__":
    main()
