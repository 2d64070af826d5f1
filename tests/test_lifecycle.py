"""The job lifecycle (factory/lifecycle.py): every allowed change, every other one refused; the
retry policy's give-up in the same transaction as the crash; runs of dead workers ended."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import timedelta

import pytest

from factory import lifecycle
from factory.lifecycle import ALLOWED_FROM, TransitionRefused
from factory.policy import StagePolicy
from factory.store import Job, JobStatus, JobStore, StageRun, WorkerBeat, new_job_id, utcnow

POLICY = StagePolicy(max_attempts=3, retry_delays=(0.0,))

# What each event leads to, when it is allowed.
EXPECTED = {
    "stage_started": JobStatus.RUNNING,
    "stage_done": JobStatus.QUEUED,
    "stage_failed": JobStatus.FAILED,
    "stage_crashed": JobStatus.QUEUED,
    "held_for_review": JobStatus.NEEDS_REVIEW,
    "sent_back": JobStatus.QUEUED,
    "interrupted": JobStatus.INTERRUPTED,
    "approved": JobStatus.QUEUED,
    "rejected": JobStatus.FAILED,
    "cancelled": JobStatus.CANCELLED,
    "resumed": JobStatus.QUEUED,
    "retried": JobStatus.QUEUED,
    "not_dispatched": JobStatus.FAILED,
}
REQUESTS = {"approved", "rejected", "cancelled", "resumed", "retried"}


@pytest.fixture
def store(tmp_path) -> JobStore:
    return JobStore(f"sqlite:///{tmp_path / 'jobs.db'}")


def _job_in(store: JobStore, status: str) -> tuple[Job, StageRun]:
    """A job of plan a → b in ``status`` at stage a, with an open run of a (test set-up: rows
    written directly, as no driver may)."""
    job = lifecycle.submitted(store, Job(id=new_job_id(), plan=["a", "b"]))
    with store.locked(job.id) as (session, row):
        row.status = status
        row.next_stage = "a" if status in (JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.INTERRUPTED) else None
        row.review = {"stage": "a", "resume_at": "b", "reason": "look"} if status == JobStatus.NEEDS_REVIEW else None
        run = StageRun(job_id=job.id, stage="a")
        session.add(row)
        session.add(run)
        session.commit()
        session.refresh(run)
    return store.require(job.id), run


def _apply(store: JobStore, event: str, job: Job, run: StageRun):
    calls = {
        "stage_started": lambda: lifecycle.stage_started(store, job.id, "a", POLICY),
        "stage_done": lambda: lifecycle.stage_done(store, run, files={}, values={"x": 1}),
        "stage_failed": lambda: lifecycle.stage_failed(store, run, "no face in the photo"),
        "stage_crashed": lambda: lifecycle.stage_crashed(store, job.id, "a", "internal error in a", POLICY, run_id=run.id),
        "held_for_review": lambda: lifecycle.held_for_review(store, run, "look", {"stage": "a", "resume_at": "b"}, files={}, values={}),
        "sent_back": lambda: lifecycle.sent_back(store, run, "a", "again", {"seed": 2}, files={}, values={}),
        "interrupted": lambda: lifecycle.interrupted(store, job.id, "its process stopped", run_id=run.id),
        "approved": lambda: lifecycle.approved(store, job.id, by="ed"),
        "rejected": lambda: lifecycle.rejected(store, job.id, "off topic", by="ed"),
        "cancelled": lambda: lifecycle.cancelled(store, job.id, by="ed"),
        "resumed": lambda: lifecycle.resumed(store, job.id),
        "retried": lambda: lifecycle.retried(store, job.id),
        "not_dispatched": lambda: lifecycle.not_dispatched(store, job.id, "broker unreachable"),
    }
    return calls[event]()


def test_the_test_knows_every_event():
    assert set(ALLOWED_FROM) == set(EXPECTED)


@pytest.mark.parametrize("event", sorted(EXPECTED))
def test_each_event_is_allowed_from_its_states_and_refused_from_the_others(store, event):
    for status in JobStatus.ALL:
        job, run = _job_in(store, status)
        if status in ALLOWED_FROM[event]:
            _apply(store, event, job, run)
            assert store.require(job.id).status == EXPECTED[event], (event, status)
        elif event in REQUESTS:
            with pytest.raises(TransitionRefused, match=f"job {job.id} is "):
                _apply(store, event, job, run)
            assert store.require(job.id).status == status, (event, status)
        else:  # a stale stage event: harmless, the job keeps its state
            result = _apply(store, event, job, run)
            assert result is None or event in ("stage_crashed", "stage_done", "not_dispatched"), (event, status)
            after = store.require(job.id)
            assert (after.status, after.next_stage) == (job.status, job.next_stage), (event, status)


def test_a_refusal_is_a_sentence_for_the_editor(store):
    job, _ = _job_in(store, JobStatus.PUBLISHED)
    with pytest.raises(TransitionRefused) as refused:
        lifecycle.approved(store, job.id)
    assert str(refused.value) == f"job {job.id} is published; it cannot be approved"


def test_the_last_crash_and_the_give_up_are_one_transaction(store):
    """Defect: a job got 4 attempts with max 3 when its worker died right after recording the
    third crash. Now the third crash marks the job dead itself; a redelivered message finds
    nothing to run."""
    job = lifecycle.submitted(store, Job(id=new_job_id(), plan=["a"]))
    for attempt in (1, 2, 3):
        start = lifecycle.stage_started(store, job.id, "a", POLICY, worker="w")
        assert start.run.attempt == attempt
        crash = lifecycle.stage_crashed(store, job.id, "a", "internal error in a (trace id x)", POLICY, run_id=start.run.id)
        assert crash.attempt == attempt and crash.retry == (attempt < 3)
    dead = store.require(job.id)
    assert dead.status == JobStatus.DEAD
    assert dead.error == "internal error in a (trace id x) (gave up after 3 attempts)"
    assert lifecycle.stage_started(store, job.id, "a", POLICY) is None  # the redelivered message
    assert len(store.runs(job.id)) == 3


def test_a_worker_that_died_does_not_use_up_the_jobs_attempts(store):
    """Runs ended as interrupted (the worker process was killed: a deploy, a lost machine) are
    not the stage's fault; the crashes that count end as errors (its own process died)."""
    job = lifecycle.submitted(store, Job(id=new_job_id(), plan=["a"]))
    for _ in range(3):
        run = lifecycle.stage_started(store, job.id, "a", POLICY, worker="w").run
        lifecycle.interrupted(store, job.id, "the process running a stopped", run_id=run.id)
    start = lifecycle.stage_started(store, job.id, "a", POLICY, worker="w")
    assert start is not None and start.run.attempt == 4 and store.require(job.id).status == JobStatus.RUNNING


def test_a_retry_by_request_starts_a_fresh_budget_at_the_stage_that_stopped(store):
    job = lifecycle.submitted(store, Job(id=new_job_id(), plan=["a", "b"]))
    run = lifecycle.stage_started(store, job.id, "a", POLICY).run
    lifecycle.stage_done(store, run, files={}, values={})
    for _ in range(3):
        run = lifecycle.stage_started(store, job.id, "b", POLICY).run
        lifecycle.stage_crashed(store, job.id, "b", "internal error in b", POLICY, run_id=run.id)
    assert store.require(job.id).status == JobStatus.DEAD
    again = lifecycle.retried(store, job.id)
    assert (again.status, again.next_stage, again.error) == (JobStatus.QUEUED, "b", None)
    assert lifecycle.stage_started(store, job.id, "b", POLICY).run.attempt == 4  # numbered from the database


def test_a_job_that_failed_at_submit_cannot_be_retried(store):
    job = lifecycle.submitted(store, Job(id=new_job_id(), plan=["a"]), problem="The photo is not an image.")
    with pytest.raises(TransitionRefused, match="failed before any stage ran"):
        lifecycle.retried(store, job.id)


def test_cancelling_drops_the_result_of_a_stage_still_running(store):
    job = lifecycle.submitted(store, Job(id=new_job_id(), plan=["a", "b"]))
    run = lifecycle.stage_started(store, job.id, "a", POLICY).run
    lifecycle.cancelled(store, job.id, by="ed")
    assert lifecycle.stage_done(store, run, files={"video": "x.mp4"}, values={}) is None
    after = store.require(job.id)
    assert after.status == JobStatus.CANCELLED and "video" not in after.files and after.error == "cancelled by ed"


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_runs_of_dead_workers_end_as_interrupted_and_silent_workers_are_forgotten(store):
    """Defects: after a worker was SIGKILLed its run stayed "running" forever, and dead workers
    stayed listed forever."""
    host = socket.gethostname()
    policy = StagePolicy(worker_silent_seconds=60, worker_forget_seconds=3600)
    dead_here = f"{host}:{_dead_pid()}:render"
    alive_here = f"{host}:{os.getpid()}:render"
    silent_elsewhere, beating_elsewhere = "far-host:7:render", "near-host:8:render"
    store.heartbeat(WorkerBeat(id=beating_elsewhere, hostname="near-host", stages=["render"]))
    store.heartbeat(WorkerBeat(id=silent_elsewhere, hostname="far-host", stages=["render"]))
    store.heartbeat(WorkerBeat(id="old-host:9:render", hostname="old-host", stages=["render"]))
    with store.session() as session:  # their last heartbeats: 5 minutes and 2 hours ago
        for worker_id, age in ((silent_elsewhere, timedelta(minutes=5)), ("old-host:9:render", timedelta(hours=2))):
            beat = session.get(WorkerBeat, worker_id)
            beat.last_seen = utcnow() - age
            session.add(beat)
        session.commit()
    jobs = {}
    for worker in (dead_here, alive_here, silent_elsewhere, beating_elsewhere):
        job = lifecycle.submitted(store, Job(id=new_job_id(), plan=["render"]))
        lifecycle.stage_started(store, job.id, "render", policy, worker=worker)
        jobs[worker] = job.id

    interrupted = lifecycle.interrupt_runs_of_dead_workers(store, policy)

    assert sorted(interrupted) == sorted([jobs[dead_here], jobs[silent_elsewhere]])
    for worker, job_id in jobs.items():
        status = store.require(job_id).status
        run = store.runs(job_id)[0]
        if worker in (dead_here, silent_elsewhere):
            assert status == JobStatus.INTERRUPTED and run.status == "interrupted" and run.finished_at is not None
            assert worker in store.require(job_id).error
        else:
            assert status == JobStatus.RUNNING and run.status == "running"
    assert sorted(b.id for b in store.workers()) == sorted([beating_elsewhere, silent_elsewhere])
