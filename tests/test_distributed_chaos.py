"""Chaos: 200 real jobs (speak → render → publish) through 4 `factory worker` processes on the
real RabbitMQ, PostgreSQL and an S3 server, while workers are SIGKILLed at random moments (and
replaced) and the broker is restarted once mid-run. At the end every job is published exactly
once or dead with a reason: none lost, none stuck.

Tiny inputs keep it within a few minutes on 2 cores: four distinct one-second scripts at
min_resolution 384, so most speak/render stages are real cache hits (the cache is the real
one; a hit still fetches inputs from S3 and moves the job on through the queues).
check=False: the QA stage's verdict on a one-second clip is not what this test is about, and
loading Whisper in every restarted worker would spend the time budget on model loading.
"""

from __future__ import annotations

import os
import random
import subprocess
import threading
import time

import pytest

from conftest_services import amqp_url, distributed, queue_prefix, s3_endpoint  # noqa: F401  (fixtures)

JOBS = 200
WORKERS = 4
SCRIPTS = ["Hello there.", "Good morning.", "Thanks for watching.", "See you soon."]
TIME_BUDGET = 300.0


def restart_broker() -> str:
    """Restart RabbitMQ (stop_app/start_app: every connection drops, durable queues and
    persistent messages survive). FACTORY_TEST_BROKER_CHAOS=close only force-closes the
    connections instead (for a broker shared with others)."""
    if os.environ.get("FACTORY_TEST_BROKER_CHAOS", "restart") == "restart":
        stop = subprocess.run(["rabbitmqctl", "stop_app"], capture_output=True, text=True, timeout=120)
        if stop.returncode == 0:
            time.sleep(1.0)
            for _ in range(3):
                if subprocess.run(["rabbitmqctl", "start_app"], capture_output=True, text=True, timeout=120).returncode == 0:
                    return "restarted (rabbitmqctl stop_app/start_app)"
            pytest.fail("rabbitmqctl start_app failed: the broker is down")
    closed = subprocess.run(["rabbitmqctl", "close_all_connections", "chaos test"], capture_output=True, text=True, timeout=120)
    assert closed.returncode == 0, closed.stderr
    return "connections force-closed (rabbitmqctl close_all_connections)"


def _counts(jobs, batch: str) -> dict[str, int]:
    from sqlalchemy import func
    from sqlmodel import select

    from factory.store import Job

    with jobs.session() as s:
        rows = s.exec(select(Job.status, func.count()).where(Job.batch == batch).group_by(Job.status)).all()
    return {status: n for status, n in rows}


def test_chaos_nothing_lost_published_exactly_once(distributed, portrait_path):
    from factory.service import JobService
    from factory.store import JobStatus

    rng = random.Random(1234)
    settings = distributed.settings
    service = JobService(settings)
    stages = ("speak", "render", "publish")
    alive = [distributed.start_worker(*stages, name=f"w{i}") for i in range(WORKERS)]

    batch = f"chaos-{os.getpid()}"
    started = time.monotonic()
    submitted: list[str] = []

    def submit_all() -> None:  # while workers are being killed: the chaos starts with the first job
        for i in range(JOBS):
            job = service.submit(image=portrait_path, script=SCRIPTS[i % len(SCRIPTS)], params={"min_resolution": 384},
                                 check=False, batch=batch)
            submitted.append(job.id)

    submitter = threading.Thread(target=submit_all)
    submitter.start()
    kills, broker_event = 0, None
    next_kill = time.monotonic() + rng.uniform(0.5, 2.0)
    while True:
        counts = _counts(service.jobs, batch)
        final = sum(n for status, n in counts.items() if status in JobStatus.FINAL)
        if final == JOBS:
            break
        elapsed = time.monotonic() - started
        assert elapsed < TIME_BUDGET, f"not finished after {elapsed:.0f} s: {counts}"
        # the broker restarts once every job is in (a submit during the restart would fail visibly, not chaos)
        if broker_event is None and not submitter.is_alive() and final >= JOBS * 0.3:
            broker_event = restart_broker()
        # at least three kills whatever the machine's speed, more while jobs are still running
        if (final < JOBS * 0.95 or kills < 3) and time.monotonic() >= next_kill:
            victim = alive.pop(rng.randrange(len(alive)))
            distributed.kill(victim)  # SIGKILL: no goodbye, its message is unacked
            kills += 1
            alive.append(distributed.start_worker(*stages, name=f"w{WORKERS + kills}"))
            next_kill = time.monotonic() + rng.uniform(0.5, 2.0)
        time.sleep(0.25)
    elapsed = time.monotonic() - started
    submitter.join()

    jobs = [service.get(job_id) for job_id in submitted]
    published = [j for j in jobs if j.status == JobStatus.PUBLISHED]
    dead = [j for j in jobs if j.status == JobStatus.DEAD]
    other = [j for j in jobs if j not in published and j not in dead]
    runs = {j.id: service.runs(j.id) for j in jobs}
    stage_runs = sum(len(r) for r in runs.values())
    cache_hits = sum(1 for r in runs.values() for run in r if run.status == "cached")
    interrupted = sum(1 for r in runs.values() for run in r if run.finished_at is None or run.status == "error")
    print(
        f"\nchaos: {JOBS} jobs in {elapsed:.1f} s with {WORKERS} workers: {len(published)} published, {len(dead)} dead, "
        f"{len(other)} other; {kills} workers SIGKILLed; broker {broker_event}; {stage_runs} stage runs "
        f"({cache_hits} cache hits, {interrupted} interrupted or failed attempts)"
    )
    assert broker_event is not None
    assert kills >= 3
    assert not other, [(j.id, j.status, j.error) for j in other]
    assert len(published) + len(dead) == JOBS  # zero lost
    for job in dead:
        assert job.error, f"dead job {job.id} has no recorded reason"
    publish_dir = settings.resolved_publish_dir
    for job in published:
        # Published exactly once: one transaction set published_at and cleared next_stage;
        # the published file is the job's own video.
        assert job.published_at is not None and job.next_stage is None
        assert (publish_dir / f"{job.id}.mp4").stat().st_size > 1000
        assert job.values["published_url"].endswith(f"{job.id}.mp4")
    assert len(published) >= JOBS * 0.95  # dead jobs are only for repeated internal errors


def test_factory_make_enqueues_and_waits_for_the_workers(distributed, portrait_path, tmp_path):
    """The user's view of the distributed mode: the same `factory make` command, with the three
    URLs set, enqueues the job, a worker renders it, and --wait brings the MP4 back."""
    import subprocess
    import sys

    from factory.media import probe_video

    distributed.start_worker("speak", "render", "publish", concurrency=1, name="all-stages")
    out = tmp_path / "distributed.mp4"
    env = {**distributed.env, "FACTORY_DATA_DIR": str(tmp_path / "cli-data")}
    done = subprocess.run(
        [sys.executable, "-c", "from factory.cli import main; main()", "make", "--script", "Hello from the workers.",
         "--image", str(portrait_path), "--no-check", "--keep-crop", "--min-resolution", "384", "--out", str(out)],
        env=env, capture_output=True, text=True, timeout=240,
    )
    assert done.returncode == 0, done.stderr
    assert "render" in done.stderr and str(out) in done.stdout
    info = probe_video(out)
    assert (info.width, info.height) == (384, 384) and info.audio_codec == "aac"
