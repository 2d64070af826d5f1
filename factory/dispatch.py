"""Where a job's stages run, decided once from the settings.

    dispatcher = open_dispatcher(settings, jobs)
    dispatcher.dispatch(job)          # hand the job's next stage to whoever runs it

* ``InProcessDispatcher`` (embedded mode, no ``amqp_url``): one background thread and one stage
  process on this machine run jobs one at a time, in the order they were dispatched (a render
  uses every core; two at once only make both slower).
* ``queues.dispatcher.RabbitMQDispatcher`` (``amqp_url`` set): publishes "run this stage" for
  the queue workers; nothing runs here.

Both run stages through ``factory.executor`` (a killable stage process) and change jobs only
through ``factory.lifecycle``; retries, back-off and time limits follow ``factory.policy``. This
is the only module that asks which mode is on: the CLI, the API and the console call the
dispatcher the service holds.
"""

from __future__ import annotations

import atexit
import collections
import logging
import threading
from dataclasses import dataclass
from typing import Protocol

from factory import lifecycle
from factory.executor import ChildDied, StageExecutor, TimeLimitExceeded  # its exit hook first: ours runs before it
from factory.policy import StagePolicy
from factory.runner import crash_outcome
from factory.settings import Settings
from factory.store import Job, JobStatus, JobStore

log = logging.getLogger(__name__)


@dataclass
class StageProgress:
    fraction: float = 0.0
    note: str = ""


class Dispatcher(Protocol):
    mode: str
    """"embedded" or "distributed": shown to people, never branched on."""
    description: str
    """One sentence for people: where this factory's stages run."""
    needs_this_process: bool
    """Whether stages run inside this process, so it must stay up until its jobs stop."""

    def dispatch(self, job: Job, *, use_cache: bool = True) -> None:
        """Have the job's next stage run (a job with nothing to run is ignored)."""

    def progress(self, job_id: str) -> dict[str, StageProgress]:
        """How far the running stage has got, by stage name, where this process can see it."""

    def wait(self, job_id: str, timeout: float) -> None:
        """Return when the job may have changed, at most after ``timeout`` seconds."""

    def is_active(self, job_id: str) -> bool:
        """Whether something will move the job on without a person acting."""

    def prepare(self) -> None:
        """A job is about to be submitted: get ready to run it (e.g. start a stage process)."""

    def stop_job(self, job_id: str) -> None:
        """A cancelled job: stop its running stage if it runs here."""

    def close(self) -> None:
        """Stop: a stage running here is stopped and its job left to resume."""


def open_dispatcher(settings: Settings, jobs: JobStore) -> Dispatcher:
    """The one place the run mode is decided: a broker URL means queue workers run the stages."""
    if settings.amqp_url:
        from queues.dispatcher import RabbitMQDispatcher

        return RabbitMQDispatcher(settings, jobs)
    return InProcessDispatcher(settings, jobs)


class InProcessDispatcher:
    """Runs dispatched jobs in this process's background thread, one at a time."""

    mode = "embedded"
    needs_this_process = True

    def __init__(self, settings: Settings, jobs: JobStore):
        self.settings = settings
        self.jobs = jobs
        self.policy = StagePolicy.from_settings(settings)
        self.worker_id = lifecycle.worker_identity("embedded")
        self.description = f"Embedded mode: jobs run inside this process, one at a time. Data: {settings.data_dir}"
        self._executor = None
        self._queue: collections.deque[tuple[str, bool]] = collections.deque()
        self._changed = threading.Condition()
        self._progress: dict[str, dict[str, StageProgress]] = {}
        self._active: set[str] = set()
        self._current: str | None = None
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None
        # jobs whose process died (a killed `factory make`, a restarted console) become resumable
        lifecycle.interrupt_runs_of_dead_workers(jobs, self.policy)
        # at exit, before multiprocessing stops the stage process: the job is interrupted, not crashed
        atexit.register(self.close)

    # --- the Dispatcher interface ----------------------------------------------------------
    def prepare(self) -> None:
        """Start the stage process now (it takes a moment), so the first job does not wait for it."""
        with self._changed:
            if self._thread is None:
                self._thread = threading.Thread(target=self._serve, name="factory-jobs", daemon=True)
                self._thread.start()

    def dispatch(self, job: Job, *, use_cache: bool = True) -> None:
        if job.next_stage is None:
            return
        self.prepare()
        with self._changed:
            if job.id in self._active:
                return
            self._active.add(job.id)
            self._progress[job.id] = {}
            self._queue.append((job.id, use_cache))
            self._changed.notify_all()

    def progress(self, job_id: str) -> dict[str, StageProgress]:
        with self._changed:
            return {stage: StageProgress(p.fraction, p.note) for stage, p in self._progress.get(job_id, {}).items()}

    def wait(self, job_id: str, timeout: float) -> None:
        with self._changed:
            self._changed.wait(timeout)

    def is_active(self, job_id: str) -> bool:
        with self._changed:
            return job_id in self._active

    def stop_job(self, job_id: str) -> None:
        with self._changed:
            running_it = self._current == job_id
        if running_it and self._executor is not None:
            self._executor.kill()  # its stage's result would be dropped anyway

    def close(self) -> None:
        atexit.unregister(self.close)
        self._closing.set()
        with self._changed:
            self._queue.clear()
            self._changed.notify_all()
        if self._executor is not None:
            self._executor.kill()
        if self._thread is not None:
            self._thread.join(10)

    # --- the background thread -------------------------------------------------------------
    def _serve(self) -> None:
        from factory.stages import STAGE_MODULES

        self._executor = StageExecutor(self.settings, dict(STAGE_MODULES), worker_id=self.worker_id)
        try:
            self._executor.start()
        except ChildDied as exc:  # the first stage tries again and records what happens
            if not self._closing.is_set():
                log.error("the stage process did not start: %s", exc)
        while not self._closing.is_set():
            with self._changed:
                while not self._queue and not self._closing.is_set():
                    self._changed.wait(1.0)
                if self._closing.is_set():
                    break
                job_id, use_cache = self._queue.popleft()
                self._current = job_id
            try:
                self._run_job(job_id, use_cache)
            except Exception:  # noqa: BLE001 — the job store itself failed: the next job may fare better
                log.exception("running job %s stopped", job_id)
            finally:
                with self._changed:
                    self._current = None
                    self._active.discard(job_id)
                    self._changed.notify_all()
        self._executor.kill()  # closed: whatever close() did not catch while it was starting

    def _run_job(self, job_id: str, use_cache: bool) -> None:
        job = self.jobs.require(job_id)
        stage = job.next_stage if job.status in (JobStatus.QUEUED, JobStatus.INTERRUPTED) else None
        while stage is not None and not self._closing.is_set():
            self._set_progress(job_id, stage, StageProgress())
            try:
                outcome = self._executor.run(job_id, stage, use_cache=use_cache, on_progress=self._on_progress)
            except (TimeLimitExceeded, ChildDied) as exc:
                if self._closing.is_set() or self.jobs.require(job_id).status == JobStatus.CANCELLED:
                    lifecycle.interrupted(self.jobs, job_id, "stopped before it finished")
                    return
                reason = str(exc) if isinstance(exc, TimeLimitExceeded) else f"the process running {stage} stopped ({exc})"
                crash = lifecycle.stage_crashed(self.jobs, job_id, stage, reason, self.policy)
                outcome = crash_outcome(job_id, stage, crash, reason)
            self._notify()
            if outcome.status in ("done", "cached"):
                self._set_progress(job_id, stage, StageProgress(1.0, ""))
            if outcome.status == "retry":
                log.warning("job %s: %s attempt %d failed (%s); next try in %.0f s", job_id, stage, outcome.attempt,
                            outcome.error, outcome.retry_delay)
                if self._closing.wait(outcome.retry_delay):
                    return
            elif outcome.status in ("unrecorded", "skipped"):  # the store is down, or the job is not ours to run
                if outcome.error:
                    log.error("job %s: %s", job_id, outcome.error)
                return
            stage = outcome.next_stage

    def _on_progress(self, job_id: str, stage: str, fraction: float, note: str) -> None:
        self._set_progress(job_id, stage, StageProgress(max(0.0, min(1.0, fraction)), note))

    def _set_progress(self, job_id: str, stage: str, progress: StageProgress) -> None:
        with self._changed:
            self._progress.setdefault(job_id, {})[stage] = progress
            self._changed.notify_all()

    def _notify(self) -> None:
        with self._changed:
            self._changed.notify_all()
