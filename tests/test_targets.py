"""Publishing targets through the outbox: an S3 bucket (moto's server) and a CMS webhook
receiver on 127.0.0.1 get each published job exactly once, also after a failed delivery and a
drainer that died mid-upload."""

from __future__ import annotations

import json
import threading
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlmodel import select

SECRET = "cms-signing-secret"


class Receiver:
    """A CMS webhook endpoint: answers 500 to the first ``fail_first`` requests, then 200."""

    def __init__(self, fail_first: int = 1) -> None:
        self.requests: list[tuple[dict[str, str], bytes, int]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status = 500 if len(receiver.requests) < fail_first else 200
                receiver.requests.append((dict(self.headers), body, status))
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/hooks/video"


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.httpd.shutdown()


def test_published_job_goes_to_s3_and_the_cms_exactly_once(settings, portrait_path, s3_endpoint, receiver):
    import boto3

    from factory.outbox import OutboxMessage, deliver_due, verify
    from factory.service import JobService
    from factory.targets import Publication, job_publish_params, on_job_event, publish_s3

    bucket = f"site-{uuid.uuid4().hex[:8]}"
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, aws_access_key_id="test", aws_secret_access_key="test",
                      region_name="us-east-1")
    s3.create_bucket(Bucket=bucket)
    settings.s3_endpoint_url, settings.s3_access_key, settings.s3_secret_key = s3_endpoint, "test", "test"
    settings.cms_webhook_secret = SECRET
    targets = [{"kind": "s3", "bucket": bucket, "key": "videos/{job_id}.mp4", "acl": "public-read"}, {"kind": "cms", "url": receiver.url}]

    with JobService(settings) as service:
        job = service.submit(image=portrait_path, script="Published once.", check=False,
                             params={"min_resolution": 384, "keep_crop": True, **job_publish_params(targets)})
        job = service.follow(job.id)
        assert job.status == "published"
        with service.jobs.session() as s:  # the published event announced again (a redelivered event)
            on_job_event(s, job, "published")
            s.commit()
            messages = list(s.exec(select(OutboxMessage).where(OutboxMessage.job_id == job.id)))
        assert sorted(m.kind for m in messages) == ["cms_webhook", "publish_s3"]

        # A drainer uploads to S3 and dies before marking the message delivered: its lease runs
        # out and the next drainer delivers it again.
        upload = next(m for m in messages if m.kind == "publish_s3")
        from factory.artifacts import open_store
        from factory.outbox import DeliveryContext

        publish_s3(upload, DeliveryContext(settings=settings, store=service.jobs, artifacts=open_store(settings)))
        deliver_due(service.jobs, settings)  # S3 again; the CMS answers 500 the first time
        assert [status for _, _, status in receiver.requests] == [500]
        with service.jobs.session() as s:  # rather than wait out the back-off
            row = s.get(OutboxMessage, next(m.id for m in messages if m.kind == "cms_webhook"))
            assert row.status == "pending" and row.attempts == 1 and "HTTP 500" in row.last_error
            row.due_at = row.created_at
            s.add(row)
            s.commit()
        deliver_due(service.jobs, settings)
        assert deliver_due(service.jobs, settings) == 0  # nothing left

        job = service.get(job.id)
        video = service.artifacts.fetch(job.files["video"]).read_bytes()
        with service.jobs.session() as s:
            rows = list(s.exec(select(Publication).where(Publication.job_id == job.id)))
            statuses = {m.kind: m.status for m in s.exec(select(OutboxMessage).where(OutboxMessage.job_id == job.id))}
    assert statuses == {"publish_s3": "delivered", "cms_webhook": "delivered"}
    assert sorted(r.target for r in rows) == ["cms", "s3"]  # one publication per target
    url = job.values["published_to"]["s3"]
    assert url == f"{s3_endpoint}/{bucket}/videos/{job.id}.mp4"
    assert urllib.request.urlopen(url).read() == video  # the URL on the job serves the video
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == [f"videos/{job.id}.mp4"]

    # Two attempts, one event: the same event id, each signed; the receiver accepted one.
    assert [status for _, _, status in receiver.requests] == [500, 200]
    (h1, b1, _), (h2, b2, _) = receiver.requests
    assert h1["X-Factory-Event-Id"] == h2["X-Factory-Event-Id"] and b1 == b2
    for headers, body, _ in receiver.requests:
        assert verify(SECRET.encode(), headers["X-Factory-Timestamp"], body, headers["X-Factory-Signature"])
        assert not verify(b"wrong secret", headers["X-Factory-Timestamp"], body, headers["X-Factory-Signature"])
    payload = json.loads(b2)
    assert payload["job_id"] == job.id and payload["video_url"] == url and payload["event_id"] == h2["X-Factory-Event-Id"]
    assert payload["duration_seconds"] == job.values["render"]["seconds"]


def test_bad_targets_are_refused_before_anything_is_made():
    from factory.targets import check_targets

    with pytest.raises(ValueError, match="needs a bucket"):
        check_targets([{"kind": "s3"}])
    with pytest.raises(ValueError, match="may only use"):
        check_targets([{"kind": "s3", "bucket": "b", "key": "{title}.mp4"}])
    with pytest.raises(ValueError, match="must start with http"):
        check_targets([{"kind": "cms", "url": "ftp://x"}])
    with pytest.raises(ValueError, match="Two publish targets"):
        check_targets([{"kind": "folder", "path": "/a"}, {"kind": "folder", "path": "/b"}])
    with pytest.raises(ValueError, match="Unknown publish target"):
        check_targets([{"kind": "youtube"}])
    check_targets([{"kind": "folder", "path": "/a"}, {"kind": "folder", "name": "mirror", "path": "/b"}])
