"""A small broker interface over pika: connect, declare, publish with confirms.

Messages carry only ids — ``{"job_id", "stage", "attempt", "trace_id"}`` as JSON — because the
database is the source of truth and the artifact store holds the bytes. Every publish is
persistent (``delivery_mode=2``), ``mandatory`` (a message no queue would take raises instead of
vanishing) and waits for the broker's publisher confirm, so "published" means "on disk in a
durable queue".

``enqueue_stage(settings, job_id, stage)`` is what ``JobService.submit`` calls in distributed
mode; workers use ``Broker`` directly on their own connection.
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import asdict, dataclass
from typing import Any, Iterable

from factory.settings import Settings
from queues.topology import QueueConfig, declare


@dataclass
class StageMessage:
    job_id: str
    stage: str
    attempt: int = 1
    """Which attempt of this stage the message asks for (1 = first try)."""
    trace_id: str = ""

    def to_body(self) -> bytes:
        return json.dumps(asdict(self)).encode()

    @classmethod
    def from_body(cls, body: bytes) -> StageMessage:
        data = json.loads(body)
        return cls(job_id=str(data["job_id"]), stage=str(data["stage"]), attempt=int(data.get("attempt", 1)), trace_id=str(data.get("trace_id", "")))


def clamp_priority(priority: int, config: QueueConfig) -> int:
    return max(0, min(int(priority), config.max_priority))


class Broker:
    """One AMQP connection with one confirmed publishing channel.

    Not thread-safe (neither is pika's BlockingConnection): use one per thread.
    """

    def __init__(self, url: str, config: QueueConfig, heartbeat: int = 30):
        self.url = url
        self.config = config
        self.heartbeat = heartbeat
        self.connection = None
        self.channel = None
        self._declared: set[str] = set()

    # --- connection ------------------------------------------------------------------------
    def connect(self) -> None:
        import pika

        params = pika.URLParameters(self.url)
        params.heartbeat = self.heartbeat
        params.blocked_connection_timeout = 60  # a broker out of disk/memory blocks publishers
        params.connection_attempts = 1
        self.connection = pika.BlockingConnection(params)
        self.channel = self.connection.channel()
        self.channel.confirm_delivery()
        self._declared.clear()

    @property
    def is_open(self) -> bool:
        return bool(self.connection and self.connection.is_open and self.channel and self.channel.is_open)

    def close(self) -> None:
        try:
            if self.connection and self.connection.is_open:
                self.connection.close()
        except Exception:  # closing a dead connection: nothing left to do
            pass
        self.connection = self.channel = None

    def declare(self, stages: Iterable[str]) -> None:
        """Declare the topology for these stages (once per connection)."""
        todo = [s for s in stages if s not in self._declared]
        if todo:
            declare(self.channel, self.config, todo)
            self._declared.update(todo)

    # --- publishing ------------------------------------------------------------------------
    def _publish(self, queue: str, message: StageMessage, priority: int, headers: dict[str, Any] | None = None) -> None:
        import pika

        props = pika.BasicProperties(
            delivery_mode=pika.DeliveryMode.Persistent,
            content_type="application/json",
            priority=clamp_priority(priority, self.config),
            correlation_id=message.trace_id or None,
            message_id=uuid.uuid4().hex,
            headers=headers or None,
        )
        # With confirm_delivery() this blocks until the broker has the message (or raises
        # NackError / UnroutableError): no "fire and forget" anywhere.
        self.channel.basic_publish(exchange="", routing_key=queue, body=message.to_body(), properties=props, mandatory=True)

    def publish_stage(self, message: StageMessage, priority: int = 0) -> None:
        """Ask for ``message.stage`` of the job to run now."""
        self.declare([message.stage])
        self._publish(self.config.work_queue(message.stage), message, priority)

    def publish_retry(self, message: StageMessage, priority: int = 0, error: str = "") -> float:
        """Schedule ``message`` (its attempt already counted up) after the back-off delay for
        the attempt that just failed. Returns the delay in seconds."""
        self.declare([message.stage])
        failed_attempt = max(1, message.attempt - 1)
        queue = self.config.delay_queue(message.stage, failed_attempt)
        self._publish(queue, message, priority, headers={"x-factory-last-error": error[:1000]} if error else None)
        return self.config.delay_seconds(failed_attempt)

    def publish_dead(self, message: StageMessage, error: str, priority: int = 0) -> None:
        """Park a message that used up its attempts (the job is already marked dead)."""
        self.declare([message.stage])  # the topology includes the dead-letter queue (once per connection)
        self._publish(self.config.dead_queue, message, priority, headers={"x-factory-error": error[:4000]})


# --- the publisher used by JobService ---------------------------------------------------------

_local = threading.local()


def _cached_broker(settings: Settings) -> Broker:
    config = QueueConfig.from_settings(settings)
    key = (settings.amqp_url, config)
    broker: Broker | None = getattr(_local, "brokers", {}).get(key)
    if broker is None or not broker.is_open:
        broker = Broker(settings.amqp_url, config)
        broker.connect()
        _local.__dict__.setdefault("brokers", {})[key] = broker
    return broker


def enqueue_stage(
    settings: Settings,
    job_id: str,
    stage: str,
    priority: int = 0,
    *,
    attempt: int = 1,
    trace_id: str | None = None,
) -> None:
    """Publish "run ``stage`` of ``job_id``" with a publisher confirm; declares the topology
    idempotently. Keeps one connection per thread, so a 1,000-row batch does not open 1,000
    connections; a connection the broker dropped meanwhile is replaced once."""
    import pika.exceptions

    message = StageMessage(job_id=job_id, stage=stage, attempt=attempt, trace_id=trace_id or uuid.uuid4().hex)
    for last_try in (False, True):
        broker = _cached_broker(settings)
        try:
            broker.publish_stage(message, priority)
            return
        except (pika.exceptions.AMQPConnectionError, pika.exceptions.AMQPChannelError, pika.exceptions.StreamLostError, OSError):
            broker.close()
            if last_try:
                raise
