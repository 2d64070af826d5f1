"""The official Sonic whole flow and ours on one card: same weights, image, audio and initial noise
(prints numbers, not a test).

    python bench/bench_sonic_side_by_side.py --official /path/to/Sonic --size 512 [--seconds 10]
           [--steps 25] [--flows official,ours] [--control] [--long-seconds 300] [--jobs 2]
           [--frames-dir DIR] [--json out.json] [--budget 560]

`--official` is a checkout of github.com/jixiaozhong/Sonic (not shipped with this project; its
modules need `einops`). Random full-size weights (fp16, as both run), shared by the two flows:
the official modules load our state dicts with strict key matching.

The whole flow, timed on each side after a warm-up render of 2 s of silence (ours compiles there,
as a worker does before its first job; the official code is eager): audio features, CLIP and VAE
conditioning, the 25-step diffusion loop, the VAE decode, RIFE to 25 fps and the uint8 frames on
the host. Not timed on either side: face detection (both get the same face box) and the MP4
encoding. The official side runs `test()` of its sonic.py as written, with its SonicPipeline,
then its RIFE loop (one frame pair per call, float32) as `Sonic.process` does.

Whole-clip equivalence: ours starts from the official run's own initial noise (recorded as its
pipeline draws it), and the two videos' 25-fps frames are compared (relative L2, max abs, PSNR).
`--control` renders ours twice more, from other initial noise and from the reversed audio (same
noise): the distances of different videos, for scale.

`--long-seconds S` renders a 10-s clip and an S-second clip at one diffusion step each (the
memory of the loop does not depend on the step count), every frame streamed into a video encoder
as it is made, and prints both peaks of GPU memory and the host memory's growth.
`--jobs N` renders N 10-s clips back to back in one process (weights loaded once, as a worker)
into the render stage's MP4 writer, and prints the time the card waits between two jobs and the
videos per hour; then N more with the writer fed from the render's own thread (`buffer_frames=0`).

`--frames-dir` keeps each flow's frames (.npy) so that a later run on the same machine compares
against them; `--budget` skips the sections that would not finish in that many seconds.

On the device machine (its image has torch, transformers and einops, not diffusers): carry
wheels of diffusers 0.42.1 and importlib_metadata (and, for `--long-seconds` and `--jobs`,
ffmpeg-python, future and imageio-ffmpeg) and the official checkout as ignored paths, install
the wheels with `pip install --no-deps --no-index`, run with PYTHONPATH set to the repository. One
10-minute call holds the 512-px set (both flows, --control, --long-seconds 300, --jobs 2); at
1024 px the two flows need a call each (`--flows official`, then `--flows ours` with the same
--frames-dir on the same machine, which compares against the official frames kept there).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
from bench_sonic_gpu import smooth_portrait  # noqa: E402

WHISPER_WINDOW = 750 * 640       # 30 s of 16-kHz samples: the official feature extractor's window


def test_audio(seconds: float, seed: int = 0) -> np.ndarray:
    """16-kHz mono: a voiced tone with a syllable-rate envelope plus noise (random weights do not
    care about speech, but the audio must change over time)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16000)) / 16000
    voice = 0.3 * np.sin(2 * np.pi * 180 * t) * (1 + np.sin(2 * np.pi * 3.5 * t))
    return (voice + 0.05 * rng.standard_normal(t.size)).astype(np.float32)


def frame_distance(got: np.ndarray, want: np.ndarray, portrait: np.ndarray | None = None) -> dict:
    """Relative L2, max abs and PSNR of uint8 frame stacks over their common frames; with the
    portrait, also the distance relative to how far `want` moved from it (random weights change
    the image little, so the plain relative L2 is small for any two videos of the same portrait)."""
    n = min(len(got), len(want))
    a, b = got[:n].astype(np.float64), want[:n].astype(np.float64)
    mse = float(np.mean((a - b) ** 2))
    out = {"frames_compared": n, "rel_l2": float(np.linalg.norm(a - b) / np.linalg.norm(b)),
           "max_abs": float(np.abs(a - b).max()), "mean_abs": float(np.abs(a - b).mean()),
           "psnr_db": float(10 * np.log10(255**2 / mse)) if mse > 0 else float("inf")}
    if portrait is not None:
        moved = b - portrait.astype(np.float64)[None]
        out["rel_l2_of_the_change_from_the_portrait"] = float(np.linalg.norm(a - b) / np.linalg.norm(moved))
        out["change_from_the_portrait_mean_abs"] = float(np.abs(moved).mean())
    return out


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def peak_gib(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None


# ------------------------------------------------------------------ the official flow

def build_official(models, official_dir: str, tiny: bool = False):
    """The official modules with our random weights (strict loading), as `Sonic.__init__` sets them up."""
    sys.path.append(official_dir)
    import src.pipelines.pipeline_sonic as pipeline_module
    from diffusers import EulerDiscreteScheduler
    from src.models.audio_adapter.audio_proj import AudioProjModel
    from src.models.audio_adapter.audio_to_bucket import Audio2bucketModel
    from src.models.base.unet_spatio_temporal_condition import UNetSpatioTemporalConditionModel, add_ip_adapters
    from src.utils.RIFE.RIFE_HDv3 import RIFEModel

    from sonic.gpu.spec import scheduler_config, unet_config
    from sonic.gpu.unet import tiny_unet_config

    dev = models.device
    with torch.device(dev):      # random init on the device: fast; every weight is overwritten below
        unet = UNetSpatioTemporalConditionModel(**(tiny_unet_config() if tiny else unet_config()))
        add_ip_adapters(unet, [32], [1.0])
        unet.load_state_dict(models.unet.state_dict(), strict=True)
        unet = unet.to(dev, models.dtype).eval().requires_grad_(False)
        token_dim = (tiny_unet_config() if tiny else unet_config())["cross_attention_dim"]
        hidden = models.audio_to_tokens.cfg.hidden
        audio_pe = AudioProjModel(seq_len=10, blocks=5, channels=384, intermediate_dim=hidden, output_dim=token_dim,
                                  context_tokens=32)
        audio2bucket = Audio2bucketModel(seq_len=50, blocks=1, channels=384, clip_channels=token_dim,
                                         intermediate_dim=hidden, output_dim=1, context_tokens=2)
    audio_pe.load_state_dict(models.audio_to_tokens.state_dict(), strict=True)
    audio2bucket.load_state_dict(models.audio_to_bucket.state_dict(), strict=True)
    rife = RIFEModel(device=dev)
    rife.flownet.load_state_dict({k: v.float() for k, v in models.interpolator.state_dict().items()}, strict=True)
    pipe = pipeline_module.SonicPipeline(unet=unet, image_encoder=models.image_encoder, vae=models.vae,
                         scheduler=EulerDiscreteScheduler.from_config(scheduler_config()))
    pipe = pipe.to(device=dev, dtype=models.dtype)
    test = official_function(os.path.join(official_dir, "sonic.py"), "test")
    return SimpleNamespace(pipe=pipe, audio_pe=audio_pe.eval(), audio2bucket=audio2bucket.eval(), rife=rife,
                           test=test, module=pipeline_module, unet=unet)


def official_function(path: str, name: str):
    """One top-level function of an official source file, run as written (its module imports
    the face detector and librosa, which the flow after preprocessing does not need)."""
    import ast

    tree = ast.parse(open(path).read())
    node = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name)
    namespace = {"torch": torch, "tqdm": lambda x, **_: x}    # tqdm: no progress bar in the log
    exec(compile(ast.Module(body=[node], type_ignores=[]), path, "exec"), namespace)
    return namespace[name]


def official_flow(off, models, portrait: np.ndarray, mask: np.ndarray, samples: np.ndarray, steps: int,
                  seed: int = 72589) -> tuple[np.ndarray, dict]:
    """`Sonic.process` after its preprocessing: (frames (F, H, W, 3) uint8, timings and the noise)."""
    from PIL import Image

    dev = models.device
    drawn: list[torch.Tensor] = []
    original = off.module.randn_tensor

    def recording_randn(*args, **kwargs):
        out = original(*args, **kwargs)
        drawn.append(out)
        return out

    off.module.randn_tensor = recording_randn
    try:
        torch.manual_seed(seed)      # seed_everything(config.seed)
        if dev.type == "cuda":
            torch.cuda.manual_seed_all(seed)
        synchronize(dev)
        t0 = time.perf_counter()
        # what image_audio_to_tensor returns, for the face box both flows are given
        batch = {
            "ref_img": torch.from_numpy(portrait).permute(2, 0, 1).float() / 127.5 - 1.0,
            "clip_images": models.clip_processor(images=Image.fromarray(portrait).resize((224, 224), Image.LANCZOS),
                                                 return_tensors="pt").pixel_values[0],
            "face_mask": torch.from_numpy(mask)[None].repeat(3, 1, 1),
            "audio_feature": torch.cat([models.feature_extractor(samples[i : i + WHISPER_WINDOW], sampling_rate=16000,
                                                                 return_tensors="pt").input_features
                                        for i in range(0, len(samples), WHISPER_WINDOW)], dim=-1)[0],
            "audio_len": len(samples) // 640,
        }
        config = SimpleNamespace(step=2, decode_chunk_size=8, motion_bucket_scale=1.0, fps=12.5, noise_aug_strength=0.0,
                                 overlap=0, shift_offset=7, n_sample_frames=25, num_inference_steps=steps,
                                 min_appearance_guidance_scale=2.0, max_appearance_guidance_scale=2.0,
                                 audio_guidance_scale=7.5, i2i_noise_strength=1.0)
        with torch.no_grad():
            video = off.test(off.pipe, config, SimpleNamespace(encoder=models.whisper_encoder), off.audio_pe,
                             off.audio2bucket, models.image_encoder, portrait.shape[1], portrait.shape[0], batch)
            synchronize(dev)
            t1 = time.perf_counter()
            # Sonic.process: RIFE between every two frames, one pair per call, in float32
            out = video.to(dev)
            results = []
            for idx in range(out.shape[2] - 1):
                results.append(out[:, :, idx])
                results.append(off.rife.inference(out[:, :, idx], out[:, :, idx + 1]).clamp(0, 1).detach())
            results.append(out[:, :, out.shape[2] - 1])
            video = torch.stack(results, 2).cpu()
            t2 = time.perf_counter()
        # save_videos_grid: (x * 255).numpy().astype(uint8) per frame
        frames = (video[0].permute(1, 2, 3, 0) * 255).numpy().astype(np.uint8)
        t3 = time.perf_counter()
    finally:
        off.module.randn_tensor = original
    noise = next(t for t in reversed(drawn) if t.dim() == 5)      # the initial latent noise (1, n, 4, h, w)
    return frames, {"total_s": t3 - t0, "test_s": t1 - t0, "rife_s": t2 - t1, "to_uint8_s": t3 - t2,
                    "frames": len(frames), "noise": noise}


# ------------------------------------------------------------------ our flow

def our_renderer(models, compile_: bool):
    from sonic.gpu.acceleration import Acceleration
    from sonic.gpu.renderer import SonicRenderer

    options = Acceleration() if compile_ else Acceleration(compile_mode=None)
    return SonicRenderer(None, device=str(models.device), models=models, interpolate=True, acceleration=options)


def our_flow(renderer, portrait, box, samples, steps, noise=None, sink=None) -> tuple[list, dict]:
    """Ours, as the render stage calls it (frames streamed; kept in a list unless a sink takes them)."""
    dev = renderer.models.device
    synchronize(dev)
    t0 = time.perf_counter()
    frames, first = [], None
    rss_peak = 0
    for i, frame in enumerate(renderer.render(portrait, samples, 16000, face_box=box, inference_steps=steps, noise=noise)):
        if first is None:
            first = time.perf_counter() - t0
        if sink is None:
            frames.append(frame)
        else:
            sink.write(frame)
        if i % 50 == 0:
            rss_peak = max(rss_peak, resident_bytes())
    t1 = time.perf_counter()
    return frames, {"total_s": t1 - t0, "seconds_to_first_frame": first, "peak_gib": renderer.last_peak_memory_gib,
                    "host_rss_peak_gib": rss_peak / 2**30, "frames": i + 1, "end": t1}


def resident_bytes() -> int:
    """This process's resident memory now (Linux)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def encoder(path: str, width: int, height: int, buffer_frames: int | None = None):
    """The render stage's MP4 writer (factory.media.VideoWriter: libx264 through a pipe, fed from
    a thread unless buffer_frames is 0)."""
    from factory.media import VideoWriter

    return VideoWriter(path, width, height, buffer_frames=buffer_frames)


# ------------------------------------------------------------------ main

def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--official", default=None, help="a checkout of github.com/jixiaozhong/Sonic")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--steps", type=int, default=25)
    ap.add_argument("--flows", default="official,ours")
    ap.add_argument("--control", action="store_true")
    ap.add_argument("--long-seconds", type=float, default=0.0)
    ap.add_argument("--jobs", type=int, default=0)
    ap.add_argument("--frames-dir", default=None)
    ap.add_argument("--json", default=None)
    ap.add_argument("--budget", type=float, default=1e9, help="seconds; sections that would overrun are skipped")
    ap.add_argument("--tiny", action="store_true", help="tiny widths on the CPU: a dry run of this script")
    args = ap.parse_args()
    started = time.perf_counter()
    flows = args.flows.split(",")
    cuda = torch.cuda.is_available() and not args.tiny
    dev = torch.device("cuda" if cuda else "cpu")
    result: dict = {"card": torch.cuda.get_device_name() if cuda else "cpu", "torch": torch.__version__,
                    "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "size": args.size,
                    "seconds": args.seconds, "steps": args.steps}
    print(result, flush=True)

    def left() -> float:
        return args.budget - (time.perf_counter() - started)

    def save() -> None:
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=1, default=str))

    from sonic.gpu.models import random_models
    from sonic.gpu.pipeline import face_mask_for

    t = time.perf_counter()
    with torch.device(dev):        # random init on the device (minutes on the CPU at full size)
        models = random_models(tiny=args.tiny, device=dev, dtype=torch.float16 if cuda else torch.float32)
    from diffusers import EulerDiscreteScheduler

    from sonic.gpu.spec import scheduler_config

    models.scheduler = EulerDiscreteScheduler.from_config(scheduler_config())     # its tables on the CPU, as loaded
    synchronize(dev)
    result["build_s"] = time.perf_counter() - t
    size = args.size
    portrait = smooth_portrait(size)
    box = (size * 0.3, size * 0.2, size * 0.7, size * 0.75)
    mask = face_mask_for(box, size, size)
    samples = test_audio(args.seconds)
    frames_dir = Path(args.frames_dir) if args.frames_dir else None
    if frames_dir:
        frames_dir.mkdir(parents=True, exist_ok=True)
    official_frames = noise = None
    if frames_dir and (frames_dir / f"official-{size}.npy").exists():
        official_frames = np.load(frames_dir / f"official-{size}.npy")
        noise = torch.load(frames_dir / f"noise-{size}.pt").to(dev)

    if "official" in flows:
        t = time.perf_counter()
        off = build_official(models, args.official, args.tiny)
        result["official_build_s"] = time.perf_counter() - t
        t = time.perf_counter()
        official_flow(off, models, portrait, mask, np.zeros(32_000, np.float32), 2)     # first-use costs
        result["official_warm_up_s"] = time.perf_counter() - t
        reset_peak(dev)
        official_frames, timing = official_flow(off, models, portrait, mask, samples, args.steps)
        noise = timing.pop("noise")
        result["official"] = {**timing, "peak_gib": peak_gib(dev)}
        print("official", result["official"], flush=True)
        if frames_dir:
            np.save(frames_dir / f"official-{size}.npy", official_frames)
            torch.save(noise.cpu(), frames_dir / f"noise-{size}.pt")
        del off
        save()
    if "ours" in flows:
        reset_peak(dev)
        t = time.perf_counter()
        renderer = our_renderer(models, compile_=cuda)
        warm = [0 for _ in renderer.render(portrait, np.zeros(32_000, np.float32), 16000, face_box=box, inference_steps=2)]
        synchronize(dev)
        result["ours_compile_and_warm_up_s"] = time.perf_counter() - t
        print(f"ours: compile + warm-up {result['ours_compile_and_warm_up_s']:.1f} s ({len(warm)} frames)", flush=True)
        reset_peak(dev)
        frames, timing = our_flow(renderer, portrait, box, samples, args.steps, noise=noise)
        timing.pop("end")
        result["ours"] = timing
        print("ours", timing, flush=True)
        ours = np.stack(frames)
        del frames
        if frames_dir:
            np.save(frames_dir / f"ours-{size}.npy", ours)
        if official_frames is not None:
            result["ours_vs_official"] = frame_distance(ours, official_frames, portrait)
            result["frames"] = f"{len(ours)} ours, {len(official_frames)} official"
            print("ours vs official", result["ours_vs_official"], flush=True)
            if "official" in result:
                result["speedup"] = result["official"]["total_s"] / result["ours"]["total_s"]
        save()
        clip_s = result["ours"]["total_s"]
        if args.control and official_frames is not None:
            # two other videos against the official one: from other initial noise, and from the
            # reversed audio with the same noise (random weights respond little to the audio)
            other_noise = torch.randn(noise.shape, generator=torch.Generator(dev).manual_seed(123), device=dev,
                                      dtype=noise.dtype)
            for name, audio, start in (("other_noise", samples, other_noise), ("reversed_audio", samples[::-1].copy(), noise)):
                if left() < clip_s + 20:
                    break
                control, _ = our_flow(renderer, portrait, box, audio, args.steps, noise=start)
                result[f"control_{name}_vs_official"] = frame_distance(np.stack(control), official_frames, portrait)
                print(f"control ({name})", result[f"control_{name}_vs_official"], flush=True)
                del control
                save()
        del ours, official_frames

        # one step per second of video plus the decode, RIFE and encoding (~2.5 s per 10 s at 512 px)
        needed = (1 + args.long_seconds / args.seconds) * (clip_s / args.steps + 2.5 * (size / 512) ** 2) + 30
        if args.long_seconds and left() > needed:
            long = {}
            for seconds in (args.seconds, args.long_seconds):
                reset_peak(dev)
                sink = encoder(f"/tmp/sonic-long-{int(seconds)}.mp4", size, size)
                _, timing = our_flow(renderer, portrait, box, test_audio(seconds, seed=1), 1, sink=sink)
                sink.close()
                timing.pop("end")
                long[f"{seconds:g}s"] = timing
                print(f"{seconds:g} s at 1 step:", long[f"{seconds:g}s"], flush=True)
            result["long"] = long
            save()

        # the writer as the render stage uses it (fed from a thread), then writing in the render's
        # own thread, as the stage did before
        for label, buffer_frames in (("jobs", None), ("jobs_unbuffered_writer", 0)):
            if args.jobs and left() > clip_s * (args.jobs + 0.5):
                result[label] = back_to_back(renderer, portrait, box, args, buffer_frames)
                save()
    result["wall_s"] = time.perf_counter() - started
    save()
    print(json.dumps(result, indent=1, default=str), flush=True)


def back_to_back(renderer, portrait, box, args, buffer_frames: int | None = None) -> dict:
    """N clips in a row into the encoder. The gap is from one job's last frame (its GPU work done)
    to the next job's CLIP image encoder call (its first network; before it only the portrait's
    upload): the card has nothing queued in between."""
    models = renderer.models
    first_gpu: list[float] = []
    hook = models.image_encoder.register_forward_pre_hook(lambda *_: first_gpu.append(time.perf_counter()))
    jobs, previous_end = [], None
    try:
        for job in range(args.jobs):
            t0 = time.perf_counter()
            samples = test_audio(args.seconds, seed=10 + job)        # each job its own audio
            sink = encoder(f"/tmp/sonic-job-{job}.mp4", portrait.shape[1], portrait.shape[0], buffer_frames)
            first_gpu.clear()
            frames, timing = our_flow(renderer, portrait, box, samples, args.steps, sink=sink)
            last_frame = timing.pop("end")
            sink.close()
            t1 = time.perf_counter()
            row = {"job_s": t1 - t0, "render_s": timing["total_s"], "encoder_close_s": t1 - last_frame,
                   "peak_gib": timing["peak_gib"], "buffer_frames": buffer_frames}
            if previous_end is not None and first_gpu:
                row["card_idle_before_s"] = first_gpu[0] - previous_end
            jobs.append(row)
            previous_end = last_frame
            print(f"job {job}:", row, flush=True)
    finally:
        hook.remove()
    per_job = float(np.mean([j["job_s"] for j in jobs]))
    return {"jobs": jobs, "videos_per_hour": 3600 / per_job, "seconds_per_video": per_job}


if __name__ == "__main__":
    os.environ.setdefault("PYTORCH_CUDA_ALLOC_CONF", "expandable_segments:True")
    # ours first: the official checkout has a top-level sonic.py that would shadow our package
    import sonic.gpu.pipeline  # noqa: F401

    main()
