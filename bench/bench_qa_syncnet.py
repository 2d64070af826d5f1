"""SyncNet adapter speed: seconds per second of video, split into face track and the rest.

    .venv/bin/python bench/bench_qa_syncnet.py [--size 512] [--video clip.mp4] [--model syncnet_v2.model] [--device cpu]

Without --model the full-size network runs with random weights (same cost as the real ones;
the scores are then meaningless and not printed). Without --video it speaks ~20 s of narration
with Piper and makes an in-sync clip with ``qa.synthetic_clips`` at --size px: the same clip as
``bench_qa.py`` (``bench/_clips.py``).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _clips import narrated_clip  # noqa: E402  (bench/, the script's own folder)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--video")
    parser.add_argument("--model")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    import torch

    from factory.media import probe_video
    from qa.syncnet import build_syncnet, face_track, syncnet_scores

    with tempfile.TemporaryDirectory() as tmp:
        video = Path(args.video) if args.video else narrated_clip(Path(tmp) / "clip.mp4", args.size)
        model = args.model
        if not model:
            torch.manual_seed(0)
            model = str(Path(tmp) / "random_syncnet_v2.model")
            torch.save(build_syncnet().state_dict(), model)
        seconds = probe_video(video).video_seconds

        t = time.perf_counter()
        face_track(video)
        track_s = time.perf_counter() - t
        result = syncnet_scores(video, model, device=args.device)
        total = result["seconds"]
        print(f"video {seconds:.1f} s, {result['windows']} windows, torch threads {torch.get_num_threads()}, device {args.device}")
        print(f"syncnet_scores: {total:.2f} s = {total / seconds:.3f} s per video second")
        print(f"  of which face track (MediaPipe pass): {track_s:.2f} s; network, crops, MFCC: {total - track_s:.2f} s")
        if args.model:
            print(f"LSE-D {result['lse_d']:.3f}  LSE-C {result['lse_c']:.3f}  offset {result['offset']:+d} frames (audio late)")


if __name__ == "__main__":
    main()
