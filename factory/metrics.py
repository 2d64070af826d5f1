"""Prometheus metrics, read from the job database at scrape time.

The database is the one place both modes (in-process and queue workers) record what happens,
so every API process answers ``/metrics`` with the whole factory's numbers, and nothing is lost
when a process restarts:

* ``factory_jobs{status}``                      jobs in each state;
* ``factory_stage_duration_seconds{stage}``     histogram of finished stage runs' seconds;
* ``factory_stage_runs{stage,status}``          stage runs by how they ended;
* ``factory_qa_failed_checks{check}``           jobs whose latest QA verdict failed this check
                                                (counted inside the database from the verdict's JSON);
* ``factory_queue_depth{stage}``                jobs waiting for each stage;
* ``factory_workers_alive``                     queue workers with a recent heartbeat;
* ``factory_render_seconds_total``              seconds spent rendering (finished render runs).

A scrape is a fixed handful of aggregate queries, however many jobs the database holds.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Iterator

from sqlalchemy import JSON, case, func, true, type_coerce
from sqlmodel import Session, select

from factory.store import Job, JobStatus, JobStore, StageRun, WorkerBeat, utcnow

BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)
"""Seconds: stages range from sub-second (publish) to many minutes (a long render)."""


class DatabaseCollector:
    """A prometheus-client collector: one short read of the database per scrape."""

    def __init__(self, store: JobStore, worker_silent_seconds: float = 60.0):
        self.store = store
        self.worker_silent_seconds = worker_silent_seconds

    def collect(self) -> Iterator:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

        with self.store.session() as s:
            by_status = dict(s.exec(select(Job.status, func.count()).group_by(Job.status)).all())
            queued = s.exec(select(Job.next_stage, func.count()).where(Job.status == JobStatus.QUEUED)
                            .group_by(Job.next_stage)).all()
            finished = StageRun.seconds.is_not(None)
            bucket_columns = [func.sum(case((StageRun.seconds <= edge, 1), else_=0)) for edge in BUCKETS]
            histograms = s.exec(select(StageRun.stage, func.count(), func.sum(StageRun.seconds), *bucket_columns)
                                .where(finished).group_by(StageRun.stage)).all()
            runs = s.exec(select(StageRun.stage, StageRun.status, func.count())
                          .group_by(StageRun.stage, StageRun.status)).all()
            render = s.exec(select(func.coalesce(func.sum(StageRun.seconds), 0.0))
                            .where(StageRun.stage == "render", finished)).one()
            alive = s.exec(select(func.count()).select_from(WorkerBeat).where(
                WorkerBeat.last_seen >= utcnow() - timedelta(seconds=self.worker_silent_seconds))).one()
            failed = failed_check_counts(s)

        jobs = GaugeMetricFamily("factory_jobs", "Jobs in each state.", labels=["status"])
        for status in JobStatus.ALL:
            jobs.add_metric([status], by_status.get(status, 0))
        yield jobs

        depth = GaugeMetricFamily("factory_queue_depth", "Jobs waiting for each stage.", labels=["stage"])
        for stage, count in queued:
            depth.add_metric([stage or "none"], count)
        yield depth

        duration = HistogramMetricFamily("factory_stage_duration_seconds", "Seconds of finished stage runs.",
                                         labels=["stage"])
        for stage, count, total, *cumulative in histograms:
            buckets = [(str(edge), float(n or 0)) for edge, n in zip(BUCKETS, cumulative)] + [("+Inf", float(count))]
            duration.add_metric([stage], buckets, float(total or 0.0))
        yield duration

        ended = GaugeMetricFamily("factory_stage_runs", "Stage runs by stage and how they ended.",
                                  labels=["stage", "status"])
        for stage, status, count in runs:
            ended.add_metric([stage, status], count)
        yield ended

        qa_failures = GaugeMetricFamily("factory_qa_failed_checks",
                                        "Jobs whose latest QA verdict failed this check.", labels=["check"])
        for check, count in failed:
            qa_failures.add_metric([check], count)
        yield qa_failures

        yield GaugeMetricFamily("factory_workers_alive", "Queue workers with a recent heartbeat.", value=alive)
        yield CounterMetricFamily("factory_render_seconds", "Seconds spent in finished render runs.",
                                  value=float(render or 0.0))


def failed_check_counts(session: Session) -> list[tuple[str, int]]:
    """(check, jobs), by check name: how many published, held or failed jobs have a latest QA
    verdict (``values["qa"]``, else ``review["qa"]``: ``factory.payloads.QASummary``) in which
    that check is not true. One query: the database walks each verdict's ``checks`` object with
    its own JSON functions, which PostgreSQL and SQLite name and call differently."""
    if session.get_bind().dialect.name == "postgresql":
        in_values, in_review = Job.values["qa"], Job.review["qa"]
        qa = type_coerce(case((func.json_typeof(in_values) == "object", in_values), else_=in_review), JSON)
        # json_each_text refuses anything but an object; NULL gives no rows.
        checks = case((func.json_typeof(qa["checks"]) == "object", qa["checks"]))
        each = func.json_each_text(checks).table_valued("key", "value")
        truth = each.c.value  # "true", "false", or NULL for a JSON null
    else:  # SQLite: json_extract gives NULL for a missing or null "qa"
        qa = func.coalesce(func.json_extract(Job.values, "$.qa"), func.json_extract(Job.review, "$.qa"))
        checks = case((func.json_type(qa, "$.checks") == "object", func.json_extract(qa, "$.checks")))
        each = func.json_each(checks).table_valued("key", "type")
        truth = each.c.type  # "true", "false", "null", ...
    query = (select(each.c.key, func.count()).select_from(Job).join(each, true())
             .where(Job.status.in_([JobStatus.PUBLISHED, JobStatus.NEEDS_REVIEW, JobStatus.FAILED]),
                    truth.is_distinct_from("true"))
             .group_by(each.c.key).order_by(each.c.key))
    return [(check, count) for check, count in session.exec(query).all()]


def exposition(store: JobStore, worker_silent_seconds: float = 60.0) -> tuple[bytes, str]:
    """The metrics in Prometheus' text format, and its content type."""
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(store, worker_silent_seconds))
    return generate_latest(registry), CONTENT_TYPE_LATEST
