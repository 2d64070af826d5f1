"""Benchmark: many small jobs through 5 stages, distributed (RabbitMQ + PostgreSQL + 4 worker
processes) versus embedded (SQLite, one process).

    .venv/bin/python bench/bench_queues.py [--jobs 1000] [--workers 4] [--trickle 50]

"No-op-sized" jobs: the stages are ``digest1..digest5`` from tests/test_queues_stages.py — each
fetches the previous stage's small file from the artifact store, hashes it and stores a new
one, so every handoff moves a real artifact and real job state. Artifacts go to a local folder
shared by the workers (``--s3`` runs moto's S3 server instead, which mostly measures moto).

Printed numbers:
* jobs/s for the whole batch (all jobs enqueued at once);
* handoff latency = when stage n+1 started minus when stage n finished (both recorded by
  ``run_stage``), p50/p99: under load (1,000 jobs in flight: includes waiting in the queue
  behind other jobs) and unloaded (``--trickle`` jobs one after another: publish + broker +
  delivery + hand-off to the stage process + the runner's first queries);
* the stage-process overhead: a pipe round trip to the executor child vs. the same call in
  process.
Needs RabbitMQ at 127.0.0.1:5672 and PostgreSQL at 127.0.0.1:5432 (as the tests do).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

PG_ADMIN = os.environ.get("FACTORY_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
AMQP = os.environ.get("FACTORY_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def handoffs_ms(jobs, job_ids) -> list[float]:
    """Gaps between one stage's end and the next stage's start, per job, in ms."""
    from sqlmodel import select

    from factory.store import StageRun
    from factory.lifecycle import as_utc

    gaps = []
    with jobs.session() as s:
        runs = list(s.exec(select(StageRun).where(StageRun.job_id.in_(list(job_ids))).order_by(StageRun.job_id, StageRun.id)))
    by_job: dict[str, list] = {}
    for run in runs:
        by_job.setdefault(run.job_id, []).append(run)
    for job_runs in by_job.values():
        for prev, nxt in zip(job_runs, job_runs[1:]):
            if prev.finished_at is not None:
                gaps.append((as_utc(nxt.started_at) - as_utc(prev.finished_at)).total_seconds() * 1000)
    return gaps


def make_jobs(jobs, n: int, tag: str) -> list[str]:
    from factory.store import Job
    from test_queues_stages import DIGEST_STAGES

    ids = []
    with jobs.session() as s:
        for i in range(n):
            job = Job(id=uuid.uuid4().hex[:12], plan=list(DIGEST_STAGES), next_stage=DIGEST_STAGES[0], values={"seed_text": f"{tag} {i}"})
            s.add(job)
            ids.append(job.id)
        s.commit()
    return ids


def wait_published(jobs, ids: list[str], timeout: float) -> float:
    from sqlalchemy import func
    from sqlmodel import select

    from factory.store import Job, JobStatus

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with jobs.session() as s:
            done = s.exec(select(func.count()).where(Job.id.in_(ids), Job.status.in_(list(JobStatus.FINAL)))).one()
        if done == len(ids):
            return time.monotonic()
        time.sleep(0.05)
    raise SystemExit(f"timed out: {done}/{len(ids)} finished")


def report(label: str, n: int, seconds: float, gaps: list[float]) -> None:
    print(f"{label:<34} {n:>5} jobs in {seconds:7.2f} s = {n / seconds:7.1f} jobs/s; handoff p50 {percentile(gaps, 50):7.2f} ms, p99 {percentile(gaps, 99):8.2f} ms (n={len(gaps)})")


def bench_distributed(args, workdir: Path) -> None:
    import pika
    from sqlalchemy import create_engine, text

    from factory import stages
    from factory.settings import Settings
    from factory.store import JobStore
    from queues.broker import enqueue_stage
    from factory.executor import StageExecutor
    from queues.topology import QueueConfig, all_queue_names
    from test_queues_stages import DIGEST_STAGES, EXTRA_STAGES, extra_stages_env

    db = f"factory_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{db}"'))
    prefix = f"fbench_{uuid.uuid4().hex[:6]}"
    db_url = PG_ADMIN.rsplit("/", 1)[0] + "/" + db
    env_settings = {
        "FACTORY_DATABASE_URL": db_url,
        "FACTORY_AMQP_URL": AMQP,
        "FACTORY_STORE_URL": f"file://{workdir / 'artifacts'}",
        "FACTORY_DATA_DIR": str(workdir / "data"),
    }
    queue_env = {"FACTORY_QUEUE_PREFIX": prefix, "FACTORY_EXTRA_STAGES": extra_stages_env()}
    os.environ.update(queue_env)
    stages.STAGE_MODULES.update(EXTRA_STAGES)
    settings = Settings.load(**{k[8:].lower(): v for k, v in env_settings.items()})
    jobs = JobStore(db_url)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("FACTORY_")}, **env_settings, **queue_env, "PYTHONPATH": f"{REPO}{os.pathsep}{REPO / 'tests'}"}
    workers = []
    try:
        for i in range(args.workers):
            cmd = [sys.executable, "-c", "from factory.cli import main; main()", "worker"] + sum((["--stage", s] for s in DIGEST_STAGES), [])
            workers.append(subprocess.Popen(cmd, cwd=REPO, env=env, stdout=open(workdir / f"worker{i}.log", "wb"), stderr=subprocess.STDOUT))
        # Wait until every worker consumes (its stage process is started before the first message).
        conn = pika.BlockingConnection(pika.URLParameters(AMQP))
        ch = conn.channel()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if ch.queue_declare(f"{prefix}.digest1", passive=True).method.consumer_count == args.workers:
                    break
            except pika.exceptions.ChannelClosedByBroker:
                ch = conn.channel()
            time.sleep(0.2)
        time.sleep(3)  # the stage processes finish importing
        # Warm-up, not measured.
        warm = make_jobs(jobs, 8, "warm")
        for job_id in warm:
            enqueue_stage(settings, job_id, DIGEST_STAGES[0])
        wait_published(jobs, warm, 60)

        # Unloaded: one job at a time.
        trickle = make_jobs(jobs, args.trickle, "trickle")
        t0 = time.monotonic()
        for job_id in trickle:
            enqueue_stage(settings, job_id, DIGEST_STAGES[0])
            wait_published(jobs, [job_id], 60)
        report("distributed, one job at a time", len(trickle), time.monotonic() - t0, handoffs_ms(jobs, trickle))

        # Loaded: the whole batch at once.
        ids = make_jobs(jobs, args.jobs, "batch")
        t0 = time.monotonic()
        for job_id in ids:
            enqueue_stage(settings, job_id, DIGEST_STAGES[0])
        t1 = wait_published(jobs, ids, 1800)
        report(f"distributed, {args.workers} workers, batch", len(ids), t1 - t0, handoffs_ms(jobs, ids))

        # What the killable stage process costs per message: a stale message is "skipped"
        # after one query, so the difference is the pipe round trip.
        from factory.artifacts import open_store
        from factory.runner import run_stage

        executor = StageExecutor(settings, EXTRA_STAGES)
        executor.start()
        store = open_store(settings)
        for label, call in (
            ("in process", lambda: run_stage(jobs, store, settings, ids[0], "digest1")),
            ("via stage process", lambda: executor.run(ids[0], "digest1")),
        ):
            call()
            t = time.perf_counter()
            for _ in range(200):
                call()
            print(f"  run_stage on a stale message, {label:<18} {(time.perf_counter() - t) / 200 * 1000:6.2f} ms")
        executor.stop()
        conn.close()
        broker_round_trip(settings)
    finally:
        for w in workers:
            w.terminate()
        for w in workers:
            w.wait(30)
        conn = pika.BlockingConnection(pika.URLParameters(AMQP))
        ch = conn.channel()
        for name in all_queue_names(QueueConfig.from_settings(settings), [*stages.STAGE_MODULES, "roundtrip"]):
            ch.queue_delete(name)
        conn.close()
        jobs.engine.dispose()
        with admin.connect() as c:
            c.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}'"))
            c.execute(text(f'DROP DATABASE IF EXISTS "{db}"'))


def broker_round_trip(settings, n: int = 200) -> None:
    """The queue's own share of a handoff: confirmed publish of a stage message until a
    consumer on another connection has it (idle broker)."""
    from queues.broker import Broker, StageMessage
    from queues.topology import QueueConfig

    config = QueueConfig.from_settings(settings)
    publisher, consumer = Broker(settings.amqp_url, config), Broker(settings.amqp_url, config)
    publisher.connect()
    consumer.connect()
    publisher.declare(["roundtrip"])  # a queue no worker consumes
    received: list[float] = []
    consumer.channel.basic_consume(config.work_queue("roundtrip"), lambda ch, m, p, b: (received.append(time.perf_counter()), ch.basic_ack(m.delivery_tag)))
    gaps = []
    for i in range(n):
        t = time.perf_counter()
        publisher.publish_stage(StageMessage(f"rt{i}", "roundtrip"))
        while len(received) <= i:
            consumer.connection.process_data_events(time_limit=0.01)
        gaps.append((received[i] - t) * 1000)
    print(f"  broker only: confirmed publish → delivered, p50 {percentile(gaps, 50):.2f} ms, p99 {percentile(gaps, 99):.2f} ms (n={n})")
    publisher.close()
    consumer.close()


def bench_embedded(args, workdir: Path) -> None:
    from factory import stages
    from factory.service import JobService
    from factory.settings import Settings
    from test_queues_stages import EXTRA_STAGES

    stages.STAGE_MODULES.update(EXTRA_STAGES)
    service = JobService(Settings.load(data_dir=workdir / "embedded"))
    ids = make_jobs(service.jobs, args.jobs, "embedded")
    t0 = time.monotonic()
    for job_id in ids:  # the in-process dispatcher runs them one after another, in this order
        service.dispatcher.dispatch(service.get(job_id))
    for job_id in ids:
        service.follow(job_id, poll_seconds=0.05)
    report("embedded (SQLite, one process)", len(ids), time.monotonic() - t0, handoffs_ms(service.jobs, ids))
    service.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--trickle", type=int, default=50, help="jobs run one at a time for the unloaded handoff latency")
    parser.add_argument("--skip-embedded", action="store_true")
    args = parser.parse_args()
    print(f"{args.jobs} jobs × 5 stages (digest1..digest5); {os.cpu_count()} CPU cores")
    with tempfile.TemporaryDirectory(prefix="bench-queues-") as tmp:
        bench_distributed(args, Path(tmp))
        if not args.skip_embedded:
            bench_embedded(args, Path(tmp))


if __name__ == "__main__":
    main()
