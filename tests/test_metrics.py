"""/metrics (factory/metrics.py) on SQLite and PostgreSQL: the numbers match the jobs in every
state, and a scrape costs the same few queries however many jobs there are."""

from __future__ import annotations

from datetime import timedelta

import pytest

from factory.metrics import BUCKETS
from factory.store import Job, JobStore, StageRun, new_job_id, utcnow


def scrape(store: JobStore) -> dict[tuple[str, tuple], float]:
    """Every sample of one scrape: (name, sorted labels) -> value."""
    from prometheus_client.parser import text_string_to_metric_families

    from factory.metrics import exposition

    text = exposition(store)[0].decode()
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def change(before: dict, after: dict) -> dict[tuple[str, tuple], float]:
    """What the jobs added changed (the PostgreSQL database is shared with other tests)."""
    return {key: after[key] - before.get(key, 0.0) for key in after if after[key] != before.get(key, 0.0)}


def qa(**checks) -> dict:
    return {"qa": {"passed": all(checks.values()), "checks": checks}}


def job(status: str, values: dict | None = None, review: dict | None = None, next_stage: str | None = None) -> Job:
    return Job(id=new_job_id(), status=status, plan=["speak", "render", "check", "publish"], next_stage=next_stage,
               values=values or {}, review=review)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    if request.param == "sqlite":
        return JobStore(f"sqlite:///{tmp_path / 'jobs.db'}")
    return JobStore(request.getfixturevalue("postgres_url"))


def count_queries(store: JobStore) -> int:
    from sqlalchemy import event

    statements = []

    def seen(*_args) -> None:
        statements.append(1)

    event.listen(store.engine, "before_cursor_execute", seen)
    try:
        scrape(store)
    finally:
        event.remove(store.engine, "before_cursor_execute", seen)
    return len(statements)


def test_metrics_count_jobs_in_every_state(store):
    before = scrape(store)
    queries = count_queries(store)
    jobs = [
        job("published", qa(sync=True, cer=True)),
        job("needs_review", qa(sync=False, cer=True)),
        job("failed", qa(sync=False, cer=False)),
        # Held before its verdict reached the values: the review keeps it; a null check failed.
        job("needs_review", {}, review=qa(cer=False, duration=None)),
        job("published", {"qa": None}, review=qa(sync=False)),
        job("published", {"qa": {"passed": True}}),  # a verdict without checks
        # Not finished or stopped by a person: their old verdicts are not counted.
        job("queued", qa(sync=False), next_stage="render"),
        job("cancelled", qa(sync=False)),
    ]
    start = utcnow()
    runs = [
        StageRun(job_id=jobs[0].id, stage="render", status="done", started_at=start,
                 finished_at=start + timedelta(seconds=12), seconds=12.0),
        StageRun(job_id=jobs[0].id, stage="check", status="done", started_at=start,
                 finished_at=start + timedelta(seconds=3), seconds=3.0),
        StageRun(job_id=jobs[2].id, stage="render", status="error", started_at=start),  # crashed: no seconds
    ]
    with store.session() as s:
        s.add_all(jobs)
        s.commit()
        s.add_all(runs)
        s.commit()
    try:
        after = scrape(store)
        expected = {
            ("factory_jobs", (("status", "published"),)): 3.0,
            ("factory_jobs", (("status", "needs_review"),)): 2.0,
            ("factory_jobs", (("status", "failed"),)): 1.0,
            ("factory_jobs", (("status", "queued"),)): 1.0,
            ("factory_jobs", (("status", "cancelled"),)): 1.0,
            ("factory_queue_depth", (("stage", "render"),)): 1.0,
            ("factory_qa_failed_checks", (("check", "sync"),)): 3.0,
            ("factory_qa_failed_checks", (("check", "cer"),)): 2.0,
            ("factory_qa_failed_checks", (("check", "duration"),)): 1.0,
            ("factory_stage_runs", (("stage", "render"), ("status", "done"))): 1.0,
            ("factory_stage_runs", (("stage", "render"), ("status", "error"))): 1.0,
            ("factory_stage_runs", (("stage", "check"), ("status", "done"))): 1.0,
            ("factory_render_seconds_total", ()): 12.0,
        }
        for stage, seconds in (("render", 12.0), ("check", 3.0)):  # one finished run each
            expected[("factory_stage_duration_seconds_count", (("stage", stage),))] = 1.0
            expected[("factory_stage_duration_seconds_sum", (("stage", stage),))] = seconds
            for edge in [*map(str, BUCKETS), "+Inf"]:
                if edge == "+Inf" or seconds <= float(edge):
                    expected[("factory_stage_duration_seconds_bucket", (("le", edge), ("stage", stage)))] = 1.0
        # approx: the sums are differences of totals over the shared database's other rows too
        assert change(before, after) == pytest.approx(expected)
        # Eight more jobs, the same queries: nothing is read job by job.
        assert count_queries(store) == queries <= 10
    finally:  # the PostgreSQL database is shared: leave nothing behind
        with store.session() as s:
            for row in runs + jobs:
                s.delete(s.get(type(row), row.id))
                s.flush()
            s.commit()
