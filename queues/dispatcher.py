"""The distributed mode's dispatcher: "run this stage of this job" as a RabbitMQ message.

Chosen by ``factory.dispatch.open_dispatcher`` when ``amqp_url`` is set. Nothing runs in this
process: queue workers (``factory worker``) take the messages; progress is followed through the
job store.
"""

from __future__ import annotations

import logging
import time

from factory import lifecycle
from factory.dispatch import StageProgress
from factory.settings import Settings
from factory.store import Job, JobStatus, JobStore

log = logging.getLogger(__name__)


class RabbitMQDispatcher:
    mode = "distributed"
    needs_this_process = False
    description = "Distributed mode: queue workers run the stages; this process submits and follows jobs."

    def __init__(self, settings: Settings, jobs: JobStore):
        self.settings = settings
        self.jobs = jobs

    def dispatch(self, job: Job, *, use_cache: bool = True) -> None:
        """Publish the job's next stage (confirmed by the broker). If the broker cannot be
        reached the job fails with that reason rather than sitting queued unseen."""
        from queues.broker import enqueue_stage

        if job.next_stage is None:
            return
        try:
            enqueue_stage(self.settings, job.id, job.next_stage, priority=job.priority, trace_id=job.trace_id)
        except Exception:  # noqa: BLE001 — any broker failure: say so on the job
            log.exception("could not enqueue job %s", job.id)
            lifecycle.not_dispatched(self.jobs, job.id, "submit: the job could not be queued (the message broker "
                                                         "is unreachable). Try again in a minute.")

    def prepare(self) -> None:
        pass

    def progress(self, job_id: str) -> dict[str, StageProgress]:
        return {}

    def wait(self, job_id: str, timeout: float) -> None:
        time.sleep(timeout)

    def is_active(self, job_id: str) -> bool:
        job = self.jobs.get(job_id)
        return job is not None and job.status in (JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.INTERRUPTED)

    def stop_job(self, job_id: str) -> None:
        pass  # a worker's stage finishes; the lifecycle drops the result of a cancelled job

    def close(self) -> None:
        pass
