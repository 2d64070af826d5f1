"""The queue worker: takes stage messages from RabbitMQ and runs them with ``run_stage``.

    factory worker --stage render --gpu 0
    factory worker --stage speak --stage check --concurrency 2

How one message flows (threads in brackets)::

    [main]  pika delivers the message  ──▶ hand it to a free slot
    [slot]  StageExecutor.run(job, stage)   (in a killable child process, within its time limit)
    [slot]  add_callback_threadsafe(drain)               ──▶ wakes the main thread
    [main]  publish the next stage's message (confirmed), then ack this one

Only the main thread touches the pika connection (BlockingConnection is not thread-safe); it
spends its time in ``process_data_events`` so AMQP heartbeats flow however long a render takes.
The ack comes after ``run_stage`` returned, i.e. after its result is committed; a worker that
dies before acking loses nothing: RabbitMQ redelivers and ``run_stage`` skips work that is
already done (and the next stage's message is re-sent if the job is waiting for it).

Failures follow ``factory.policy``, decided by ``factory.lifecycle.stage_crashed`` in the same
transaction that records the crash (the in-process dispatcher follows the same rule):
* an internal error, a time-limit overrun or a crashed stage process: the message goes to the
  back-off delay queue with the attempt number counted in the database, or — after the last
  attempt — the job is already dead and the message is parked in the dead-letter queue;
* processes known dead (this host: pid gone; elsewhere: heartbeat silent) have their open stage
  runs ended as interrupted by every worker's periodic sweep, and are forgotten after a while;
* the broker goes away: reconnect with exponential back-off (capped); work that finished
  meanwhile still publishes its next stage on the new connection (the old delivery is
  redelivered by the broker and skipped);
* SIGTERM / SIGINT: stop consuming, let running stages finish for up to ``grace_seconds``,
  then kill them and requeue their messages; exit 0.
"""

from __future__ import annotations

import collections
import logging
import os
import random
import signal
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from factory import lifecycle
from factory.executor import ChildDied, StageExecutor, TimeLimitExceeded
from factory.policy import StagePolicy
from factory.runner import Outcome, crash_outcome
from factory.settings import Settings
from factory.stages import extra_stage_modules
from factory.store import JobStatus, JobStore, WorkerBeat, utcnow
from queues.broker import Broker, StageMessage
from queues.topology import QueueConfig

log = logging.getLogger(__name__)


@dataclass
class WorkerOptions:
    stages: list[str]
    gpu: str | None = None
    """Sets CUDA_VISIBLE_DEVICES for the stage processes: one render worker per GPU."""
    concurrency: int = 1
    """Stages run at once (one child process each). Also the prefetch: one message per slot."""
    grace_seconds: float = 30.0
    """On SIGTERM, how long running stages may take to finish before they are requeued."""
    heartbeat_seconds: float = 5.0
    sweep_every_beats: int = 6
    """Every this many heartbeats, end the open stage runs of dead workers (lifecycle)."""
    reconnect_max_delay: float = 30.0
    worker_id: str = ""


@dataclass
class _Delivery:
    generation: int
    """Which connection delivered it: a tag is only valid on its own connection."""
    tag: int
    message: StageMessage
    priority: int


@dataclass
class _Slot:
    executor: StageExecutor
    current: _Delivery | None = None
    since: Any = None
    start_attempted: threading.Event = field(default_factory=threading.Event)   # first start (and warm-up) over, ok or not


@dataclass
class WorkerStats:
    handled: int = 0
    retried: int = 0
    dead: int = 0
    timeouts: int = 0
    reconnects: int = 0
    by_status: dict[str, int] = field(default_factory=lambda: collections.defaultdict(int))


class Worker:
    def __init__(self, settings: Settings, options: WorkerOptions, stage_modules: dict[str, str] | None = None):
        from factory import stages as stage_registry

        self.settings = settings
        self.options = options
        self.config = QueueConfig.from_settings(settings)
        self.stage_modules = {**extra_stage_modules(), **(stage_modules or {})}
        stage_registry.STAGE_MODULES.update(self.stage_modules)
        unknown = [s for s in options.stages if s not in stage_registry.STAGE_MODULES]
        if unknown:
            raise ValueError(f"unknown stage(s): {', '.join(unknown)}; known: {', '.join(stage_registry.STAGE_MODULES)}")
        self.id = options.worker_id or lifecycle.worker_identity("+".join(options.stages))
        self.policy = StagePolicy.from_settings(settings)
        if options.gpu is not None:
            os.environ["CUDA_VISIBLE_DEVICES"] = options.gpu
        self.jobs = JobStore(settings.resolved_database_url)
        self.broker = Broker(settings.amqp_url, self.config)
        self.generation = 0
        self.stopping = False
        self.stop_requested_at: float | None = None
        self.stats = WorkerStats()
        self.started_at = utcnow()
        self._pending: collections.deque[_Delivery] = collections.deque()
        self._pending_ready = threading.Condition()
        self._completions: collections.deque[tuple[_Delivery, Outcome]] = collections.deque()
        self._consumer_tags: list[str] = []
        self.slots = [
            _Slot(StageExecutor(settings, self.stage_modules, gpu=options.gpu, worker_id=self.id,
                                warm_stages=tuple(options.stages)))
            for _ in range(max(1, options.concurrency))
        ]

    # --- life cycle --------------------------------------------------------------------------
    def run(self) -> WorkerStats:
        """Serve until SIGTERM/SIGINT (or ``stop()``); returns counters."""
        self._install_signal_handlers()
        threads = [threading.Thread(target=self._slot_loop, args=(slot,), daemon=True, name=f"slot-{i}") for i, slot in enumerate(self.slots)]
        threads.append(threading.Thread(target=self._heartbeat_loop, daemon=True, name="heartbeat"))
        for t in threads:
            t.start()
        # take no message before the stage processes are up and warm (e.g. Sonic compiled): a message
        # would otherwise sit unacked here for minutes while another worker could run it
        for slot in self.slots:
            while not (slot.start_attempted.wait(1.0) or self.stopping):
                pass
        delay = 0.5
        while not (self.stopping and not self._busy()):
            try:
                self._connect()
                delay = 0.5
                self._serve()
            except Exception as exc:  # the broker went away (or refused us): back off, retry
                if not _is_connection_problem(exc):
                    raise
                self.broker.close()
                self._drop_pending()
                if self.stopping and not self._busy():
                    break
                self.stats.reconnects += 1
                wait = min(delay, self.options.reconnect_max_delay) * random.uniform(0.8, 1.2)
                log.warning("worker %s: broker connection lost (%r); reconnecting in %.1f s", self.id, exc, wait)
                self._sleep_serving_completions(wait)
                delay *= 2
        self.broker.close()
        with self._pending_ready:
            self._pending_ready.notify_all()
        for slot in self.slots:
            slot.executor.stop()
        self._beat()
        log.info("worker %s stopped: %s", self.id, self.stats)
        return self.stats

    def stop(self) -> None:
        """Begin a graceful stop (what SIGTERM does). Safe from any thread."""
        if not self.stopping:
            self.stopping = True
            self.stop_requested_at = time.monotonic()
        with self._pending_ready:
            self._pending_ready.notify_all()

    def _install_signal_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stop())

    # --- the connection (main thread only) ---------------------------------------------------
    def _connect(self) -> None:
        self.broker.connect()
        self.generation += 1
        # Every registered stage (the consumed ones included: __init__ checked they are registered).
        self.broker.declare(self.settings_pipeline_stages())
        self._consume_channel = self.broker.connection.channel()
        # One unacked message per slot across all this worker's queues (global_qos: per
        # channel, not per consumer): priorities keep working, nothing is hoarded.
        self._consume_channel.basic_qos(prefetch_count=len(self.slots), global_qos=True)
        self._consumer_tags = [
            self._consume_channel.basic_consume(self.config.work_queue(stage), self._on_message)
            for stage in self.options.stages
        ]
        log.info("worker %s consuming %s", self.id, ", ".join(self.options.stages))

    def settings_pipeline_stages(self) -> list[str]:
        """Stages this worker may publish to (the whole registry): declared up front."""
        from factory import stages as stage_registry

        return list(stage_registry.STAGE_MODULES)

    def _serve(self) -> None:
        cancelled = False
        while True:
            self.broker.connection.process_data_events(time_limit=0.5)
            self._drain_completions()
            if self.stopping:
                if not cancelled:
                    for tag in self._consumer_tags:
                        self._consume_channel.basic_cancel(tag)
                    cancelled = True
                    self._requeue_pending()
                if not self._busy():
                    return
                if time.monotonic() - (self.stop_requested_at or 0) > self.options.grace_seconds:
                    for slot in self.slots:
                        if slot.current is not None:
                            slot.executor.kill()  # its slot thread reports "requeue"

    def _on_message(self, channel, method, properties, body: bytes) -> None:
        try:
            message = StageMessage.from_body(body)
        except (ValueError, KeyError, TypeError) as exc:
            log.error("dropping malformed message %r: %s", body[:200], exc)
            channel.basic_nack(method.delivery_tag, requeue=False)
            return
        delivery = _Delivery(self.generation, method.delivery_tag, message, properties.priority or 0)
        with self._pending_ready:
            self._pending.append(delivery)
            self._pending_ready.notify()

    def _drain_completions(self) -> None:
        while self._completions:
            delivery, answer = self._completions.popleft()
            self._finish(delivery, answer)

    def _finish(self, delivery: _Delivery, outcome: Outcome) -> None:
        """After a stage ran: publish what comes next, then ack (main thread)."""
        message, current = delivery.message, delivery.generation == self.generation
        channel = self._consume_channel
        self.stats.handled += 1
        self.stats.by_status[outcome.status] += 1

        if outcome.status == "requeue":  # stopped by SIGTERM before it finished
            if current:
                channel.basic_nack(delivery.tag, requeue=True)
            return
        if outcome.status == "unrecorded":  # the job store is down: the message's count bounds retries
            outcome.attempt, outcome.status = message.attempt, "retry"
            if self.policy.gives_up_after(message.attempt):
                outcome.status = "dead"
        if outcome.status in ("retry", "dead") and not current:
            return  # the broker redelivers the old message: that is the retry
        if outcome.status == "retry":
            retry = StageMessage(message.job_id, message.stage, outcome.attempt + 1, message.trace_id)
            wait = self.broker.publish_retry(retry, delivery.priority, error=outcome.error or "")
            self.stats.retried += 1
            log.info("job %s: %s attempt %d failed (%s); retry in %.1f s", message.job_id, message.stage,
                     outcome.attempt, outcome.error, wait)
        elif outcome.status == "dead":
            self.broker.publish_dead(StageMessage(message.job_id, message.stage, outcome.attempt, message.trace_id),
                                     outcome.error or "", delivery.priority)
            self.stats.dead += 1
            log.warning("job %s: %s dead after %d attempts: %s", message.job_id, message.stage, outcome.attempt, outcome.error)
        elif outcome.next_stage and (outcome.status != "skipped" or self._job_waits_for(message.job_id, outcome.next_stage)):
            # A skipped (redelivered/duplicate) message re-sends the next stage only when the
            # job sits queued for it: that is the "lost between commit and publish" case.
            self.broker.publish_stage(StageMessage(message.job_id, outcome.next_stage, 1, message.trace_id), delivery.priority)
        if current:
            channel.basic_ack(delivery.tag)

    def _job_waits_for(self, job_id: str, stage: str) -> bool:
        job = self.jobs.get(job_id)
        return job is not None and job.status == JobStatus.QUEUED and job.next_stage == stage

    def _requeue_pending(self) -> None:
        """Deliveries not started yet go back to the queue at once (stopping)."""
        with self._pending_ready:
            pending, self._pending = list(self._pending), collections.deque()
        for delivery in pending:
            if delivery.generation == self.generation:
                self._consume_channel.basic_nack(delivery.tag, requeue=True)

    def _drop_pending(self) -> None:
        """The connection died: its unstarted deliveries will be redelivered by the broker."""
        with self._pending_ready:
            self._pending.clear()

    def _sleep_serving_completions(self, seconds: float) -> None:
        """While disconnected, keep finished work waiting; just sleep (stop early on SIGTERM)."""
        end = time.monotonic() + seconds
        while time.monotonic() < end and not (self.stopping and not self._busy()):
            time.sleep(0.1)

    def _busy(self) -> bool:
        return any(slot.current is not None for slot in self.slots) or bool(self._completions)

    # --- slots (one thread each) --------------------------------------------------------------
    def _start_process(self, slot: _Slot) -> None:
        """Start the slot's stage process (imports and warm-up included); a failure is logged and
        the next message tries again."""
        try:
            slot.executor.start()
        except ChildDied as exc:
            log.error("worker %s: %s", self.id, exc)

    def _slot_loop(self, slot: _Slot) -> None:
        self._start_process(slot)   # before the first message arrives
        slot.start_attempted.set()
        while True:
            with self._pending_ready:
                while not self._pending:
                    if self.stopping:
                        return
                    self._pending_ready.wait(1.0)
                delivery = self._pending.popleft()
                slot.current, slot.since = delivery, utcnow()
            answer = self._run(slot, delivery)
            if not self.stopping and not slot.executor.is_running():
                # killed at its time limit, or crashed: start (and warm up) the next process before
                # this message is acked, so the next message does not wait inside its own time limit
                self._start_process(slot)
            self._completions.append((delivery, answer))
            slot.current = None
            self._wake_main()

    def _run(self, slot: _Slot, delivery: _Delivery) -> Outcome:
        job_id, stage = delivery.message.job_id, delivery.message.stage
        try:
            return slot.executor.run(job_id, stage)
        except (TimeLimitExceeded, ChildDied) as exc:
            timed_out = isinstance(exc, TimeLimitExceeded)
            self.stats.timeouts += timed_out
            try:
                if self.stopping and not timed_out:  # killed by us after the grace period
                    lifecycle.interrupted(self.jobs, job_id, "the worker stopped before the stage finished")
                    return Outcome(job_id, stage, "requeue")
                reason = str(exc) if timed_out else f"the process running {stage} stopped ({exc})"
                crash = lifecycle.stage_crashed(self.jobs, job_id, stage, reason, self.policy)
                return crash_outcome(job_id, stage, crash, reason)
            except KeyError:  # no such job
                return Outcome(job_id, stage, "skipped")
            except Exception:  # noqa: BLE001 — the job store is down
                log.exception("worker %s: could not record the end of %s of job %s", self.id, stage, job_id)
                return Outcome(job_id, stage, "unrecorded", error=str(exc))

    def _wake_main(self) -> None:
        connection = self.broker.connection
        try:
            if connection is not None and connection.is_open:
                connection.add_callback_threadsafe(self._drain_completions)
        except Exception:  # closed meanwhile: the main loop polls completions anyway
            pass

    # --- heartbeats into the database --------------------------------------------------------
    def _heartbeat_loop(self) -> None:
        beats = 0
        while not (self.stopping and not self._busy()):
            self._beat()
            if beats % self.options.sweep_every_beats == 0:
                self._resume_jobs_of_dead_workers()
            beats += 1
            time.sleep(self.options.heartbeat_seconds)

    def _resume_jobs_of_dead_workers(self) -> None:
        """End the runs of workers known dead and send their jobs' stages out again: RabbitMQ
        redelivers a dead worker's message only once its connection is seen to drop, and a
        redelivery that came while the worker still looked alive was skipped."""
        from queues.broker import enqueue_stage

        try:
            for job_id in lifecycle.interrupt_runs_of_dead_workers(self.jobs, self.policy):
                try:
                    job = lifecycle.resumed(self.jobs, job_id)
                except lifecycle.TransitionRefused:  # it moved on meanwhile
                    continue
                enqueue_stage(self.settings, job.id, job.next_stage, priority=job.priority, trace_id=job.trace_id)
                log.warning("worker %s: job %s resumed at %s (its worker died)", self.id, job.id, job.next_stage)
        except Exception as exc:  # noqa: BLE001 — the database or the broker is down: next time
            log.warning("worker %s: sweep of dead workers failed: %s", self.id, exc)

    def _beat(self) -> None:
        busy = next((slot for slot in self.slots if slot.current is not None), None)
        try:
            self.jobs.heartbeat(
                WorkerBeat(
                    id=self.id,
                    hostname=socket.gethostname(),
                    stages=list(self.options.stages),
                    started_at=self.started_at,
                    current_job=busy.current.message.job_id if busy and busy.current else None,
                    current_stage=busy.current.message.stage if busy and busy.current else None,
                    current_since=busy.since if busy else None,
                )
            )
        except Exception as exc:  # the database is down: the worker keeps going
            log.warning("worker %s: heartbeat failed: %s", self.id, exc)


def _is_connection_problem(exc: Exception) -> bool:
    import pika.exceptions

    # AMQPError covers connection and channel errors, stream loss and unconfirmed publishes.
    return isinstance(exc, (pika.exceptions.AMQPError, ConnectionError, OSError))
