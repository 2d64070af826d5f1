"""The gate on copies shifted by the container's start time: does it read what a player shows?

    .venv/bin/python bench/bench_gate_offsets.py [--renderer synthetic|cpu] [--video clip.mp4] [--max-shift 8]

Renders one in-sync clip (the warped-portrait clip maker of ``qa.synthetic_clips``, or the
project's CPU renderer through its stage with ``--renderer cpu``; or takes ``--video``), then
makes copies whose sound starts 1…8 frames late or early in the container
(``qa.synthetic_clips.shift_in_container``, i.e. ``ffmpeg -itsoffset`` with the streams copied).
For each copy it prints the offset QA reads (goal: within ±1 frame of the shift plus the clip's
own offset), the lip-sync and duration checks and the gate's verdict (pass / re-render). Whisper
is skipped: the shift does not change what is said.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TEXT = (
    "Welcome back to the channel. Today we look at three ways to keep your kitchen knives sharp. "
    "First, use a honing steel before every meal."
)


def render(renderer: str, work: Path) -> Path:
    from qa import synthetic_clips as sc

    if renderer == "synthetic":
        return sc.in_sync_clip(work / "clip.mp4", TEXT)
    from skimage import data

    from factory.media import save_image, write_wav
    from factory.settings import Settings
    from factory.stages import StageContext
    from sonic.stage import STAGE as RENDER

    samples, rate = sc.piper_speech(TEXT)
    save_image(work / "portrait.png", data.astronaut())
    write_wav(work / "narration.wav", samples, rate)
    ctx = StageContext(job_id="bench-offsets", params={"min_resolution": 384, "seed": 1},
                       files={"image": work / "portrait.png", "audio": work / "narration.wav"},
                       values={}, workdir=work, settings=Settings.load())
    return RENDER.run(ctx).files["video"]


def verdict(report, settings) -> str:
    from factory.stages import ReviewRequired, Rerun
    from qa.gate import decide

    try:
        decide(report.summary(), "bench", {}, settings)
    except Rerun:
        return "re-render"
    except ReviewRequired:
        return "review"
    return "pass"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--renderer", choices=("synthetic", "cpu"), default="synthetic")
    parser.add_argument("--video")
    parser.add_argument("--max-shift", type=int, default=8)
    args = parser.parse_args()

    from factory.settings import Settings
    from qa import synthetic_clips as sc
    from qa.gate import QAThresholds
    from qa.report import check_video

    settings = Settings.load()
    work = Path(tempfile.mkdtemp(prefix="bench-offsets-"))
    video = Path(args.video) if args.video else render(args.renderer, work)
    base = check_video(video, settings=settings, transcribe=False)
    own = base.lipsync["offset_frames"]
    low, high = QAThresholds.from_settings(settings).offset_limits
    print(f"clip: {video} ({args.video and 'given' or args.renderer}); its own offset {own:+d} frames, "
          f"z {base.lipsync['z']:.1f}; accepted offsets {low:+d} … {high:+d}")
    print(f"{'shift':>6} {'read':>5} {'error':>6} {'within 1':>8}  {'offset check':<12} {'duration check':<14} verdict")
    worst = 0
    shifts = [k for k in range(-args.max_shift, args.max_shift + 1)]
    for k in shifts:
        copy = video if k == 0 else sc.shift_in_container(video, work / f"shift{k:+d}.mp4", k)
        report = base if k == 0 else check_video(copy, settings=settings, transcribe=False)
        read = report.lipsync["offset_frames"]
        error = read - own - k
        worst = max(worst, abs(error))
        checks = {c.name: c for c in report.checks}
        print(f"{k:+6d} {read:+5d} {error:+6d} {'yes' if abs(error) <= 1 else 'NO':>8}  "
              f"{'ok' if checks['lip_sync_offset'].passed else 'FAIL':<12} "
              f"{'ok' if checks['duration'].passed else 'FAIL':<14} {verdict(report, settings)}")
    print(f"worst error {worst} frame(s) over shifts {shifts[0]:+d} … {shifts[-1]:+d}")


if __name__ == "__main__":
    main()
