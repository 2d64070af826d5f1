"""The objects one console server shares between all its pages and browser sessions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from factory.settings import Settings
from factory.store import Job, JobStatus
from factory.background import BackgroundJobs

if TYPE_CHECKING:  # SQLModel loads with it; open_console imports it when the console starts
    from factory.service import JobService


@dataclass
class Console:
    service: JobService
    background: BackgroundJobs | None
    """Runs jobs in this process (embedded mode); None in distributed mode (workers do)."""

    @property
    def settings(self) -> Settings:
        return self.service.settings

    def start(self, job: Job) -> None:
        """After submit: embedded → run it here in the background; distributed → the service
        already enqueued it, nothing to do."""
        if self.background is not None and job.next_stage:
            self.background.start(job.id)

    def in_progress(self, job: Job) -> bool:
        """Whether the page should keep polling this job."""
        if self.background is not None:
            # Embedded: only this process runs jobs; a queued job nobody runs is not "in progress".
            return self.background.is_active(job.id)
        return job.status not in JobStatus.FINAL

    def stalled(self, job: Job) -> bool:
        """Embedded mode: a job left unfinished (e.g. the console was restarted mid-run)."""
        return self.background is not None and job.status not in JobStatus.FINAL and not self.background.is_active(job.id)


def open_console(settings: Settings) -> Console:
    from factory.service import JobService

    service = JobService(settings)
    return Console(service, None if settings.distributed else BackgroundJobs(service))
