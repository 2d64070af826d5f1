"""``factory status``: what the distributed factory is doing right now.

* queue depths — a *passive* declare of each queue (reads its message and consumer counts,
  creates nothing);
* workers alive — heartbeats in the ``workers`` table newer than ``ALIVE_SECONDS``;
* stuck jobs — jobs whose current stage has been running for longer than its time limit
  (the worker that ran it probably died; its message is redelivered when its connection drops).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

from factory.settings import Settings
from factory.store import Job, JobStatus, JobStore, StageRun, WorkerBeat
from queues.topology import QueueConfig, all_queue_names
from factory import lifecycle
from factory.store import as_utc
from factory.policy import StagePolicy
from factory.stages import extra_stage_modules

ALIVE_SECONDS = 30.0


@dataclass
class QueueDepth:
    name: str
    messages: int | None
    """None: the queue does not exist (no worker or publisher declared it yet)."""
    consumers: int | None


@dataclass
class StuckJob:
    job_id: str
    stage: str
    running_seconds: float
    limit_seconds: float
    worker: str | None


@dataclass
class StatusReport:
    queues: list[QueueDepth] = field(default_factory=list)
    workers_alive: list[WorkerBeat] = field(default_factory=list)
    workers_silent: list[WorkerBeat] = field(default_factory=list)
    stuck: list[StuckJob] = field(default_factory=list)
    broker_error: str | None = None

    def as_dict(self) -> dict:
        def beat(w: WorkerBeat) -> dict:
            return {"id": w.id, "stages": w.stages, "last_seen": str(w.last_seen), "current_job": w.current_job, "current_stage": w.current_stage}

        return {
            "queues": [vars(q) for q in self.queues],
            "workers_alive": [beat(w) for w in self.workers_alive],
            "workers_silent": [beat(w) for w in self.workers_silent],
            "stuck": [vars(s) for s in self.stuck],
            "broker_error": self.broker_error,
        }


def queue_depths(settings: Settings, stages: list[str]) -> list[QueueDepth]:
    import pika
    import pika.exceptions

    config = QueueConfig.from_settings(settings)
    connection = pika.BlockingConnection(pika.URLParameters(settings.amqp_url))
    try:
        channel = connection.channel()
        depths = []
        for name in all_queue_names(config, stages):
            try:
                ok = channel.queue_declare(queue=name, passive=True)
                depths.append(QueueDepth(name, ok.method.message_count, ok.method.consumer_count))
            except pika.exceptions.ChannelClosedByBroker:  # 404: not declared yet
                depths.append(QueueDepth(name, None, None))
                channel = connection.channel()
        return depths
    finally:
        connection.close()


def stuck_jobs(jobs: JobStore, settings: Settings, now: datetime | None = None) -> list[StuckJob]:
    from sqlmodel import select

    now = now or datetime.now(timezone.utc)
    stuck = []
    with jobs.session() as s:
        rows = s.exec(
            select(StageRun, Job)
            .join(Job, Job.id == StageRun.job_id)
            .where(Job.status == JobStatus.RUNNING, StageRun.finished_at.is_(None), StageRun.stage == Job.next_stage)
        ).all()
    latest: dict[str, StageRun] = {}
    for run, _job in rows:  # the newest open run per job
        if run.job_id not in latest or run.id > latest[run.job_id].id:
            latest[run.job_id] = run
    for run in latest.values():
        limit = StagePolicy.from_settings(settings).time_limit(run.stage)
        running = (now - as_utc(run.started_at)).total_seconds()
        if running > limit:
            stuck.append(StuckJob(run.job_id, run.stage, running, limit, run.worker))
    return sorted(stuck, key=lambda j: -j.running_seconds)


def collect_status(settings: Settings, jobs: JobStore | None = None, stages: list[str] | None = None) -> StatusReport:
    from factory import stages as stage_registry

    jobs = jobs or JobStore(settings.resolved_database_url)
    report = StatusReport()
    stages = stages or list({**stage_registry.STAGE_MODULES, **extra_stage_modules()})
    if settings.amqp_url:
        try:
            report.queues = queue_depths(settings, stages)
        except Exception as exc:  # show what we can even when the broker is down
            report.broker_error = f"{type(exc).__name__}: {exc}"
    # the same sweep the workers run: runs of dead workers end as interrupted, old ones are forgotten
    lifecycle.interrupt_runs_of_dead_workers(jobs, StagePolicy.from_settings(settings))
    now = datetime.now(timezone.utc)
    for beat in jobs.workers():
        alive = (now - as_utc(beat.last_seen)).total_seconds() < ALIVE_SECONDS
        (report.workers_alive if alive else report.workers_silent).append(beat)
    report.stuck = stuck_jobs(jobs, settings, now)
    return report


def format_status(report: StatusReport) -> str:
    lines = ["queues:"]
    if report.broker_error:
        lines.append(f"  broker unreachable: {report.broker_error}")
    for q in report.queues:
        depth = "—" if q.messages is None else str(q.messages)
        consumers = "" if q.consumers is None else f"  ({q.consumers} consumers)"
        lines.append(f"  {q.name:<40} {depth:>7}{consumers}")
    lines.append(f"workers alive (heartbeat < {ALIVE_SECONDS:g} s): {len(report.workers_alive)}")
    for w in report.workers_alive:
        doing = f"{w.current_stage} of job {w.current_job}" if w.current_job else "idle"
        lines.append(f"  {w.id:<50} {','.join(w.stages):<20} {doing}")
    if report.workers_silent:
        lines.append(f"workers silent: {len(report.workers_silent)}")
    lines.append(f"jobs stuck past their stage time limit: {len(report.stuck)}")
    for j in report.stuck:
        lines.append(f"  {j.job_id} {j.stage:<8} running {j.running_seconds:.0f} s (limit {j.limit_seconds:.0f} s) on {j.worker}")
    return "\n".join(lines)
