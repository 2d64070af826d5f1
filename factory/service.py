"""JobService: the one way in for the CLI, the HTTP API and the console.

    with JobService(Settings.load()) as service:
        job = service.submit(image="me.jpg", script="Hello!")   # dispatched at once
        job = service.follow(job.id)                            # until it stops

Every change of a job goes through ``factory.lifecycle``; where its stages run is the
dispatcher's business (``factory.dispatch``): in this process, or on queue workers.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable

from factory import lifecycle
from factory.artifacts import ArtifactStore, atomic_copy, open_store
from factory.dispatch import Dispatcher, StageProgress, open_dispatcher
from factory.media import MediaError, load_image
from factory.script_text import clean_script
from factory.settings import Settings
from factory.stages import get_stage
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
        self.dispatcher: Dispatcher = open_dispatcher(self.settings, self.jobs)
        self._drainer = None

    def deliver_in_background(self) -> None:
        """Deliver the outbox (webhooks, e-mail, publishing targets) from this process until
        ``close``: for long-lived processes (the API, the console, the scheduler)."""
        from factory.outbox import OutboxDrainer

        if self._drainer is None:
            self._drainer = OutboxDrainer(self.jobs, self.settings).start()

    def close(self) -> None:
        """Stop dispatching; a stage running in this process is stopped and its job left resumable."""
        self.dispatcher.close()
        if self._drainer is not None:
            self._drainer.stop()

    def __enter__(self) -> JobService:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

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
        use_cache: bool = True,
        created_by: str | None = None,
        callback_url: str | None = None,
        token_id: str | None = None,
        models: list[dict[str, Any]] | None = None,
    ) -> Job:
        """Create a job. Exactly one of ``script``, ``audio`` or ``writer_request`` says what
        is spoken. Inputs that are plainly unusable fail the job at once, with the reason;
        parameters a stage refuses raise ValueError (nothing is created).
        ``priority`` defaults to EDITOR_PRIORITY for a single job, BATCH_PRIORITY for a batch row.
        ``created_by`` names who asked (a user, ``token:<name>``, a schedule); the job's webhooks
        go to ``callback_url``, else to the default of the API token ``token_id``. ``models``
        lists weights used before the job existed (the writer of a draft the editor reviewed)."""
        sources = [x is not None for x in (script, audio, writer_request)]
        if sum(sources) != 1:
            raise ValueError("give exactly one of: a script, an audio file, or a writer request")
        self.dispatcher.prepare()  # overlaps the stage process's start with the checks below
        check = self.settings.qa_enabled if check is None else check
        if priority is None:
            priority = BATCH_PRIORITY if batch else EDITOR_PRIORITY
        plan = (["write"] if writer_request else []) + ["speak", "render"] + (["check"] if check else []) + ["publish"]

        for name in plan:  # bad parameters (e.g. a render value out of range) fail before any work
            stage = get_stage(name)
            if stage.check_params:
                stage.check_params(dict(params or {}))
        job = Job(id=new_job_id(), plan=plan, params=dict(params or {}), priority=priority, batch=batch,
                  created_by=created_by, callback_url=callback_url, token_id=token_id)
        values: dict[str, Any] = {}
        if script is not None:  # every way in: NUL and other control characters never reach the speech
            values["script"] = clean_script(script)
        if writer_request is not None:
            # a caller may pass the rate it already looked up (None: none measured yet)
            rate = (writer_request["speaking_rate"] if "speaking_rate" in writer_request
                    else self.measured_speaking_rate(params or {}, writer_request.get("language", "en")))
            request = {k: v for k, v in writer_request.items() if k != "speaking_rate"}
            values["writer_request"] = {**request, "speaking_rate": rate} if rate else request
        if models:
            values["models"] = list(models)
        job.values = values

        problem = None
        files: dict[str, str] = {}
        try:
            load_image(image, self.settings.max_image_pixels)  # fail fast on a bad photo
            files["image"] = self.artifacts.put(image)
            if audio is not None:
                if not Path(audio).is_file() or Path(audio).stat().st_size == 0:
                    raise MediaError(f"The audio file {Path(audio).name} is missing or empty.")
                files["audio_upload"] = self.artifacts.put(audio)
        except MediaError as exc:
            problem = str(exc)
        job.files = files
        job.values["file_names"] = {"image": Path(image).name, **({"audio_upload": Path(audio).name} if audio else {})}
        lifecycle.submitted(self.jobs, job, problem)
        self.dispatcher.dispatch(job, use_cache=use_cache)
        return self.get(job.id)

    def draft_narration(self, writer_request: dict[str, Any], params: dict[str, Any] | None = None):
        """Have the writer draft a narration for a person to review before any job exists (the
        console's draft step). Returns ``prompts.writer.Narration``; changes no state. The
        writer's refusals and failures raise ``StageError`` with a sentence."""
        from prompts.request import NarrationRequest
        from prompts.writer import write_narration

        params = params or {}
        rate = (writer_request["speaking_rate"] if writer_request.get("speaking_rate")
                else self.measured_speaking_rate(params, writer_request.get("language", "en")))
        request = NarrationRequest.from_value({**writer_request, "speaking_rate": rate})
        return write_narration(request, self.settings, model=params.get("llm_model") or self.settings.llm_model)

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

    # --- following ------------------------------------------------------------------------
    def follow(
        self,
        job_id: str,
        on_run: Callable[[StageRun], None] | None = None,
        on_progress: Callable[[str, StageProgress], None] | None = None,
        poll_seconds: float = 0.5,
    ) -> Job:
        """Wait until the job stops (published, failed, held, cancelled, dead, or interrupted
        with nothing here to resume it), calling ``on_run`` for each stage run as it ends and
        ``on_progress`` with the running stage's progress where it can be seen."""
        reported = 0
        while True:
            active = self.dispatcher.is_active(job_id)  # before reading the job: no missed ending
            job = self.get(job_id)
            finished = [run for run in self.runs(job_id) if run.finished_at is not None]
            for run in finished[reported:]:
                if on_run:
                    on_run(run)
            reported = len(finished)
            if job.status in JobStatus.FINAL or not active:
                return job
            if on_progress and job.next_stage:
                progress = self.dispatcher.progress(job_id).get(job.next_stage)
                if progress is not None and progress.fraction < 1.0:
                    on_progress(job.next_stage, progress)
            self.dispatcher.wait(job_id, poll_seconds)

    # --- requests --------------------------------------------------------------------------
    def approve(self, job_id: str, by: str | None = None) -> Job:
        """Release a job held for review: it goes on after the stage that held it (the writer's
        grounding check, or the QA gate) as if that stage had passed."""
        job = lifecycle.approved(self.jobs, job_id, by=by)
        self.dispatcher.dispatch(job)
        return job

    def reject(self, job_id: str, note: str, by: str | None = None) -> Job:
        return lifecycle.rejected(self.jobs, job_id, note, by=by)

    def cancel(self, job_id: str, by: str | None = None) -> Job:
        job = lifecycle.cancelled(self.jobs, job_id, by=by)
        self.dispatcher.stop_job(job_id)
        return job

    def resume(self, job_id: str, by: str | None = None) -> Job:
        """Go on with an interrupted (or lost queued) job at the stage it had reached."""
        job = lifecycle.resumed(self.jobs, job_id, by=by)
        self.dispatcher.dispatch(job)
        return job

    def retry(self, job_id: str, by: str | None = None) -> Job:
        """Run a failed or dead job again from the stage that stopped it."""
        job = lifecycle.retried(self.jobs, job_id, by=by)
        self.dispatcher.dispatch(job)
        return job

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
        data["deliveries"] = self.deliveries(job_id)
        return data

    def deliveries(self, job_id: str) -> list[dict[str, Any]]:
        """The job's webhooks, e-mails and uploads with each delivery attempt."""
        from factory.outbox import deliveries

        return deliveries(self.jobs, job_id)

    def export(self, job_id: str, name: str, target: str | Path) -> Path:
        """Copy one of the job's artifacts (e.g. ``video``) to ``target``."""
        job = self.get(job_id)
        if name not in job.files:
            raise KeyError(f"job {job_id} has no {name!r} yet (status: {job.status})")
        return atomic_copy(self.artifacts.fetch(job.files[name]), target)
