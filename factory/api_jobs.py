"""``/jobs``: submit (JSON or multipart), list, follow, decide, and download a job's files.

Every change goes through ``JobService`` (and so ``factory.lifecycle``); a request the job's
state does not allow answers 409 with the lifecycle's sentence. Who asked is recorded on the
job as ``token:<name>``.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Depends, Path as PathParam, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse
from pydantic import ValidationError
from sqlalchemy import func
from sqlmodel import select

from factory.api_common import AUTH_ERRORS, CONFLICT, NOT_FOUND, TOO_LARGE, ApiError, ErrorBody, Limits, check_audio, \
    check_image, requires, save_upload
from factory.api_models import JobCreate, JobFields, JobOut, JobPage, RejectIn
from factory.identity import ApiToken
from factory.store import Job, JobStatus
from factory.text import language_mismatch, written_language

ARTIFACT_TYPES = {
    "video": "video/mp4",
    "audio": "audio/wav",
    "subtitles_srt": "application/x-subrip",
    "subtitles_vtt": "text/vtt",
    "qa_report": "application/json",
    "qa_plot": "image/png",
    "image": "image/png",
}
"""The files a job may have, and the media type each is served as."""
SUFFIX_TYPES = {".mp4": "video/mp4", ".wav": "audio/wav", ".srt": "application/x-subrip", ".vtt": "text/vtt",
                ".json": "application/json", ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
                ".webp": "image/webp"}
ArtifactName = Literal["video", "audio", "subtitles_srt", "subtitles_vtt", "qa_report", "qa_plot", "image"]
JobId = PathParam(..., min_length=1, max_length=32, description="The job's id.")
MULTIPART_FIELDS = set(JobFields.model_fields)
MULTIPART_FILES = {"image", "audio"}

router = APIRouter(tags=["jobs"], responses=AUTH_ERRORS)


def limits_of(request: Request) -> Limits:
    return request.app.state.limits


def service_of(request: Request):
    return request.app.state.service


async def read_json(request: Request, limits: Limits) -> Any:
    """The JSON body; 413 when it is larger than an upload may be, 422 when it is not JSON."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limits.max_bytes:
        raise ApiError(413, "The request body is larger than the server accepts.")
    body = bytearray()
    async for chunk in request.stream():  # counted as it arrives: the header may be missing or wrong
        body.extend(chunk)
        if len(body) > limits.max_bytes:
            raise ApiError(413, "The request body is larger than the server accepts.")
    try:
        return json.loads(bytes(body) or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError(422, f"The body is not valid JSON ({getattr(exc, 'msg', exc)}).") from None


async def read_form(request: Request, folder: Path, limits: Limits, fields: set[str],
                    files: set[str]) -> tuple[dict[str, str], dict[str, Path]]:
    """A multipart form's text fields and its files (saved in ``folder``); unknown or repeated
    names are refused."""
    from starlette.datastructures import UploadFile
    from starlette.formparsers import MultiPartException

    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limits.max_bytes * 2:  # every file is also checked on its own
        raise ApiError(413, "The request is larger than the server accepts.")
    try:
        form = await request.form(max_files=len(files), max_fields=len(fields) + len(files))
    except MultiPartException as exc:  # a malformed body or too many parts
        raise ApiError(422, f"The form could not be read: {exc}.") from None
    values: dict[str, str] = {}
    saved: dict[str, Path] = {}
    for key, item in form.multi_items():
        if key in values or key in saved:
            raise ApiError(422, f"The form field {key!r} is given twice.")
        if isinstance(item, UploadFile):
            if key not in files:
                raise ApiError(422, f"Unknown file field {key!r}; files go in: {', '.join(sorted(files))}.")
            target = folder / key
            target.mkdir()
            saved[key] = await save_upload(item, target, limits, key)
        else:
            if key not in fields:
                raise ApiError(422, f"Unknown form field {key!r}.")
            values[key] = item
    return values, saved


def parse(model, data: Any):
    """Validate ``data`` into ``model``; 422 naming each bad field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ApiError(422, validation_message(exc.errors())) from None


def validation_message(errors: list[dict[str, Any]]) -> str:
    parts = []
    for error in errors[:5]:
        where = ".".join(str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path"))
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return "; ".join(parts) + more + "."


def avatar_image(request: Request, avatar_ref: str) -> tuple[Path, str | None]:
    """The local path of an avatar's photo and its default voice; 422 for an unknown avatar."""
    from factory.avatars import get_avatar

    service = service_of(request)
    avatar = get_avatar(service.jobs, avatar_ref)
    if avatar is None:
        raise ApiError(422, f"There is no avatar {avatar_ref!r}; see GET /avatars.")
    return service.artifacts.fetch(avatar.image), avatar.voice


def submit_job(request: Request, caller: ApiToken, fields: JobFields, image: Path | None,
               audio: Path | None, folder: Path) -> dict[str, Any]:
    """Check everything, then create the job (nothing is created when a check fails)."""
    from factory.job_params import build_job_params

    limits = limits_of(request)
    service = service_of(request)
    if sum(x is not None for x in (fields.script, audio, fields.writer_request)) != 1:
        raise ApiError(422, "Give exactly one of: script, audio or writer_request.")
    if (image is None) == (fields.avatar is None):
        raise ApiError(422, "Give exactly one of: an image upload or an avatar.")
    voice = fields.voice
    if image is None:
        image, avatar_voice = avatar_image(request, fields.avatar)
        voice = voice or avatar_voice
    else:
        check_image(image, limits)
    if audio is not None:
        check_audio(audio, limits)
    if fields.script is not None and len(fields.script) > service.settings.max_script_chars:
        raise ApiError(422, f"The script is longer than the {service.settings.max_script_chars} characters allowed.")
    render = {k: v for k, v in fields.params.items() if k not in ("language", "voice", "renderer")}
    language = str(fields.params.get("language") or fields.language
                   or (written_language(fields.script) if fields.script is not None else None) or "en")
    mismatch = language_mismatch(fields.script, language) if fields.script is not None else None
    if mismatch:
        raise ApiError(422, mismatch[0])
    try:
        params = build_job_params(render, language=language, voice=voice or fields.params.get("voice"),
                                  renderer=fields.params.get("renderer"))
        writer_request = fields.writer_request.model_dump() if fields.writer_request else None
        job = service.submit(image=image, script=fields.script, audio=audio, writer_request=writer_request,
                             params=params, check=fields.check, priority=fields.priority, batch=fields.batch,
                             created_by=caller.actor, callback_url=fields.callback_url, token_id=caller.id)
    except ValueError as exc:
        raise ApiError(422, str(exc)) from None
    return describe(request, job.id)


def describe(request: Request, job_id: str) -> dict[str, Any]:
    service = service_of(request)
    try:
        data = service.describe(job_id)
    except KeyError:
        raise ApiError(404, f"There is no job {job_id}.") from None
    # How far the running stage has got (in-process stages; workers report through the store).
    data["progress"] = {stage: {"fraction": p.fraction, "note": p.note}
                        for stage, p in service.dispatcher.progress(job_id).items()}
    return data


JOB_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/JobCreate"}},
            "multipart/form-data": {"schema": {"$ref": "#/components/schemas/JobUpload"}},
        },
    }
}


@router.post("/jobs", status_code=202, response_model=JobOut, openapi_extra=JOB_BODY,
             responses={**TOO_LARGE, 415: {"model": ErrorBody, "description": "Neither JSON nor multipart."}},
             summary="Submit a job")
async def create_job(request: Request, caller: ApiToken = Depends(requires("editor"))) -> dict[str, Any]:
    """Submit a job, as JSON (the portrait from the avatar library) or as multipart/form-data (a
    photo or an avatar, and optionally a recording). Exactly one of script, audio or
    writer_request says what is spoken. Uploads are checked (type, pixels, duration, size)
    before the job exists; the job then runs in the background: follow it with GET /jobs/{id}
    or a callback_url."""
    limits = limits_of(request)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    with tempfile.TemporaryDirectory(prefix="factory-api-") as tmp:
        folder = Path(tmp)
        if content_type == "application/json":
            fields = parse(JobCreate, await read_json(request, limits))
            return await run_in_threadpool(submit_job, request, caller, fields, None, None, folder)
        if content_type == "multipart/form-data":
            values, files = await read_form(request, folder, limits, MULTIPART_FIELDS, MULTIPART_FILES)
            data: dict[str, Any] = dict(values)
            for key in ("writer_request", "params"):
                if data.get(key, "").strip():
                    try:
                        data[key] = json.loads(data[key])
                    except json.JSONDecodeError as exc:
                        raise ApiError(422, f"{key} must be a JSON object ({exc.msg}).") from None
                else:
                    data.pop(key, None)
            data = {k: v for k, v in data.items() if v != ""}  # an empty form field is a missing one
            fields = parse(JobFields, data)
            return await run_in_threadpool(submit_job, request, caller, fields, files.get("image"), files.get("audio"), folder)
        raise ApiError(415, "Send the job as application/json or multipart/form-data.")


@router.get("/jobs", response_model=JobPage, summary="List jobs")
def list_jobs(request: Request, caller: ApiToken = Depends(requires("editor")),
              status: Literal[JobStatus.ALL] | None = Query(None, description="Only jobs in this state."),  # type: ignore[valid-type]
              batch: str | None = Query(None, min_length=1, max_length=64),
              created_by: str | None = Query(None, min_length=1, max_length=128,
                                             description='A user name or "token:<name>".'),
              limit: int = Query(50, ge=1, le=200), offset: int = Query(0, ge=0, le=1_000_000)) -> dict[str, Any]:
    """Newest first, ``limit`` at a time; ``total`` counts every job that matches."""
    conditions = []
    if status:
        conditions.append(Job.status == status)
    if batch:
        conditions.append(Job.batch == batch)
    if created_by:
        conditions.append(Job.created_by == created_by)
    with service_of(request).jobs.session() as s:
        total = s.exec(select(func.count()).select_from(Job).where(*conditions)).one()
        rows = list(s.exec(select(Job).where(*conditions).order_by(Job.created_at.desc(), Job.id)
                           .offset(offset).limit(limit)))
    return {"items": [row.model_dump(mode="json", exclude={"values"}) for row in rows],
            "total": total, "limit": limit, "offset": offset}


@router.get("/jobs/{job_id}", response_model=JobOut, responses=NOT_FOUND, summary="Show a job")
def show_job(request: Request, job_id: str = JobId, caller: ApiToken = Depends(requires("editor"))) -> dict[str, Any]:
    """The job, its stage runs, the running stage's progress and its webhook deliveries."""
    return describe(request, job_id)


def change(request: Request, job_id: str, action: str, *args: Any, by: str) -> dict[str, Any]:
    from factory.lifecycle import TransitionRefused

    try:
        getattr(service_of(request), action)(job_id, *args, by=by)
    except KeyError:
        raise ApiError(404, f"There is no job {job_id}.") from None
    except TransitionRefused as exc:
        raise ApiError(409, str(exc)) from None
    return describe(request, job_id)


DECISION = {**NOT_FOUND, **CONFLICT}


@router.post("/jobs/{job_id}/cancel", response_model=JobOut, responses=DECISION, summary="Cancel a job")
def cancel_job(request: Request, job_id: str = JobId, caller: ApiToken = Depends(requires("editor"))) -> dict[str, Any]:
    """Stop a job that is not over (a running stage is stopped)."""
    return change(request, job_id, "cancel", by=caller.actor)


@router.post("/jobs/{job_id}/retry", response_model=JobOut, responses=DECISION, summary="Retry a failed job")
def retry_job(request: Request, job_id: str = JobId, caller: ApiToken = Depends(requires("editor"))) -> dict[str, Any]:
    """Run a failed or dead job again from the stage that stopped it."""
    return change(request, job_id, "retry", by=caller.actor)


@router.post("/jobs/{job_id}/resume", response_model=JobOut, responses=DECISION, summary="Resume an interrupted job")
def resume_job(request: Request, job_id: str = JobId, caller: ApiToken = Depends(requires("editor"))) -> dict[str, Any]:
    """Go on with an interrupted (or lost queued) job at the stage it had reached."""
    return change(request, job_id, "resume", by=caller.actor)


@router.post("/jobs/{job_id}/approve", response_model=JobOut, responses=DECISION, summary="Approve a held job")
def approve_job(request: Request, job_id: str = JobId, caller: ApiToken = Depends(requires("reviewer"))) -> dict[str, Any]:
    """Release a job held for review (reviewer role): it goes on as if its check had passed."""
    return change(request, job_id, "approve", by=caller.actor)


@router.post("/jobs/{job_id}/reject", response_model=JobOut, responses=DECISION, summary="Reject a held job")
def reject_job(request: Request, body: RejectIn, job_id: str = JobId,
               caller: ApiToken = Depends(requires("reviewer"))) -> dict[str, Any]:
    """Fail a job held for review (reviewer role), with a note that says why."""
    return change(request, job_id, "reject", body.note, by=caller.actor)


@router.get("/jobs/{job_id}/artifacts/{name}", response_class=FileResponse, summary="Download a job's file",
            responses={**NOT_FOUND, 200: {"description": "The file.",
                                          "content": {media: {"schema": {"type": "string", "format": "binary"}}
                                                      for media in sorted(set(SUFFIX_TYPES.values()))}}})
def artifact(request: Request, name: ArtifactName, job_id: str = JobId,
             caller: ApiToken = Depends(requires("editor"))):
    """One of the job's files: ``video`` (MP4), ``audio`` (the narration WAV), ``subtitles_srt``,
    ``subtitles_vtt``, ``qa_report`` (JSON), ``qa_plot`` (PNG) or ``image`` (the portrait)."""
    service = service_of(request)
    try:
        job = service.get(job_id)
    except KeyError:
        raise ApiError(404, f"There is no job {job_id}.") from None
    if name not in job.files:
        raise ApiError(404, f"Job {job_id} has no {name} (status {job.status}).")
    stored = job.files[name]
    suffix = Path(stored).suffix.lower()
    return FileResponse(service.artifacts.fetch(stored), filename=f"{job_id}-{name}{suffix}",
                        media_type=SUFFIX_TYPES.get(suffix, ARTIFACT_TYPES[name]))

