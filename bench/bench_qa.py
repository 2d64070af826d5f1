"""QA speed: seconds of QA per second of video (goal: under 0.5 on the 2-core machine).

    .venv/bin/python bench/bench_qa.py [--size 512] [--video clip.mp4 --script-file s.txt] [--runs 2]

Without --video it speaks ~20 s of narration with Piper and renders it with the warped-portrait
clip maker (``qa.synthetic_clips``) at --size px (``bench/_clips.py``, shared with
``bench_qa_syncnet.py``). The first ``check_video`` call also loads
Whisper (reported apart as the cold run); the warm runs are what a worker sees per job.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _clips import NARRATION, narrated_clip  # noqa: E402  (bench/, the script's own folder)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--video")
    parser.add_argument("--script-file")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()

    from factory.media import probe_video
    from factory.settings import Settings
    from qa.report import check_video

    work = Path(tempfile.mkdtemp(prefix="bench-qa-"))
    if args.video:
        video = Path(args.video)
        script = Path(args.script_file).read_text() if args.script_file else None
    else:
        script = NARRATION
        video = narrated_clip(work / "bench.mp4", args.size)
    info = probe_video(video)
    settings = Settings.load()
    print(f"video: {video} {info.width}x{info.height}, {info.video_seconds:.1f} s; cores: {os.cpu_count()}")

    for run in range(args.runs + 1):
        t = time.perf_counter()
        report = check_video(video, script=script, settings=settings)
        seconds = time.perf_counter() - t
        label = "cold (loads Whisper)" if run == 0 else f"warm run {run}"
        parts = ", ".join(f"{k} {v:.2f} s" for k, v in report.timings.items() if k in ("frames", "lipsync", "asr"))
        print(
            f"{label:>22}: {seconds:.2f} s = {seconds / info.video_seconds:.3f} s per second of video "
            f"({parts}); passed={report.passed}"
        )


if __name__ == "__main__":
    main()
