"""The HTTP API (FastAPI): submit jobs, follow them, download their files.

    factory api --port 8000
    curl -F image=@me.jpg -F script="Hello there." localhost:8000/jobs
    curl localhost:8000/jobs/JOB_ID
    curl -o me.mp4 localhost:8000/jobs/JOB_ID/files/video

Jobs are submitted and changed through ``JobService`` (its dispatcher runs them in this
process or hands them to queue workers); a request the job's state does not allow answers 409
with the reason.
"""


import contextlib
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from factory.job_params import build_job_params
from factory.service import JobService
from factory.settings import Settings


def create_app(settings: Settings | None = None):
    from fastapi import FastAPI, File, Form, HTTPException, Query, UploadFile
    from fastapi.responses import FileResponse

    from factory.lifecycle import TransitionRefused

    service = JobService(settings or Settings.load())

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        service.close()  # a stage running here is stopped; its job is left to resume

    app = FastAPI(title="Talking-video factory", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None)
    serve_docs_offline(app)

    def save_upload(upload: UploadFile, folder: Path) -> Path:
        path = folder / Path(upload.filename or "upload").name
        with open(path, "wb") as f:
            shutil.copyfileobj(upload.file, f)
        return path

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"ok": True, "mode": service.dispatcher.mode}

    @app.post("/jobs", status_code=202)
    def submit(
        image: UploadFile = File(..., description="Portrait photo"),
        script: str | None = Form(None, description="Narration text"),
        audio: UploadFile | None = File(None, description="Own recording instead of a script"),
        writer_request: str | None = Form(None, description="JSON: {use_case, topic|source|product, language, target_seconds}"),
        params: str = Form("{}", description="JSON render parameters, voice, language"),
        check: bool | None = Form(None),
        priority: int | None = Form(None, ge=0, le=10, description="Queue priority, 0 (batch) to 10"),
        batch: str | None = Form(None),
    ) -> dict[str, Any]:
        try:
            params_dict = json.loads(params)
            request = json.loads(writer_request) if writer_request else None
        except json.JSONDecodeError as exc:
            raise HTTPException(422, f"params/writer_request must be JSON: {exc}") from None
        if not isinstance(params_dict, dict) or not isinstance(request, (dict, type(None))):
            raise HTTPException(422, "params and writer_request must be JSON objects")
        try:
            render = {k: v for k, v in params_dict.items() if k not in ("language", "voice", "renderer")}
            params_dict = build_job_params(render, language=params_dict.get("language", "en"),
                                           voice=params_dict.get("voice"), renderer=params_dict.get("renderer"))
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            try:
                job = service.submit(
                    image=save_upload(image, folder),
                    script=script,
                    audio=save_upload(audio, folder) if audio else None,
                    writer_request=request,
                    params=params_dict,
                    check=check,
                    priority=priority,
                    batch=batch,
                )
            except ValueError as exc:
                raise HTTPException(422, str(exc)) from None
        return service.describe(job.id)

    @app.get("/jobs")
    def list_jobs(status: str | None = None, batch: str | None = None,
                  limit: int = Query(50, ge=1, le=1000)) -> list[dict[str, Any]]:
        return [j.model_dump(mode="json", exclude={"values"}) for j in service.list(limit=limit, status=status, batch=batch)]

    @app.get("/jobs/{job_id}")
    def show(job_id: str) -> dict[str, Any]:
        try:
            data = service.describe(job_id)
        except KeyError:
            raise HTTPException(404, f"no job {job_id}") from None
        # How far the running stage has got (embedded mode; workers report through the store).
        data["progress"] = {stage: {"fraction": p.fraction, "note": p.note} for stage, p in service.dispatcher.progress(job_id).items()}
        return data

    def change(job_id: str, request: str, *args: Any) -> dict[str, Any]:
        try:
            getattr(service, request)(job_id, *args)
        except KeyError:
            raise HTTPException(404, f"no job {job_id}") from None
        except TransitionRefused as exc:
            raise HTTPException(409, str(exc)) from None
        return service.describe(job_id)

    @app.post("/jobs/{job_id}/approve")
    def approve(job_id: str) -> dict[str, Any]:
        return change(job_id, "approve")

    @app.post("/jobs/{job_id}/reject")
    def reject(job_id: str, note: str = Form(..., description="Why: stored on the job")) -> dict[str, Any]:
        return change(job_id, "reject", note)

    @app.post("/jobs/{job_id}/cancel")
    def cancel(job_id: str) -> dict[str, Any]:
        return change(job_id, "cancel")

    @app.post("/jobs/{job_id}/resume")
    def resume(job_id: str) -> dict[str, Any]:
        return change(job_id, "resume")

    @app.post("/jobs/{job_id}/retry")
    def retry(job_id: str) -> dict[str, Any]:
        return change(job_id, "retry")

    @app.get("/jobs/{job_id}/files/{name}")
    def download(job_id: str, name: str):
        try:
            job = service.get(job_id)
        except KeyError:
            raise HTTPException(404, f"no job {job_id}") from None
        if name not in job.files:
            raise HTTPException(404, f"job {job_id} has no {name} (status {job.status})")
        artifact = job.files[name]
        return FileResponse(service.artifacts.fetch(artifact), filename=f"{job_id}-{name}{Path(artifact).suffix}")

    app.state.service = service
    return app


def serve_docs_offline(app) -> None:
    """``/docs`` with Swagger UI's files served from the ``swagger-ui-py`` package (Swagger UI 5,
    which reads FastAPI's OpenAPI 3.1): FastAPI's default page loads them from a CDN, so it stays
    blank on a machine without internet."""
    import swagger_ui
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.staticfiles import StaticFiles

    app.mount("/docs-assets", StaticFiles(directory=Path(swagger_ui.__file__).parent / "static"), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs():
        return get_swagger_ui_html(openapi_url=app.openapi_url, title=f"{app.title} — API",
                                   swagger_js_url="/docs-assets/swagger-ui-bundle.js",
                                   swagger_css_url="/docs-assets/swagger-ui.css",
                                   swagger_favicon_url="/docs-assets/favicon-32x32.png")
