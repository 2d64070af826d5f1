"""QA speed: CPU seconds and wall seconds of QA per second of video (goal: at most 0.15 s of CPU
per second of video on the 2-core machine).

    .venv/bin/python bench/bench_qa.py [--size 512] [--long] [--video clip.mp4 --script-file s.txt] [--runs 2] [--language en]

Without --video it speaks the narration with Piper (about 20 s; ``--long`` adds sentences for
about 30 s, the length of a typical job) and renders it with the warped-portrait clip maker
(``qa.synthetic_clips``) at --size px (``bench/_clips.py``, shared with ``bench_qa_syncnet.py``).
The first ``check_video`` call also loads Whisper (reported apart as the cold run); the warm
runs are what a worker sees per job. CPU time is the whole process's (every thread), so work
done in parallel counts in full. Then each part runs alone, so its CPU time is its own: the
container facts, the one decode of the sound, the frame scan (with, apart, the bare picture
decode it contains) and Whisper.
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
    print_parts(video, info.video_seconds, settings, args.language or None, args.runs)


def print_parts(video: Path, seconds: float, settings, language: str | None, runs: int) -> None:
    """CPU and wall seconds of each part of the check run alone (best of ``runs``)."""
    from factory.media import probe_video, read_video_frames, stream_times
    from qa.asr import SAMPLE_RATE, transcribe_samples
    from qa.frames import scan_video
    from qa.lipsync import sound_as_played

    sound = sound_as_played(video, track_rate=SAMPLE_RATE)
    parts = {
        "container facts (probe, stream times)": lambda: (probe_video(video), stream_times(video)),
        "sound, one decode (timeline + 16 kHz)": lambda: sound_as_played(video, track_rate=SAMPLE_RATE),
        "frame scan (decode, face mesh, picture)": lambda: scan_video(video),
        "  of which the picture decode alone": lambda: sum(1 for _ in read_video_frames(video, threaded=True)),
        "Whisper (transcribe the decoded sound)": lambda: transcribe_samples(sound.track, language=language, settings=settings),
    }
    print("each part alone, best of", runs)
    for name, part in parts.items():
        best_cpu = best_wall = float("inf")
        for _ in range(max(runs, 1)):
            wall, cpu = time.perf_counter(), time.process_time()
            part()
            best_cpu = min(best_cpu, time.process_time() - cpu)
            best_wall = min(best_wall, time.perf_counter() - wall)
        print(f"  {name:42s} CPU {best_cpu:5.2f} s = {best_cpu / seconds:.3f} s per s of video; wall {best_wall:5.2f} s")


if __name__ == "__main__":
    main()
