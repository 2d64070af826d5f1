"""Runs stages in a child process that can be killed: how a worker enforces time limits.

A Python thread cannot be stopped from outside, so a stage that hangs (a stuck GPU kernel, a
livelocked decoder) would hold its worker slot for ever. Instead each worker slot owns one
long-lived child process (started with ``spawn``: no inherited sockets or locks) that imports
the stage code once and then runs ``factory.runner.run_stage`` for each message it is sent.
The parent waits for the answer at most the stage's time limit; on overrun it SIGKILLs the
child, records the attempt as failed ("time limit exceeded") and starts a fresh child for the
next message. The same isolation means a segfault in native code (ffmpeg, onnxruntime, CUDA)
fails one attempt instead of the whole worker.

Cost: one process start per slot (plus per killed stage), not per message; a message costs a
pipe round trip (well under a millisecond, see bench/bench_queues.py). Each start also runs the
served stages' warm-up hooks (``Stage.warm_up``: e.g. Sonic's compile) before the child is ready.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import time
from dataclasses import dataclass

from factory.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class StageAnswer:
    """What the child reports back (a picklable copy of ``factory.runner.Outcome``)."""

    status: str
    next_stage: str | None
    seconds: float
    error: str | None


def _child_main(conn, settings: Settings, stage_modules: dict[str, str], gpu: str | None, worker_id: str,
                warm_stages: tuple[str, ...] = (), log_level: int = logging.WARNING) -> None:
    # Before anything imports torch/CUDA: this child sees only its GPU.
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu
    _die_with_parent()
    # spawned: nothing of the parent's logging set-up carries over (the same format as the CLI's)
    logging.basicConfig(level=log_level, format="%(levelname)s %(name)s: %(message)s")
    # The parent decides when to stop: ignore Ctrl-C / SIGTERM sent to the process group.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    from factory import stages
    from factory.artifacts import open_store
    from factory.runner import run_stage
    from factory.store import JobStore

    stages.STAGE_MODULES.update(stage_modules)
    jobs = JobStore(settings.resolved_database_url, migrate=False)
    artifacts = open_store(settings)
    conn.send(("started", os.getpid()))
    _warm_up(settings, warm_stages)
    conn.send(("ready", os.getpid()))
    while True:
        try:
            request = conn.recv()
        except EOFError:  # the parent went away
            return
        if request is None:
            return
        job_id, stage_name = request
        try:
            outcome = run_stage(jobs, artifacts, settings, job_id, stage_name, worker=worker_id)
            conn.send(StageAnswer(outcome.status, outcome.next_stage, outcome.seconds, outcome.error))
        except KeyError as exc:  # no such job (deleted, or a message from another database)
            conn.send(StageAnswer("skipped", None, 0.0, f"unknown job: {exc}"))
        except Exception as exc:  # the runner itself failed (e.g. database down): retry later
            log.exception("run_stage crashed for %s/%s", job_id, stage_name)
            conn.send(StageAnswer("error", stage_name, 0.0, f"{type(exc).__name__}: {exc}"))


def _warm_up(settings: Settings, stage_names: tuple[str, ...]) -> None:
    """Run each stage's optional warm-up hook (``Stage.warm_up``) before the first message."""
    from factory import stages

    for name in stage_names:
        started = time.monotonic()
        try:   # a broken install is the runner's to record on the job, not a reason to die here
            hook = stages.get_stage(name).warm_up
            if hook is not None:
                hook(settings)
        except Exception as exc:  # the jobs will report the same problem to the editor
            log.error("warm-up of the %s stage failed after %.0f s: %s", name, time.monotonic() - started, exc)


def _die_with_parent() -> None:
    """Linux: have the kernel SIGKILL this child when the worker dies, so a killed worker
    leaves no orphan still running (and committing) a stage nobody is waiting for."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
        if os.getppid() == 1:  # the parent died before prctl took effect
            os._exit(1)
    except OSError:  # not Linux / no glibc: the EOF on the pipe still ends an idle child
        pass


DEFAULT_TIME_LIMIT = 600.0   # seconds, for a stage that `stage_time_limits` does not name
WARM_UP_GRACE_SECONDS = 60.0  # a warm-up may take the stage's time limit plus this


class TimeLimitExceeded(Exception):
    pass


class ChildDied(Exception):
    pass


class StageExecutor:
    """One killable child process that runs one stage at a time."""

    def __init__(self, settings: Settings, stage_modules: dict[str, str], gpu: str | None = None, worker_id: str = "",
                 warm_stages: tuple[str, ...] = ()):
        """warm_stages: stages whose warm-up hook the child runs when it starts (before "ready")."""
        self.settings = settings
        self.stage_modules = dict(stage_modules)
        self.gpu = gpu
        self.worker_id = worker_id
        self.warm_stages = tuple(warm_stages)
        self._ctx = multiprocessing.get_context("spawn")
        self.process = None
        self.conn = None
        self.starts = 0

    def start(self) -> None:
        """Start the child and wait until it is ready (after its warm-up); raises ChildDied."""
        parent_conn, child_conn = self._ctx.Pipe()
        self.conn = parent_conn      # before the process exists: stop() may run from another thread
        self.process = self._ctx.Process(
            target=_child_main,
            args=(child_conn, self.settings, self.stage_modules, self.gpu, self.worker_id, self.warm_stages,
                  logging.getLogger().getEffectiveLevel()),
            daemon=True,
            name=f"stage-executor-{self.worker_id}",
        )
        self.process.start()
        child_conn.close()
        self.starts += 1
        # Local references: another thread may kill() (and reset) us while we wait.
        conn, process = self.conn, self.process
        if self._receive(conn, process, 120) is None:   # ("started", pid)
            hung = process.is_alive()
            self.kill()
            raise ChildDied("the stage process did not start within 120 s" if hung
                            else f"the stage process died while starting (exit code {process.exitcode})")
        # the hooks run one after another; each may take as long as one run of its stage
        warming = ", ".join(self.warm_stages)
        limit = 5.0
        if warming:
            limit = sum(self.settings.time_limit(name) or DEFAULT_TIME_LIMIT for name in self.warm_stages)
            limit += WARM_UP_GRACE_SECONDS
            log.info("stage process %d: warming up %s (at most %.0f s)", process.pid, warming, limit)
        started = time.monotonic()
        if self._receive(conn, process, limit) is None:   # ("ready", pid)
            if self.process is not process:   # stopped by the worker meanwhile: not the warm-up's fault
                raise ChildDied("the stage process was stopped before it was ready")
            hung = process.is_alive()
            self.kill()
            problem = f"did not get ready within {limit:.0f} s" if hung else f"died (exit code {process.exitcode})"
            if warming:   # a warm-up that hangs or kills the process would do so again
                self.warm_stages = ()
                problem += f" while warming up {warming}; the next one starts without a warm-up"
            raise ChildDied(f"the stage process {problem}")
        if warming:
            log.info("stage process %d: warm-up done in %.0f s", process.pid, time.monotonic() - started)

    def _receive(self, conn, process, seconds: float):
        """The child's next message, or None when it does not come within `seconds` (or the child
        died, or another thread killed it meanwhile)."""
        deadline = time.monotonic() + seconds
        while self.process is process and process.is_alive():
            try:
                if conn.poll(max(0.0, min(1.0, deadline - time.monotonic()))):
                    return conn.recv()
            except (EOFError, OSError):
                return None
            if time.monotonic() >= deadline:
                return None
        try:   # it may have answered just before it exited
            return conn.recv() if self.process is process and conn.poll(0) else None
        except (EOFError, OSError):
            return None

    def is_running(self) -> bool:
        return self.process is not None and self.process.is_alive()

    def run(self, job_id: str, stage_name: str, time_limit: float | None) -> StageAnswer:
        """Run one stage; raises TimeLimitExceeded (child killed) or ChildDied (it crashed)."""
        if not self.is_running():
            self.start()
        # Local references: another thread may kill() (and reset) us while we wait.
        conn, process = self.conn, self.process
        if conn is None:   # killed (a stopping worker) between start() and here
            raise ChildDied("the stage process was stopped")
        conn.send((job_id, stage_name))
        deadline = None if time_limit is None else time.monotonic() + time_limit
        while True:
            wait = 1.0 if deadline is None else max(0.0, min(1.0, deadline - time.monotonic()))
            try:
                if conn.poll(wait):
                    return conn.recv()
            except (EOFError, OSError):
                self.kill()
                raise ChildDied(f"the stage process died (exit code {process.exitcode})") from None
            if not process.is_alive():
                self.kill()
                raise ChildDied(f"the stage process died (exit code {process.exitcode})")
            if deadline is not None and time.monotonic() >= deadline:
                self.kill()
                raise TimeLimitExceeded(f"time limit of {time_limit:g} s exceeded")

    def kill(self) -> None:
        process, conn = self.process, self.conn
        self.process = self.conn = None
        if process is not None:
            if process.is_alive():
                process.kill()
            process.join(5)
        if conn is not None:
            conn.close()

    def stop(self) -> None:
        """Ask an idle child to exit; kill it if it does not."""
        if self.process is not None and self.process.is_alive():
            try:
                self.conn.send(None)
                self.process.join(5)
            except (OSError, BrokenPipeError):
                pass
        self.kill()
