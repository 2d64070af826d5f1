"""The same lifecycle, retry and time-limit rules in both run modes, driven with small real
stages (tests/test_queues_stages.py): a re-render, a review and its approval, a cancel, an
interrupted job resumed, stale messages, a stage past its time limit, a stage that keeps crashing.

Embedded: one ``JobService`` runs the stages in its own stage process. Distributed: the service
publishes to the real RabbitMQ; ``factory worker`` subprocesses run the stages against the real
PostgreSQL and an S3 server.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import pytest

from conftest_services import amqp_url, distributed, queue_prefix, s3_endpoint  # noqa: F401  (fixtures)
from factory import lifecycle
from factory.policy import StagePolicy
from factory.store import Job, JobStatus, new_job_id

STAGES = ("digest1", "digest2", "rerunner", "reviewer", "sleepy", "flaky")
TIME_LIMITS = "sleepy=3"


@dataclass
class Mode:
    name: str
    settings: object
    kill_runner: Callable[[], None]
    """Kill whatever runs the stages, as a machine dying would (SIGKILL)."""
    start_runner: Callable[[], None]
    services: list = field(default_factory=list)

    def service(self):
        from factory.service import JobService

        service = JobService(self.settings)
        self.services.append(service)
        return service


@pytest.fixture(params=["embedded", "distributed"])
def mode(request, tmp_path):
    from factory import stages
    from factory.settings import Settings
    from test_queues_stages import EXTRA_STAGES

    if request.param == "embedded":
        stages.STAGE_MODULES.update(EXTRA_STAGES)
        settings = Settings.load(data_dir=tmp_path / "data", retry_delays="0.2", stage_time_limits=TIME_LIMITS)
        current = Mode("embedded", settings, kill_runner=lambda: None, start_runner=lambda: None)
        yield current
        for service in current.services:
            service.close()
        for name in EXTRA_STAGES:
            stages.STAGE_MODULES.pop(name, None)
        return

    bundle = request.getfixturevalue("distributed")
    env = {"FACTORY_STAGE_TIME_LIMITS": TIME_LIMITS}
    workers = [bundle.start_worker(*STAGES, concurrency=2, extra_env=env)]
    settings = bundle.settings
    settings.stage_time_limits = {**settings.stage_time_limits, "sleepy": 3.0}

    def kill_runner() -> None:
        bundle.kill(workers[-1])

    def start_runner() -> None:
        workers.append(bundle.start_worker(*STAGES, concurrency=2, extra_env=env))

    current = Mode("distributed", settings, kill_runner=kill_runner, start_runner=start_runner)
    yield current
    for service in current.services:
        service.close()


def _start(service, plan: list[str], params: dict | None = None) -> Job:
    """What ``JobService.submit`` does for a real job: record it, then dispatch it."""
    job = lifecycle.submitted(service.jobs, Job(id=new_job_id(), plan=plan, params=params or {}, values={"seed_text": "hi"}))
    service.dispatcher.dispatch(job)
    return job


def _runs(service, job_id: str) -> list[tuple[str, str]]:
    return [(r.stage, r.status) for r in service.runs(job_id)]


def _wait_for(predicate, timeout: float = 60.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_rerun_a_review_and_its_approval(mode):
    service = mode.service()
    job = _start(service, ["digest1", "rerunner", "reviewer", "digest2"])
    held = service.follow(job.id)
    assert held.status == JobStatus.NEEDS_REVIEW, held.error
    assert held.error == "reviewer: an editor must look at this" and held.review["resume_at"] == "digest2"
    assert held.params["round"] == 2 and held.values["reviewed_chain"] == held.values["chain"]
    assert _runs(service, job.id) == [("digest1", "done"), ("rerunner", "rerun"), ("digest1", "done"),
                                      ("rerunner", "done"), ("reviewer", "review")]
    with pytest.raises(lifecycle.TransitionRefused):
        service.retry(job.id)  # held, not failed: nothing to retry
    service.approve(job.id, by="editor")
    done = service.follow(job.id)
    assert done.status == JobStatus.PUBLISHED and done.review["by"] == "editor"
    assert _runs(service, job.id)[-1] == ("digest2", "done") and len(service.runs(job.id)) == 6


def test_a_cancelled_job_stays_cancelled_and_its_running_stage_result_is_dropped(mode):
    service = mode.service()
    job = _start(service, ["sleepy", "digest1"], {"sleep_seconds": 2})
    _wait_for(lambda: service.get(job.id).status == JobStatus.RUNNING, what="the stage to start")
    service.cancel(job.id, by="editor")
    assert service.follow(job.id).status == JobStatus.CANCELLED
    _wait_for(lambda: all(r.finished_at for r in service.runs(job.id)), timeout=30, what="the run to end")
    time.sleep(0.5)
    after = service.get(job.id)
    assert after.status == JobStatus.CANCELLED and after.error == "cancelled by editor"
    assert [stage for stage, _ in _runs(service, job.id)] == ["sleepy"]  # digest1 never ran


def test_an_interrupted_job_is_resumed_once_and_stale_messages_change_nothing(mode):
    """The process running a stage dies (SIGKILL). Its run ends as interrupted, not "running"
    for ever; the job is resumed at that stage with the attempt counted from the database; a
    duplicate message for it (the broker's redelivery beside the resume) runs nothing twice."""
    service = mode.service()
    job = _start(service, ["sleepy", "digest1"], {"hang_first_attempt": True})
    _wait_for(lambda: service.get(job.id).status == JobStatus.RUNNING, what="the stage to start")
    if mode.name == "embedded":
        service.close()  # as Ctrl-C in `factory make`: the stage process is stopped
        service = mode.service()
    else:
        mode.kill_runner()
        lifecycle.interrupt_runs_of_dead_workers(service.jobs, StagePolicy.from_settings(mode.settings))
    interrupted = service.get(job.id)
    assert interrupted.status == JobStatus.INTERRUPTED, interrupted.status
    assert _runs(service, job.id) == [("sleepy", "interrupted")]

    service.resume(job.id)  # distributed: beside the broker's redelivery of the killed worker's message
    mode.start_runner()
    done = service.follow(job.id)
    assert done.status == JobStatus.PUBLISHED, done.error
    assert done.values["slept_on_attempt"] == 2
    assert [(r.stage, r.attempt, r.status) for r in service.runs(job.id)] == [
        ("sleepy", 1, "interrupted"), ("sleepy", 2, "done"), ("digest1", 1, "done")]

    # Stale: the job is published; asking for one of its stages again runs nothing.
    from factory.runner import run_stage

    stale = run_stage(service.jobs, service.artifacts, mode.settings, job.id, "sleepy")
    assert stale.status == "skipped" and stale.next_stage is None
    if mode.name == "distributed":
        from queues.broker import enqueue_stage

        enqueue_stage(mode.settings, job.id, "digest1", trace_id=job.trace_id)
        time.sleep(2)
    assert len(service.runs(job.id)) == 3 and service.get(job.id).status == JobStatus.PUBLISHED


def test_a_stage_past_its_time_limit_is_stopped_and_retried(mode):
    service = mode.service()
    job = _start(service, ["sleepy"], {"hang_first_attempt": True})
    done = service.follow(job.id)
    assert done.status == JobStatus.PUBLISHED, done.error
    first, second = service.runs(job.id)
    assert (first.status, second.status) == ("error", "done")
    assert first.error.splitlines()[0] == "sleepy stopped at its time limit of 3 s"
    assert 2.5 < first.seconds < 30


def test_a_stage_that_keeps_crashing_gives_up_with_a_reason_for_people(mode):
    service = mode.service()
    job = _start(service, ["flaky", "digest1"], {"crashes": 10})
    dead = service.follow(job.id)
    assert dead.status == JobStatus.DEAD
    assert dead.error.startswith(f"internal error in flaky (trace id {dead.trace_id[:12]})")
    assert dead.error.endswith("(gave up after 3 attempts)") and "RuntimeError" not in dead.error
    runs = service.runs(job.id)
    assert [(r.attempt, r.status) for r in runs] == [(1, "error"), (2, "error"), (3, "error")]
    assert all(r.error.startswith("internal error in flaky") and "RuntimeError: flaky stage" in r.error for r in runs)

    service.retry(job.id)  # a person asks again: a fresh budget, still crashing
    assert service.follow(job.id).status == JobStatus.DEAD
    assert [r.attempt for r in service.runs(job.id) if r.status == "error"] == [1, 2, 3, 4, 5, 6]


def test_a_killed_embedded_process_leaves_a_job_that_factory_jobs_resume_finishes(tmp_path):
    """Defect: when `factory make` was killed mid-job the job stayed "running" for ever. The
    next `factory` command finds it interrupted, with the reason, and `factory jobs resume`
    goes on from the stage it had reached."""
    import os
    import signal
    import subprocess
    import sys

    from conftest_services import REPO
    from factory.settings import Settings
    from factory.store import JobStore
    from test_queues_stages import extra_stages_env

    env = {**{k: v for k, v in os.environ.items() if not k.startswith("FACTORY_")},
           "FACTORY_DATA_DIR": str(tmp_path / "data"), "FACTORY_EXTRA_STAGES": extra_stages_env(),
           "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests")])}
    job_id = "killedjob001"
    runner = ("from factory import lifecycle; from factory.service import JobService; from factory.store import Job\n"
              "service = JobService()\n"
              f"job = lifecycle.submitted(service.jobs, Job(id='{job_id}', plan=['sleepy', 'digest1'], params={{'hang_first_attempt': True}}))\n"
              "service.dispatcher.dispatch(job)\nservice.follow(job.id)\n")
    proc = subprocess.Popen([sys.executable, "-c", runner], cwd=REPO, env=env, start_new_session=True)
    (tmp_path / "data").mkdir(exist_ok=True)
    jobs = JobStore(Settings.load(data_dir=tmp_path / "data").resolved_database_url)
    _wait_for(lambda: (job := jobs.get(job_id)) is not None and job.status == JobStatus.RUNNING, what="the stage to start")
    os.killpg(proc.pid, signal.SIGKILL)  # the process and its stage process, as `kill -9` or a lost machine would
    proc.wait(10)

    def factory(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", "from factory.cli import main; main()", *args], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=120)

    listed = factory("jobs", "list")
    assert listed.returncode == 0 and "interrupted" in listed.stdout, listed.stdout + listed.stderr
    assert "sleepy: the process running sleepy stopped" in listed.stdout
    resumed = factory("jobs", "resume", job_id)
    assert resumed.returncode == 0, resumed.stderr
    assert jobs.require(job_id).status == JobStatus.PUBLISHED
    assert [(r.stage, r.attempt, r.status) for r in jobs.runs(job_id)] == [
        ("sleepy", 1, "interrupted"), ("sleepy", 2, "done"), ("digest1", 1, "done")]
