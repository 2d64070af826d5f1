"""The scheduler: turns due schedules and new source items into jobs, and nothing else.

    scheduler = Scheduler(service)
    scheduler.tick()              # once: every due schedule runs
    scheduler.run_forever(stop)   # ``factory scheduler``: a tick every scheduler_interval_seconds

Rules, each enforced where it cannot be lost:

* **Due once.** A due run is claimed by bumping the schedule's ``version`` in a conditional
  UPDATE, in the transaction that records the run: of two schedulers only one claims it. The next run is the cron's next time *after
  now*, so after downtime the missed slots fire once, not once per slot.
* **An item is made once.** Before its job is submitted, an item is claimed by inserting
  (schedule_id, item_key) into ``schedule_items``, which is UNIQUE: a second scheduler (or a
  manual run at the same moment) gets an IntegrityError and skips it. A claim whose job was
  never recorded (the scheduler died in between) is taken over after ``STALE_CLAIM``.
* **A failing source does not stop the others.** Its run is recorded as failed with the
  reason, the schedule shows it (``last_error``) and is tried again with back-off.
* Jobs are created only through ``JobService.submit``; the run keeps their ids.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable

from sqlalchemy import or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from factory.schedules import Schedule, ScheduleItem, ScheduleRun, next_fire, retry_delay
from factory.sources import SourceError, SourceItem, SourceSpec, read_source
from factory.store import as_utc, utcnow

log = logging.getLogger(__name__)

STALE_CLAIM = timedelta(minutes=10)
"""A claimed item with no job after this long was left by a scheduler that died: claim it again."""


@dataclass
class TickReport:
    runs: list[ScheduleRun] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def jobs(self) -> list[str]:
        return [job for run in self.runs for job in run.jobs]


class Scheduler:
    def __init__(self, service: Any, feed_timeout: float | None = None):
        """``service``: a ``factory.service.JobService`` (its store, settings and submit)."""
        self.service = service
        self.store = service.jobs
        self.settings = service.settings
        self.feed_timeout = feed_timeout or self.settings.feed_timeout_seconds

    # --- one pass ------------------------------------------------------------------------
    def tick(self, now: datetime | None = None) -> TickReport:
        """Run every schedule that is due (or due for a retry) at ``now``."""
        started = time.perf_counter()
        now = now or utcnow()
        report = TickReport()
        with self.store.session() as session:
            due = list(session.exec(select(Schedule).where(
                Schedule.paused == False,  # noqa: E712 (SQL, not Python truth)
                or_(Schedule.next_run_at <= now, Schedule.retry_at <= now))))
        for schedule in due:
            trigger = "cron" if as_utc(schedule.next_run_at) <= now else "retry"
            try:
                run = self.run_schedule(schedule, trigger=trigger, now=now, claim=True)
            except Exception:  # one schedule's bug must not stop the others; it is logged with its name
                log.exception("schedule %s: run failed", schedule.name)
                continue
            if run is not None:  # None: another scheduler took this run
                report.runs.append(run)
        self._notify_finished_groups()
        report.seconds = time.perf_counter() - started
        return report

    def run_schedule(self, schedule: Schedule, trigger: str = "manual", now: datetime | None = None,
                     claim: bool = False) -> ScheduleRun | None:
        """Read the schedule's source and submit a job for each item not made before (at most
        ``max_items_per_run``). The run is recorded with the jobs it created, or with the
        source's error (the schedule then retries with back-off). With ``claim`` (the tick),
        None when another scheduler claimed this due run first."""
        now = now or utcnow()
        try:
            items, error = read_source(SourceSpec(schedule.source_kind, schedule.source), timeout=self.feed_timeout), None
        except SourceError as exc:
            items, error = [], str(exc)
        fresh = [] if error else self._new_items(schedule, items, now)[: schedule.max_items_per_run]
        with self.store.session() as session:
            run = self._start_run(session, schedule, trigger, now, claim)
            if run is None:
                return None
            run.items_seen = len(items)
            if error or not fresh:  # nothing to make: the run is recorded whole in one transaction
                return self._close(session, schedule, run, error)
            session.commit()
            session.refresh(run)
        photo = functools.cache(lambda: schedule_photo(schedule, self.service))   # looked up once a run, if needed
        for item in fresh:
            if not self._claim_item(schedule, run, item, now):
                continue  # another scheduler has it
            job_id, problem = self._submit(schedule, run, item, photo)
            with self.store.session() as session:
                session.exec(update(ScheduleItem)
                             .where(ScheduleItem.schedule_id == schedule.id, ScheduleItem.item_key == item.key)
                             .values(job_id=job_id, error=problem))
                session.commit()
            # new lists, not appended ones: the JSON columns are saved when replaced
            if job_id:
                run.jobs = [*run.jobs, job_id]
            if problem:
                run.problems = [*run.problems, f"{item.title}: {problem}"]
        with self.store.session() as session:
            return self._close(session, schedule, run, None)

    def _start_run(self, session: Any, schedule: Schedule, trigger: str, now: datetime, claim: bool) -> ScheduleRun | None:
        """Add the run to ``session``. With ``claim``, first move the schedule to its next cron
        time with a conditional UPDATE: only the scheduler whose UPDATE found the version it
        read gets the run; the others get None."""
        if claim:
            next_run = as_utc(schedule.next_run_at)
            if next_run <= now:
                next_run = next_fire(schedule.cron, schedule.timezone, now)
            result = session.exec(
                update(Schedule)
                .where(Schedule.id == schedule.id, Schedule.version == schedule.version)
                .values(version=schedule.version + 1, next_run_at=next_run, retry_at=None, last_run_at=now))
            if result.rowcount != 1:
                session.rollback()
                return None
        run = ScheduleRun(schedule_id=schedule.id, trigger=trigger, due_at=schedule.next_run_at, started_at=now)
        session.add(run)
        session.flush()  # gives the run its id, for its jobs' batch name
        run.batch = f"run-{schedule.id}-{run.id}"
        return run

    def _new_items(self, schedule: Schedule, items: list[SourceItem], now: datetime) -> list[SourceItem]:
        """Items whose key this schedule has not claimed (or whose claim went stale), in the
        source's order, each key once."""
        with self.store.session() as session:
            rows = session.exec(select(ScheduleItem.item_key, ScheduleItem.job_id, ScheduleItem.error,
                                       ScheduleItem.claimed_at).where(ScheduleItem.schedule_id == schedule.id))
            taken = {key for key, job_id, error, claimed in rows
                     if job_id or error or as_utc(claimed) > now - STALE_CLAIM}
        seen: set[str] = set()
        fresh = []
        for item in items:
            if item.key not in taken and item.key not in seen:
                seen.add(item.key)
                fresh.append(item)
        return fresh

    def _claim_item(self, schedule: Schedule, run: ScheduleRun, item: SourceItem, now: datetime) -> bool:
        """Insert the (schedule, item key) row; the UNIQUE constraint lets exactly one
        scheduler do so. A stale claim (no job, no error, old) is taken over by an UPDATE that
        only one scheduler can win."""
        with self.store.session() as session:
            session.add(ScheduleItem(schedule_id=schedule.id, item_key=item.key, title=item.title[:1000],
                                     run_id=run.id, claimed_at=now))
            try:
                session.commit()
                return True
            except IntegrityError:
                session.rollback()
            result = session.exec(
                update(ScheduleItem)
                .where(ScheduleItem.schedule_id == schedule.id, ScheduleItem.item_key == item.key,
                       ScheduleItem.job_id.is_(None), ScheduleItem.error.is_(None),
                       ScheduleItem.claimed_at <= now - STALE_CLAIM)
                .values(run_id=run.id, claimed_at=now))
            session.commit()
            return result.rowcount == 1

    def _submit(self, schedule: Schedule, run: ScheduleRun, item: SourceItem,
                photo: Callable[[], Path]) -> tuple[str | None, str | None]:
        """(job id, None), or (None, the reason the item cannot become a job). ``photo``: the
        schedule's portrait (``schedule_photo``), for items without an image of their own."""
        from factory.documents import DocumentError

        try:
            request = writer_request_for(schedule, item)
            params = schedule_job_params(schedule)
            image = _item_image(schedule, item) or photo()
            job = self.service.submit(image=image, writer_request=request, params=params, batch=run.batch,
                                      created_by=schedule.owner or f"schedule:{schedule.name}"[:128])
        except (DocumentError, ValueError) as exc:
            return None, str(exc)
        return job.id, None

    def _close(self, session: Any, schedule: Schedule, run: ScheduleRun, error: str | None) -> ScheduleRun:
        """Finish the run (done, or failed with the source's error) and keep the schedule's
        error state: a failure counts and sets the retry time, a success clears both."""
        from factory.notify import group_closed

        row = session.get(Schedule, schedule.id)
        if row is not None:
            if error:
                row.failures += 1
                row.last_error = error
                retry = run.started_at + retry_delay(row.failures)
                row.retry_at = retry if retry < as_utc(row.next_run_at) else None  # the cron comes first anyway
            else:
                row.failures, row.last_error, row.retry_at = 0, None, None
            session.add(row)
        run.status, run.error, run.finished_at = ("failed" if error else "done"), error, utcnow()
        session.add(run)
        if not error:
            group_closed(session, run.batch)  # its jobs may all have stopped already
        session.commit()
        session.refresh(run)
        if error:
            log.warning("schedule %s: %s", schedule.name, error)
        return run

    def _notify_finished_groups(self) -> None:
        """The safety net for the one-message-per-run e-mail: a run whose jobs all stopped
        gets its message (the job-event listener usually sent it already; the outbox's dedupe
        key keeps it to one)."""
        from factory.notify import sweep_finished_groups

        try:
            sweep_finished_groups(self.store)
        except Exception:
            log.exception("notification sweep failed")

    # --- long-running --------------------------------------------------------------------
    def run_forever(self, stop: threading.Event, interval: float | None = None) -> None:
        """Tick until ``stop`` is set (``factory scheduler``)."""
        interval = interval or self.settings.scheduler_interval_seconds
        while not stop.is_set():
            try:
                report = self.tick()
                if report.runs:
                    log.info("tick: %d run(s), %d job(s) in %.0f ms", len(report.runs), len(report.jobs), report.seconds * 1000)
            except Exception:  # the database may be away for a moment: try again next tick
                log.exception("scheduler tick failed")
            stop.wait(interval)


# --- how an item becomes a job ------------------------------------------------------------------

def writer_request_for(schedule: Schedule, item: SourceItem) -> dict[str, Any]:
    """The writer request for one item, by the schedule's template (``WriterRequest.for_*``)."""
    from factory.payloads import WriterRequest

    if schedule.template == "policy":
        text = _document_text(item) if item.path else "\n\n".join(x for x in (item.title, item.summary) if x)
        return WriterRequest.for_policy(text, schedule.language, schedule.target_seconds).to_value()
    if schedule.template == "product":
        from factory.payloads import PRODUCT_FIELDS

        row = item.row or {"name": item.title}
        product = {k: row[k] for k in PRODUCT_FIELDS if k in row}
        return WriterRequest.for_product(product, row.get("language") or schedule.language, schedule.target_seconds).to_value()
    summary = item.summary or (_document_text(item)[:1000] if item.path else "")
    return WriterRequest.for_topic(item.title, summary, schedule.language, schedule.target_seconds).to_value()


def schedule_job_params(schedule: Schedule) -> dict[str, Any]:
    """The job params of the schedule's jobs: render values, language, voice, review policy,
    publish targets."""
    from factory.job_params import build_job_params
    from factory.targets import job_publish_params

    params = build_job_params(schedule.render_params, language=schedule.language, voice=schedule.voice)
    if schedule.review == "always":
        params["review"] = "always"
    params.update(job_publish_params(schedule.publish_targets))
    return params


def _document_text(item: SourceItem) -> str:
    from factory.documents import read_document

    return read_document(item.path)


def _item_image(schedule: Schedule, item: SourceItem) -> Path | None:
    """A product row's own image (relative to the product file); None: the schedule's photo."""
    image = (item.row or {}).get("image")
    if image and schedule.source_kind == "products":
        path = Path(str(image)).expanduser()
        return path if path.is_absolute() else Path(schedule.source).expanduser().parent / path
    return None


def schedule_photo(schedule: Schedule, service: Any) -> Path:
    """The schedule's avatar: a library avatar's id or name (its photo from the artifact store,
    so it works with S3 too) or a photo's path."""
    from factory.avatars import get_avatar

    avatar = get_avatar(service.jobs, schedule.avatar)
    if avatar is not None:
        return Path(service.artifacts.fetch(avatar.image))
    return Path(schedule.avatar).expanduser()
