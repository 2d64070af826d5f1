"""How long one scheduler tick takes over 50 due feed schedules whose 1,000 items are all known.

    python bench/bench_scheduler.py                                  # SQLite in a temporary folder
    python bench/bench_scheduler.py --database-url postgresql://postgres@127.0.0.1:5432/test

Each schedule reads its own RSS file of 20 entries (local files: the network is not measured)
and finds every entry already made, so the tick is the scheduler's own work: finding due
schedules, claiming each run, parsing the feed, comparing its keys with the made ones, and
recording the run. Prints milliseconds per tick (median and worst of the repeats) and for an
idle tick (nothing due).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import uuid
from datetime import timedelta
from pathlib import Path


def feed_xml(schedule: int, items: int) -> str:
    entries = "".join(
        f"<item><guid>s{schedule}-i{i}</guid><link>http://news.example/{schedule}/{i}</link>"
        f"<title>Story {i} of feed {schedule}</title><description>Summary {i}.</description></item>"
        for i in range(items))
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Feed {schedule}</title>'
            f"<link>http://news.example/</link><description>d</description>{entries}</channel></rss>")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default="", help="PostgreSQL URL (a fresh database); default: SQLite")
    parser.add_argument("--schedules", type=int, default=50)
    parser.add_argument("--items", type=int, default=20, help="feed entries per schedule (all known)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    import skimage.data

    from factory.media import save_image
    from factory.scheduler import Scheduler
    from factory.schedules import Schedule, ScheduleItem, ScheduleSpec, add_schedule
    from factory.service import JobService
    from factory.settings import Settings
    from factory.store import utcnow

    work = Path(tempfile.mkdtemp(prefix="bench-scheduler-"))
    portrait = work / "host.png"
    save_image(portrait, skimage.data.astronaut())
    settings = Settings.load(data_dir=work / "data", database_url=args.database_url)
    with JobService(settings) as service:
        ids = []
        for n in range(args.schedules):
            feed = work / f"feed{n}.xml"
            feed.write_text(feed_xml(n, args.items), encoding="utf-8")
            spec = ScheduleSpec(name=f"bench-{uuid.uuid4().hex[:8]}", cron="*/5 * * * *", source_kind="feed",
                                source=str(feed), avatar=str(portrait), max_items_per_run=args.items)
            schedule = add_schedule(service.jobs, spec)
            ids.append(schedule.id)
            with service.jobs.session() as s:  # every entry was made before
                for i in range(args.items):
                    s.add(ScheduleItem(schedule_id=schedule.id, item_key=f"s{n}-i{i}", title=f"Story {i}",
                                       job_id=f"made{n:03d}{i:04d}"))
                s.commit()
        scheduler = Scheduler(service)
        times, idle = [], []
        moment = utcnow()
        for _ in range(args.repeats):
            moment += timedelta(minutes=10)
            with service.jobs.session() as s:  # all due again
                for schedule_id in ids:
                    row = s.get(Schedule, schedule_id)
                    row.next_run_at = moment - timedelta(minutes=1)
                    s.add(row)
                s.commit()
            report = scheduler.tick(moment)
            assert len(report.runs) == args.schedules and not report.jobs, "every item was known: no job expected"
            times.append(report.seconds * 1000)
            idle.append(scheduler.tick(moment).seconds * 1000)
    backend = "PostgreSQL" if args.database_url else "SQLite"
    print(f"scheduler tick, {args.schedules} due feed schedules, {args.schedules * args.items} known items, {backend}: "
          f"median {statistics.median(times):.0f} ms, worst {max(times):.0f} ms ({args.repeats} ticks)")
    print(f"idle tick (nothing due): median {statistics.median(idle):.1f} ms")


if __name__ == "__main__":
    main()
