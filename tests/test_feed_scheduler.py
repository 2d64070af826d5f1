"""Scheduled topic feeds: a real feed served on 127.0.0.1, real PostgreSQL, jobs queued on
RabbitMQ (no workers: the scheduler only creates jobs; rendering is other tests' business)."""

from __future__ import annotations

import threading
import uuid
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlmodel import select

from factory.store import Job


def rss(items: list[tuple[str | None, str, str]]) -> bytes:
    """An RSS 2.0 feed of (guid, link, title) items; a None guid leaves the <guid> out."""
    entries = "".join(
        "<item>" + (f"<guid>{guid}</guid>" if guid else "") + f"<link>{link}</link><title>{title}</title>"
        f"<description>&lt;p&gt;About {title}.&lt;/p&gt;</description></item>"
        for guid, link, title in items)
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>News</title>'
            f"<link>http://127.0.0.1/</link><description>d</description>{entries}</channel></rss>").encode()


class FeedServer:
    """Feeds on 127.0.0.1 by path; a path set to an int answers with that HTTP status."""

    def __init__(self) -> None:
        self.feeds: dict[str, bytes | int] = {}
        self.hits: dict[str, int] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                server.hits[self.path] = server.hits.get(self.path, 0) + 1
                body = server.feeds.get(self.path, 404)
                if isinstance(body, int):
                    self.send_response(body)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_port}{path}"


@pytest.fixture
def feeds():
    server = FeedServer()
    yield server
    server.httpd.shutdown()


@pytest.fixture
def sched_settings(tmp_path, postgres_url, amqp_url, queue_prefix):
    """Distributed mode without workers: submitted jobs wait on their queue."""
    from factory.settings import Settings

    return Settings.load(data_dir=tmp_path / "data", publish_dir=tmp_path / "published", database_url=postgres_url,
                         amqp_url=amqp_url, queue_prefix=queue_prefix, retry_delays=[0.3, 0.6], feed_timeout_seconds=5.0)


@pytest.fixture
def service(sched_settings):
    from factory.service import JobService

    with JobService(sched_settings) as svc:
        yield svc


def _feed_schedule(service, url: str, portrait_path, cron: str = "*/10 * * * *", **extra):
    from factory.schedules import ScheduleSpec, add_schedule

    spec = ScheduleSpec(name=f"news-{uuid.uuid4().hex[:6]}", cron=cron, source_kind="feed", source=url,
                        avatar=str(portrait_path), language="en", max_items_per_run=50,
                        render_params={"min_resolution": 384}, **extra)
    return add_schedule(service.jobs, spec)


def _runs_for(report, *schedules) -> list:
    """The runs of these schedules (the database is shared with the other tests' schedules)."""
    ids = {s.id for s in schedules}
    return [run for run in report.runs if run.schedule_id in ids]


def _topics_of(service, job_ids: list[str]) -> list[str]:
    return sorted(service.get(j).values["writer_request"]["topic"] for j in job_ids)


def test_feed_schedule_makes_only_new_items_and_records_each_run(service, feeds, portrait_path):
    from factory.scheduler import Scheduler
    from factory.schedules import runs_of

    feeds.feeds["/news.xml"] = rss([("g1", "http://n/1", "Library opens"), ("g2", "http://n/2", "Bridge closes"),
                                    ("g1", "http://n/1", "Library opens")])  # a feed repeating an entry
    schedule = _feed_schedule(service, feeds.url("/news.xml"), portrait_path)
    scheduler = Scheduler(service)

    first = scheduler.run_schedule(schedule)
    assert first.status == "done" and first.items_seen == 3
    assert _topics_of(service, first.jobs) == ["Bridge closes", "Library opens"]
    job = service.get(first.jobs[0])
    assert job.batch == first.batch and job.params["min_resolution"] == 384
    assert job.values["writer_request"]["use_case"] == "topic" and job.values["writer_request"]["summary"].startswith("About ")

    # The next fetch repeats both and adds two: one with a GUID, one with only a link.
    feeds.feeds["/news.xml"] = rss([(None, "http://n/4", "Park reopens"), ("g3", "http://n/3", "Museum extends hours"),
                                    ("g2", "http://n/2", "Bridge closes"), ("g1", "http://n/1", "Library opens")])
    second = scheduler.run_schedule(schedule)
    assert _topics_of(service, second.jobs) == ["Museum extends hours", "Park reopens"]
    third = scheduler.run_schedule(schedule)
    assert third.status == "done" and third.jobs == [] and third.items_seen == 4

    with service.jobs.session() as s:
        made = list(s.exec(select(Job).where(Job.batch.like(f"run-{schedule.id}-%"))))
    assert len(made) == 4 and all(j.status == "queued" for j in made)
    assert [r.jobs for r in runs_of(service.jobs, schedule.id)] == [third.jobs, second.jobs, first.jobs]


def test_schedule_missed_during_downtime_fires_once(service, feeds, portrait_path):
    from factory.scheduler import Scheduler
    from factory.schedules import Schedule, runs_of

    feeds.feeds["/hourly.xml"] = rss([("h1", "http://h/1", "Hourly item")])
    schedule = _feed_schedule(service, feeds.url("/hourly.xml"), portrait_path, cron="0 * * * *")
    now = datetime(2026, 12, 7, 12, 30, tzinfo=timezone.utc)
    with service.jobs.session() as s:  # the scheduler was down for five hourly slots
        row = s.get(Schedule, schedule.id)
        row.next_run_at = now - timedelta(hours=5)
        s.add(row)
        s.commit()
    scheduler = Scheduler(service)
    runs = _runs_for(scheduler.tick(now), schedule)
    assert len(runs) == 1 and len(runs[0].jobs) == 1
    with service.jobs.session() as s:
        assert s.get(Schedule, schedule.id).next_run_at == datetime(2026, 12, 7, 13, 0, tzinfo=timezone.utc)
    assert _runs_for(scheduler.tick(now + timedelta(minutes=10)), schedule) == []  # not once per missed slot
    assert len(runs_of(service.jobs, schedule.id)) == 1
    assert [r.trigger for r in _runs_for(scheduler.tick(now + timedelta(minutes=31)), schedule)] == ["cron"]  # the next slot


def test_two_schedulers_at_once_never_make_an_item_twice(sched_settings, feeds, portrait_path):
    """Two scheduler processes' worth of state (own services, own database connections) run
    the same due schedule at the same instant, twice over: the database lets each item through once."""
    from factory.scheduler import Scheduler
    from factory.service import JobService

    feeds.feeds["/busy.xml"] = rss([(f"b{i}", f"http://b/{i}", f"Story {i}") for i in range(8)])
    services = [JobService(sched_settings), JobService(sched_settings)]
    try:
        schedule = _feed_schedule(services[0], feeds.url("/busy.xml"), portrait_path)
        schedulers = [Scheduler(svc) for svc in services]
        start = threading.Barrier(2)
        runs: list = []

        def race(scheduler: Scheduler) -> None:
            start.wait()
            runs.append(scheduler.run_schedule(schedule, trigger="manual"))  # both read all eight as new

        threads = [threading.Thread(target=race, args=(s,)) for s in schedulers]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        now = schedule.next_run_at + timedelta(seconds=1)
        ticks: list = []
        start = threading.Barrier(2)

        def tick(scheduler: Scheduler) -> None:
            start.wait()
            ticks.append(scheduler.tick(now))

        threads = [threading.Thread(target=tick, args=(s,)) for s in schedulers]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)

        created = [job for run in runs for job in run.jobs]
        assert len(created) == 8 and len(set(created)) == 8
        due_runs = [run for t in ticks for run in _runs_for(t, schedule)]
        assert len(due_runs) == 1 and due_runs[0].jobs == []  # one of them claimed the due run; nothing was new
        with services[0].jobs.session() as s:
            made = list(s.exec(select(Job).where(Job.batch.like(f"run-{schedule.id}-%"))))
        assert sorted(j.values["writer_request"]["topic"] for j in made) == sorted(f"Story {i}" for i in range(8))
    finally:
        for svc in services:
            svc.close()


def test_a_feed_that_fails_is_retried_and_shows_its_error_while_others_go_on(service, feeds, portrait_path):
    from factory.scheduler import Scheduler
    from factory.schedules import get_schedule, runs_of

    feeds.feeds["/down.xml"] = 503
    feeds.feeds["/up.xml"] = rss([("u1", "http://u/1", "Up story")])
    down = _feed_schedule(service, feeds.url("/down.xml"), portrait_path, cron="0 6 * * *")
    up = _feed_schedule(service, feeds.url("/up.xml"), portrait_path, cron="0 6 * * *")
    now = max(down.next_run_at, up.next_run_at) + timedelta(seconds=5)
    scheduler = Scheduler(service)

    by_schedule = {r.schedule_id: r for r in _runs_for(scheduler.tick(now), down, up)}
    assert by_schedule[down.id].status == "failed" and "HTTP 503" in by_schedule[down.id].error
    assert by_schedule[up.id].status == "done" and len(by_schedule[up.id].jobs) == 1
    broken = get_schedule(service.jobs, down.id)
    assert broken.failures == 1 and "HTTP 503" in broken.last_error and broken.retry_at is not None

    feeds.feeds["/down.xml"] = rss([("d1", "http://d/1", "Back online")])
    assert _runs_for(scheduler.tick(now + timedelta(seconds=30)), down, up) == []  # the back-off is not over yet
    (run,) = _runs_for(scheduler.tick(now + timedelta(minutes=2)), down, up)
    assert run.trigger == "retry" and run.status == "done" and _topics_of(service, run.jobs) == ["Back online"]
    healed = get_schedule(service.jobs, down.id)
    assert healed.failures == 0 and healed.last_error is None
    assert [r.status for r in runs_of(service.jobs, down.id)] == ["done", "failed"]
    assert feeds.hits["/down.xml"] == 2


def test_feed_url_that_is_not_a_feed_is_a_sentence(feeds):
    from factory.sources import SourceError, read_feed

    feeds.feeds["/page.html"] = b"<html><body>hello</body></html>"
    with pytest.raises(SourceError, match="not an RSS or Atom feed"):
        read_feed(feeds.url("/page.html"))
    with pytest.raises(SourceError, match="HTTP 404"):
        read_feed(feeds.url("/missing.xml"))


def test_schedule_cli_add_list_pause_resume_run_now_remove(sched_settings, portrait_path, tmp_path, monkeypatch):
    """The commands an editor types, on a fixed topic list (each topic is made once)."""
    from click.testing import CliRunner

    from factory.cli import cli

    for key, value in {"DATA_DIR": sched_settings.data_dir, "DATABASE_URL": sched_settings.database_url,
                       "AMQP_URL": sched_settings.amqp_url, "QUEUE_PREFIX": sched_settings.queue_prefix,
                       "RETRY_DELAYS": "0.3,0.6"}.items():
        monkeypatch.setenv(f"FACTORY_{key}", str(value))
    runner = CliRunner()
    name = f"topics-{uuid.uuid4().hex[:6]}"
    added = runner.invoke(cli, ["schedule", "add", name, "--cron", "0 8 * * 1-5", "--tz", "Asia/Shanghai",
                                "--topic", "天气预报", "--topic", "交通新闻", "--language", "zh",
                                "--image", str(portrait_path), "--param", "min_resolution=384"])
    assert added.exit_code == 0, added.output
    bad = runner.invoke(cli, ["schedule", "add", "x", "--cron", "every morning", "--topic", "t", "--image", str(portrait_path)])
    assert bad.exit_code == 2 and "is not a cron expression" in bad.output
    listed = runner.invoke(cli, ["schedule", "list"])
    assert name in listed.output and "Asia/Shanghai" in listed.output and "ok" in listed.output
    assert runner.invoke(cli, ["schedule", "pause", name]).exit_code == 0
    assert "paused" in runner.invoke(cli, ["schedule", "list"]).output
    assert runner.invoke(cli, ["schedule", "resume", name]).exit_code == 0

    first = runner.invoke(cli, ["schedule", "run-now", name])
    assert first.exit_code == 0, first.output
    assert "2 new job(s)" in first.output
    again = runner.invoke(cli, ["schedule", "run-now", name])
    assert "0 new job(s)" in again.output
    shown = runner.invoke(cli, ["schedule", "show", name])
    assert "2 job(s) of 2 item(s)" in shown.output and "0 job(s) of 2 item(s)" in shown.output

    assert runner.invoke(cli, ["schedule", "remove", name]).exit_code == 0
    gone = runner.invoke(cli, ["schedule", "show", name])
    assert gone.exit_code == 1 and "There is no schedule" in gone.output


def test_folder_schedule_makes_a_policy_explainer_per_new_document(service, portrait_path, tmp_path):
    """A watched folder: each new document (by content) becomes a policy explainer whose
    source is the document's text; a copy under another name is not made again; a document
    that cannot be read is listed in the run, the others go on."""
    import shutil

    from factory.scheduler import Scheduler
    from factory.schedules import ScheduleSpec, add_schedule
    from test_documents import EN, ZH, make_docx, make_pdf

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    make_pdf(inbox / "fares-zh.pdf", [ZH], chinese=True)
    make_docx(inbox / "fares-en.docx", "Bus fares", [EN], [["Ticket", "Price"], ["Single", "2 yuan"]])
    schedule = add_schedule(service.jobs, ScheduleSpec(
        name=f"policies-{uuid.uuid4().hex[:6]}", cron="*/30 * * * *", source_kind="folder", source=str(inbox),
        avatar=str(portrait_path), language="zh", review="always"))
    assert schedule.template == "policy"
    scheduler = Scheduler(service)
    first = scheduler.run_schedule(schedule)
    requests = sorted((service.get(j).values["writer_request"] for j in first.jobs), key=lambda r: r["source"])
    assert [r["use_case"] for r in requests] == ["policy", "policy"]
    assert requests[0]["source"].startswith("Bus fares\n" + EN) and "".join(requests[1]["source"].split()) == ZH
    assert all(service.get(j).params["review"] == "always" for j in first.jobs)  # held for an editor

    shutil.copy(inbox / "fares-zh.pdf", inbox / "copy-of-fares.pdf")
    (inbox / "scan.pdf").write_bytes((inbox / "fares-zh.pdf").read_bytes()[:200])  # a broken PDF
    second = scheduler.run_schedule(schedule)
    assert second.jobs == [] and len(second.problems) == 1 and second.problems[0].startswith("scan.pdf: ")
    assert scheduler.run_schedule(schedule).problems == []  # a refused document is not tried again


def test_a_schedule_with_a_library_avatar_uses_its_photo(service, feeds, portrait_path):
    """A schedule may name a library avatar (as the console's schedules page does): its photo
    comes from the artifact store, so a schedule keeps working wherever the scheduler runs."""
    from factory.avatars import add_avatar
    from factory.scheduler import Scheduler

    avatar = add_avatar(service.jobs, service.artifacts, f"host-{uuid.uuid4().hex[:6]}", portrait_path,
                        max_pixels=service.settings.max_image_pixels)
    feeds.feeds["/avatar.xml"] = rss([("a1", "http://n/a1", "Harbour festival begins")])
    schedule = _feed_schedule(service, feeds.url("/avatar.xml"), portrait_path)
    with service.jobs.session() as s:  # as the console stores it: the avatar's id, not a path
        row = s.get(type(schedule), schedule.id)
        row.avatar = avatar.id
        s.add(row)
        s.commit()
        schedule = row
    run = Scheduler(service).run_schedule(schedule)
    [job_id] = run.jobs
    assert service.get(job_id).files["image"] == avatar.image
