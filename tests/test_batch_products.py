"""Product batches: every row checked before anything renders, good rows become jobs, the
finished videos come back as a ZIP with a manifest, and the requester gets one e-mail."""

from __future__ import annotations

import csv
import io
import json
import socket
import zipfile
from pathlib import Path

import numpy as np
import pytest

ROWS = [
    {"name": "Aurora lamp", "features": "dimmable; USB-C", "price": "39.99", "promotion": "-20% this week"},
    {"name": "", "features": "stainless", "price": "10"},
    {"name": "Kettle", "price": "cheap"},
    {"name": "Mug", "price": "8", "image": "coffee.png"},
    {"name": "Fan", "price": "25", "voice": "nobody"},
    {"name": "台灯", "features": "护眼；可调光", "price": "¥129", "language": "zh"},
    {"name": "水壶", "price": "便宜", "language": "zh"},
    {"name": "Tent", "price": "99", "image": "group.png"},
    {"name": "帐篷", "price": "99", "image": "far.png", "language": "zh"},
]
# A row's photo gets the sentence an avatar upload of it would get (factory.avatars), naming the file.
EXPECTED_PROBLEMS = {2: "missing name", 3: "bad price 'cheap'",
                     4: "coffee.png: No face was found in this photo. Please use a clear, front-facing portrait.",
                     5: "Unknown voice 'nobody'", 7: "价格“便宜”无效",
                     8: "group.png: This photo shows 2 faces; an avatar needs exactly one person.",
                     # a Chinese row hears it in Chinese first (the English after it, for the team)
                     9: "照片有问题：far.png：这张照片里的人脸太小；请裁剪到人物的头部和肩膀。（far.png: The face in this photo is too small"}
COLUMNS = ["name", "features", "price", "promotion", "image", "language", "voice"]


@pytest.fixture
def catalogue(tmp_path) -> Path:
    import skimage.data

    from factory.media import save_image

    save_image(tmp_path / "coffee.png", skimage.data.coffee())  # a cup of coffee: no face
    face = skimage.data.astronaut()
    save_image(tmp_path / "group.png", np.hstack([face, face]))  # the same person twice, side by side
    # The portrait in one corner of a frame twice as wide and high: the face fills under 2 % of it.
    save_image(tmp_path / "far.png", np.pad(face, ((0, 512), (0, 512), (0, 0)), constant_values=200))
    return tmp_path


def write_csv(path: Path, rows: list[dict]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows([{k: row.get(k, "") for k in COLUMNS} for row in rows])
    return path


def write_xlsx(path: Path, rows: list[dict]) -> Path:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append([c.title() for c in COLUMNS])  # headers as people type them
    for row in rows:
        sheet.append([float(row[k]) if k == "price" and row.get(k, "").replace(".", "").isdigit() else row.get(k) or None
                      for k in COLUMNS])
    book.save(path)
    return path


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_batch_rows_are_checked_before_anything_renders(kind, catalogue, portrait_path):
    from factory.batch import read_rows, validate_rows

    path = (write_csv if kind == "csv" else write_xlsx)(catalogue / f"products.{kind}", ROWS)
    planned = validate_rows(read_rows(path), default_image=portrait_path, base=catalogue)
    problems = {row.number: row.problem for row in planned if row.problem}
    assert set(problems) == set(EXPECTED_PROBLEMS)
    for number, words in EXPECTED_PROBLEMS.items():
        assert words in problems[number], problems[number]
    assert "缺少商品名称" not in problems[2] and "(" not in problems[2]  # an English row is told in English
    good = [row for row in planned if not row.problem]
    assert [row.number for row in good] == [1, 6]
    assert good[0].writer_request["product"] == {"name": "Aurora lamp", "features": ["dimmable", "USB-C"],
                                                "price": "39.99", "promotion": "-20% this week"}
    assert good[1].language == "zh" and good[1].writer_request["product"]["price"] == "¥129"


def test_batch_submits_only_the_good_rows_and_records_the_others(catalogue, portrait_path, tmp_path, postgres_url,
                                                                 amqp_url, queue_prefix):
    """Distributed mode without workers: the jobs wait on their queue; nothing renders here."""
    from factory.batch import batch_progress, get_batch, read_rows, submit_batch
    from factory.service import JobService
    from factory.settings import Settings

    settings = Settings.load(data_dir=tmp_path / "data", database_url=postgres_url, amqp_url=amqp_url,
                             queue_prefix=queue_prefix, retry_delays=[0.3, 0.6])
    with JobService(settings) as service:
        result = submit_batch(service, read_rows(write_csv(catalogue / "products.csv", ROWS)), file_name="products.csv",
                              default_image=portrait_path, base=catalogue, render={"min_resolution": 384},
                              submitted_by="editor1")
        assert [n for n, _ in result.jobs] == [1, 6]
        assert [n for n, _ in result.problems] == sorted(EXPECTED_PROBLEMS)
        jobs = [service.get(job_id) for _, job_id in result.jobs]
        assert [j.values["writer_request"]["product"]["name"] for j in jobs] == ["Aurora lamp", "台灯"]
        assert [j.params["language"] for j in jobs] == ["en", "zh"] and all(j.params["min_resolution"] == 384 for j in jobs)
        assert all(j.batch == result.batch_id and j.created_by == "editor1" and j.status == "queued" for j in jobs)
        progress = batch_progress(service.jobs, result.batch_id)
        assert progress.total == 2 and progress.counts == {"queued": 2} and not progress.done
        assert [n for n, _ in progress.problems] == sorted(EXPECTED_PROBLEMS)
        assert [r["row"] for r in get_batch(service.jobs, result.batch_id).rows] == list(range(1, len(ROWS) + 1))
        with pytest.raises(ValueError, match="expand_ratio"):  # a bad batch-wide value: nothing is created
            submit_batch(service, read_rows(catalogue / "products.csv"), default_image=portrait_path,
                         render={"expand_ratio": 0.9})


class Mailbox:
    """A real SMTP server on 127.0.0.1 (aiosmtpd) that keeps every message it receives."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list = []
        box = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
                from email import message_from_bytes, policy

                box.messages.append(message_from_bytes(envelope.content, policy=policy.default))
                return "250 OK"

        with socket.socket() as probe:  # aiosmtpd needs the port before it starts
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()


@pytest.fixture
def mailbox():
    box = Mailbox()
    yield box
    box.controller.stop()


def test_batch_renders_zips_with_a_manifest_publishes_to_a_folder_and_sends_one_email(settings, portrait_path, tmp_path, mailbox):
    """Two good rows render (the cheapest settings), one row without its photo is refused; the
    ZIP's manifest matches the jobs; the folder target's index.html lists both videos; the
    requester gets exactly one e-mail for the whole batch."""
    from factory.batch import batch_progress, batch_zip, submit_batch
    from factory.outbox import deliver_due
    from factory.service import JobService

    settings.smtp_host, settings.smtp_port, settings.smtp_starttls = "127.0.0.1", mailbox.port, False
    site = tmp_path / "site"
    rows = [{"script": "Row one speaks."}, {"script": "Row two has no photo.", "image": "missing.png"},
            {"script": "Row three speaks too."}]
    with JobService(settings) as service:
        result = submit_batch(service, rows, file_name="scripts.csv", default_image=portrait_path, base=tmp_path,
                              render={"min_resolution": 384, "keep_crop": True}, check=False,
                              notify_email="editor@example.org", publish_targets=[{"kind": "folder", "path": str(site)}])
        assert [n for n, _ in result.problems] == [2] and "missing.png does not exist" in result.problems[0][1]
        for _, job_id in result.jobs:
            assert service.follow(job_id).status == "published"
        assert batch_progress(service.jobs, result.batch_id).done

        archive = batch_zip(service, result.batch_id, tmp_path / "batch.zip")
        with zipfile.ZipFile(archive) as z:
            manifest = json.loads(z.read("manifest.json"))["rows"]
            table = list(csv.DictReader(io.StringIO(z.read("manifest.csv").decode())))
            assert [m["row"] for m in manifest] == [1, 2, 3] and [int(t["row"]) for t in table] == [1, 2, 3]
            assert [m["job_id"] for m in manifest if m["job_id"]] == [job_id for _, job_id in result.jobs]
            assert [m["status"] for m in manifest] == ["published", "invalid", "published"]
            assert manifest[1]["reason"] and not manifest[1]["video"]
            for entry in (manifest[0], manifest[2]):
                job = service.get(entry["job_id"])
                assert entry["duration_seconds"] == job.values["render"]["seconds"] > 0.5
                assert entry["qa_verdict"] == "not checked"
                assert z.read(entry["video"])[4:8] == b"ftyp"  # a real MP4 in the ZIP

        while deliver_due(service.jobs, settings):  # the outbox: folder publications and the e-mail
            pass
    index = (site / "index.html").read_text(encoding="utf-8")
    for _, job_id in result.jobs:
        assert f'src="{job_id}.mp4"' in index and (site / f"{job_id}.mp4").stat().st_size > 1000
    assert len(mailbox.messages) == 1  # one message for the batch, not one per video
    mail = mailbox.messages[0]
    assert mail["To"] == "editor@example.org" and "2 published" in mail["Subject"]
    body = mail.get_content()
    assert all(job_id in body for _, job_id in result.jobs) and "row 2:" in body
