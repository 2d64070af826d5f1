"""The objects one console server shares between all its pages and browser sessions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from factory.dispatch import StageProgress
from factory.settings import Settings
from factory.store import Job, JobStatus

if TYPE_CHECKING:  # SQLModel loads with it; open_console imports it when the console starts
    from factory.service import JobService


@dataclass
class Console:
    service: JobService

    @property
    def settings(self) -> Settings:
        return self.service.settings

    def progress(self, job: Job) -> dict[str, StageProgress]:
        return self.service.dispatcher.progress(job.id)

    def in_progress(self, job: Job) -> bool:
        """Whether the page should keep polling this job."""
        return job.status not in JobStatus.FINAL and self.service.dispatcher.is_active(job.id)

    def stalled(self, job: Job) -> bool:
        """A job left unfinished that nothing is moving on (e.g. the console was restarted
        mid-run): the page offers to resume it."""
        return job.status in (JobStatus.INTERRUPTED, JobStatus.QUEUED) and not self.service.dispatcher.is_active(job.id)


def open_console(settings: Settings) -> Console:
    from factory.service import JobService

    return Console(JobService(settings))
