"""Batches: one job per row of a CSV, XLSX or JSON-lines file (e-commerce catalogues, topic lists).

Columns (header names, case-insensitive; any missing column is simply not used):

* ``script``                       — the narration as is, or
* ``topic`` (+ ``summary``)        — a short neutral narration written by the LLM, or
* ``name`` (+ ``features``, ``price``, ``promotion``, ``currency``) — a product pitch;
  ``features`` is a list in JSON lines, or ``;``-separated in CSV / XLSX;
* ``image``                        — the row's own portrait (else the batch's image);
* ``language``, ``voice``, ``seconds`` — per row, else the batch's.

Two ways in:

* ``plan_rows`` (``factory batch``): every row that says something becomes a job; a bad row
  fails only its own job, with the reason on it.
* ``validate_rows`` + ``submit_batch`` (product batches from the API and the console): every
  row is checked *before anything renders* — a product without a name, a price that is no
  number, a photo an avatar upload would refuse (no face, several faces, a tiny face), a voice
  that does not exist — and listed by row number with the reason; the good rows become jobs.
  ``batch_progress`` follows them, ``batch_zip`` packs the finished videos with a manifest.

Every row becomes its own job in one batch (low queue priority, so an editor's single video
overtakes the batch).
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, Column, Text
from sqlmodel import Field, SQLModel, select

from factory.payloads import NARRATION_LANGUAGES, PRODUCT_FIELDS, WriterRequest
from factory.store import utcnow
from factory.text import language_mismatch


@dataclass
class BatchRow:
    number: int
    """1-based row number in the file (as an editor would count it)."""
    image: Path
    language: str = "en"
    script: str | None = None
    writer_request: dict[str, Any] | None = None
    """``WriterRequest.to_value()``, as ``JobService.submit`` takes it."""
    problem: str | None = None
    """Why the row cannot become a job (reported; other rows go on)."""
    voice: str | None = None
    """The row's own voice (``validate_rows``), else the batch's."""
    name: str = ""
    """The product's name or the topic (for listings and the manifest)."""


class BatchFileError(ValueError):
    """A rows file that cannot be read; the message is a sentence for an editor."""


def read_rows(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a .csv (header line), .xlsx (first sheet, header row) or .jsonl / .json (one
    object per line, or a JSON list). Keys are lower-case; empty cells are ""."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return _xlsx_rows(path)
    text = path.read_text(encoding="utf-8-sig")
    if suffix == ".csv":
        return [{k.strip().lower(): (v or "").strip() for k, v in row.items() if k} for row in csv.DictReader(text.splitlines())]
    try:
        rows = json.loads(text) if text.lstrip().startswith("[") else [json.loads(line) for line in text.splitlines() if line.strip()]
    except json.JSONDecodeError as exc:
        raise BatchFileError(f"{path.name} is neither CSV, XLSX nor JSON lines (line {exc.lineno}: {exc.msg}).") from None
    return [{str(k).lower(): v for k, v in row.items()} for row in rows]


def _xlsx_rows(path: Path) -> list[dict[str, Any]]:
    import zipfile

    import openpyxl

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise BatchFileError(f"{path.name} is not a readable Excel (.xlsx) file ({exc}).") from None
    try:
        lines = list(book.worksheets[0].iter_rows(values_only=True))
    finally:
        book.close()
    if not lines:
        return []
    header = [str(h).strip().lower() if h is not None else "" for h in lines[0]]
    rows = []
    for line in lines[1:]:
        if all(cell in (None, "") for cell in line):
            continue  # Excel keeps formatted but empty rows
        rows.append({name: _cell(cell) for name, cell in zip(header, line) if name})
    return rows


def _cell(value: Any) -> Any:
    """Excel cells as the CSV reader would give them: text stripped, whole numbers without ".0"."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip() if not isinstance(value, (int, float)) else str(value)


def plan_rows(rows: list[dict[str, Any]], default_image: Path | None, language: str, seconds: float | None, base: Path) -> list[BatchRow]:
    """Turn raw rows into what ``JobService.submit`` needs, noting rows that cannot be used."""
    planned = []
    for number, row in enumerate(rows, start=1):
        # Only a row's own image is relative to the rows file; --image is as the user typed it.
        image = (base / row["image"] if not Path(row["image"]).is_absolute() else Path(row["image"])) if row.get("image") else default_image
        lang = row.get("language") or language
        item = BatchRow(number=number, image=image or Path(), language=lang)
        try:
            target = float(row["seconds"]) if row.get("seconds") else seconds
        except (TypeError, ValueError):
            item.problem = f"seconds must be a number, got {row['seconds']!r}"
            planned.append(item)
            continue
        if image is None:
            item.problem = "no image: give the batch an --image or the row an image column"
        elif row.get("script"):
            item.script = str(row["script"])
        elif row.get("topic"):
            item.writer_request = WriterRequest.for_topic(row["topic"], row.get("summary"), lang, target).to_value()
        elif any(k in row for k in ("name", "features", "price")):
            # Only the product's columns: the row also holds image, language, seconds...
            # A row without a name still becomes a job: the writer refuses it with its own message.
            product = {k: row[k] for k in PRODUCT_FIELDS if k in row}
            item.writer_request = WriterRequest.for_product(product, lang, target).to_value()
        else:
            item.problem = "nothing to say: the row needs a script, a topic or a product name"
        planned.append(item)
    return planned


# --- product batches: checked before anything renders ------------------------------------------

PRODUCT_COLUMNS = ("name", "features", "price", "promotion")
_PRICE = re.compile(r"^\s*(?:[¥$€£]|rmb|cny|usd|eur)?\s*(?:\d{1,3}(?:,\d{3})+(?:\.\d{1,2})?|\d+(?:[.,]\d{1,2})?)"
                    r"\s*(?:元|rmb|cny|usd|eur)?\s*$", re.IGNORECASE)
"""A price as people write it: 39.99, 1,299.00, ¥129, 129元, USD 20 (not negative, not words)."""


class Batch(SQLModel, table=True):
    """One submitted batch: its rows (job or reason each), who sent it, whom to tell."""

    __tablename__ = "batches"

    id: str = Field(primary_key=True, max_length=64)
    file_name: str = Field(sa_column=Column(Text, nullable=False))
    submitted_by: str | None = Field(default=None, max_length=128)
    notify_email: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    rows: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    """{"row", "name", "job_id", "problem"} per row of the file, in order."""
    created_at: datetime = Field(default_factory=utcnow)


@dataclass
class BatchResult:
    batch_id: str
    jobs: list[tuple[int, str]]
    """(row number, job id) of every good row."""
    problems: list[tuple[int, str]]
    """(row number, reason) of every row that was not submitted."""


@dataclass
class BatchProgress:
    batch_id: str
    total: int
    """Jobs in the batch (rows that were submitted)."""
    counts: dict[str, int]
    """Jobs by status."""
    finished: int
    """Jobs that stopped (published, held for review, failed, cancelled, dead)."""
    problems: list[tuple[int, str]]

    @property
    def done(self) -> bool:
        return self.finished == self.total


def validate_rows(rows: list[dict[str, Any]], *, default_image: Path | None = None, language: str = "en",
                  voice: str | None = None, target_seconds: float | None = None, base: Path = Path("."),
                  max_image_pixels: int = 40_000_000) -> list[BatchRow]:
    """Plan every row (``plan_rows``) and check what would otherwise fail while rendering: a
    product without a name, a price that is not a number, a photo that is missing or would be
    refused as an avatar (no face, several faces, a tiny face: ``factory.avatars.check_portrait``),
    a voice that does not exist, a language the writer does not write. Each bad row gets its
    reason (``BatchRow.problem``), in Chinese too for Chinese rows."""
    planned = plan_rows(rows, default_image, language, target_seconds, base)
    faces: dict[Path, tuple[str, str] | None] = {}  # one check per photo: most rows share the batch's photo
    voices: dict[tuple[str, str], str | None] = {}
    for item, row in zip(planned, rows):
        item.voice = str(row.get("voice") or "").strip() or voice
        item.name = str(row.get("name") or row.get("topic") or "").strip()
        if item.problem:
            continue
        item.problem = _row_problem(item, row, faces, voices, max_image_pixels)
    return planned


def _row_problem(item: BatchRow, row: dict[str, Any], faces: dict, voices: dict, max_pixels: int) -> str | None:
    zh = item.language == "zh"
    if item.language not in NARRATION_LANGUAGES:
        return f"unknown language {item.language!r}: use one of {', '.join(NARRATION_LANGUAGES)}"
    if any(str(row.get(k) or "").strip() for k in PRODUCT_COLUMNS) and not item.script and not row.get("topic"):
        if not item.name:
            return _say("missing name: every product needs a name", "缺少商品名称", zh)
        price = str(row.get("price") or "").strip()
        if price and not _PRICE.match(price):
            return _say(f"bad price {price!r}: write a number such as 39.99", f"价格“{price}”无效，请写数字，例如 39.99", zh)
    mismatch = language_mismatch(item.script, item.language) if item.script else None
    if mismatch:
        return _say(*mismatch, zh)
    if item.image not in faces:
        faces[item.image] = _face_problem(item.image, max_pixels)
    if faces[item.image]:
        english, chinese = faces[item.image]
        return _say(english, "照片有问题：" + chinese, zh)
    key = (item.voice or "", item.language)
    if key not in voices:
        voices[key] = _voice_problem(item.voice or "", item.language)
    if voices[key]:
        return voices[key]  # already in English and Chinese
    return None


def _say(english: str, chinese: str, zh: bool) -> str:
    return f"{chinese}（{english}）" if zh else english


def _face_problem(image: Path, max_pixels: int) -> tuple[str, str] | None:
    """None when the photo could be an avatar (``check_portrait``: it decodes and shows exactly
    one clear face); else that check's sentence in English and Chinese, naming the file."""
    from factory.avatars import AvatarError, check_portrait

    if not image or not Path(image).is_file():
        name = Path(image).name or "(none)"
        return f"the photo {name} does not exist", f"照片 {name} 不存在"
    try:
        check_portrait(image, max_pixels)
    except AvatarError as exc:
        # The photo checks speak of "this photo"; a batch has many rows, so name the file
        # (a sentence about an unreadable file names it already).
        english, chinese = str(exc), exc.in_language("zh")
        return (english, chinese) if image.name in english else (f"{image.name}: {english}", f"{image.name}：{chinese}")
    return None


def _voice_problem(voice: str, language: str) -> str | None:
    """None when the voice exists and speaks ``language``; else the voice library's sentence
    (English and Chinese)."""
    from tts.voices import voice_problem

    return voice_problem(voice, language)


def submit_batch(service: Any, rows: list[dict[str, Any]], *, file_name: str = "rows", default_image: Path | None = None,
                 language: str = "en", voice: str | None = None, target_seconds: float | None = None,
                 render: dict[str, Any] | None = None, base: Path = Path("."), check: bool | None = None,
                 submitted_by: str | None = None, notify_email: str | None = None,
                 publish_targets: list[dict[str, Any]] | None = None,
                 callback_url: str | None = None, token_id: str | None = None) -> BatchResult:
    """Validate every row, then submit one job per good row (``JobService.submit``); the batch
    and each row's job or reason are recorded (``batches`` table). Raises ValueError with a
    sentence for bad batch-wide values (render parameters, publish targets): nothing is created.
    Each job's webhooks go to ``callback_url``, else to the default of the API token ``token_id``."""
    from factory.job_params import build_job_params
    from factory.store import new_job_id
    from factory.targets import check_targets, job_publish_params

    check_targets(publish_targets or [])
    build_job_params(render or {}, language=language, voice=voice)  # a bad batch-wide value: before any row
    planned = validate_rows(rows, default_image=default_image, language=language, voice=voice,
                            target_seconds=target_seconds, base=base, max_image_pixels=service.settings.max_image_pixels)
    batch_id = f"batch-{new_job_id()}"
    batch = Batch(id=batch_id, file_name=file_name, submitted_by=submitted_by, notify_email=notify_email)
    with service.jobs.session() as session:  # recorded first: a job event may look it up at once
        session.add(batch)
        session.commit()
    result = BatchResult(batch_id=batch_id, jobs=[], problems=[])
    records = []
    rates: dict[tuple[str, str], float | None] = {}
    for row in planned:
        record = {"row": row.number, "name": row.name, "job_id": None, "problem": row.problem}
        if row.problem is None:
            params = {**build_job_params(render or {}, language=row.language, voice=row.voice),
                      **job_publish_params(publish_targets or [])}
            if row.writer_request and not row.writer_request.get("speaking_rate"):
                key = (row.voice or "", row.language)
                if key not in rates:  # one query per voice and language, not per row
                    rates[key] = service.measured_speaking_rate(params, row.language)
                row.writer_request["speaking_rate"] = rates[key]
            job = service.submit(image=row.image, script=row.script, writer_request=row.writer_request, params=params,
                                 check=check, batch=batch_id, created_by=submitted_by,
                                 callback_url=callback_url, token_id=token_id)
            record["job_id"] = job.id
            result.jobs.append((row.number, job.id))
        else:
            result.problems.append((row.number, row.problem))
        records.append(record)
    with service.jobs.session() as session:
        from factory.notify import group_closed

        stored = session.get(Batch, batch_id)
        stored.rows = records
        session.add(stored)
        group_closed(session, batch_id)  # its jobs may all have stopped already
        session.commit()
    return result


def list_batches(store: Any, limit: int = 10) -> list[Batch]:
    """The newest batches, newest first."""
    from sqlmodel import select

    with store.session() as session:
        return list(session.exec(select(Batch).order_by(Batch.created_at.desc()).limit(limit)))


def get_batch(store: Any, batch_id: str) -> Batch:
    with store.session() as session:
        batch = session.get(Batch, batch_id)
    if batch is None:
        raise KeyError(f"There is no batch {batch_id!r}.")
    return batch


def batch_progress(store: Any, batch_id: str) -> BatchProgress:
    """How far the batch's jobs have got (``store``: the JobStore)."""
    from factory.store import Job, JobStatus

    batch = get_batch(store, batch_id)
    with store.session() as session:
        statuses = list(session.exec(select(Job.status).where(Job.batch == batch_id)))
    counts: dict[str, int] = {}
    for status in statuses:
        counts[status] = counts.get(status, 0) + 1
    problems = [(r["row"], r["problem"]) for r in batch.rows if r.get("problem")]
    return BatchProgress(batch_id=batch_id, total=len(statuses), counts=counts,
                         finished=sum(n for s, n in counts.items() if s in JobStatus.FINAL), problems=problems)


MANIFEST_COLUMNS = ("row", "name", "job_id", "status", "duration_seconds", "video", "subtitles", "qa_verdict", "reason")


def batch_manifest(service: Any, batch_id: str) -> list[dict[str, Any]]:
    """One entry per row of the batch file: its job's status, length, QA verdict and the file
    names the ZIP gives its video and subtitles (rows that were refused: their reason)."""
    batch = get_batch(service.jobs, batch_id)
    entries = []
    for record in batch.rows:
        entry = dict.fromkeys(MANIFEST_COLUMNS, "")
        entry.update(row=record["row"], name=record.get("name") or "", job_id=record.get("job_id") or "",
                     status="invalid" if record.get("problem") else "", reason=record.get("problem") or "")
        if record.get("job_id"):
            job = service.get(record["job_id"])
            stem = f"{record['row']:04d}-{job.id}"
            qa = job.values.get("qa")
            entry.update(status=job.status, reason=job.error or "",
                         duration_seconds=(job.values.get("render") or {}).get("seconds", ""),
                         qa_verdict="passed" if qa and qa.get("passed") else "failed" if qa else "not checked")
            if job.status == "published" and "video" in job.files:
                entry["video"] = f"videos/{stem}.mp4"
                if "subtitles_srt" in job.files:
                    entry["subtitles"] = f"videos/{stem}.srt"
        entries.append(entry)
    return entries


def batch_zip(service: Any, batch_id: str, target: str | Path) -> Path:
    """A ZIP of the batch's published videos (and subtitles) with ``manifest.csv`` and
    ``manifest.json`` (one entry per row: row, job id, status, duration, video, subtitles, QA
    verdict). Written to a temporary name first: a reader never sees half a ZIP."""
    import io
    import zipfile

    from factory.artifacts import atomic_write

    entries = batch_manifest(service, batch_id)

    def write(tmp: str) -> None:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as archive:  # MP4s do not compress
            for entry in entries:
                if not entry["video"]:
                    continue
                job = service.get(entry["job_id"])
                archive.write(service.artifacts.fetch(job.files["video"]), entry["video"])
                if entry["subtitles"]:
                    archive.write(service.artifacts.fetch(job.files["subtitles_srt"]), entry["subtitles"])
            table = io.StringIO()
            writer = csv.DictWriter(table, fieldnames=list(MANIFEST_COLUMNS))
            writer.writeheader()
            writer.writerows(entries)
            archive.writestr("manifest.csv", table.getvalue())
            archive.writestr("manifest.json", json.dumps({"batch": batch_id, "rows": entries}, ensure_ascii=False, indent=2))

    return atomic_write(target, write)
