"""Every endpoint's happy path, with real renders (small), real uploads and the real lifecycle:
avatars, jobs (JSON and multipart), decisions, artifacts, batches, voices, metrics.

The job tests share one data folder (each with its own app and tokens), so the same narration
of the same photo is rendered once and the later tests reuse it from the stage cache."""

from __future__ import annotations

import csv
import io
import json
import re
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from test_api_fixtures import Api, api, make_api  # noqa: F401  (fixture)

SMALL = {"min_resolution": 384, "keep_crop": True}
SCRIPT = "Hello, and thank you for watching."  # plain words: the QA must pass for the review tests


@pytest.fixture(scope="module")
def shared_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("api-endpoints")


def open_shared(shared_dir, request, **settings_values) -> Api:
    from factory.settings import Settings

    settings = Settings.load(data_dir=shared_dir / "data", publish_dir=shared_dir / "published",
                             api_rate_limit_per_minute=10_000, **settings_values)
    return make_api(settings, prefix=request.node.name[5:45] + "-")


@pytest.fixture
def jobs_api(shared_dir, request):
    made = open_shared(shared_dir, request)
    with made.client:
        yield made


@pytest.fixture
def reviewing_api(shared_dir, request):
    """Jobs stop for an editor's approval before they are published."""
    made = open_shared(shared_dir, request, review_required=True)
    with made.client:
        yield made


class Receiver:
    """A webhook receiver on 127.0.0.1 that keeps every request it gets."""

    def __init__(self):
        self.requests: list[tuple[dict[str, str], bytes]] = []
        received = self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                received.append((dict(self.headers), self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self, count: int, timeout: float = 30.0) -> list[tuple[dict[str, str], bytes]]:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count and time.monotonic() < deadline:
            time.sleep(0.2)
        return list(self.requests)


def add_avatar(api, portrait_path, name="astro", voice=None):
    data = {"name": api.prefix + name, **({"voice": voice} if voice else {})}
    return api.client.post("/avatars", headers=api.headers(), data=data,
                           files={"image": ("astronaut.png", portrait_path.read_bytes(), "image/png")})


def test_avatars_list_create_image_delete(api, portrait_path, tmp_path):
    from factory.media import save_image

    made = add_avatar(api, portrait_path, voice="en_US-joe-medium")
    assert made.status_code == 201, made.text
    avatar = made.json()
    assert avatar["name"] == "astro" and avatar["voice"] == "en_US-joe-medium" and avatar["created_by"] == "token:editor-token"
    x0, y0, x1, y1 = avatar["face"]["box"]
    assert 0 <= x0 < x1 <= 512 and 0 <= y0 < y1 <= 512
    assert [a["name"] for a in api.client.get("/avatars", headers=api.headers()).json()] == ["astro"]
    photo = api.client.get(avatar["image_url"], headers=api.headers())
    assert photo.status_code == 200 and photo.content == portrait_path.read_bytes()
    assert add_avatar(api, portrait_path).status_code == 409  # the name is taken

    blank = tmp_path / "wall.png"  # a photo with no face is refused before anything is stored
    save_image(blank, np.full((256, 256, 3), 180, np.uint8))
    refused = api.client.post("/avatars", headers=api.headers(), data={"name": "wall"},
                              files={"image": ("wall.png", blank.read_bytes(), "image/png")})
    assert refused.status_code == 422 and "No face" in refused.json()["error"]["message"]
    not_image = api.client.post("/avatars", headers=api.headers(), data={"name": "text"},
                                files={"image": ("a.png", b"hello", "image/png")})
    assert not_image.status_code == 422 and "not an image" in not_image.json()["error"]["message"]

    assert api.client.delete(f"/avatars/{avatar['id']}", headers=api.headers("admin")).status_code == 204
    assert api.client.get("/avatars", headers=api.headers()).json() == []
    assert api.client.delete(f"/avatars/{avatar['id']}", headers=api.headers("admin")).status_code == 404


def test_voices_list_the_bundled_voices(api, portrait_path):
    voices = {v["id"]: v for v in api.client.get("/voices", headers=api.headers()).json()}
    joe = voices["en_US-joe-medium"]
    assert joe["language"] == "en" and joe["details"]["commercial_use"] is True and "joe" in joe["details"]["aliases"]
    # an avatar's default voice must be one of them
    refused = add_avatar(api, portrait_path, voice="no-such-voice")
    assert refused.status_code == 422 and refused.json()["error"]["message"].startswith("voice:")


def test_a_job_from_json_is_reviewed_approved_and_its_files_served(reviewing_api, portrait_path):
    from factory.identity import create_token
    from factory.outbox import verify

    api = reviewing_api
    receiver = Receiver()
    token, secret = create_token(api.service.jobs, api.prefix + "crm", "editor", "tests", webhook_url=receiver.url)
    avatar = add_avatar(api, portrait_path).json()
    made = api.client.post("/jobs", headers={"Authorization": f"Bearer {secret}"}, json={
        "avatar": avatar["name"], "script": SCRIPT, "params": SMALL, "check": True})
    assert made.status_code == 202, made.text
    job = made.json()
    assert job["created_by"] == f"token:{api.prefix}crm" and job["callback_url"] is None
    api.service.follow(job["id"])
    held = api.client.get(f"/jobs/{job['id']}", headers=api.headers()).json()
    assert held["status"] == "needs_review", held
    assert [s["stage"] for s in held["stages"]][:3] == ["speak", "render", "check"]

    approved = api.client.post(f"/jobs/{job['id']}/approve", headers=api.headers("reviewer"))
    assert approved.status_code == 200 and approved.json()["decided_by"] == api.actor("reviewer")
    done = api.service.follow(job["id"])
    assert done.status == "published", done.error
    # the token's default webhook got both events, signed with the token's webhook secret
    events = receiver.events(2)
    assert [json.loads(body)["event"] for _, body in events] == ["needs_review", "published"]
    for headers, body in events:
        assert verify(token.webhook_secret.encode(), headers["X-Factory-Timestamp"], body, headers["X-Factory-Signature"])
        assert json.loads(body)["event_id"] == headers["X-Factory-Event-Id"]
    receiver.server.shutdown()

    expected = {"video": b"ftyp", "audio": b"RIFF", "qa_plot": b"\x89PNG", "image": b"\x89PNG"}
    for name, magic in expected.items():
        got = api.client.get(f"/jobs/{job['id']}/artifacts/{name}", headers=api.headers())
        assert got.status_code == 200 and magic in got.content[:12], name
    report = api.client.get(f"/jobs/{job['id']}/artifacts/qa_report", headers=api.headers())
    assert report.headers["content-type"].startswith("application/json") and "checks" in report.text
    for name in ("subtitles_srt", "subtitles_vtt"):
        subtitles = api.client.get(f"/jobs/{job['id']}/artifacts/{name}", headers=api.headers())
        assert subtitles.status_code == 200 and "Hello" in subtitles.text, name
    assert api.client.get(f"/jobs/{job['id']}/artifacts/bogus", headers=api.headers()).status_code == 422
    # a published job cannot be cancelled: the lifecycle's sentence, in the error shape
    refused = api.client.post(f"/jobs/{job['id']}/cancel", headers=api.headers())
    assert refused.status_code == 409 and "cannot be cancelled" in refused.json()["error"]["message"]

    metrics = api.client.get("/metrics", headers=api.headers())
    assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
    assert re.search(r'^factory_jobs\{status="published"\} [1-9]', metrics.text, re.M)
    assert re.search(r'^factory_stage_duration_seconds_count\{stage="render"\} [1-9]', metrics.text, re.M)
    assert re.search(r"^factory_render_seconds_total [0-9.]+", metrics.text, re.M)
    assert "factory_workers_alive 0.0" in metrics.text and 'factory_stage_runs{stage="check",status="done"}' in metrics.text


def test_multipart_job_rejected_retried_cancelled_and_listed(reviewing_api, portrait_path, tmp_path):
    api = reviewing_api
    upload = {"image": ("me.png", portrait_path.read_bytes(), "image/png")}
    form = {"script": SCRIPT, "check": "false", "params": json.dumps(SMALL)}
    made = api.client.post("/jobs", headers=api.headers(), files=upload,
                           data={**form, "callback_url": "http://127.0.0.1:9/hook"})
    assert made.status_code == 202, made.text
    assert made.json()["callback_url"] == "http://127.0.0.1:9/hook"
    job_id = made.json()["id"]
    assert api.service.follow(job_id).status == "needs_review"

    rejected = api.client.post(f"/jobs/{job_id}/reject", headers=api.headers("reviewer"), json={"note": "Wrong tie."})
    assert rejected.status_code == 200
    assert rejected.json()["status"] == "failed" and rejected.json()["review"]["reason"] == "Wrong tie."
    retried = api.client.post(f"/jobs/{job_id}/retry", headers=api.headers())
    assert retried.status_code == 200 and retried.json()["decided_by"] == api.actor()
    assert api.service.follow(job_id).status == "needs_review"  # publish held it again
    cancelled = api.client.post(f"/jobs/{job_id}/cancel", headers=api.headers())
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"

    # content checks happen before a job exists: nothing new in the list
    long_audio = tmp_path / "long.wav"
    from factory.media import write_wav

    api.app.state.limits.max_audio_seconds = 2.0  # the app's limits, from its settings at start
    write_wav(long_audio, 0.1 * np.sin(np.linspace(0, 2000, 16000 * 3)).astype(np.float32), 16000)
    too_long = api.client.post("/jobs", headers=api.headers(), data={"params": json.dumps(SMALL)},
                               files={**upload, "audio": ("long.wav", long_audio.read_bytes(), "audio/wav")})
    assert too_long.status_code == 422 and "more than the 2 s allowed" in too_long.json()["error"]["message"]
    for files, data, reason in [
        ({"image": ("me.jpg", b"not a photo", "image/jpeg")}, form, "not an image we can read"),
        (upload, {"script": SCRIPT, "params": '{"expand_ratio": 0.9}'}, "expand_ratio must be between 0.1 and 0.3"),
        (upload, {"script": SCRIPT, "params": "[1]"}, "params"),
        (upload, {"script": SCRIPT, "priority": "99999999999999999999"}, "priority"),
        (upload, {}, "exactly one of"),  # nothing to say
        (upload, {"script": SCRIPT, "colour": "red"}, "colour"),
        (upload, {"script": "大家好，欢迎收看。", "language": "en"}, "written in Chinese, but the narration language is English"),
    ]:
        refused = api.client.post("/jobs", headers=api.headers(), files=files, data=data)
        assert refused.status_code == 422 and reason in refused.json()["error"]["message"], refused.text
    usual = api.app.state.limits.max_bytes
    api.app.state.limits.max_bytes = 100
    assert api.client.post("/jobs", headers=api.headers(), files=upload, data=form).status_code == 413
    api.app.state.limits.max_bytes = usual

    mine = {"created_by": api.actor()}  # other tests' jobs share this database
    page = api.client.get("/jobs", headers=api.headers(), params={**mine, "status": "cancelled", "limit": 1}).json()
    assert page["total"] == 1 and [j["id"] for j in page["items"]] == [job_id]
    assert api.client.get("/jobs", headers=api.headers(), params={**mine, "status": "published"}).json()["total"] == 0
    assert api.client.get("/jobs", headers=api.headers(), params={**mine, "offset": 1}).json()["items"] == []
    everyone = api.client.get("/jobs", headers=api.headers(), params={"limit": 1}).json()
    assert len(everyone["items"]) == 1 and everyone["total"] >= 1
    assert api.client.get("/jobs/nope", headers=api.headers()).status_code == 404
    assert api.client.post("/jobs/nope/retry", headers=api.headers()).status_code == 404
    # no language given: a script written in Chinese is narrated in Chinese
    chinese = api.client.post("/jobs", headers=api.headers(), files=upload,
                              data={"script": "大家好，欢迎收看。", "check": "false", "priority": "0"})
    assert chinese.status_code == 202 and chinese.json()["params"]["language"] == "zh", chinese.text
    assert api.client.post(f"/jobs/{chinese.json()['id']}/cancel", headers=api.headers()).status_code == 200


def test_prometheus_scrapes_the_api_service_with_a_token():
    from pathlib import Path

    import yaml

    deploy = Path(__file__).resolve().parents[1] / "deploy"
    scrape = yaml.safe_load((deploy / "prometheus.yml").read_text())["scrape_configs"][0]
    compose = yaml.safe_load((deploy / "docker-compose.yml").read_text())
    host, port = scrape["static_configs"][0]["targets"][0].split(":")
    assert scrape["metrics_path"] == "/metrics" and scrape["authorization"]["type"] == "Bearer"
    assert host in compose["services"] and f"{port}:{port}" in compose["services"][host]["ports"]


def test_resume_a_job_left_queued(jobs_api, portrait_path):
    """A job recorded but never dispatched (its process died in between) goes on when resumed."""
    from factory import lifecycle
    from factory.store import Job, new_job_id

    api = jobs_api
    service = api.service
    job = Job(id=new_job_id(), plan=["speak", "render", "publish"], params={**SMALL, "language": "en"},
              priority=5, files={"image": service.artifacts.put(portrait_path)}, values={"script": SCRIPT})
    lifecycle.submitted(service.jobs, job)
    resumed = api.client.post(f"/jobs/{job.id}/resume", headers=api.headers())
    assert resumed.status_code == 200 and resumed.json()["decided_by"] == api.actor()
    assert service.follow(job.id).status == "published"
    again = api.client.post(f"/jobs/{job.id}/resume", headers=api.headers())
    assert again.status_code == 409


def test_batches_from_json_rows_and_a_csv_upload_with_a_zip(jobs_api, portrait_path):
    api = jobs_api
    astro = add_avatar(api, portrait_path).json()["name"]
    made = api.client.post("/batches", headers=api.headers(), json={
        "avatar": astro, "params": SMALL, "check": False,
        "rows": [{"script": SCRIPT}, {"summary": "nothing to say"}, {"name": "Kettle", "price": "cheap"}]})
    assert made.status_code == 202, made.text
    batch = made.json()
    assert batch["created_by"] == api.actor()
    assert [r["status"] for r in batch["rows"][1:]] == ["skipped", "skipped"]
    assert "nothing to say" in batch["rows"][1]["error"] and "bad price 'cheap'" in batch["rows"][2]["error"]
    api.service.follow(batch["rows"][0]["job_id"])
    status = api.client.get(f"/batches/{batch['id']}", headers=api.headers()).json()
    assert status["done"] and status["counts"] == {"published": 1, "skipped": 2}
    archive = api.client.get(f"/batches/{batch['id']}/results.zip", headers=api.headers())
    assert archive.status_code == 200 and archive.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(archive.content)) as z:
        manifest = list(csv.DictReader(io.StringIO(z.read("manifest.csv").decode())))
        assert [m["status"] for m in manifest] == ["published", "invalid", "invalid"]
        assert z.read(manifest[0]["video"])[4:8] == b"ftyp"

    sheet = f"script,avatar\nHello from the sheet.,{astro}\n,{astro}\n"
    uploaded = api.client.post("/batches", headers=api.headers(), data={"check": "false", "params": json.dumps(SMALL)},
                               files={"file": ("rows.csv", sheet.encode(), "text/csv")})
    assert uploaded.status_code == 202, uploaded.text
    rows = uploaded.json()["rows"]
    assert rows[0]["job_id"] and rows[1]["status"] == "skipped" and "nothing to say" in rows[1]["error"]
    job = api.client.get(f"/jobs/{rows[0]['job_id']}", headers=api.headers()).json()
    assert job["batch"] == uploaded.json()["id"] and job["created_by"] == api.actor()
    api.service.cancel(rows[0]["job_id"])  # not rendered here: its submission is what is tested

    for refused, reason in [
        (api.client.post("/batches", headers=api.headers(), json={"avatar": astro, "rows": [{"script": "Hi", "avatar": "ghost"}]}),
         "Row 1 names the avatar 'ghost'"),
        (api.client.post("/batches", headers=api.headers(), json={"rows": [{"script": "Hi"}]}), "Give the batch an avatar"),
        (api.client.post("/batches", headers=api.headers(), files={"file": ("rows.txt", b"script\nHi\n", "text/plain")}),
         "must be a .csv"),
        (api.client.post("/batches", headers=api.headers(), json={"avatar": astro, "params": {"expand_ratio": 0.9},
                                                                  "rows": [{"script": "Hi"}]}), "expand_ratio"),
    ]:
        assert refused.status_code == 422 and reason in refused.json()["error"]["message"], refused.text
    assert api.client.get("/batches/nope", headers=api.headers()).status_code == 404


def test_metrics_are_read_from_postgresql_too(postgres_url, portrait_path):
    """The distributed mode's database: queued jobs by stage and live workers' heartbeats."""
    from factory import lifecycle
    from factory.metrics import exposition
    from factory.store import Job, JobStore, WorkerBeat, new_job_id

    store = JobStore(postgres_url)
    before = exposition(store)[0].decode()
    queued = re.search(r'^factory_queue_depth\{stage="speak"\} ([0-9.]+)', before, re.M)
    waiting = float(queued.group(1)) if queued else 0.0
    jobs = [Job(id=new_job_id(), plan=["speak", "render", "publish"], params={"language": "en"}, values={"script": SCRIPT})
            for _ in range(2)]
    for job in jobs:
        lifecycle.submitted(store, job)
    beat = WorkerBeat(id=f"test:{new_job_id()}:render", hostname="test", stages=["render"])
    store.heartbeat(beat)
    try:
        text = exposition(store)[0].decode()
        assert f'factory_queue_depth{{stage="speak"}} {waiting + 2}' in text
        assert float(re.search(r"^factory_workers_alive ([0-9.]+)", text, re.M).group(1)) >= 1
        assert re.search(r'^factory_jobs\{status="queued"\} [1-9]', text, re.M)
    finally:  # the session's database is shared: leave no queued job or live worker behind
        for job in jobs:
            lifecycle.cancelled(store, job.id)
        with store.session() as s:
            s.delete(s.get(WorkerBeat, beat.id))
            s.commit()
