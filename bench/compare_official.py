"""Our Sonic networks against the official code, same random weights and inputs (prints numbers).

    python bench/compare_official.py --official /path/to/Sonic [--full] [--device cuda] [--dtype float32]

`--official` is a checkout of github.com/jixiaozhong/Sonic (not shipped with this project; its
modules need `einops`). With the same weights, loaded into both by state_dict (so the official
parameter names are checked too), and the same inputs, it prints the relative L2 distance of:

- one UNet call (3 guidance branches x frames, with the face mask, the audio adapters and the
  frame-averaged temporal context): the official UNet + IP-adapter processors vs our SonicUNet
  (eager, then with the speed rewrites that run on this device);
- audio2token and audio2bucket on random whisper features.

Default: a tiny UNet (same structure, small widths) in float64 on the CPU, where equal math gives
~1e-12. `--full` uses the official sizes (a GPU is advised; float32: ~1e-6).
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from types import SimpleNamespace

import torch


def randomize(module: torch.nn.Module, seed: int) -> None:
    """Every parameter random (the official init copies the CLIP K/V into the audio adapters,
    which would hide a swapped pair)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64).to(p.dtype) * 0.05)


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
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
    for key, value in result.items():
        print(f"  {key}: {value:.3e}" if isinstance(value, float) else f"  {key}: {value}")


if __name__ == "__main__":
    main()
