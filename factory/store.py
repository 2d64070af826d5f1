"""The job store: the source of truth for every job, in SQLite (default) or PostgreSQL.

The core's tables, created and upgraded by Alembic migrations (``factory/migrations``):

* ``jobs``        one row per video: status, plan, where in the plan it is, params, the names of
                  its artifacts (content hashes) and small JSON values, the error or review reason;
* ``stage_runs``  one row per stage attempt: start, end, seconds, attempt, cache hit, error;
* ``stage_cache`` finished stage outputs by cache key, so identical work is reused;
* ``workers``     heartbeats of queue workers (distributed mode).

Other modules keep their own tables beside these: ``factory.outbox`` (messages that leave the
system), ``factory.identity`` (users, sessions, API tokens), ``factory.schedules``.

This module reads and stores rows; every change of a job's state is made by ``factory.lifecycle``
in one transaction with the job row locked (``locked``: ``SELECT ... FOR UPDATE`` on PostgreSQL).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, Session, SQLModel, create_engine, select


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def as_utc(moment: datetime) -> datetime:
    """SQLite gives naive datetimes (stored as UTC), PostgreSQL aware ones: compare in UTC."""
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


class JobStatus:
    """A job's states; ``factory.lifecycle`` holds every allowed change between them."""

    QUEUED = "queued"  # waiting for its next stage
    RUNNING = "running"  # a stage is running now
    INTERRUPTED = "interrupted"  # the process running it died: resume it (or RabbitMQ redelivers)
    NEEDS_REVIEW = "needs_review"  # held for an editor (grounding, blocked terms, QA)
    FAILED = "failed"  # bad input or rejected in review: the error says what to fix
    DEAD = "dead"  # gave up after repeated crashes
    CANCELLED = "cancelled"  # stopped by a person
    PUBLISHED = "published"  # done

    ALL = (QUEUED, RUNNING, INTERRUPTED, NEEDS_REVIEW, FAILED, DEAD, CANCELLED, PUBLISHED)
    FINAL = frozenset({NEEDS_REVIEW, FAILED, DEAD, CANCELLED, PUBLISHED})
    """Nothing runs until a person acts (or never again)."""


class RunStatus:
    """A stage run's states."""

    RUNNING = "running"
    DONE = "done"
    CACHED = "cached"  # done by reusing an identical earlier result
    FAILED = "failed"  # the stage refused the input (StageError)
    REVIEW = "review"  # the stage held the job for an editor
    RERUN = "rerun"  # the stage sent the job back to an earlier stage
    ERROR = "error"  # crashed: internal error, time limit, killed process
    INTERRUPTED = "interrupted"  # its process died or was stopped before it finished
    RETRIED = "retried"  # not a run: marks where a person asked to try again

    CRASHES = frozenset({ERROR})
    """What the retry budget counts. A run interrupted because the worker process itself died
    (a deploy, a lost machine) is not the stage's fault: the stage runs in its own process, so
    what a job can crash is that process, which ends as an error."""


class Job(SQLModel, table=True):
    __tablename__ = "jobs"

    id: str = Field(primary_key=True, max_length=32)
    status: str = Field(default=JobStatus.QUEUED, index=True, max_length=20)
    plan: list[str] = Field(sa_column=Column(JSON, nullable=False))
    next_stage: str | None = Field(default=None, max_length=32)
    """The stage to run next; None once the plan is done or the job stopped."""
    params: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    files: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    """Artifact name -> artifact id (content hash + suffix) in the artifact store."""
    values: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    error: str | None = None
    review: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    priority: int = Field(default=0)
    batch: str | None = Field(default=None, index=True, max_length=64)
    trace_id: str = Field(default_factory=lambda: uuid.uuid4().hex, max_length=32)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    published_at: datetime | None = None
    created_by: str | None = Field(default=None, max_length=128)
    """Who submitted it: a user name, ``token:<name>``, or a schedule."""
    decided_by: str | None = Field(default=None, max_length=128)
    """Who last approved, rejected, cancelled or retried it."""
    callback_url: str | None = Field(default=None, max_length=2000)
    """Where its webhooks go (else its API token's default)."""
    token_id: str | None = Field(default=None, max_length=32)
    """The API token it was submitted with (its webhook secret signs the job's webhooks)."""


class StageRun(SQLModel, table=True):
    __tablename__ = "stage_runs"

    id: int | None = Field(default=None, primary_key=True)
    job_id: str = Field(foreign_key="jobs.id", index=True, max_length=32)
    stage: str = Field(max_length=32)
    attempt: int = 1
    status: str = Field(default="running", max_length=20)
    """One of ``RunStatus``."""
    started_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None
    seconds: float | None = None
    cache_key: str | None = Field(default=None, max_length=64)
    error: str | None = None
    worker: str | None = Field(default=None, max_length=128)


class CacheEntry(SQLModel, table=True):
    __tablename__ = "stage_cache"

    key: str = Field(primary_key=True, max_length=64)
    stage: str = Field(max_length=32)
    files: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    values: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


class WorkerBeat(SQLModel, table=True):
    __tablename__ = "workers"

    id: str = Field(primary_key=True, max_length=128)
    hostname: str = Field(max_length=255)
    stages: list[str] = Field(sa_column=Column(JSON, nullable=False))
    started_at: datetime = Field(default_factory=utcnow)
    last_seen: datetime = Field(default_factory=utcnow)
    current_job: str | None = Field(default=None, max_length=32)
    current_stage: str | None = Field(default=None, max_length=32)
    current_since: datetime | None = None


def new_job_id() -> str:
    return uuid.uuid4().hex[:12]


class JobStore:
    """Small, explicit operations on jobs; each opens its own short transaction."""

    def __init__(self, url: str, migrate: bool = True):
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url[len("postgresql://") :]
        connect_args = {"timeout": 30} if url.startswith("sqlite") else {}
        self.engine = create_engine(url, pool_pre_ping=True, connect_args=connect_args)
        if migrate:
            from factory.migrations import upgrade

            upgrade(self.engine)

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    # --- jobs ------------------------------------------------------------------------------
    def get(self, job_id: str) -> Job | None:
        with self.session() as s:
            return s.get(Job, job_id)

    def require(self, job_id: str) -> Job:
        job = self.get(job_id)
        if job is None:
            raise KeyError(f"no job with id {job_id!r}")
        return job

    def list(self, limit: int = 50, status: str | None = None, batch: str | None = None) -> list[Job]:
        with self.session() as s:
            q = select(Job).order_by(Job.created_at.desc()).limit(limit)
            if status:
                q = q.where(Job.status == status)
            if batch:
                q = q.where(Job.batch == batch)
            return list(s.exec(q))

    def locked(self, job_id: str) -> _LockedJob:
        return _LockedJob(self, job_id)

    # --- stage runs ------------------------------------------------------------------------
    def runs(self, job_id: str) -> list[StageRun]:
        with self.session() as s:
            return list(s.exec(select(StageRun).where(StageRun.job_id == job_id).order_by(StageRun.id)))

    # --- cache -----------------------------------------------------------------------------
    def cached(self, key: str) -> CacheEntry | None:
        with self.session() as s:
            return s.get(CacheEntry, key)

    def remember(self, key: str, stage: str, files: dict[str, str], values: dict[str, Any]) -> None:
        with self.session() as s:
            s.merge(CacheEntry(key=key, stage=stage, files=files, values=values))
            s.commit()

    # --- workers ---------------------------------------------------------------------------
    def heartbeat(self, beat: WorkerBeat) -> None:
        with self.session() as s:
            beat.last_seen = utcnow()
            s.merge(beat)
            s.commit()

    def workers(self) -> list[WorkerBeat]:
        with self.session() as s:
            return list(s.exec(select(WorkerBeat).order_by(WorkerBeat.id)))


class _LockedJob:
    """``with store.locked(job_id) as (session, job):`` — the job row locked until commit."""

    def __init__(self, store: JobStore, job_id: str):
        self.store, self.job_id = store, job_id

    def __enter__(self) -> tuple[Session, Job]:
        self.session = self.store.session()
        job = self.session.exec(select(Job).where(Job.id == self.job_id).with_for_update()).first()
        if job is None:
            self.session.close()
            raise KeyError(f"no job with id {self.job_id!r}")
        return self.session, job

    def __exit__(self, *exc) -> None:
        self.session.close()
