"""End-to-end benchmark: a ~30-second script through speak + render (+ encode) on this machine.

    .venv/bin/python bench/bench_pipeline.py [--seconds 30] [--check]

Prints the wall time, each stage's seconds and share, and the real-time factor. Goal on the
2-core machine: ≤ 30 s wall for 30 s of speech (speak + render + encode, QA excluded).
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

SENTENCES = [
    "Welcome to this week's briefing on the new city transport plan.",
    "From the first of March, buses on the twelve main routes will run every eight minutes.",
    "Tickets stay at two dollars fifty, and children under twelve ride for free.",
    "The council expects forty thousand more trips each day by the end of the year.",
    "Three new cycle lanes will link the station, the university and the harbour.",
    "Work on the first lane starts in April and should take about ten weeks.",
    "Residents can comment on the plan online until the fifteenth of February.",
    "Thank you for watching, and see you next week.",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="approximate speech length")
    parser.add_argument("--check", action="store_true", help="include the QA stage")
    args = parser.parse_args()

    import skimage.data

    from factory.media import save_image
    from factory.service import JobService
    from factory.settings import Settings

    words_needed = int(args.seconds * 3.1)  # the bundled joe voice speaks about 3.1 words/s
    script, i = "", 0
    while len(script.split()) < words_needed:
        script += SENTENCES[i % len(SENTENCES)] + " "
        i += 1

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        portrait = tmp / "portrait.png"
        save_image(portrait, skimage.data.astronaut())
        service = JobService(Settings.load(data_dir=tmp / "data", publish_dir=tmp / "pub"))
        started = time.perf_counter()
        job = service.submit(image=portrait, script=script.strip(), check=args.check, use_cache=False)
        job = service.follow(job.id)
        service.close()
        wall = time.perf_counter() - started
        if job.status != "published":
            raise SystemExit(f"job ended {job.status}: {job.error}")
        speech = job.values["speech"]["seconds"]
        print(f"machine: {platform.node()} {platform.processor() or platform.machine()}, date {time.strftime('%Y-%m-%d')}")
        print(f"speech: {speech:.1f} s   wall: {wall:.1f} s   real-time factor: {wall / speech:.2f}")
        for run in service.runs(job.id):
            print(f"  {run.stage:<8} {run.seconds:7.2f} s  {100 * run.seconds / wall:5.1f}%")


if __name__ == "__main__":
    main()
