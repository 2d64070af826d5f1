"""Runs stages in a child process that can be killed: how both run modes enforce time limits.

A Python thread cannot be stopped from outside, so a stage that hangs (a stuck GPU kernel, a
livelocked decoder) would hold its runner for ever. Instead each runner — the in-process
dispatcher, each slot of a queue worker — owns one long-lived child process (started with
``spawn``: no inherited sockets or locks) that imports the stage code once and then runs
``factory.runner.run_stage`` for each request. The parent waits for the answer at most the
stage's time limit (``factory.policy``); on overrun it SIGKILLs the child and starts a fresh one
for the next request. The same isolation means a segfault in native code (ffmpeg, onnxruntime,
CUDA) fails one attempt instead of the whole process.

The child's temporary files all live in one scratch folder of its own (``TMPDIR``), removed
when the child is killed or stopped; folders left behind by a parent that was itself killed are
removed by the next executor that starts on the host.

Cost: one process start per runner (plus one per killed stage), not per stage; a stage costs a
pipe round trip (see bench/bench_queues.py). Each start also runs the served stages' warm-up
hooks (``Stage.warm_up``: e.g. Sonic's compile) before the child is ready.
"""

from __future__ import annotations

import atexit
import glob
import logging
import multiprocessing
import multiprocessing.util
import os
import shutil
import signal
import tempfile
import threading
import time
import weakref
from typing import Callable

from factory.policy import StagePolicy
from factory.runner import Outcome
from factory.settings import Settings

log = logging.getLogger(__name__)

SCRATCH_PREFIX = "factory-scratch-"
WARM_UP_GRACE_SECONDS = 60.0  # a warm-up may take the stage's time limit plus this

ProgressSink = Callable[[str, str, float, str], None]
"""Called in the parent with (job id, stage, fraction done, note) as the child reports progress."""


def _child_main(conn, settings: Settings, stage_modules: dict[str, str], gpu: str | None, worker_id: str,
                warm_stages: tuple[str, ...], scratch: str, log_level: int = logging.WARNING) -> None:
    # Before anything imports torch/CUDA: this child sees only its GPU.
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu
    os.environ["TMPDIR"] = scratch  # every temporary file of the stages (and their libraries) in here
    tempfile.tempdir = scratch
    _die_with_parent()
    # spawned: nothing of the parent's logging set-up carries over (the same format as the CLI's)
    logging.basicConfig(level=log_level, format="%(levelname)s %(name)s: %(message)s")
    # The parent decides when to stop: ignore Ctrl-C / SIGTERM sent to the process group.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    from factory import stages
    from factory.artifacts import open_store
    from factory.runner import run_stage
    from factory.stages import no_progress
    from factory.store import JobStore

    stages.STAGE_MODULES.update(stage_modules)
    import factory.media  # noqa: F401 — every stage reads or writes media: load numpy, PyAV and ffmpeg's wrapper now
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
        job_id, stage_name, use_cache, report_progress = request

        def progress(fraction: float, note: str = "", job_id: str = job_id, stage_name: str = stage_name) -> None:
            conn.send(("progress", job_id, stage_name, float(fraction), str(note)))

        try:
            outcome = run_stage(jobs, artifacts, settings, job_id, stage_name, use_cache=use_cache,
                                progress=progress if report_progress else no_progress, worker=worker_id)
        except KeyError:  # no such job (deleted, or a message from another database)
            outcome = Outcome(job_id, stage_name, "skipped", error="unknown job")
        except Exception:  # the runner itself failed (e.g. the job store is down): nothing recorded
            log.exception("run_stage could not record %s of job %s", stage_name, job_id)
            outcome = Outcome(job_id, stage_name, "unrecorded", next_stage=stage_name,
                              error=f"{stage_name} could not be recorded (the job store is unreachable)")
        conn.send(("done", outcome))


def _warm_up(settings: Settings, stage_names: tuple[str, ...]) -> None:
    """Run each stage's optional warm-up hook (``Stage.warm_up``) before the first request."""
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
    """Linux: have the kernel SIGKILL this child when its parent dies, so a killed worker
    leaves no orphan still running (and committing) a stage nobody is waiting for."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
        if os.getppid() == 1:  # the parent died before prctl took effect
            os._exit(1)
    except OSError:  # not Linux / no glibc: the EOF on the pipe still ends an idle child
        pass


def remove_orphaned_scratch() -> None:
    """Scratch folders whose executor process no longer exists (it was killed) are removed."""
    from factory.lifecycle import pid_alive

    for folder in glob.glob(os.path.join(tempfile.gettempdir(), f"{SCRATCH_PREFIX}*")):
        pid = os.path.basename(folder)[len(SCRATCH_PREFIX):].split("-")[0]
        if pid.isdigit() and not pid_alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


_LIVE: weakref.WeakSet[StageExecutor] = weakref.WeakSet()


@atexit.register  # registered after multiprocessing's own exit hook, so it runs before it
def _kill_all_at_exit() -> None:
    """A stage process ignores SIGTERM (its owner decides when it stops), so multiprocessing's
    exit hook, which terminates and then joins daemon children, would wait for it for ever."""
    for executor in list(_LIVE):
        executor.kill()


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
        self.policy = StagePolicy.from_settings(settings)
        self.stage_modules = dict(stage_modules)
        self.gpu = gpu
        self.worker_id = worker_id
        self.warm_stages = tuple(warm_stages)
        self._ctx = multiprocessing.get_context("spawn")
        self.process = None
        self.conn = None
        self.scratch: str | None = None
        self._fields_lock = threading.Lock()
        self.starts = 0

    def start(self) -> None:
        """Start the child and wait until it is ready (after its warm-up); raises ChildDied."""
        remove_orphaned_scratch()
        parent_conn, child_conn = self._ctx.Pipe()
        self.conn = parent_conn      # before the process exists: stop() may run from another thread
        self.scratch = tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-")
        process = self._ctx.Process(
            target=_child_main,
            args=(child_conn, self.settings, self.stage_modules, self.gpu, self.worker_id, self.warm_stages,
                  self.scratch, logging.getLogger().getEffectiveLevel()),
            daemon=True,
            name=f"stage-executor-{self.worker_id}",
        )
        process.start()
        with self._fields_lock:  # kill() may run from another thread at any moment
            stopped = self.conn is not parent_conn
            if not stopped:
                self.process = process  # published only once started: kill() joins what it finds
        if stopped:  # killed while starting: this child is unwanted
            process.kill()
            process.join(5)
            child_conn.close()
            raise ChildDied("the stage process was stopped while it started")
        _LIVE.add(self)
        child_conn.close()
        self.starts += 1
        # Local references: another thread may kill() (and reset) us while we wait.
        conn, process = self.conn, self.process
        if self._receive(conn, process, 120) is None:   # ("started", pid)
            hung = self._still_running(process)
            self.kill()
            raise ChildDied("the stage process did not start within 120 s" if hung
                            else f"the stage process died while starting (exit code {process.exitcode})")
        # the hooks run one after another; each may take as long as one run of its stage
        warming = ", ".join(self.warm_stages)
        limit = 5.0
        if warming:
            limit = sum(self.policy.time_limit(name) for name in self.warm_stages) + WARM_UP_GRACE_SECONDS
            log.info("stage process %d: warming up %s (at most %.0f s)", process.pid, warming, limit)
        started = time.monotonic()
        if self._receive(conn, process, limit) is None:   # ("ready", pid)
            if self.process is not process:   # stopped by the owner meanwhile: not the warm-up's fault
                raise ChildDied("the stage process was stopped before it was ready")
            hung = self._still_running(process)
            self.kill()
            problem = f"did not get ready within {limit:.0f} s" if hung else f"died (exit code {process.exitcode})"
            if warming:   # a warm-up that hangs or kills the process would do so again
                self.warm_stages = ()
                problem += f" while warming up {warming}; the next one starts without a warm-up"
            raise ChildDied(f"the stage process {problem}")
        if warming:
            log.info("stage process %d: warm-up done in %.0f s", process.pid, time.monotonic() - started)

    @staticmethod
    def _still_running(process) -> bool:
        """Judge a child only once it had time to exit: right after its pipe closes, a dying
        process still reads as alive."""
        process.join(2.0)
        return process.is_alive()

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

    def run(self, job_id: str, stage_name: str, *, use_cache: bool = True,
            on_progress: ProgressSink | None = None) -> Outcome:
        """Run one stage within its time limit; raises TimeLimitExceeded (child killed) or
        ChildDied (it crashed, or was killed by another thread)."""
        if not self.is_running():
            self.start()
        # Local references: another thread may kill() (and reset) us while we wait.
        conn, process = self.conn, self.process
        if conn is None:   # killed (a stopping worker) between start() and here
            raise ChildDied("the stage process was stopped")
        time_limit = self.policy.time_limit(stage_name)
        conn.send((job_id, stage_name, use_cache, on_progress is not None))
        deadline = time.monotonic() + time_limit
        while True:
            try:
                if conn.poll(max(0.0, min(1.0, deadline - time.monotonic()))):
                    message = conn.recv()
                    if message[0] == "done":
                        return message[1]
                    if on_progress is not None:  # ("progress", job id, stage, fraction, note)
                        on_progress(*message[1:])
                    continue
            except (EOFError, OSError):
                self.kill()
                raise ChildDied(f"the stage process died (exit code {process.exitcode})") from None
            if not process.is_alive():
                self.kill()
                raise ChildDied(f"the stage process died (exit code {process.exitcode})")
            if time.monotonic() >= deadline:
                self.kill()
                raise TimeLimitExceeded(f"{stage_name} stopped at its time limit of {time_limit:g} s")

    def kill(self) -> None:
        with self._fields_lock:
            process, conn, scratch = self.process, self.conn, self.scratch
            self.process = self.conn = self.scratch = None
        if process is not None:
            if process.is_alive():
                process.kill()
            process.join(5)
        if conn is not None:
            conn.close()
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)

    def stop(self) -> None:
        """Ask an idle child to exit; kill it if it does not."""
        if self.process is not None and self.process.is_alive():
            try:
                self.conn.send(None)
                self.process.join(5)
            except (OSError, BrokenPipeError):
                pass
        self.kill()
