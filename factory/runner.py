"""Runs one stage of one job, the same way in process and inside a queue worker.

``run_stage`` is the whole contract between the pipeline and whoever drives it:

1. lock the job; if this stage is not the job's next stage (a redelivered or stale message),
   do nothing and say what the next stage is — redelivery is normal and harmless;
2. fetch the stage's input artifacts, build its cache key, reuse a cached result or run it;
3. store output files in the artifact store, then in one transaction record the outputs, the
   stage run and the job's next stage.

What the stage raised decides what happens to the job:
``StageError`` → failed (the editor's reason); ``ReviewRequired`` → needs_review;
``Rerun`` → back to an earlier stage with new params; anything else → an internal error that
the caller may retry (``Outcome.retryable``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from factory.artifacts import ArtifactStore
from factory.settings import Settings
from factory.stages import (
    ProgressFn,
    ReviewRequired,
    Rerun,
    Stage,
    StageContext,
    StageError,
    StageResult,
    no_progress,
    get_stage,
)
from factory.store import Job, JobStatus, JobStore, utcnow

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    """What happened when a stage was asked to run."""

    job_id: str
    stage: str
    status: str
    """done | cached | skipped | failed | review | rerun | error"""
    next_stage: str | None = None
    """The stage to run next (None: the job has stopped or finished)."""
    seconds: float = 0.0
    error: str | None = None

    @property
    def retryable(self) -> bool:
        return self.status == "error"


def cache_key(stage: Stage, ctx: StageContext, file_ids: dict[str, str]) -> str:
    """Hash of exactly what the stage reads: input artifact ids, values, params, engine version."""
    version = stage.version + (("+" + stage.engine_version(ctx)) if stage.engine_version else "")
    material = {
        "stage": stage.name,
        "version": version,
        "files": {n: file_ids[n] for n in stage.reads_files if n in file_ids},
        "values": {n: ctx.values[n] for n in stage.reads_values if n in ctx.values},
        "params": {n: ctx.params[n] for n in stage.reads_params if n in ctx.params},
    }
    blob = json.dumps(material, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()


def run_stage(
    jobs: JobStore,
    artifacts: ArtifactStore,
    settings: Settings,
    job_id: str,
    stage_name: str,
    *,
    use_cache: bool = True,
    progress: ProgressFn = no_progress,
    worker: str | None = None,
) -> Outcome:
    job, run = jobs.begin_stage(job_id, stage_name, worker=worker)
    if run is None:  # not this job's next stage: a redelivered or stale message
        return Outcome(job_id, stage_name, "skipped", next_stage=job.next_stage if job.status not in JobStatus.FINAL else None)
    attempt = run.attempt
    workdir = Path(tempfile.mkdtemp(prefix=f"factory-{job_id}-{stage_name}-"))
    key = None
    try:
        stage = get_stage(stage_name)  # inside the try: a broken install is recorded, not lost
        ctx = StageContext(
            job_id=job_id,
            params=dict(job.params),
            files={},  # fetched below, only when the cache has no answer (S3: no needless downloads)
            values=dict(job.values),
            workdir=workdir,
            settings=settings,
            attempt=attempt,
            progress=progress,
        )
        key = cache_key(stage, ctx, job.files)
        hit = jobs.cached(key) if (use_cache and stage.cacheable) else None
        if hit is not None and all(artifacts.exists(a) for a in hit.files.values()):
            new_files, new_values, status = hit.files, hit.values, "cached"
        else:
            ctx.files.update(_input_files(artifacts, job, stage, workdir))
            result = stage.run(ctx)
            new_files = {name: artifacts.put(path) for name, path in result.files.items()}
            new_values, status = result.values, "done"
            if stage.cacheable:
                jobs.remember(key, stage_name, new_files, new_values)
        next_stage = _advance(jobs, job_id, stage_name, new_files, new_values)
        run = jobs.finish_run(run, status, cache_key=key)
        return Outcome(job_id, stage_name, status, next_stage=next_stage, seconds=run.seconds or 0.0)

    except StageError as exc:
        run = jobs.finish_run(run, "failed", error=str(exc), cache_key=key)
        jobs.update(job_id, status=JobStatus.FAILED, error=f"{stage_name}: {exc}", next_stage=None)
        return Outcome(job_id, stage_name, "failed", seconds=run.seconds or 0.0, error=str(exc))

    except ReviewRequired as exc:
        run = jobs.finish_run(run, "review", error=str(exc), cache_key=key)
        # Approval resumes after the stage when it finished (its result is kept), else re-runs it.
        resume_at = following_stage(job, stage_name) if exc.result is not None else stage_name
        review = {"stage": stage_name, "resume_at": resume_at, "reason": str(exc), **exc.details}
        _stop_or_rewind(jobs, artifacts, job_id, exc.result, status=JobStatus.NEEDS_REVIEW, next_stage=None,
                        error=f"{stage_name}: {exc}", review=review)
        return Outcome(job_id, stage_name, "review", seconds=run.seconds or 0.0, error=str(exc))

    except Rerun as exc:
        run = jobs.finish_run(run, "rerun", error=str(exc), cache_key=key)
        _stop_or_rewind(jobs, artifacts, job_id, exc.result, status=JobStatus.QUEUED, next_stage=exc.stage, params=exc.params)
        return Outcome(job_id, stage_name, "rerun", next_stage=exc.stage, seconds=run.seconds or 0.0, error=str(exc))

    except Exception as exc:  # a bug or an outage: keep the traceback, let the caller retry
        log.exception("stage %s of job %s crashed", stage_name, job_id)
        detail = f"{type(exc).__name__}: {exc}"
        run = jobs.finish_run(run, "error", error=detail + "\n" + traceback.format_exc(limit=8), cache_key=key)
        jobs.update(job_id, status=JobStatus.QUEUED)
        return Outcome(job_id, stage_name, "error", next_stage=stage_name, seconds=run.seconds or 0.0, error=detail)

    except BaseException:  # Ctrl-C or shutdown: leave the job ready to run this stage again
        jobs.finish_run(run, "interrupted", error="interrupted", cache_key=key)
        jobs.update(job_id, status=JobStatus.QUEUED)
        raise

    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _stop_or_rewind(
    jobs: JobStore,
    artifacts: ArtifactStore,
    job_id: str,
    result: StageResult | None,
    *,
    status: str,
    next_stage: str | None,
    params: dict[str, Any] | None = None,
    **columns: Any,
) -> None:
    """Hold the job for review or send it back to an earlier stage, keeping what the stage
    produced (a narration to review, a failed attempt's QA report)."""
    files = {n: artifacts.put(p) for n, p in result.files.items()} if result else {}
    with jobs.locked(job_id) as (session, job):
        job.files = {**job.files, **files}
        job.values = {**job.values, **(result.values if result else {})}
        job.params = {**job.params, **(params or {})}
        job.status, job.next_stage = status, next_stage
        for name, value in columns.items():
            setattr(job, name, value)
        job.updated_at = utcnow()
        session.add(job)
        session.commit()


def _input_files(artifacts: ArtifactStore, job: Job, stage: Stage, workdir: Path) -> dict[str, Path]:
    """The stage's input artifacts as local files under the names the editor gave them, so an
    error about "interview.mp3" names that file and not a content hash."""
    names = job.values.get("file_names", {})
    files = {}
    for name, aid in job.files.items():
        if name not in stage.reads_files:
            continue
        folder = workdir / "inputs" / name
        folder.mkdir(parents=True)
        link = folder / Path(names.get(name) or f"{name}{Path(aid).suffix}").name
        link.symlink_to(artifacts.fetch(aid))
        files[name] = link
    return files


def _advance(jobs: JobStore, job_id: str, stage_name: str, files: dict[str, str], values: dict[str, Any]) -> str | None:
    """Record a finished stage and move the job on, atomically. Returns the next stage."""
    with jobs.locked(job_id) as (session, job):
        if job.next_stage != stage_name:  # another worker finished it first: keep theirs
            return job.next_stage
        job.files = {**job.files, **files}
        job.values = {**job.values, **values}
        job.next_stage = following_stage(job, stage_name)
        job.status = JobStatus.QUEUED if job.next_stage else JobStatus.PUBLISHED
        if job.next_stage is None:
            job.published_at = utcnow()
        job.updated_at = utcnow()
        session.add(job)
        session.commit()
        return job.next_stage


def following_stage(job: Job, stage_name: str) -> str | None:
    index = job.plan.index(stage_name)
    return job.plan[index + 1] if index + 1 < len(job.plan) else None


def give_up(jobs: JobStore, job_id: str, stage_name: str, reason: str) -> None:
    """After the last retry of an internal error: the job is dead, with the reason kept."""
    jobs.update(job_id, status=JobStatus.DEAD, error=f"{stage_name}: {reason}", next_stage=None)


def run_job(
    jobs: JobStore,
    artifacts: ArtifactStore,
    settings: Settings,
    job_id: str,
    *,
    use_cache: bool = True,
    on_stage: Any = None,
    progress_for: Any = None,
) -> Job:
    """The embedded runner: every stage in this process, in order, until the job stops.

    ``on_stage(outcome)`` is called after each stage; ``progress_for(stage_name)`` returns the
    progress callback for a stage (both optional, used by the CLI to show progress).
    """
    job = jobs.require(job_id)
    stage_name = job.next_stage
    while stage_name is not None:
        progress = progress_for(stage_name) if progress_for else no_progress
        outcome = run_stage(jobs, artifacts, settings, job_id, stage_name, use_cache=use_cache, progress=progress)
        if on_stage:
            on_stage(outcome)
        if outcome.retryable:
            if jobs.failed_attempts(job_id, stage_name) >= settings.stage_max_attempts:
                give_up(jobs, job_id, stage_name, outcome.error or "internal error")
                break
            continue
        stage_name = outcome.next_stage
    return jobs.require(job_id)
