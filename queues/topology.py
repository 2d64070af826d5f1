"""The RabbitMQ topology: which queues exist, what they are called, and how retries flow.

For a queue prefix ``factory`` (the default) and the stage ``render``::

    factory.render                 work queue (durable, x-max-priority=10)
    factory.render.retry.2000ms    delay queue: no consumer; x-message-ttl=2000 and
                                   x-dead-letter-* pointing back at factory.render
    factory.render.retry.10000ms   the next back-off step, and so on (one queue per delay)
    factory.dead                   dead letters: messages that used up their attempts

All queues are bound to the default exchange (routing key = queue name), so there is nothing
else to declare. Declaring is idempotent: every worker and every publisher declares what it
uses on start-up, and RabbitMQ accepts a redeclaration with identical arguments. The delay is
part of a delay queue's *name*, so changing the delays later creates new queues instead of
failing with PRECONDITION_FAILED on the old ones.

Retries (back-off): a failed attempt ``n`` is published to the ``n``-th delay queue (the last
one is reused once attempts outnumber delays). Its TTL expires, RabbitMQ dead-letters it back to
the work queue, and a worker picks it up again. One queue per delay (rather than per-message
expiry on one queue) because RabbitMQ only expires messages at the head of a queue: a 60 s
message in front would hold back a 2 s one.

Priorities — why a priority queue and not separate lanes:
    An editor's single job must not wait behind a 1,000-row batch. Each work queue is a
    RabbitMQ priority queue (``x-max-priority``); a message's priority comes from the job
    (batch rows low, an editor's job high) and is kept on retries because dead-lettering keeps
    the message's properties. With *separate lanes* (``render.high`` / ``render.low``) every
    worker would consume from two queues, and RabbitMQ delivers round-robin across a
    consumer's queues, not "high first": a busy batch lane would still get half the slots, and
    the topology and the status view would double. A priority queue gives strict "next free
    worker takes the most urgent message" with one queue per stage. The catch — priorities
    only reorder messages that are *not yet delivered* — is why workers use a prefetch of one
    message per slot: a worker never hoards batch messages ahead of an urgent one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from factory.settings import Settings

MAX_PRIORITY = 10
"""RabbitMQ advises at most 10 levels: each level is a sub-queue inside the broker.

The job priorities themselves (``EDITOR_PRIORITY``, ``BATCH_PRIORITY``) live in
``factory.service``, which sets them when it enqueues a job."""


@dataclass(frozen=True)
class QueueConfig:
    """Queue names and retry delays, from the ``queue_prefix`` and ``retry_delays`` settings."""

    prefix: str = "factory"
    retry_delays: tuple[float, ...] = (2.0, 10.0, 60.0)
    """Seconds to wait before attempt 2, 3, 4, ... (the last repeats)."""
    max_priority: int = MAX_PRIORITY

    @classmethod
    def from_settings(cls, settings: Settings) -> QueueConfig:
        return cls(prefix=settings.queue_prefix, retry_delays=tuple(float(d) for d in settings.retry_delays))

    # --- names -----------------------------------------------------------------------------
    def work_queue(self, stage: str) -> str:
        return f"{self.prefix}.{stage}"

    def delay_queue(self, stage: str, attempt: int) -> str:
        """The delay queue a message goes to after failed attempt number ``attempt``."""
        return f"{self.prefix}.{stage}.retry.{self._delay_ms(attempt)}ms"

    @property
    def dead_queue(self) -> str:
        return f"{self.prefix}.dead"

    def _delay_ms(self, attempt: int) -> int:
        index = min(max(attempt, 1), len(self.retry_delays)) - 1
        return int(round(self.retry_delays[index] * 1000))

    def delay_seconds(self, attempt: int) -> float:
        return self._delay_ms(attempt) / 1000.0


def declare(channel, config: QueueConfig, stages: Iterable[str]) -> None:
    """Declare the work queues, delay queues and the dead-letter queue (idempotent).

    ``channel`` is a pika channel (BlockingChannel)."""
    for stage in stages:
        work = config.work_queue(stage)
        channel.queue_declare(
            queue=work, durable=True, arguments={"x-max-priority": config.max_priority}
        )
        attempts = {config._delay_ms(a): a for a in range(1, len(config.retry_delays) + 1)}
        for delay_ms, attempt in sorted(attempts.items()):
            channel.queue_declare(
                queue=config.delay_queue(stage, attempt),
                durable=True,
                arguments={
                    "x-message-ttl": delay_ms,
                    "x-dead-letter-exchange": "",  # the default exchange: routing key = queue name
                    "x-dead-letter-routing-key": work,
                },
            )
    channel.queue_declare(queue=config.dead_queue, durable=True)


def all_queue_names(config: QueueConfig, stages: Iterable[str]) -> list[str]:
    """Every queue the topology declares for these stages (for status and clean-up)."""
    names = []
    for stage in stages:
        names.append(config.work_queue(stage))
        names.extend(sorted({config.delay_queue(stage, a) for a in range(1, len(config.retry_delays) + 1)}))
    names.append(config.dead_queue)
    return names
