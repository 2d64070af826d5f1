"""The HTTP API (FastAPI): submit jobs, follow them, download their files.

    factory api --port 8000
    curl -F image=@me.jpg -F script="Hello there." localhost:8000/jobs
    curl localhost:8000/jobs/JOB_ID
    curl -o me.mp4 localhost:8000/jobs/JOB_ID/files/video

Embedded mode: jobs run one at a time in a background thread of this process (renders are
CPU-bound; running two at once only makes both slower). Distributed mode (``amqp_url`` set):
``submit`` enqueues the job for the workers and this process only reads the store.
"""


import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from factory.background import BackgroundJobs
from factory.service import JobService
from factory.settings import Settings


def create_app(settings: Settings | None = None):
    from fastapi import FastAPI, File, Form, HTTPException, UploadFile
    from fastapi.responses import FileResponse

    service = JobService(settings or Settings.load())
    background = BackgroundJobs(service)  # embedded mode: one job at a time, crashes recorded
    app = FastAPI(title="Talking-video factory", version="0.1.0")

    def save_upload(upload: UploadFile, folder: Path) -> Path:
        path = folder / Path(upload.filename or "upload").name
        with open(path, "wb") as f:
            shutil.copyfileobj(upload.file, f)
        return path

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"ok": True, "mode": "distributed" if service.settings.distributed else "embedded"}

    @app.post("/jobs", status_code=202)
    def submit(
        image: UploadFile = File(..., description="Portrait photo"),
        script: str | None = Form(None, description="Narration text"),
        audio: UploadFile | None = File(None, description="Own recording instead of a script"),
        writer_request: str | None = Form(None, description="JSON: {use_case, topic|source|product, language, target_seconds}"),
        params: str = Form("{}", description="JSON render parameters, voice, language"),
        check: bool | None = Form(None),
        priority: int | None = Form(None),
        batch: str | None = Form(None),
    ) -> dict[str, Any]:
        try:
            params_dict = json.loads(params)
            request = json.loads(writer_request) if writer_request else None
        except json.JSONDecodeError as exc:
            raise HTTPException(422, f"params/writer_request must be JSON: {exc}") from None
        if not isinstance(params_dict, dict) or not isinstance(request, (dict, type(None))):
            raise HTTPException(422, "params and writer_request must be JSON objects")
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
        if job.next_stage and not service.settings.distributed:
            background.start(job.id)
        return service.describe(job.id)

    @app.get("/jobs")
    def list_jobs(status: str | None = None, batch: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        return [j.model_dump(mode="json", exclude={"values"}) for j in service.list(limit=limit, status=status, batch=batch)]

    @app.get("/jobs/{job_id}")
    def show(job_id: str) -> dict[str, Any]:
        try:
            data = service.describe(job_id)
        except KeyError:
            raise HTTPException(404, f"no job {job_id}") from None
        # How far the running stage has got (embedded mode; workers report through the store).
        data["progress"] = {stage: {"fraction": p.fraction, "note": p.note} for stage, p in background.progress(job_id).items()}
        return data

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
    app.state.background = background
    return app
