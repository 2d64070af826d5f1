"""The outbox: a job's webhook reaches a real HTTP receiver on 127.0.0.1 once per event, signed,
after the receiver failed twice; several drainers at once deliver each message once; a message
that can never be delivered gives up after its day."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import delete, update

from factory import lifecycle, outbox
from factory.outbox import OutboxAttempt, OutboxMessage, OutboxStatus, deliver_due, verify
from factory.store import Job, JobStatus, JobStore, new_job_id, utcnow

SECRET = "s3cret-for-tests"


class Receiver:
    """A webhook receiver that checks each request's signature, answers 500 to the first
    ``fail_first`` requests, and keeps every event it accepted (deduplicated by event id, as a
    receiver should)."""

    def __init__(self, fail_first: int = 0):
        self.fail_first, self.requests, self.accepted, self.bad_signatures = fail_first, 0, {}, 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests += 1
                signed = verify(SECRET.encode(), self.headers["X-Factory-Timestamp"], body,
                                self.headers["X-Factory-Signature"])
                if not signed:
                    receiver.bad_signatures += 1
                    self.send_response(401)
                elif receiver.requests <= receiver.fail_first:
                    self.send_response(500)
                else:
                    event = json.loads(body)
                    assert event["event_id"] == self.headers["X-Factory-Event-Id"]
                    receiver.accepted.setdefault(event["event_id"], []).append(event)
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


@pytest.fixture
def receiver():
    made = []

    def make(fail_first: int = 0) -> Receiver:
        made.append(Receiver(fail_first))
        return made[-1]

    yield make
    for r in made:
        r.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_and_settings(request, settings):
    if request.param == "postgresql":
        settings.database_url = request.getfixturevalue("postgres_url")
    settings.webhook_secret = SECRET
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = JobStore(settings.resolved_database_url)
    with store.session() as session:  # the PostgreSQL database is shared by the session's tests
        session.exec(delete(OutboxAttempt))
        session.exec(delete(OutboxMessage))
        session.commit()
    return store, settings


def _job(store: JobStore, callback_url: str) -> Job:
    job = Job(id=new_job_id(), plan=["speak", "publish"],
              params={}, callback_url=callback_url, created_by="ana")
    return lifecycle.submitted(store, job)


def _make_due(store: JobStore) -> None:
    """Time passes: every pending message is due now."""
    with store.session() as session:
        session.exec(update(OutboxMessage).where(OutboxMessage.status == OutboxStatus.PENDING)
                     .values(due_at=utcnow() - timedelta(seconds=1)))
        session.commit()


def test_webhook_arrives_once_signed_after_two_failures(store_and_settings, receiver):
    store, settings = store_and_settings
    hook = receiver(fail_first=2)
    job = _job(store, hook.url)
    lifecycle.cancelled(store, job.id, by="ana")

    for _ in range(3):  # two failures, then the delivery
        assert deliver_due(store, settings) == 1
        _make_due(store)
    assert deliver_due(store, settings) == 0  # delivered: nothing left

    assert hook.requests == 3 and hook.bad_signatures == 0
    [(event_id, [event])] = hook.accepted.items()
    assert event["event"] == "cancelled" and event["job_id"] == job.id and event["created_by"] == "ana"
    [entry] = outbox.deliveries(store, job.id)
    assert entry["event_id"] == event_id and entry["status"] == OutboxStatus.DELIVERED
    assert [a["ok"] for a in entry["attempts"]] == [False, False, True]
    assert "HTTP 500" in entry["attempts"][0]["note"]


def test_each_job_event_is_one_message(store_and_settings, receiver):
    """The same change announced twice queues one webhook."""
    store, settings = store_and_settings
    hook = receiver()
    job = _job(store, hook.url)
    with store.locked(job.id) as (session, row):
        outbox.job_event(session, row, "cancelled")
        outbox.job_event(session, row, "cancelled")
        session.commit()
    assert len(outbox.deliveries(store, job.id)) == 1


def test_drainers_at_once_deliver_each_message_once(store_and_settings, receiver):
    store, settings = store_and_settings
    hook = receiver()
    jobs = [_job(store, hook.url) for _ in range(12)]
    for job in jobs:
        lifecycle.cancelled(store, job.id)

    barrier = threading.Barrier(4)

    def drain():
        barrier.wait()
        while deliver_due(store, settings, limit=3):
            pass

    threads = [threading.Thread(target=drain) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert hook.requests == 12  # each once, none twice
    assert sorted(e[0]["job_id"] for e in hook.accepted.values()) == sorted(j.id for j in jobs)


def test_undeliverable_message_gives_up_after_its_day(store_and_settings):
    store, settings = store_and_settings
    job = _job(store, "http://127.0.0.1:9/nobody-listens")
    lifecycle.cancelled(store, job.id)
    with store.session() as session:  # the message is a day old
        session.exec(update(OutboxMessage).values(created_at=utcnow() - timedelta(hours=settings.outbox_give_up_hours)))
        session.commit()
    assert deliver_due(store, settings) == 1
    [entry] = outbox.deliveries(store, job.id)
    assert entry["status"] == OutboxStatus.DEAD
    assert "could not reach" in entry["attempts"][0]["note"]


def test_no_secret_is_a_sentence_not_a_crash(store_and_settings, receiver):
    store, settings = store_and_settings
    settings.webhook_secret = ""
    hook = receiver()
    job = _job(store, hook.url)
    lifecycle.cancelled(store, job.id)
    deliver_due(store, settings)
    [entry] = outbox.deliveries(store, job.id)
    assert entry["status"] == OutboxStatus.DEAD and hook.requests == 0
    assert entry["attempts"][0]["note"] == "no signing secret is set (webhook_secret): set it in the settings"


def test_signature_rejects_tampering_and_replays():
    body = b'{"event":"published"}'
    header = outbox.sign(b"k", 1000, body)
    assert verify(b"k", 1000, body, header, now=1000)
    assert not verify(b"k", 1000, body + b" ", header, now=1000)
    assert not verify(b"other", 1000, body, header, now=1000)
    assert not verify(b"k", 1000, body, header, now=1000 + 3600)  # a replay an hour later


def test_published_job_through_the_service_sends_its_webhook(settings, portrait_path, receiver):
    from factory.service import JobService

    settings.webhook_secret = SECRET
    hook = receiver()
    with JobService(settings) as service:
        job = service.submit(image=portrait_path, script="Hello there.", check=False,
                             callback_url=hook.url, created_by="ana")
        job = service.follow(job.id)
        assert job.status == JobStatus.PUBLISHED and job.created_by == "ana"
        # the job says which weights made it and under which licence
        models = {m["role"]: m for m in job.values["models"]}
        assert models["voice"]["name"] == "en_US-joe-medium" and models["voice"]["commercial_use"] is True
        assert models["renderer"]["licence"] == "Apache-2.0"
        deliver_due(service.jobs, settings)
    [[event]] = hook.accepted.values()
    assert event["event"] == "published" and event["job_id"] == job.id and "video" in event["files"]
