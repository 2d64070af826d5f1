"""Schedules as data: when to look at a source, and how its new items become videos.

A schedule says *when* (a cron expression in a time zone), *what from* (a source: a feed, a
topic list, a watched folder of policy documents, a product file; ``factory.sources``), *how*
(a template — topic brief, policy explainer or product pitch —, language, avatar (a library avatar's id or a photo's path), voice,
render parameters, review policy) and *where to* (publish targets, ``factory.targets``; an
e-mail address told once per run, ``factory.notify``).

Three tables (migration 0004):

* ``schedules``       one row per schedule, with when it runs next and its last error;
* ``schedule_runs``   one row per run: when, why (cron, retry, manual), the jobs it created;
* ``schedule_items``  one row per source item ever made, UNIQUE (schedule_id, item_key): the
                      database itself refuses to make an item twice, whichever scheduler tries.

The scheduler that turns due schedules into jobs is ``factory.scheduler``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel, select

from factory.payloads import NARRATION_LANGUAGES
from factory.sources import SOURCE_KINDS
from factory.store import JobStore, utcnow

TEMPLATES = ("topic", "policy", "product")
"""topic brief, policy explainer, product pitch (``prompts/templates``)."""

REVIEW_POLICIES = ("auto", "always")
"""auto: the factory's settings and checks decide; always: every video waits for an editor."""

DEFAULT_TEMPLATE = {"feed": "topic", "topics": "topic", "folder": "policy", "products": "product"}


class Schedule(SQLModel, table=True):
    __tablename__ = "schedules"

    id: str = Field(primary_key=True, max_length=32)
    name: str = Field(max_length=120, sa_column_kwargs={"unique": True})
    cron: str = Field(max_length=120)
    timezone: str = Field(default="UTC", max_length=64)
    source_kind: str = Field(max_length=16)
    source: str = Field(sa_column=Column(Text, nullable=False))
    template: str = Field(max_length=16)
    language: str = Field(default="en", max_length=8)
    avatar: str = Field(sa_column=Column(Text, nullable=False))
    """Path of the portrait photo (product rows may bring their own)."""
    voice: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    render_params: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    target_seconds: float | None = None
    review: str = Field(default="auto", max_length=16)
    publish_targets: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    notify_email: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    owner: str | None = Field(default=None, max_length=128)
    max_items_per_run: int = 5
    paused: bool = False
    next_run_at: datetime
    retry_at: datetime | None = None
    """Set after a run failed to read its source: the run is tried again then (back-off)."""
    failures: int = 0
    """Failed runs in a row."""
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    last_run_at: datetime | None = None
    version: int = 0
    """Bumped by the scheduler that claims a due run: two schedulers cannot both claim it."""
    created_at: datetime = Field(default_factory=utcnow)


class ScheduleRun(SQLModel, table=True):
    __tablename__ = "schedule_runs"

    id: int | None = Field(default=None, primary_key=True)
    schedule_id: str = Field(index=True, max_length=32)
    trigger: str = Field(max_length=16)
    """"cron", "retry" (after a failed run) or "manual" (``factory schedule run-now``)."""
    due_at: datetime | None = None
    started_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None
    status: str = Field(default="running", max_length=16)
    """"running", "done" or "failed" (the source could not be read)."""
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    items_seen: int = 0
    jobs: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    """Ids of the jobs this run created."""
    problems: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    """Items that could not become jobs, one sentence each."""
    batch: str = Field(default="", max_length=64)
    """The ``batch`` of its jobs (``run-<schedule id>-<run id>``)."""


class ScheduleItem(SQLModel, table=True):
    __tablename__ = "schedule_items"
    __table_args__ = (UniqueConstraint("schedule_id", "item_key", name="uq_schedule_items_key"),)

    id: int | None = Field(default=None, primary_key=True)
    schedule_id: str = Field(index=True, max_length=32)
    item_key: str = Field(max_length=512)
    title: str = Field(default="", sa_column=Column(Text, nullable=False))
    run_id: int | None = None
    job_id: str | None = Field(default=None, max_length=32)
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    claimed_at: datetime = Field(default_factory=utcnow)


@dataclass
class ScheduleSpec:
    """What an editor gives to create a schedule (``factory schedule add``, the API, the console)."""

    name: str
    cron: str
    source_kind: str
    source: str
    avatar: str
    timezone: str = "UTC"
    template: str | None = None
    """None: the source kind's usual template (feed/topics: topic, folder: policy, products: product)."""
    language: str = "en"
    voice: str | None = None
    render_params: dict[str, Any] = field(default_factory=dict)
    target_seconds: float | None = None
    review: str = "auto"
    publish_targets: list[dict[str, Any]] = field(default_factory=list)
    notify_email: str | None = None
    owner: str | None = None
    max_items_per_run: int = 5

    def check(self) -> None:
        """Raises ValueError with a sentence for anything the scheduler could not use."""
        from factory.job_params import build_job_params
        from factory.targets import check_targets

        if not self.name.strip():
            raise ValueError("Give the schedule a name.")
        next_fire(self.cron, self.timezone, utcnow())  # bad cron or time zone: its sentence
        if self.source_kind not in SOURCE_KINDS:
            raise ValueError(f"Unknown source kind {self.source_kind!r}: choose one of {', '.join(SOURCE_KINDS)}.")
        if not self.source.strip():
            raise ValueError("The schedule has no source: a feed URL, topics, a folder or a product file.")
        if (self.template or DEFAULT_TEMPLATE[self.source_kind]) not in TEMPLATES:
            raise ValueError(f"Unknown template {self.template!r}: choose one of {', '.join(TEMPLATES)}.")
        if self.language not in NARRATION_LANGUAGES:
            raise ValueError(f"Unsupported language {self.language!r}: choose one of {', '.join(NARRATION_LANGUAGES)}.")
        if self.review not in REVIEW_POLICIES:
            raise ValueError(f"Unknown review policy {self.review!r}: choose one of {', '.join(REVIEW_POLICIES)}.")
        if self.max_items_per_run < 1:
            raise ValueError("max_items_per_run must be at least 1.")
        build_job_params(self.render_params, language=self.language, voice=self.voice)
        check_targets(self.publish_targets)


def next_fire(cron: str, timezone: str, after: datetime) -> datetime:
    """The first time after ``after`` that ``cron`` fires in ``timezone`` (returned in UTC).
    Raises ValueError with a sentence for a bad expression or an unknown time zone."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from croniter import CroniterError, croniter

    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"Unknown time zone {timezone!r}; use a name such as UTC, Asia/Shanghai or Europe/Berlin.") from None
    if not croniter.is_valid(cron):
        raise ValueError(f"{cron!r} is not a cron expression; five fields, e.g. '0 8 * * 1-5' (08:00 on weekdays).")
    try:
        fire = croniter(cron, after.astimezone(zone)).get_next(datetime)
    except CroniterError as exc:
        raise ValueError(f"The cron expression {cron!r} never fires ({exc}).") from None
    return fire.astimezone(after.tzinfo or zone)


# --- reading and changing schedules ---------------------------------------------------------

def add_schedule(store: JobStore, spec: ScheduleSpec, now: datetime | None = None) -> Schedule:
    """Create a schedule; its first run is the cron's next time. Raises ValueError with a
    sentence for a bad field or a name already taken."""
    spec.check()
    now = now or utcnow()
    schedule = Schedule(
        id=uuid.uuid4().hex[:12], name=spec.name.strip(), cron=spec.cron.strip(), timezone=spec.timezone,
        source_kind=spec.source_kind, source=spec.source.strip(),
        template=spec.template or DEFAULT_TEMPLATE[spec.source_kind], language=spec.language,
        avatar=spec.avatar, voice=spec.voice, render_params=dict(spec.render_params),
        target_seconds=spec.target_seconds, review=spec.review, publish_targets=list(spec.publish_targets),
        notify_email=spec.notify_email, owner=spec.owner, max_items_per_run=spec.max_items_per_run,
        next_run_at=next_fire(spec.cron, spec.timezone, now),
    )
    with store.session() as session:
        if session.exec(select(Schedule).where(Schedule.name == schedule.name)).first():
            raise ValueError(f"A schedule named {schedule.name!r} exists already; choose another name.")
        session.add(schedule)
        session.commit()
    return schedule


def list_schedules(store: JobStore) -> list[Schedule]:
    with store.session() as session:
        return list(session.exec(select(Schedule).order_by(Schedule.name)))


def get_schedule(store: JobStore, id_or_name: str) -> Schedule:
    """By id or by name; KeyError with a sentence when there is none."""
    with store.session() as session:
        schedule = session.get(Schedule, id_or_name) or session.exec(
            select(Schedule).where(Schedule.name == id_or_name)).first()
    if schedule is None:
        raise KeyError(f"There is no schedule {id_or_name!r} (factory schedule list shows them).")
    return schedule


def set_paused(store: JobStore, id_or_name: str, paused: bool, now: datetime | None = None) -> Schedule:
    """Pause or resume. A resumed schedule runs at the cron's next time: the runs it missed
    while paused are not made up."""
    schedule = get_schedule(store, id_or_name)
    with store.session() as session:
        row = session.get(Schedule, schedule.id)
        row.paused = paused
        if not paused:
            row.next_run_at = next_fire(row.cron, row.timezone, now or utcnow())
            row.retry_at = None
        session.add(row)
        session.commit()
        session.refresh(row)
        return row


def remove_schedule(store: JobStore, id_or_name: str) -> Schedule:
    """Delete the schedule, its runs and its item records (its jobs stay)."""
    from sqlmodel import delete

    schedule = get_schedule(store, id_or_name)
    with store.session() as session:
        session.exec(delete(ScheduleItem).where(ScheduleItem.schedule_id == schedule.id))
        session.exec(delete(ScheduleRun).where(ScheduleRun.schedule_id == schedule.id))
        session.exec(delete(Schedule).where(Schedule.id == schedule.id))
        session.commit()
    return schedule


def runs_of(store: JobStore, schedule_id: str, limit: int = 20) -> list[ScheduleRun]:
    """The schedule's latest runs, newest first."""
    with store.session() as session:
        q = select(ScheduleRun).where(ScheduleRun.schedule_id == schedule_id).order_by(ScheduleRun.id.desc()).limit(limit)
        return list(session.exec(q))


def retry_delay(failures: int) -> timedelta:
    """Back-off before trying a failed source again: 1, 2, 4 ... minutes, at most an hour."""
    return timedelta(minutes=min(60, 2 ** max(0, failures - 1)))
