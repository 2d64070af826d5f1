"""A job's life: its states, its stage runs' states, and every allowed change as a named function.

Every driver — the in-process dispatcher, the RabbitMQ worker, the CLI, the HTTP API, the
console — changes a job only through the functions below. Each is one transaction with the job
row locked (``SELECT ... FOR UPDATE`` on PostgreSQL), so two workers that got the same message,
or an editor who cancels while a worker finishes, cannot both win.

    submitted ──▶ queued ──stage_started──▶ running ──stage_done──▶ queued (next stage) … published
                    ▲                         │ stage_failed ─▶ failed      (the editor's reason)
                    │                         │ held_for_review ─▶ needs_review ─approved─▶ queued
                    │                         │                               └rejected─▶ failed
                    ├──── stage_crashed ──────┤ (retry per policy) … or dead after the last attempt
                    ├──── sent_back ──────────┤ (QA asks for a re-render)
                    └──── resumed ◀─ interrupted ◀─ (the process running it died)
    cancelled: from any state that is not over; retried: failed or dead ─▶ queued.

Two kinds of refusal:
* stage events (``stage_started``, ``stage_done``, ...) arrive from workers, and a redelivered or
  stale message is normal: they return ``None`` / leave the job as it is, never raise;
* an editor's or an integration's request (approve, reject, cancel, resume, retry) that does not
  fit the job's state raises ``TransitionRefused`` with a sentence to show them.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, delete, select

from factory import outbox
from factory.policy import StagePolicy
from factory.store import Job, JobStatus, JobStore, RunStatus, StageRun, WorkerBeat, as_utc, utcnow

log = logging.getLogger(__name__)

S = JobStatus

# For each event, the job states it may start from. The stage events also need the message's
# stage to be the job's next stage; see each function.
ALLOWED_FROM: dict[str, frozenset[str]] = {
    "stage_started": frozenset({S.QUEUED, S.RUNNING, S.INTERRUPTED}),
    "stage_done": frozenset({S.QUEUED, S.RUNNING, S.INTERRUPTED}),
    "stage_failed": frozenset({S.RUNNING}),
    "stage_crashed": frozenset({S.QUEUED, S.RUNNING, S.INTERRUPTED}),
    "held_for_review": frozenset({S.RUNNING}),
    "sent_back": frozenset({S.RUNNING}),
    "interrupted": frozenset({S.RUNNING}),
    "approved": frozenset({S.NEEDS_REVIEW}),
    "rejected": frozenset({S.NEEDS_REVIEW}),
    "cancelled": frozenset({S.QUEUED, S.RUNNING, S.INTERRUPTED, S.NEEDS_REVIEW}),
    "resumed": frozenset({S.INTERRUPTED, S.QUEUED}),
    "not_dispatched": frozenset({S.QUEUED}),
    "retried": frozenset({S.FAILED, S.DEAD}),
}

class TransitionRefused(ValueError):
    """An editor's request that the job's state does not allow; the message says why."""


# --- identity of the process that runs a stage ------------------------------------------------

def worker_identity(role: str) -> str:
    """``host:pid:role``: how stage runs and heartbeats name the process that runs them, so a
    process on this host that no longer exists is known dead at once."""
    return f"{socket.gethostname()}:{os.getpid()}:{role}"[:128]


# --- a job comes in ---------------------------------------------------------------------------

def submitted(jobs: JobStore, job: Job, problem: str | None = None) -> Job:
    """Record a new job: queued for its first stage, or failed at once when its input is
    plainly unusable (``problem``, a sentence for the editor)."""
    job.status = S.QUEUED if problem is None else S.FAILED
    job.next_stage = job.plan[0] if problem is None else None
    job.error = f"submit: {problem}" if problem else None
    with jobs.session() as session:
        session.add(job)
        _announce(session, job, S.QUEUED)
        session.commit()
    return job


# --- stage events (from the in-process dispatcher or a queue worker) --------------------------

@dataclass
class StageStart:
    job: Job
    """The job as it was when the stage started (its params, files, values)."""
    run: StageRun


def stage_started(jobs: JobStore, job_id: str, stage: str, policy: StagePolicy,
                  worker: str | None = None) -> StageStart | None:
    """Open the next attempt of ``stage`` and mark the job running; ``None`` when the message
    is stale (the job is elsewhere or over, or a live process is running this stage already) or
    the stage has used up its attempts (the job is then dead). A run still open whose process is
    known dead (its message came back) is closed as interrupted."""
    with jobs.locked(job_id) as (session, job):
        if job.status not in ALLOWED_FROM["stage_started"] or job.next_stage != stage:
            return None
        runs = _stage_runs(session, job_id, stage)  # one query: open runs, crash streak and attempt number
        open_runs = [run for run in runs if run.finished_at is None]
        now = utcnow()
        if any(not _is_dead(run.worker, session.get(WorkerBeat, run.worker), run, policy, now)
               for run in open_runs if run.worker):
            return None  # a live process runs it: this is a duplicate message
        for run in open_runs:
            _close_run(run, RunStatus.INTERRUPTED, f"the process running {stage} stopped ({run.worker})")
            session.add(run)
        crashes = _streak(runs)
        if policy.gives_up_after(crashes):
            was = job.status
            _give_up(job, stage, crashes, job.error or f"{stage} kept stopping")
            session.add(job)
            _announce(session, job, was)
            session.commit()
            return None
        run = StageRun(job_id=job_id, stage=stage, attempt=_attempts(runs) + 1, worker=worker)
        job.status, job.error, job.updated_at = S.RUNNING, None, utcnow()
        session.add(job)
        session.add(run)
        session.commit()
        session.refresh(run)
        return StageStart(job=job, run=run)


def stage_done(jobs: JobStore, run: StageRun, *, files: dict[str, str], values: dict[str, Any],
               cached: bool = False, cache_key: str | None = None) -> str | None:
    """Record a finished stage and move the job to its next stage, or publish it when the plan
    is done. If another run of the same stage finished first, or the job was cancelled
    meanwhile, the job keeps its state. Returns the job's next stage (None: nothing to run)."""
    with jobs.locked(run.job_id) as (session, job):
        row = _close_run(session.get(StageRun, run.id), RunStatus.CACHED if cached else RunStatus.DONE, None, cache_key)
        session.add(row)
        if job.status in ALLOWED_FROM["stage_done"] and job.next_stage == run.stage:
            was = job.status
            job.files = {**job.files, **files}
            job.values = merged_values(job.values, values)
            job.next_stage = following_stage(job, run.stage)
            job.status = S.QUEUED if job.next_stage else S.PUBLISHED
            if job.next_stage is None:
                job.published_at = utcnow()
            job.updated_at = utcnow()
            session.add(job)
            _announce(session, job, was)
        session.commit()
        return job.next_stage if job.status not in S.FINAL else None


def stage_failed(jobs: JobStore, run: StageRun, reason: str, cache_key: str | None = None) -> None:
    """The stage refused the job's input (``StageError``): the job fails with the editor's reason."""
    with jobs.locked(run.job_id) as (session, job):
        session.add(_close_run(session.get(StageRun, run.id), RunStatus.FAILED, reason, cache_key))
        if job.status in ALLOWED_FROM["stage_failed"] and job.next_stage == run.stage:
            job.status, job.next_stage, job.error, job.updated_at = S.FAILED, None, f"{run.stage}: {reason}", utcnow()
            session.add(job)
            _announce(session, job, S.RUNNING)
        session.commit()


def held_for_review(jobs: JobStore, run: StageRun, reason: str, review: dict[str, Any], *,
                    files: dict[str, str], values: dict[str, Any], cache_key: str | None = None) -> None:
    """Hold the job for an editor, keeping what the stage produced (a narration to check, the
    QA report). ``review["resume_at"]`` says where approval goes on."""
    with jobs.locked(run.job_id) as (session, job):
        session.add(_close_run(session.get(StageRun, run.id), RunStatus.REVIEW, reason, cache_key))
        if job.status in ALLOWED_FROM["held_for_review"] and job.next_stage == run.stage:
            job.files, job.values = {**job.files, **files}, merged_values(job.values, values)
            job.status, job.next_stage = S.NEEDS_REVIEW, None
            job.error, job.review, job.updated_at = f"{run.stage}: {reason}", review, utcnow()
            session.add(job)
            _announce(session, job, S.RUNNING)
        session.commit()


def sent_back(jobs: JobStore, run: StageRun, to_stage: str, reason: str, params: dict[str, Any], *,
              files: dict[str, str], values: dict[str, Any], cache_key: str | None = None) -> str | None:
    """Send the job back to an earlier stage with changed parameters (QA asks for a re-render
    with a new seed), keeping what this stage produced. Returns the stage to run next."""
    with jobs.locked(run.job_id) as (session, job):
        session.add(_close_run(session.get(StageRun, run.id), RunStatus.RERUN, reason, cache_key))
        if job.status not in ALLOWED_FROM["sent_back"] or job.next_stage != run.stage:
            session.commit()
            return None
        job.files, job.values = {**job.files, **files}, merged_values(job.values, values)
        job.params = {**job.params, **params}
        job.status, job.next_stage, job.updated_at = S.QUEUED, to_stage, utcnow()
        session.add(job)
        session.commit()
        return to_stage


@dataclass
class Crash:
    """What the policy decided after a crash."""

    attempt: int
    """How many times in a row the stage has now crashed (from the database)."""
    retry: bool
    delay: float
    """Seconds to wait before the next attempt (when ``retry``)."""


def stage_crashed(jobs: JobStore, job_id: str, stage: str, reason: str, policy: StagePolicy, *,
                  detail: str = "", run_id: int | None = None) -> Crash:
    """A run ended without a verdict: an internal error, its time limit, its process killed.
    Closes the run (``run_id``, else the stage's open runs), counts the crashes in a row from
    the database and, in the same transaction, either puts the job back in the queue or — after
    ``policy.max_attempts`` — marks it dead with the reason. ``reason`` is shown to editors and
    names no Python class; ``detail`` (a traceback) is kept on the run for developers."""
    with jobs.locked(job_id) as (session, job):
        runs = [session.get(StageRun, run_id)] if run_id is not None else _open_runs(session, job_id, stage)
        closed = [run for run in runs if run is not None and run.finished_at is None]
        stage_runs = _stage_runs(session, job_id, stage)
        if not closed and job.next_stage == stage:  # it crashed before its run was opened (its process did not start)
            closed = [StageRun(job_id=job_id, stage=stage, attempt=_attempts(stage_runs) + 1)]
            stage_runs.append(closed[0])
        for run in closed:
            session.add(_close_run(run, RunStatus.ERROR, reason + (f"\n{detail}" if detail else "")))
        crashes = _streak(stage_runs)
        ours = job.status in ALLOWED_FROM["stage_crashed"] and job.next_stage == stage
        retry = ours and not policy.gives_up_after(crashes)
        if ours:
            was = job.status
            if retry:
                job.status, job.error = S.QUEUED, None
            else:
                _give_up(job, stage, crashes, reason)
            job.updated_at = utcnow()
            session.add(job)
            _announce(session, job, was)
        session.commit()
        return Crash(attempt=crashes, retry=retry, delay=policy.retry_delay(crashes) if retry else 0.0)


def interrupted(jobs: JobStore, job_id: str, reason: str, *, run_id: int | None = None) -> None:
    """The process running the job's stage is gone (killed, stopped, its machine lost). The run
    ends as interrupted; the job waits to be resumed (``factory jobs resume``, the console), or
    for the stage's message, which RabbitMQ delivers again."""
    with jobs.locked(job_id) as (session, job):
        runs = [session.get(StageRun, run_id)] if run_id is not None else _open_runs(session, job_id)
        closed = [run for run in runs if run is not None and run.finished_at is None]
        for run in closed:
            session.add(_close_run(run, RunStatus.INTERRUPTED, reason))
        if job.status in ALLOWED_FROM["interrupted"] and any(run.stage == job.next_stage for run in closed):
            job.status, job.error, job.updated_at = S.INTERRUPTED, f"{job.next_stage}: {reason}", utcnow()
            session.add(job)
        session.commit()


def not_dispatched(jobs: JobStore, job_id: str, reason: str) -> Job:
    """The job could not be handed to anyone to run (the message broker is unreachable): it
    fails visibly instead of sitting queued unseen."""
    with jobs.locked(job_id) as (session, job):
        if job.status in ALLOWED_FROM["not_dispatched"]:
            job.status, job.next_stage, job.error, job.updated_at = S.FAILED, None, reason, utcnow()
            session.add(job)
            _announce(session, job, S.QUEUED)
            session.commit()
        return job


# --- requests from editors and integrations ---------------------------------------------------

def approved(jobs: JobStore, job_id: str, by: str | None = None) -> Job:
    """Release a job held for review: it goes on after the stage that held it as if that stage
    had passed (or is published at once when nothing is left)."""
    with jobs.locked(job_id) as (session, job):
        _require(job, "approved")
        review = job.review or {}
        job.next_stage = review.get("resume_at") or following_stage(job, review.get("stage", job.plan[0]))
        job.status = S.QUEUED if job.next_stage else S.PUBLISHED
        if job.next_stage is None:
            job.published_at = utcnow()
        job.review = {**review, "decision": "approved", "by": by}
        job.values = {**job.values, "approved": True}  # the publish stage's approval check
        job.error, job.updated_at, job.decided_by = None, utcnow(), by
        session.add(job)
        _announce(session, job, S.NEEDS_REVIEW)
        session.commit()
        return job


def rejected(jobs: JobStore, job_id: str, note: str, by: str | None = None) -> Job:
    with jobs.locked(job_id) as (session, job):
        _require(job, "rejected")
        job.status, job.next_stage = S.FAILED, None
        job.error = f"rejected in review: {note}"
        job.review = {**(job.review or {}), "decision": "rejected", "reason": note, "by": by}
        job.updated_at, job.decided_by = utcnow(), by
        session.add(job)
        _announce(session, job, S.NEEDS_REVIEW)
        session.commit()
        return job


def cancelled(jobs: JobStore, job_id: str, by: str | None = None) -> Job:
    """Stop a job that is not over. A stage already running finishes, but its result is
    dropped (``stage_done`` leaves a cancelled job as it is)."""
    with jobs.locked(job_id) as (session, job):
        _require(job, "cancelled")
        job.status, job.next_stage = S.CANCELLED, None
        job.error = "cancelled" + (f" by {by}" if by else "")
        job.updated_at, job.decided_by = utcnow(), by
        session.add(job)
        _announce(session, job, S.QUEUED)
        session.commit()
        return job


def resumed(jobs: JobStore, job_id: str, by: str | None = None) -> Job:
    """Queue an interrupted job again at the stage it was running (a queued job stays queued:
    the caller dispatches it again, which is harmless if it was never lost)."""
    with jobs.locked(job_id) as (session, job):
        _require(job, "resumed")
        job.status, job.error, job.updated_at = S.QUEUED, None, utcnow()
        job.decided_by = by or job.decided_by
        session.add(job)
        session.commit()
        return job


def retried(jobs: JobStore, job_id: str, by: str | None = None) -> Job:
    """Run a failed or dead job again from the stage that stopped it, with a fresh attempt budget
    (the crashes before count no more: a retry run ends the streak)."""
    with jobs.locked(job_id) as (session, job):
        _require(job, "retried")
        stopped_at = _last_stage_run(session, job_id)
        if stopped_at is None:  # failed at submit: the input itself is unusable
            raise TransitionRefused(f"job {job_id} failed before any stage ran ({job.error}); submit it again with other input")
        session.add(StageRun(job_id=job_id, stage=stopped_at, attempt=0, status=RunStatus.RETRIED,
                             finished_at=utcnow(), seconds=0.0, error="retried by request"))
        job.status, job.next_stage, job.error, job.updated_at = S.QUEUED, stopped_at, None, utcnow()
        job.decided_by = by or job.decided_by
        session.add(job)
        session.commit()
        return job


def published_to(jobs: JobStore, job_id: str, target: str, url: str) -> None:
    """A publishing target holds the job's video at ``url``: kept in ``values["published_to"]``
    (target name -> URL). The job's state does not change."""
    with jobs.locked(job_id) as (session, job):
        job.values = {**job.values, "published_to": {**job.values.get("published_to", {}), target: url}}
        session.add(job)
        session.commit()


# --- processes that died ----------------------------------------------------------------------

def interrupt_runs_of_dead_workers(jobs: JobStore, policy: StagePolicy, now: datetime | None = None) -> list[str]:
    """End the open stage runs of processes known dead (on this host: their pid is gone;
    elsewhere: no heartbeat for ``worker_silent_seconds``) as interrupted, and forget workers
    silent for ``worker_forget_seconds``. Returns the ids of the jobs interrupted. Safe to call
    from any process at any time: a live worker's runs are never touched."""
    now = now or utcnow()
    with jobs.session() as session:
        beats = {b.id: b for b in session.exec(select(WorkerBeat))}
        open_runs = list(session.exec(select(StageRun).where(StageRun.finished_at.is_(None))))
        forget_before = now - timedelta(seconds=policy.worker_forget_seconds)
        session.exec(delete(WorkerBeat).where(WorkerBeat.last_seen < forget_before))
        session.commit()
    touched = []
    for run in open_runs:
        if run.worker and _is_dead(run.worker, beats.get(run.worker), run, policy, now):
            interrupted(jobs, run.job_id, f"the process running {run.stage} stopped ({run.worker})", run_id=run.id)
            touched.append(run.job_id)
    return touched


def _is_dead(worker: str, beat: WorkerBeat | None, run: StageRun, policy: StagePolicy, now: datetime) -> bool:
    host, _, rest = worker.partition(":")
    pid_text = rest.partition(":")[0]
    if host == socket.gethostname() and pid_text.isdigit():
        return not pid_alive(int(pid_text))
    silent_since = as_utc(beat.last_seen) if beat is not None else as_utc(run.started_at)
    return (now - silent_since).total_seconds() > policy.worker_silent_seconds


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True


# --- the rules' building blocks ---------------------------------------------------------------

def following_stage(job: Job, stage_name: str) -> str | None:
    index = job.plan.index(stage_name)
    return job.plan[index + 1] if index + 1 < len(job.plan) else None


def merged_values(current: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """A stage's values added to the job's. ``models`` (which weights made the job, with their
    licences) accumulates by role instead of being replaced: each stage adds its own."""
    merged = {**current, **new}
    if "models" in new:
        by_role = {m.get("role"): m for m in current.get("models", [])}
        by_role.update({m.get("role"): m for m in new["models"]})
        merged["models"] = list(by_role.values())
    return merged


def _announce(session: Session, job: Job, was: str) -> None:
    """Queue what leaves the system because the job reached a state people hear about
    (webhooks, publishing targets, e-mail) in the transaction that made the change."""
    event = outbox.event_for_status(job.status)
    if event and job.status != was:
        outbox.job_event(session, job, event)


def _require(job: Job, event: str) -> None:
    if job.status not in ALLOWED_FROM[event]:
        raise TransitionRefused(f"job {job.id} is {job.status.replace('_', ' ')}; it cannot be {event}")


def _give_up(job: Job, stage: str, crashes: int, reason: str) -> None:
    job.status, job.next_stage = S.DEAD, None
    job.error = f"{reason} (gave up after {crashes} attempts)"


def _close_run(run: StageRun, status: str, error: str | None, cache_key: str | None = None) -> StageRun:
    run.status, run.error, run.finished_at = status, error, utcnow()
    if cache_key is not None:
        run.cache_key = cache_key
    run.seconds = (as_utc(run.finished_at) - as_utc(run.started_at)).total_seconds()
    return run


def _open_runs(session: Session, job_id: str, stage: str | None = None) -> list[StageRun]:
    query = select(StageRun).where(StageRun.job_id == job_id, StageRun.finished_at.is_(None))
    return list(session.exec(query.where(StageRun.stage == stage) if stage else query))


def _stage_runs(session: Session, job_id: str, stage: str) -> list[StageRun]:
    return list(session.exec(select(StageRun).where(StageRun.job_id == job_id, StageRun.stage == stage).order_by(StageRun.id)))


def _streak(runs: list[StageRun]) -> int:
    """Crashes since the stage last ended any other way (finished, sent back, retried by
    request): what ``policy.max_attempts`` limits."""
    streak = 0
    for run in runs:
        streak = streak + 1 if run.status in RunStatus.CRASHES else 0
    return streak


def _attempts(runs: list[StageRun]) -> int:
    """Runs of the stage so far (the markers of a retry by request are not runs)."""
    return sum(1 for run in runs if run.status != RunStatus.RETRIED)


def _last_stage_run(session: Session, job_id: str) -> str | None:
    run = session.exec(select(StageRun).where(StageRun.job_id == job_id).order_by(StageRun.id.desc())).first()
    return run.stage if run else None
