"""Embedded mode: run jobs in a background thread so the page stays responsive.

Used by the HTTP API and the Streamlit console (which re-runs its page script on every click,
so nothing that outlives a run can live in the script itself). ``BackgroundJobs`` is created
once per server process and holds:

* one worker thread: jobs run one at a time, in submit order (a render uses every core; two at
  once only make both slower);
* the live progress of each job's stages, as the stages report it (fraction done and a note),
  which the page polls. The job store already has the finished stages and their seconds; only
  the "how far along is the running stage" part needs to live here.

In distributed mode nothing runs here: workers run the stages and the page only reads the store.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass
class StageProgress:
    fraction: float = 0.0
    note: str = ""
    outcome: str | None = None
    """None while running; then the runner's outcome (done, cached, failed, review, rerun, error)."""


class BackgroundJobs:
    def __init__(self, service):
        self.service = service
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="factory-job")
        self._lock = threading.Lock()
        self._progress: dict[str, dict[str, StageProgress]] = {}
        self._futures: dict[str, Future] = {}
        self._crashes: dict[str, str] = {}

    def start(self, job_id: str) -> None:
        """Queue the job to run in the background (a no-op if it is already queued or running)."""
        with self._lock:
            if job_id in self._futures and not self._futures[job_id].done():
                return
            self._progress[job_id] = {}
            self._crashes.pop(job_id, None)
            self._futures[job_id] = self._pool.submit(self._run, job_id)

    def is_active(self, job_id: str) -> bool:
        """True while the job waits for the worker thread or runs in it."""
        with self._lock:
            future = self._futures.get(job_id)
        return future is not None and not future.done()

    def progress(self, job_id: str) -> dict[str, StageProgress]:
        """A copy of the live progress per stage name (empty if the job never ran here)."""
        with self._lock:
            return {stage: StageProgress(p.fraction, p.note, p.outcome) for stage, p in self._progress.get(job_id, {}).items()}

    def crash(self, job_id: str) -> str | None:
        """Why the runner itself stopped (not a stage's error: those are on the job), if it did."""
        with self._lock:
            return self._crashes.get(job_id)

    def wait(self, job_id: str, timeout: float | None = None) -> None:
        """Block until the job's background run ends (for tests and scripts)."""
        with self._lock:
            future = self._futures.get(job_id)
        if future is not None:
            future.exception(timeout=timeout)

    # --- the worker thread ------------------------------------------------------------------
    def _run(self, job_id: str) -> None:
        def progress_for(stage: str):
            self._set(job_id, stage, StageProgress())

            def report(fraction: float, note: str = "") -> None:
                self._set(job_id, stage, StageProgress(max(0.0, min(1.0, float(fraction))), note))

            return report

        def on_stage(outcome) -> None:
            with self._lock:
                current = self._progress.setdefault(job_id, {}).get(outcome.stage, StageProgress())
                fraction = 1.0 if outcome.status in ("done", "cached") else current.fraction
                note = outcome.error or current.note
                self._progress[job_id][outcome.stage] = StageProgress(fraction, note, outcome.status)

        try:
            self.service.run(job_id, progress_for=progress_for, on_stage=on_stage)
        except Exception as exc:  # noqa: BLE001 — shown to the editor, and the job is closed
            # The runner records stage errors on the job itself; an exception that escapes it
            # (a stage package that cannot be imported, the database gone) would otherwise leave
            # the job "queued" forever with no reason. Record the reason and close the job.
            log.exception("background run of job %s stopped", job_id)
            reason = f"{type(exc).__name__}: {exc}"
            with self._lock:
                self._crashes[job_id] = reason
            self._close_job(job_id, reason)

    def _set(self, job_id: str, stage: str, progress: StageProgress) -> None:
        with self._lock:
            self._progress.setdefault(job_id, {})[stage] = progress

    def _close_job(self, job_id: str, reason: str) -> None:
        from factory.runner import give_up
        from factory.store import JobStatus

        try:
            job = self.service.get(job_id)
            if job.status not in JobStatus.FINAL:
                give_up(self.service.jobs, job_id, job.next_stage or "run", reason)
        except Exception:  # noqa: BLE001 — the store itself may be what failed
            log.exception("could not record the failure of job %s", job_id)
