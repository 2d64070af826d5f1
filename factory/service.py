"""JobService: the one object the CLI, the HTTP API and the console talk to.

    service = JobService(Settings.load())
    job = service.submit(image="me.jpg", script="Hello!")
    job = service.run(job.id)          # embedded: all stages here
    # distributed (FACTORY_AMQP_URL set): submit() enqueues; workers run the stages.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable

from factory.artifacts import ArtifactStore, atomic_copy, open_store
from factory.media import MediaError, load_image
from factory.runner import Outcome, run_job
from factory.settings import Settings
from factory.stages import ProgressFn, get_stage
from factory.store import Job, JobStatus, JobStore, StageRun, new_job_id

log = logging.getLogger(__name__)

# Queue priorities (higher first): an editor waiting for one video overtakes batch rows.
EDITOR_PRIORITY = 5
BATCH_PRIORITY = 0


class JobService:
    def __init__(self, settings: Settings | None = None):
        self.settings = settings or Settings.load()
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.jobs = JobStore(self.settings.resolved_database_url)
        self.artifacts: ArtifactStore = open_store(self.settings)

    # --- submitting ------------------------------------------------------------------------
    def submit(
        self,
        *,
        image: str | Path,
        script: str | None = None,
        audio: str | Path | None = None,
        writer_request: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        check: bool | None = None,
        priority: int | None = None,
        batch: str | None = None,
        enqueue: bool = True,
    ) -> Job:
        """Create a job. Exactly one of ``script``, ``audio`` or ``writer_request`` says what
        is spoken. Inputs that are plainly unusable fail the job at once, with the reason;
        parameters a stage refuses raise ValueError (nothing is created).
        ``priority`` defaults to EDITOR_PRIORITY for a single job, BATCH_PRIORITY for a batch row."""
        sources = [x is not None for x in (script, audio, writer_request)]
        if sum(sources) != 1:
            raise ValueError("give exactly one of: a script, an audio file, or a writer request")
        check = self.settings.qa_enabled if check is None else check
        if priority is None:
            priority = BATCH_PRIORITY if batch else EDITOR_PRIORITY
        plan = (["write"] if writer_request else []) + ["speak", "render"] + (["check"] if check else []) + ["publish"]

        for name in plan:  # bad parameters (e.g. a render value out of range) fail before any work
            stage = get_stage(name)
            if stage.check_params:
                stage.check_params(dict(params or {}))
        job = Job(id=new_job_id(), plan=plan, next_stage=plan[0], params=dict(params or {}), priority=priority, batch=batch)
        values: dict[str, Any] = {}
        if script is not None:
            values["script"] = script
        if writer_request is not None:
            # a caller may pass the rate it already looked up (None: none measured yet)
            rate = (writer_request["speaking_rate"] if "speaking_rate" in writer_request
                    else self.measured_speaking_rate(params or {}, writer_request.get("language", "en")))
            request = {k: v for k, v in writer_request.items() if k != "speaking_rate"}
            values["writer_request"] = {**request, "speaking_rate": rate} if rate else request
        job.values = values

        error = None
        files: dict[str, str] = {}
        try:
            load_image(image, self.settings.max_image_pixels)  # fail fast on a bad photo
            files["image"] = self.artifacts.put(image)
            if audio is not None:
                if not Path(audio).is_file() or Path(audio).stat().st_size == 0:
                    raise MediaError(f"The audio file {Path(audio).name} is missing or empty.")
                files["audio_upload"] = self.artifacts.put(audio)
        except MediaError as exc:
            error = str(exc)
        job.files = files
        job.values["file_names"] = {"image": Path(image).name, **({"audio_upload": Path(audio).name} if audio else {})}
        if error:
            job.status, job.error, job.next_stage = JobStatus.FAILED, f"submit: {error}", None
        self.jobs.add(job)

        if enqueue and job.next_stage and self.settings.distributed:
            from queues.broker import enqueue_stage

            try:
                enqueue_stage(self.settings, job.id, job.next_stage, priority=priority, trace_id=job.trace_id)
            except Exception as exc:  # noqa: BLE001 — any broker failure: the job must not sit queued unseen
                log.exception("could not enqueue job %s", job.id)
                return self.jobs.update(job.id, status=JobStatus.FAILED, next_stage=None,
                                        error=f"submit: the job could not be queued (message broker unreachable: {type(exc).__name__}). Try again.")
        return job

    def measured_speaking_rate(self, params: dict[str, Any], language: str) -> float | None:
        """The speaking rate the speak stage measured on the latest published job with the same
        voice and language, so the writer sizes narrations for the voice that will read them."""
        voice = params.get("voice") or self.settings.voice
        for job in self.jobs.list(limit=50, status=JobStatus.PUBLISHED):
            speech = job.values.get("speech") or {}
            same_voice = (job.params.get("voice") or self.settings.voice) == voice
            if same_voice and job.params.get("language", "en") == language and speech.get("units_per_second"):
                return round(float(speech["units_per_second"]), 1)  # coarse: keeps the writer's cache useful
        return None

    # --- running (embedded) ----------------------------------------------------------------
    def run(
        self,
        job_id: str,
        *,
        use_cache: bool = True,
        on_stage: Callable[[Outcome], None] | None = None,
        progress_for: Callable[[str], ProgressFn] | None = None,
    ) -> Job:
        return run_job(
            self.jobs,
            self.artifacts,
            self.settings,
            job_id,
            use_cache=use_cache,
            on_stage=on_stage,
            progress_for=progress_for,
        )

    # --- review ----------------------------------------------------------------------------
    def approve(self, job_id: str, *, run_here: bool = True) -> Job:
        """Release a job held for review: it goes on after the stage that held it (the writer's
        grounding check, or the QA gate) as if that stage had passed. Distributed mode enqueues
        the next stage; embedded mode runs it now unless ``run_here`` is False (the console runs
        it in its background thread instead)."""
        from factory.runner import following_stage

        with self.jobs.locked(job_id) as (session, job):
            if job.status != JobStatus.NEEDS_REVIEW:
                raise ValueError(f"job {job_id} is {job.status}, not waiting for review")
            review = job.review or {}
            job.next_stage = review.get("resume_at") or following_stage(job, review.get("stage", job.plan[0]))
            job.status = JobStatus.QUEUED if job.next_stage else JobStatus.PUBLISHED
            job.review = {**review, "decision": "approved"}
            job.values = {**job.values, "approved": True}  # the publish stage's approval check
            job.error = None
            session.add(job)
            session.commit()
        if job.next_stage and self.settings.distributed:
            from queues.broker import enqueue_stage

            enqueue_stage(self.settings, job.id, job.next_stage, priority=job.priority, trace_id=job.trace_id)
        elif job.next_stage and run_here:
            return self.run(job.id)
        return self.get(job_id)

    def reject(self, job_id: str, reason: str) -> Job:
        job = self.get(job_id)
        if job.status != JobStatus.NEEDS_REVIEW:
            raise ValueError(f"job {job_id} is {job.status}, not waiting for review")
        return self.jobs.update(job_id, status=JobStatus.FAILED, error=f"rejected in review: {reason}",
                                review={**(job.review or {}), "decision": "rejected", "reason": reason})

    # --- reading ---------------------------------------------------------------------------
    def get(self, job_id: str) -> Job:
        return self.jobs.require(job_id)

    def list(self, limit: int = 50, status: str | None = None, batch: str | None = None) -> list[Job]:
        return self.jobs.list(limit=limit, status=status, batch=batch)

    def runs(self, job_id: str) -> list[StageRun]:
        return self.jobs.runs(job_id)

    def describe(self, job_id: str) -> dict[str, Any]:
        """The job and its stage runs as plain JSON-able data (CLI --json and the HTTP API)."""
        job = self.get(job_id)
        data = job.model_dump(mode="json")
        data["stages"] = [
            r.model_dump(mode="json", include={"stage", "attempt", "status", "seconds", "error", "started_at", "finished_at", "worker"})
            for r in self.runs(job_id)
        ]
        return data

    def export(self, job_id: str, name: str, target: str | Path) -> Path:
        """Copy one of the job's artifacts (e.g. ``video``) to ``target``."""
        job = self.get(job_id)
        if name not in job.files:
            raise KeyError(f"job {job_id} has no {name!r} yet (status: {job.status})")
        return atomic_copy(self.artifacts.fetch(job.files[name]), target)
