"""Speed of the CPU renderer at 512 px on ONE core, and of the H.264 + AAC encode, separately.

    .venv/bin/python bench/bench_cpu_renderer.py [--seconds 10] [--resolution 512]

Real inputs: the astronaut photo and Piper speech with phoneme timings. The render loop runs
pinned to one CPU core with OpenCV single-threaded (goal: >= 50 frames per second); setup
(face mesh + warp fields) is reported apart. The encode (ffmpeg, its own threads) is timed on
the frames already rendered, so the two numbers do not mix.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before numpy/scipy load their thread pools
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TEXT = (
    "Good morning, and welcome to the mission briefing. Today we will look at the launch "
    "window, the weather over the Atlantic, and the last checks on the shuttle before the "
    "crew climbs aboard. Thank you for joining us."
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="length of speech to render (approximately)")
    parser.add_argument("--resolution", type=int, default=512)
    args = parser.parse_args()

    import cv2
    import numpy as np
    import skimage.data

    from factory.media import VideoWriter, decode_audio, frame_count, write_wav
    from sonic.cpu_renderer import build_rig, plan_performance, render_frames
    from sonic.crop import crop_face
    from sonic.params import RenderParams
    from tts.engine import load_engine

    speech = load_engine().synthesize(TEXT)
    keep = int(min(len(speech.samples), args.seconds * speech.sample_rate))
    tmp = Path(tempfile.mkdtemp(prefix="bench-render-"))
    audio = write_wav(tmp / "speech.wav", speech.samples[:keep], speech.sample_rate)
    samples, rate = decode_audio(audio)
    phonemes = [[p.phoneme, p.start, p.end] for p in speech.phonemes if p.end <= keep / speech.sample_rate]
    n_frames = frame_count(len(samples) / rate)
    params = RenderParams(min_resolution=args.resolution)

    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    cv2.setNumThreads(1)

    crop = crop_face(skimage.data.astronaut(), params.expand_ratio, params.min_resolution)
    t0 = time.perf_counter()
    rig = build_rig(crop.image)
    performance = plan_performance(rig, n_frames, params, samples, rate, phonemes)
    setup = time.perf_counter() - t0

    t0 = time.perf_counter()
    frames = list(render_frames(rig, performance))
    render = time.perf_counter() - t0

    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
    t0 = time.perf_counter()
    with VideoWriter(tmp / "bench.mp4", crop.image.shape[1], crop.image.shape[0], audio=audio) as video:
        for frame in frames:
            video.write(frame)
    encode = time.perf_counter() - t0

    seconds = len(samples) / rate
    print(f"clip: {seconds:.1f} s of speech, {n_frames} frames at {args.resolution}x{args.resolution}, mouth from {performance.mouth.source}")
    print(f"setup (face mesh + warp fields, one core): {setup:.2f} s")
    print(f"render (one core, cv2.setNumThreads(1), no encode): {n_frames / render:.1f} fps  ({1000 * render / n_frames:.2f} ms/frame)")
    print(f"encode (ffmpeg libx264 veryfast crf 18 + AAC, {os.cpu_count()} cores): {n_frames / encode:.1f} fps")
    print(f"real-time factor render+encode+setup: {(setup + render + encode) / seconds:.2f}")
    assert len(frames) == n_frames and np.all(frames[0].shape == crop.image.shape)


if __name__ == "__main__":
    main()
