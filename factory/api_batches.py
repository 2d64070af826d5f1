"""``/batches``: one job per row of an uploaded sheet (CSV, XLSX, JSON lines) or of JSON rows;
the batch's status, and a ZIP of its results.

Rows are read, checked and submitted by ``factory.batch`` (the same rules as the console's
product batches): every row is checked before anything renders and a bad row is listed with its
reason while the good rows become jobs. A row's portrait is an avatar from the library (its
``avatar`` or ``image`` column names one), else the batch's avatar or uploaded photo: a sheet
never names files on the server.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Path as PathParam, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from factory.api_common import AUTH_ERRORS, NOT_FOUND, TOO_LARGE, ApiError, ErrorBody, check_image, requires
from factory.api_jobs import avatar_image, limits_of, parse, read_form, read_json, service_of
from factory.api_models import BatchCreate, BatchOut, BatchUpload
from factory.identity import ApiToken
from factory.store import Job, JobStatus

SHEET_SUFFIXES = (".csv", ".xlsx", ".jsonl", ".json")
MAX_ROWS = 1000
BatchId = PathParam(..., min_length=1, max_length=64, description="The batch's id.")

router = APIRouter(tags=["batches"], responses=AUTH_ERRORS)

BATCH_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/BatchCreate"}},
            "multipart/form-data": {"schema": {"$ref": "#/components/schemas/BatchUpload"}},
        },
    }
}


def with_portraits(request: Request, rows: list[dict[str, Any]], default: Path | None) -> list[dict[str, Any]]:
    """The rows with ``image`` set to the local photo of the avatar each names; 422 when a row
    names an avatar the library does not have, or has no portrait and the batch none either."""
    resolved, missing = [], []
    for number, row in enumerate(rows, start=1):
        row = dict(row)
        ref = str(row.pop("avatar", "") or row.pop("image", "") or "").strip()
        row.pop("image", None)
        if ref:
            try:
                row["image"] = str(avatar_image(request, ref)[0])
            except ApiError:
                raise ApiError(422, f"Row {number} names the avatar {ref!r}, which is not in the library "
                                    "(GET /avatars); a sheet names avatars, not files.") from None
        elif default is None:
            missing.append(number)
        resolved.append(row)
    if missing:
        listed = ", ".join(map(str, missing[:10])) + (" ..." if len(missing) > 10 else "")
        raise ApiError(422, f"Give the batch an avatar or an image, or every row an avatar (row {listed} has none).")
    return resolved


def submit_rows(request: Request, caller: ApiToken, rows: list[dict[str, Any]], options: dict[str, Any],
                default_image: Path | None, file_name: str) -> dict[str, Any]:
    from factory.batch import submit_batch

    service = service_of(request)
    if len(rows) > MAX_ROWS:
        raise ApiError(422, f"{file_name} has {len(rows)} rows; a batch takes at most {MAX_ROWS}.")
    rows = with_portraits(request, rows, default_image)
    try:
        result = submit_batch(service, rows, file_name=file_name, default_image=default_image,
                              language=options.get("language") or "en", voice=options.get("voice"),
                              target_seconds=options.get("seconds"), render=options.get("params") or {},
                              check=options.get("check"), submitted_by=caller.actor, token_id=caller.id)
    except ValueError as exc:  # a batch-wide value (render parameters) refused: nothing was created
        raise ApiError(422, str(exc)) from None
    return batch_status(request, result.batch_id)


def batch_status(request: Request, batch_id: str) -> dict[str, Any]:
    from factory.batch import get_batch

    service = service_of(request)
    try:
        batch = get_batch(service.jobs, batch_id)
    except KeyError:
        raise ApiError(404, f"There is no batch {batch_id}.") from None
    with service.jobs.session() as s:
        from sqlmodel import select

        jobs = {job.id: job for job in s.exec(select(Job).where(Job.batch == batch_id))}
    rows, counts = [], {}
    for entry in batch.rows:
        job = jobs.get(entry.get("job_id") or "")
        status = job.status if job else "skipped"
        counts[status] = counts.get(status, 0) + 1
        rows.append({"row": entry["row"], "job_id": entry.get("job_id"), "status": status,
                     "error": job.error if job else entry.get("problem")})
    done = all(row["status"] in JobStatus.FINAL or row["status"] == "skipped" for row in rows)
    return {"id": batch.id, "created_by": batch.submitted_by, "created_at": batch.created_at,
            "counts": counts, "done": done, "rows": rows}


@router.post("/batches", status_code=202, response_model=BatchOut, openapi_extra=BATCH_BODY,
             responses={**TOO_LARGE, 415: {"model": ErrorBody, "description": "Neither JSON nor multipart."}},
             summary="Submit a batch")
async def create_batch(request: Request, caller: ApiToken = Depends(requires("editor"))) -> dict[str, Any]:
    """One job per row, from an uploaded sheet (multipart: ``file`` .csv/.xlsx/.jsonl/.json) or
    JSON ``rows``. Columns: script, or topic (+ summary), or name (+ features, price,
    promotion, currency) for a product pitch; avatar (else the batch's), language, voice,
    seconds. Every row is checked first; a bad row is listed as skipped, with the reason."""
    from factory.batch import BatchFileError, read_rows

    limits = limits_of(request)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    with tempfile.TemporaryDirectory(prefix="factory-api-") as tmp:
        folder = Path(tmp)
        default: Path | None = None
        if content_type == "application/json":
            body = parse(BatchCreate, await read_json(request, limits))
            rows = [row.model_dump(exclude_none=True) for row in body.rows]
            options, file_name = body.model_dump(exclude={"rows"}), "rows.json"
        elif content_type == "multipart/form-data":
            values, files = await read_form(request, folder, limits, set(BatchUpload.model_fields) - {"file", "image"},
                                            {"file", "image"})
            form: dict[str, Any] = {k: v for k, v in values.items() if v != ""}
            if "params" in form:
                try:
                    form["params"] = json.loads(form["params"])
                except json.JSONDecodeError as exc:
                    raise ApiError(422, f"params must be a JSON object ({exc.msg}).") from None
            # the form's options are checked by the JSON form's rules (a placeholder row stands in for the sheet)
            options = parse(BatchCreate, {"rows": [{"script": "-"}], **form}).model_dump(exclude={"rows"})
            sheet = files.get("file")
            if sheet is None:
                raise ApiError(422, "Upload the rows as the form's file field (.csv, .xlsx, .jsonl or .json).")
            if sheet.suffix.lower() not in SHEET_SUFFIXES:
                raise ApiError(422, f"{sheet.name}: the rows must be a .csv, .xlsx, .jsonl or .json file.")
            try:
                rows = await run_in_threadpool(read_rows, sheet)
            except (BatchFileError, UnicodeDecodeError, ValueError) as exc:
                raise ApiError(422, f"{sheet.name} could not be read: {exc}") from None
            if not rows:
                raise ApiError(422, f"{sheet.name} has no rows.")
            file_name = sheet.name
            default = files.get("image")
            if default is not None:
                await run_in_threadpool(check_image, default, limits)
        else:
            raise ApiError(415, "Send the batch as application/json or multipart/form-data.")
        if default is None and options.get("avatar"):
            default = avatar_image(request, options["avatar"])[0]
        return await run_in_threadpool(submit_rows, request, caller, rows, options, default, file_name)


@router.get("/batches/{batch_id}", response_model=BatchOut, responses=NOT_FOUND, summary="A batch's status")
def show_batch(request: Request, batch_id: str = BatchId, caller: ApiToken = Depends(requires("editor"))) -> dict[str, Any]:
    """Each row's job and status (or why it was skipped), counts by status, and whether all ended."""
    return batch_status(request, batch_id)


@router.get("/batches/{batch_id}/results.zip", response_class=FileResponse, responses={
    **NOT_FOUND, 200: {"description": "manifest.csv, manifest.json, and each published video with its subtitles.",
                       "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}}}},
    summary="A batch's results as a ZIP")
def batch_results(request: Request, batch_id: str = BatchId, caller: ApiToken = Depends(requires("editor"))):
    """``manifest.csv`` / ``manifest.json`` (row, job, status, duration, video, subtitles, QA
    verdict, reason) and ``videos/<row>-<job>.mp4`` for every published row. Asked for before
    the batch is done, it holds what is published so far."""
    from factory.batch import batch_zip

    batch_status(request, batch_id)  # 404 for an unknown batch
    fd, zip_path = tempfile.mkstemp(prefix="factory-batch-", suffix=".zip")
    os.close(fd)
    try:
        batch_zip(service_of(request), batch_id, zip_path)
    except BaseException:
        os.unlink(zip_path)
        raise
    return FileResponse(zip_path, media_type="application/zip", filename=f"{batch_id}.zip",
                        background=BackgroundTask(os.unlink, zip_path))
