"""QA speed: CPU seconds and wall seconds of QA per second of video (goal: at most 0.15 s of CPU
per second of video on the 2-core machine).

    .venv/bin/python bench/bench_qa.py [--size 512] [--long] [--video clip.mp4 --script-file s.txt] [--runs 2] [--language en]

Without --video it speaks the narration with Piper (about 20 s; ``--long`` adds sentences for
about 30 s, the length of a typical job) and renders it with the warped-portrait clip maker
(``qa.synthetic_clips``) at --size px (``bench/_clips.py``, shared with ``bench_qa_syncnet.py``).
The first ``check_video`` call also loads Whisper (reported apart as the cold run); the warm
runs are what a worker sees per job. CPU time is the whole process's (every thread), so work
done in parallel counts in full.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _clips import NARRATION  # noqa: E402  (bench/, the script's own folder)

MORE = (
    " Before you go, one more tip. A wooden cutting board is kinder to an edge than glass or stone. "
    "Wipe the blade dry after washing, and store it in a block or on a magnetic strip."
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--video")
    parser.add_argument("--script-file")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--long", action="store_true", help="about 30 s of narration instead of 20 s")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--language", default="en", help="the job's language, as the check stage passes it ('' : detect)")
    args = parser.parse_args()

    from factory.media import probe_video
    from factory.settings import Settings
    from qa import synthetic_clips as sc
    from qa.report import check_video

    work = Path(tempfile.mkdtemp(prefix="bench-qa-"))
    if args.video:
        video = Path(args.video)
        script = Path(args.script_file).read_text() if args.script_file else None
    else:
        script = NARRATION + (MORE if args.long else "")
        options = sc.ClipOptions(size=args.size, max_open_px=16.0 * args.size / 256)
        video = sc.in_sync_clip(work / "bench.mp4", script, options)
    info = probe_video(video)
    settings = Settings.load()
    print(f"video: {video} {info.width}x{info.height}, {info.video_seconds:.1f} s; cores: {os.cpu_count()}")

    for run in range(args.runs + 1):
        wall, cpu = time.perf_counter(), time.process_time()
        report = check_video(video, script=script, settings=settings, expected={"language": args.language or None})
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        label = "cold (loads Whisper)" if run == 0 else f"warm run {run}"
        parts = ", ".join(f"{k} {v:.2f} s" for k, v in report.timings.items() if k in ("frames", "audio", "lipsync", "asr"))
        print(
            f"{label:>22}: CPU {cpu:.2f} s = {cpu / info.video_seconds:.3f} s per second of video; "
            f"wall {wall:.2f} s = {wall / info.video_seconds:.3f} ({parts}); passed={report.passed} "
            f"offset={report.lipsync['offset_frames']:+d} z={report.lipsync['z']:.1f}"
        )


if __name__ == "__main__":
    main()
