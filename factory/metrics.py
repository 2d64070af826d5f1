"""Prometheus metrics, read from the job database at scrape time.

The database is the one place both modes (in-process and queue workers) record what happens,
so every API process answers ``/metrics`` with the whole factory's numbers, and nothing is lost
when a process restarts:

* ``factory_jobs{status}``                      jobs in each state;
* ``factory_stage_duration_seconds{stage}``     histogram of finished stage runs' seconds;
* ``factory_stage_runs{stage,status}``          stage runs by how they ended;
* ``factory_qa_failed_checks{check}``           jobs whose latest QA verdict failed this check;
* ``factory_queue_depth{stage}``                jobs waiting for each stage;
* ``factory_workers_alive``                     queue workers with a recent heartbeat;
* ``factory_render_seconds_total``              seconds spent rendering (finished render runs).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Iterator

from sqlalchemy import case, func
from sqlmodel import select

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
            verdicts = s.exec(select(Job.values, Job.review).where(Job.status.in_(
                [JobStatus.PUBLISHED, JobStatus.NEEDS_REVIEW, JobStatus.FAILED]))).all()

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

        failed: dict[str, int] = {}
        for values, review in verdicts:
            qa = (values or {}).get("qa") or (review or {}).get("qa") or {}
            for check, ok in (qa.get("checks") or {}).items():
                if not ok:
                    failed[check] = failed.get(check, 0) + 1
        qa_failures = GaugeMetricFamily("factory_qa_failed_checks",
                                        "Jobs whose latest QA verdict failed this check.", labels=["check"])
        for check, count in sorted(failed.items()):
            qa_failures.add_metric([check], count)
        yield qa_failures

        yield GaugeMetricFamily("factory_workers_alive", "Queue workers with a recent heartbeat.", value=alive)
        yield CounterMetricFamily("factory_render_seconds", "Seconds spent in finished render runs.",
                                  value=float(render or 0.0))


def exposition(store: JobStore, worker_silent_seconds: float = 60.0) -> tuple[bytes, str]:
    """The metrics in Prometheus' text format, and its content type."""
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(store, worker_silent_seconds))
    return generate_latest(registry), CONTENT_TYPE_LATEST
