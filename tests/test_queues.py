"""Distributed mode against the real RabbitMQ and PostgreSQL on this machine (and moto's S3).

Workers are real ``factory worker`` subprocesses; stages come from tests/test_queues_stages.py.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from conftest_services import amqp_url, distributed, queue_prefix, s3_endpoint  # noqa: F401  (fixtures)


def _add_job(settings, plan, params=None, values=None, priority=0):
    from factory import lifecycle
    from factory.store import Job, JobStore, new_job_id

    jobs = JobStore(settings.resolved_database_url)
    job = lifecycle.submitted(jobs, Job(id=new_job_id(), plan=list(plan), params=params or {}, values=values or {"seed_text": "hi"}, priority=priority))
    return jobs, job


def _submit(settings, plan, **kwargs):
    from queues.broker import enqueue_stage

    jobs, job = _add_job(settings, plan, **kwargs)
    enqueue_stage(settings, job.id, job.next_stage, priority=job.priority, trace_id=job.trace_id)
    return jobs, job


def _wait_final(jobs, job_ids, timeout=60.0):
    from factory.store import JobStatus

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        current = [jobs.require(j) for j in job_ids]
        if all(j.status in JobStatus.FINAL for j in current):
            return current
        time.sleep(0.2)
    raise AssertionError("jobs did not finish: " + ", ".join(f"{j.id}={j.status}/{j.next_stage}" for j in current))


def _channel(url):
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(url))
    return connection, connection.channel()


def test_topology_retry_queue_dead_letters_back_to_the_work_queue(amqp_url, queue_prefix):
    from queues.broker import Broker, StageMessage
    from queues.topology import QueueConfig

    config = QueueConfig(prefix=queue_prefix, retry_delays=(0.3, 0.6))
    broker = Broker(amqp_url, config)
    broker.connect()
    broker.declare(["render"])
    broker._declared.clear()
    broker.declare(["render"])  # declaring again is harmless (same arguments)
    broker.publish_retry(StageMessage("job1", "render", attempt=2, trace_id="t1"), priority=3, error="boom")
    connection, channel = _channel(amqp_url)
    assert channel.basic_get(config.work_queue("render"), auto_ack=True)[0] is None  # still waiting
    time.sleep(0.8)
    method, props, body = channel.basic_get(config.work_queue("render"), auto_ack=True)
    assert method is not None, "the delayed message did not come back to the work queue"
    assert json.loads(body) == {"job_id": "job1", "stage": "render", "attempt": 2, "trace_id": "t1"}
    assert props.delivery_mode == 2 and props.priority == 3
    connection.close()
    broker.close()


def test_an_editors_job_overtakes_a_queued_batch(distributed):
    """Priority queue: 30 batch rows queued first, then one editor job; a worker started
    afterwards runs the editor's job before all but at most one batch row."""
    from factory.service import EDITOR_PRIORITY

    settings = distributed.settings
    batch = [_submit(settings, ["digest1"], values={"seed_text": f"row {i}"})[1] for i in range(30)]
    jobs, editor = _submit(settings, ["digest1"], values={"seed_text": "editor"}, priority=EDITOR_PRIORITY)
    distributed.start_worker("digest1")
    _wait_final(jobs, [editor.id] + [j.id for j in batch])
    finished = sorted(jobs.require(j.id).published_at for j in batch)
    editor_done = jobs.require(editor.id).published_at
    assert sum(1 for t in finished if t < editor_done) <= 1


def test_pipeline_runs_across_workers_and_is_published_once(distributed):
    from factory.artifacts import open_store
    from factory.store import JobStore

    settings = distributed.settings
    plan = ["digest1", "digest2", "digest3"]
    distributed.start_worker("digest1", "digest3")
    distributed.start_worker("digest2")
    submitted = [_submit(settings, plan, values={"seed_text": f"job {i}"})[1] for i in range(10)]
    jobs = JobStore(settings.resolved_database_url)
    done = _wait_final(jobs, [j.id for j in submitted])
    store = open_store(settings)
    for job in done:
        assert job.status == "published", (job.id, job.error)
        assert [r.stage for r in jobs.runs(job.id)] == plan  # each stage ran exactly once
        assert store.fetch(job.files["blob"]).stat().st_size == 65  # a real artifact, via S3


def test_poison_message_lands_in_the_dead_letter_queue_and_the_worker_carries_on(distributed, amqp_url):
    from queues.topology import QueueConfig

    settings = distributed.settings
    worker = distributed.start_worker("poison", "digest1")
    jobs, poison = _submit(settings, ["poison", "digest1"])
    _, healthy = _submit(settings, ["digest1"])
    poison, healthy = _wait_final(jobs, [poison.id, healthy.id])
    assert healthy.status == "published"
    assert poison.status == "dead"
    # The editor reads a reason without Python in it; the run (and the log) keep the traceback.
    assert poison.error == f"internal error in poison (trace id {poison.trace_id[:12]}) (gave up after 3 attempts)"
    runs = jobs.runs(poison.id)
    assert [(r.stage, r.status) for r in runs] == [("poison", "error")] * settings.stage_max_attempts
    assert all("RuntimeError: poison stage: this input always crashes the engine" in r.error for r in runs)
    # The parked message says which job and why.
    connection, channel = _channel(amqp_url)
    method, props, body = channel.basic_get(QueueConfig.from_settings(settings).dead_queue, auto_ack=True)
    connection.close()
    assert method is not None and json.loads(body)["job_id"] == poison.id
    assert poison.trace_id[:12] in props.headers["x-factory-error"]
    # The same worker still serves new jobs.
    _, later = _submit(settings, ["digest1"])
    assert _wait_final(jobs, [later.id])[0].status == "published"
    assert worker.poll() is None


def test_a_stage_over_its_time_limit_is_killed_and_retried_and_the_worker_survives(distributed):
    settings = distributed.settings
    worker = distributed.start_worker("sleepy", "digest1", extra_env={"FACTORY_STAGE_TIME_LIMITS": "sleepy=2"})
    jobs, job = _submit(settings, ["sleepy", "digest1"], params={"hang_first_attempt": True})
    started = time.monotonic()
    (job,) = _wait_final(jobs, [job.id], timeout=60)
    assert job.status == "published", job.error
    assert job.values["slept_on_attempt"] == 2
    runs = [(r.stage, r.status, r.error) for r in jobs.runs(job.id)]
    assert runs[0] == ("sleepy", "error", "sleepy stopped at its time limit of 2 s")
    assert runs[1][:2] == ("sleepy", "done")
    assert time.monotonic() - started < 30  # killed at the limit, not after the 600 s hang
    assert worker.poll() is None
    _, other = _submit(settings, ["digest1"])
    assert _wait_final(jobs, [other.id])[0].status == "published"


def test_sigterm_finishes_the_running_stage_then_exits(distributed):
    settings = distributed.settings
    worker = distributed.start_worker("sleepy")
    jobs, job = _submit(settings, ["sleepy"], params={"sleep_seconds": 2})
    deadline = time.monotonic() + 30
    while jobs.require(job.id).status != "running" and time.monotonic() < deadline:
        time.sleep(0.05)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(30) == 0
    assert jobs.require(job.id).status == "published"


def test_sigterm_past_the_grace_period_requeues_the_message(distributed):
    """A stage longer than --grace is stopped; its message goes back and another worker runs it."""
    settings = distributed.settings
    worker = distributed.start_worker("sleepy", grace=1)
    jobs, job = _submit(settings, ["sleepy"], params={"sleep_seconds": 4})
    deadline = time.monotonic() + 30
    while jobs.require(job.id).status != "running" and time.monotonic() < deadline:
        time.sleep(0.05)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(30) == 0
    assert jobs.require(job.id).status == "interrupted"  # its message went back: the next worker resumes it
    distributed.start_worker("sleepy")
    (job,) = _wait_final(jobs, [job.id], timeout=60)
    assert job.status == "published"
    assert [r.status for r in jobs.runs(job.id)] == ["interrupted", "done"]


def test_a_worker_takes_no_message_during_its_warm_up_and_stops_cleanly_in_it(distributed):
    """A render worker compiling Sonic for minutes must not sit on a message another worker could
    run, and SIGTERM during the warm-up ends it without a hang."""
    settings = distributed.settings
    started = time.time()
    worker = distributed.start_worker("warming", extra_env={"FACTORY_TEST_WARM_SECONDS": "6"})
    from queues.topology import QueueConfig

    jobs, job = _submit(settings, ["warming"])
    time.sleep(3)
    connection, channel = _channel(settings.amqp_url)
    try:   # still ready in the broker's queue, not prefetched by the warming worker
        depth = channel.queue_declare(QueueConfig.from_settings(settings).work_queue("warming"), passive=True)
        assert depth.method.message_count == 1
    finally:
        connection.close()
    assert jobs.require(job.id).status == "queued"
    (job,) = _wait_final(jobs, [job.id], timeout=60)
    assert job.status == "published"
    assert jobs.require(job.id).values["ran_at"] - started >= 6          # after the warm-up
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(30) == 0

    stuck = distributed.start_worker("warming", extra_env={"FACTORY_TEST_WARM_SECONDS": "120"})
    time.sleep(3)
    stuck.send_signal(signal.SIGTERM)
    assert stuck.wait(30) == 0


def test_status_shows_depths_live_workers_and_stuck_jobs(distributed):
    from datetime import timedelta

    from factory import lifecycle
    from factory.policy import StagePolicy
    from factory.store import StageRun, WorkerBeat, utcnow
    from queues.status import collect_status

    settings = distributed.settings
    for i in range(3):
        _submit(settings, ["digest2"], values={"seed_text": str(i)})  # nobody serves digest2 yet
    worker = distributed.start_worker("digest1")
    jobs, stuck = _add_job(settings, ["render"])
    # a render that started 10 minutes ago on a worker that still beats, and never finished
    jobs.heartbeat(WorkerBeat(id="other-host:1:render", hostname="other-host", stages=["render"]))
    run = lifecycle.stage_started(jobs, stuck.id, "render", StagePolicy(), worker="other-host:1:render").run
    with jobs.session() as s:
        row = s.get(StageRun, run.id)
        row.started_at = utcnow() - timedelta(minutes=10)
        s.add(row)
        s.commit()

    prefix = distributed.env["FACTORY_QUEUE_PREFIX"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # until the worker has beaten and started consuming
        report = collect_status(settings, jobs)
        consumers = {q.name: q.consumers for q in report.queues}
        if any(w.stages == ["digest1"] for w in report.workers_alive) and consumers.get(f"{prefix}.digest1") == 1:
            break
        time.sleep(0.3)
    depths = {q.name: q.messages for q in report.queues}
    assert depths[f"{prefix}.digest2"] == 3
    assert depths[f"{prefix}.digest1"] == 0
    assert any(w.stages == ["digest1"] for w in report.workers_alive)
    assert [(j.job_id, j.stage) for j in report.stuck] == [(stuck.id, "render")]
    # The command line shows the same.
    out = subprocess.run(
        [sys.executable, "-c", "from factory.cli import main; main()", "status", "--json"],
        env=distributed.env, capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 0, out.stderr
    shown = json.loads(out.stdout)
    assert {"name": f"{prefix}.digest2", "messages": 3, "consumers": 0} in shown["queues"]
    assert stuck.id in [j["job_id"] for j in shown["stuck"]]
    assert worker.poll() is None


def test_worker_reconnects_after_the_broker_drops_its_connection(distributed):
    """Force-close every connection of this worker's broker: it reconnects and goes on."""
    settings = distributed.settings
    distributed.start_worker("digest1")
    jobs, first = _submit(settings, ["digest1"])
    _wait_final(jobs, [first.id])
    close_all_broker_connections()
    time.sleep(0.5)
    _, second = _submit(settings, ["digest1"])
    assert _wait_final(jobs, [second.id], timeout=60)[0].status == "published"


def close_all_broker_connections() -> None:
    result = subprocess.run(["rabbitmqctl", "close_all_connections", "test: broker connection drop"], capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        pytest.fail(f"rabbitmqctl close_all_connections failed: {result.stderr}")


def test_one_worker_per_gpu_fans_renders_out_across_the_cards(distributed):
    """Issue 7's fan-out logic without GPUs: two workers started with --gpu 0 and --gpu 1 share a
    burst of render-like jobs; each job ran on exactly one card, each card took its share, and
    the stage process of a worker saw only its own card (CUDA_VISIBLE_DEVICES)."""
    distributed.start_worker("which_gpu", gpu="0", name="gpu0")
    distributed.start_worker("which_gpu", gpu="1", name="gpu1")
    job_ids = []
    for _ in range(8):
        jobs, job = _submit(distributed.settings, ["which_gpu"], params={"sleep_seconds": 0.4})
        job_ids.append(job.id)
    finished = _wait_final(jobs, job_ids, timeout=90)
    assert all(j.status == "published" for j in finished)
    by_gpu: dict[str, set[int]] = {}
    for job in finished:
        by_gpu.setdefault(job.values["gpu"], set()).add(job.values["pid"])
    assert set(by_gpu) == {"0", "1"}  # both cards worked
    assert all(len(pids) == 1 for pids in by_gpu.values())  # one stage process per card
    assert sum(1 for j in finished if j.values["gpu"] == "0") >= 2 and sum(1 for j in finished if j.values["gpu"] == "1") >= 2
