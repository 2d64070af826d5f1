"""The outbox: everything that leaves the system — webhooks, e-mails, uploads to publishing
targets — is written here in the same transaction as the change that causes it, and delivered
afterwards by a drainer with retries.

    enqueue(session, "webhook", url, body, job_id=job.id, dedupe_key=...)   # inside a transaction
    deliver_due(store, settings)                                             # any process, any time

Why a table and not a direct call: a process that dies right after a job is published must still
send the webhook, and one that dies mid-delivery must not lose it. Each message is delivered at
least once (a lease that runs out hands it to another drainer); receivers see each event once
by deduplicating on the message id, sent as ``X-Factory-Event-Id``. A ``dedupe_key`` makes
enqueueing idempotent too (the same job event enqueued twice is one message).

A message's ``kind`` names its deliverer in ``DELIVERERS``; a deliverer returns a short note for
the delivery log or raises ``DeliveryFailed``. Failed deliveries are retried with back-off for
``settings.outbox_give_up_hours``, then the message is dead; every attempt is kept in
``outbox_attempts`` (a job's delivery log).
"""

from __future__ import annotations

import hashlib
import hmac
import importlib
import json
import logging
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable

from sqlalchemy import Column, JSON, or_, update
from sqlmodel import Field, Session, SQLModel, select

from factory.settings import Settings
from factory.store import Job, JobStatus, JobStore, as_utc, utcnow

log = logging.getLogger(__name__)

DELIVERERS: dict[str, str] = {
    "webhook": "factory.outbox:deliver_webhook",
    "email": "factory.notify:deliver_email",
    "publish_folder": "factory.targets:publish_folder",
    "publish_s3": "factory.targets:publish_s3",
    "cms_webhook": "factory.targets:cms_webhook",
}
"""Message kind -> "module:function" that delivers it (imported when first needed)."""

JOB_EVENT_LISTENERS: list[str] = [
    "factory.targets:on_job_event",  # the job's publishing targets
    "factory.notify:on_job_event",   # e-mail once a batch or a schedule's run is over
]
""""module:function"s called as ``listener(session, job, event)`` inside the transaction that
makes a job event; they may only read rows and ``enqueue``."""

RETRY_DELAYS = (10, 30, 120, 600, 1800, 3600)
"""Seconds before the 1st, 2nd, ... retry; then every hour until the message gives up."""

LEASE_SECONDS = 120
"""How long a drainer owns a message it is delivering; after that another may try it."""

SIGNATURE_TOLERANCE_SECONDS = 300


class OutboxStatus:
    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"


class OutboxMessage(SQLModel, table=True):
    __tablename__ = "outbox"

    id: str = Field(default_factory=lambda: uuid.uuid4().hex, primary_key=True, max_length=32)
    """The event id receivers deduplicate on."""
    kind: str = Field(max_length=32)
    destination: str = Field(max_length=2000)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    job_id: str | None = Field(default=None, index=True, max_length=32)
    dedupe_key: str | None = Field(default=None, unique=True, max_length=255)
    secret_ref: str | None = Field(default=None, max_length=128)
    """Where the signing secret is: ``token:<id>`` (an API token's webhook secret) or ``setting:<name>``."""
    status: str = Field(default=OutboxStatus.PENDING, index=True, max_length=16)
    attempts: int = 0
    due_at: datetime = Field(default_factory=utcnow, index=True)
    lease_until: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    delivered_at: datetime | None = None
    last_error: str | None = None


class OutboxAttempt(SQLModel, table=True):
    __tablename__ = "outbox_attempts"

    id: int | None = Field(default=None, primary_key=True)
    message_id: str = Field(foreign_key="outbox.id", index=True, max_length=32)
    attempted_at: datetime = Field(default_factory=utcnow)
    ok: bool = False
    note: str | None = None
    seconds: float | None = None


class DeliveryFailed(Exception):
    """A delivery that did not work; ``retry=False`` when trying again cannot help."""

    def __init__(self, reason: str, retry: bool = True):
        super().__init__(reason)
        self.reason, self.retry = reason, retry


@dataclass
class DeliveryContext:
    settings: Settings
    store: JobStore
    artifacts: Any
    """The artifact store (``factory.artifacts.ArtifactStore``), to read a job's files."""


# --- writing ----------------------------------------------------------------------------------

def enqueue(session: Session, kind: str, destination: str, payload: dict[str, Any], *,
            job_id: str | None = None, dedupe_key: str | None = None,
            secret_ref: str | None = None) -> OutboxMessage | None:
    """Add a message in the caller's transaction (the caller commits). A ``dedupe_key`` already
    used makes this a no-op and returns None."""
    if kind not in DELIVERERS:
        raise ValueError(f"no deliverer for outbox messages of kind {kind!r}")
    if dedupe_key is not None:
        if session.exec(select(OutboxMessage.id).where(OutboxMessage.dedupe_key == dedupe_key)).first():
            return None
    message = OutboxMessage(kind=kind, destination=destination, payload=payload, job_id=job_id,
                            dedupe_key=dedupe_key, secret_ref=secret_ref)
    session.add(message)
    return message


def job_event(session: Session, job: Job, event: str) -> None:
    """A job was published, held for review, failed or cancelled (``event``): queue its webhook,
    when it has somewhere to go, and let the listeners (publishing targets, notifications) queue
    theirs. Called by
    ``factory.lifecycle`` inside the transaction that changed the job."""
    url, secret_ref = job.callback_url, f"token:{job.token_id}" if job.token_id else None
    if not url and job.token_id:
        url = _token_webhook_url(session, job.token_id)
    if url:
        body = job_event_body(job, event)
        enqueue(session, "webhook", url, body, job_id=job.id, secret_ref=secret_ref or "setting:webhook_secret",
                dedupe_key=f"webhook:{job.id}:{event}:{body['attempt_marker']}")
    for path in JOB_EVENT_LISTENERS:
        _load(path)(session, job, event)


def job_event_body(job: Job, event: str) -> dict[str, Any]:
    return {
        "event": event,
        "job_id": job.id,
        "status": job.status,
        "reason": job.error,
        "created_by": job.created_by,
        "batch": job.batch,
        "files": sorted(job.files),
        "at": utcnow().isoformat(),
        # A job can be published, failed, retried and published again: each is its own event.
        "attempt_marker": (job.updated_at or utcnow()).isoformat(),
    }


def _token_webhook_url(session: Session, token_id: str) -> str | None:
    from factory.identity import ApiToken

    token = session.get(ApiToken, token_id)
    return token.webhook_url if token is not None else None


# --- delivering -------------------------------------------------------------------------------

def deliver_due(store: JobStore, settings: Settings, artifacts: Any = None, limit: int = 20) -> int:
    """Deliver up to ``limit`` messages that are due; returns how many were tried. Safe to run
    in several processes at once: each message is claimed with a lease first."""
    if artifacts is None:
        from factory.artifacts import open_store

        artifacts = open_store(settings)
    context = DeliveryContext(settings=settings, store=store, artifacts=artifacts)
    tried = 0
    for message in _claim(store, limit):
        _deliver_one(store, context, message)
        tried += 1
    return tried


def _claim(store: JobStore, limit: int) -> list[OutboxMessage]:
    now = utcnow()
    claimable = (OutboxMessage.status == OutboxStatus.PENDING, OutboxMessage.due_at <= now,
                 or_(OutboxMessage.lease_until.is_(None), OutboxMessage.lease_until < now))
    with store.session() as session:
        ids = list(session.exec(select(OutboxMessage.id).where(*claimable)
                                .order_by(OutboxMessage.due_at).limit(limit)))
    claimed = []
    for message_id in ids:
        with store.session() as session:
            # compare-and-set: only one drainer's update matches while the lease is free
            taken = session.exec(update(OutboxMessage).where(OutboxMessage.id == message_id, *claimable)
                                 .values(lease_until=now + timedelta(seconds=LEASE_SECONDS)))
            session.commit()
            if taken.rowcount == 1:
                claimed.append(session.get(OutboxMessage, message_id))
    return claimed


def _deliver_one(store: JobStore, context: DeliveryContext, message: OutboxMessage) -> None:
    started = time.monotonic()
    try:
        note, ok, retry = _load(DELIVERERS[message.kind])(message, context), True, False
    except DeliveryFailed as exc:
        note, ok, retry = exc.reason, False, exc.retry
    except Exception as exc:  # a deliverer's bug must not stop the drainer or lose the message
        log.exception("outbox: delivering %s failed", message.id)
        note, ok, retry = f"internal error while delivering ({type(exc).__name__})", False, True
    seconds = time.monotonic() - started
    with store.session() as session:
        row = session.get(OutboxMessage, message.id)
        row.attempts += 1
        row.lease_until = None
        if ok:
            row.status, row.delivered_at, row.last_error = OutboxStatus.DELIVERED, utcnow(), None
        else:
            row.last_error = note
            give_up_at = as_utc(row.created_at) + timedelta(hours=context.settings.outbox_give_up_hours)
            next_try = utcnow() + timedelta(seconds=retry_delay(row.attempts))
            if not retry or next_try > give_up_at:
                row.status = OutboxStatus.DEAD
            else:
                row.due_at = next_try
        session.add(row)
        session.add(OutboxAttempt(message_id=message.id, ok=ok, note=note[:2000] if note else None, seconds=seconds))
        session.commit()


def retry_delay(attempts: int) -> float:
    return float(RETRY_DELAYS[min(attempts, len(RETRY_DELAYS)) - 1]) if attempts <= len(RETRY_DELAYS) else 3600.0


def deliveries(store: JobStore, job_id: str) -> list[dict[str, Any]]:
    """A job's delivery log: each message with its attempts, oldest first."""
    with store.session() as session:
        messages = list(session.exec(select(OutboxMessage).where(OutboxMessage.job_id == job_id)
                                     .order_by(OutboxMessage.created_at)))
        attempts: dict[str, list[OutboxAttempt]] = {m.id: [] for m in messages}
        for attempt in session.exec(select(OutboxAttempt).where(OutboxAttempt.message_id.in_(list(attempts)))
                                    .order_by(OutboxAttempt.id)):
            attempts[attempt.message_id].append(attempt)
    return [{
        "event_id": m.id, "kind": m.kind, "destination": m.destination,
        "event": m.payload.get("event"), "status": m.status,
        "attempts": [{"at": a.attempted_at.isoformat(), "ok": a.ok, "note": a.note} for a in attempts[m.id]],
    } for m in messages]


class OutboxDrainer:
    """A daemon thread that delivers due messages every ``interval`` seconds, for long-lived
    processes (the API, the console, the scheduler, ``factory outbox run``)."""

    def __init__(self, store: JobStore, settings: Settings, interval: float = 2.0):
        self.store, self.settings, self.interval = store, settings, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="outbox-drainer", daemon=True)

    def start(self) -> OutboxDrainer:
        self._thread.start()
        return self

    def run(self) -> None:
        """Deliver in this thread until ``stop`` (``factory outbox run``)."""
        self._loop()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        from factory.artifacts import open_store

        artifacts = open_store(self.settings)
        while not self._stop.is_set():
            try:
                busy = deliver_due(self.store, self.settings, artifacts)
            except Exception:  # the database may be restarting: try again next round
                log.exception("outbox: drain round failed")
                busy = 0
            if not busy:
                self._stop.wait(self.interval)


# --- webhooks ---------------------------------------------------------------------------------

def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    """The ``X-Factory-Signature`` header value: HMAC-SHA256 over ``"<timestamp>." + body``."""
    digest = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"v1={digest}"


def verify(secret: bytes, timestamp: int | str, body: bytes, header: str,
           now: float | None = None, tolerance: float = SIGNATURE_TOLERANCE_SECONDS) -> bool:
    """True when ``header`` signs ``body`` at ``timestamp`` with ``secret`` and the timestamp is
    recent (so a captured request cannot be replayed later)."""
    try:
        timestamp = int(timestamp)
    except (TypeError, ValueError):
        return False
    if abs((now if now is not None else time.time()) - timestamp) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), header.strip())


def signing_secret(message: OutboxMessage, context: DeliveryContext) -> bytes:
    ref = message.secret_ref or "setting:webhook_secret"
    source, _, name = ref.partition(":")
    if source == "token":
        from factory.identity import ApiToken

        with context.store.session() as session:
            token = session.get(ApiToken, name)
        if token is None or getattr(token, "revoked_at", None) is not None:
            raise DeliveryFailed("the API token this webhook belongs to was revoked", retry=False)
        return token.webhook_secret.encode()
    if source == "setting" and getattr(context.settings, name, ""):
        return str(getattr(context.settings, name)).encode()
    raise DeliveryFailed(f"no signing secret is set ({name}): set it in the settings", retry=False)


def post_signed(url: str, payload: dict[str, Any], secret: bytes, event_id: str, timeout: float = 10.0) -> str:
    """POST ``payload`` as signed JSON; returns "HTTP <status>" or raises DeliveryFailed."""
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    timestamp = int(time.time())
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json",
        "User-Agent": "talking-factory-webhook/1",
        "X-Factory-Event-Id": event_id,
        "X-Factory-Timestamp": str(timestamp),
        "X-Factory-Signature": sign(secret, timestamp, body),
    })
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return f"HTTP {response.status}"
    except urllib.error.HTTPError as exc:
        raise DeliveryFailed(f"the receiver answered HTTP {exc.code}", retry=exc.code != 410) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DeliveryFailed(f"could not reach {url}: {reason}") from None


def deliver_webhook(message: OutboxMessage, context: DeliveryContext) -> str:
    payload = {k: v for k, v in message.payload.items() if k != "attempt_marker"}
    payload["event_id"] = message.id
    return post_signed(message.destination, payload, signing_secret(message, context), message.id)


# --- helpers ----------------------------------------------------------------------------------

def _load(path: str) -> Callable[..., Any]:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def event_for_status(status: str) -> str | None:
    """The job event a status change into ``status`` makes (None: no event)."""
    return {JobStatus.PUBLISHED: "published", JobStatus.NEEDS_REVIEW: "needs_review",
            JobStatus.FAILED: "failed", JobStatus.DEAD: "failed", JobStatus.CANCELLED: "cancelled"}.get(status)

