"""A product batch through the whole pipeline on this machine: videos per hour and each stage's share.

    .venv/bin/python bench/bench_batch.py [--rows 200] [--no-check]

Makes a CSV of ``--rows`` product rows (name, features, price, promotion), submits it as one
batch (``factory.batch.submit_batch``: the checked path the API and the console use) in
embedded mode with the bundled writer, voice and CPU renderer, waits for every job, and prints
videos per hour, the seconds and share of each stage (from the stage runs the database
recorded), and how the jobs ended.
"""

from __future__ import annotations

import argparse
import csv
import platform
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

PRODUCTS = [
    ("Desk lamp", "warm light; three brightness levels; USB-C charging", "39.90", "free shipping this week"),
    ("Water bottle", "keeps drinks cold for 24 hours; 750 ml; steel", "24.50", ""),
    ("Backpack", "laptop sleeve; rain cover; 28 litres", "79.00", "10% off for members"),
    ("Headphones", "noise cancelling; 30-hour battery; foldable", "129.00", ""),
    ("Tea kettle", "boils in three minutes; 1.7 litres; auto switch-off", "45.00", "two-year warranty"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--no-check", action="store_true", help="skip the QA stage")
    args = parser.parse_args()

    import skimage.data

    from factory.batch import submit_batch
    from factory.media import save_image
    from factory.service import JobService
    from factory.settings import Settings
    from factory.store import JobStatus

    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        tmp = Path(tmp)
        portrait = tmp / "host.png"
        save_image(portrait, skimage.data.astronaut())
        sheet = tmp / "products.csv"
        with sheet.open("w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(["name", "features", "price", "promotion"])
            for i in range(args.rows):
                name, features, price, promotion = PRODUCTS[i % len(PRODUCTS)]
                writer.writerow([f"{name} {i + 1}", features, price, promotion])
        with sheet.open(encoding="utf-8") as rows_file:
            rows = list(csv.DictReader(rows_file))

        settings = Settings.load(data_dir=tmp / "data", publish_dir=tmp / "published")
        with JobService(settings) as service:
            started = time.perf_counter()
            result = submit_batch(service, rows, file_name=sheet.name, default_image=portrait,
                                  check=False if args.no_check else None, submitted_by="bench")
            print(f"{len(result.jobs)} jobs submitted, {len(result.problems)} rows refused", flush=True)
            jobs = []
            for number, (_, job_id) in enumerate(result.jobs, 1):
                jobs.append(service.follow(job_id))
                elapsed = time.perf_counter() - started
                print(f"  {number}/{len(result.jobs)} done after {elapsed:.0f} s", flush=True)
            wall = time.perf_counter() - started

            seconds: dict[str, float] = defaultdict(float)
            for job in jobs:
                for run in service.runs(job.id):
                    seconds[run.stage] += run.seconds or 0.0
            endings = Counter(job.status for job in jobs)
            published = endings.get(JobStatus.PUBLISHED, 0)

    total = sum(seconds.values()) or 1.0
    print(f"\nmachine: {platform.machine()}, {platform.node()}; rows: {args.rows}; QA: {not args.no_check}")
    print(f"wall {wall:.0f} s for {len(jobs)} jobs: {3600 * len(jobs) / wall:.1f} videos per hour "
          f"({3600 * published / wall:.1f} published per hour)")
    print("jobs ended: " + ", ".join(f"{status} {count}" for status, count in endings.most_common()))
    for stage, spent in sorted(seconds.items(), key=lambda item: -item[1]):
        print(f"  {stage:<8} {spent:8.1f} s  {100 * spent / total:5.1f} %  ({spent / max(1, len(jobs)):.1f} s per job)")


if __name__ == "__main__":
    main()
