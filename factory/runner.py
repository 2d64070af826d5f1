"""Runs one stage of one job: the same code in the in-process dispatcher and in a queue worker.

``run_stage`` is the whole contract between the pipeline and whoever drives it:

1. ``lifecycle.stage_started``: if this stage is not the job's next stage (a redelivered or
   stale message), do nothing and say so — redelivery is normal and harmless;
2. fetch the stage's input artifacts, build its cache key, reuse a cached result or run it;
3. store output files in the artifact store, then record the outcome through the lifecycle.

What the stage raised decides what happens to the job:
``StageError`` → failed (the editor's reason); ``ReviewRequired`` → needs_review;
``Rerun`` → back to an earlier stage with new params; anything else → a crash, which the
policy retries or gives up on (``factory.policy``). It always runs inside a stage process
(``factory.executor``), so the same time limit applies in both run modes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from factory import lifecycle
from factory.artifacts import ArtifactStore
from factory.policy import StagePolicy
from factory.settings import Settings
from factory.stages import (
    ProgressFn,
    ReviewRequired,
    Rerun,
    Stage,
    StageContext,
    StageError,
    StageResult,
    get_stage,
    no_progress,
)
from factory.store import Job, JobStatus, JobStore

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    """What happened when a stage was asked to run."""

    job_id: str
    stage: str
    status: str
    """done | cached | skipped | failed | review | rerun | retry | dead"""
    next_stage: str | None = None
    """The stage to run next (None: the job has stopped or finished)."""
    seconds: float = 0.0
    error: str | None = None
    """The reason, as an editor reads it (never a class name or a traceback)."""
    attempt: int = 0
    """After a crash: how many times in a row the stage has crashed (from the database)."""
    retry_delay: float = 0.0
    """After a crash that is retried: seconds to wait first (the policy's back-off)."""


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


def crash_outcome(job_id: str, stage: str, crash: lifecycle.Crash, reason: str) -> Outcome:
    return Outcome(job_id, stage, "retry" if crash.retry else "dead", next_stage=stage if crash.retry else None,
                   error=reason, attempt=crash.attempt, retry_delay=crash.delay)


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
    policy = StagePolicy.from_settings(settings)
    start = lifecycle.stage_started(jobs, job_id, stage_name, policy, worker=worker)
    if start is None:  # not this job's next stage: a redelivered or stale message
        job = jobs.require(job_id)
        return Outcome(job_id, stage_name, "skipped", next_stage=None if job.status in JobStatus.FINAL else job.next_stage)
    job, run = start.job, start.run
    started = time.monotonic()
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
            attempt=run.attempt,
            progress=progress,
        )
        key = cache_key(stage, ctx, job.files)
        hit = jobs.cached(key) if (use_cache and stage.cacheable) else None
        if hit is not None and all(artifacts.exists(a) for a in hit.files.values()):
            new_files, new_values, cached = hit.files, hit.values, True
        else:
            ctx.files.update(_input_files(artifacts, job, stage, workdir))
            result = stage.run(ctx)
            new_files, new_values, cached = _store(artifacts, result), result.values, False
            if stage.cacheable:
                jobs.remember(key, stage_name, new_files, new_values)
        next_stage = lifecycle.stage_done(jobs, run, files=new_files, values=new_values, cached=cached, cache_key=key)
        return Outcome(job_id, stage_name, "cached" if cached else "done", next_stage=next_stage, seconds=time.monotonic() - started)

    except StageError as exc:
        lifecycle.stage_failed(jobs, run, str(exc), cache_key=key)
        return Outcome(job_id, stage_name, "failed", seconds=time.monotonic() - started, error=str(exc))

    except ReviewRequired as exc:
        # Approval resumes after the stage when it finished (its result is kept), else re-runs it.
        resume_at = lifecycle.following_stage(job, stage_name) if exc.result is not None else stage_name
        review = {"stage": stage_name, "resume_at": resume_at, "reason": str(exc), **exc.details}
        lifecycle.held_for_review(jobs, run, str(exc), review, files=_store(artifacts, exc.result),
                                  values=exc.result.values if exc.result else {}, cache_key=key)
        return Outcome(job_id, stage_name, "review", seconds=time.monotonic() - started, error=str(exc))

    except Rerun as exc:
        next_stage = lifecycle.sent_back(jobs, run, exc.stage, str(exc), exc.params, files=_store(artifacts, exc.result),
                                         values=exc.result.values if exc.result else {}, cache_key=key)
        return Outcome(job_id, stage_name, "rerun", next_stage=next_stage, seconds=time.monotonic() - started, error=str(exc))

    except Exception:  # a bug or an outage: the log and the run keep the traceback, the editor a trace id
        log.exception("stage %s of job %s crashed (trace id %s)", stage_name, job_id, job.trace_id)
        reason = internal_error(stage_name, job.trace_id)
        crash = lifecycle.stage_crashed(jobs, job_id, stage_name, reason, policy,
                                        detail=traceback.format_exc(limit=8), run_id=run.id)
        return crash_outcome(job_id, stage_name, crash, reason)

    except BaseException:  # Ctrl-C or shutdown: the job can be resumed at this stage
        lifecycle.interrupted(jobs, job_id, "stopped before it finished", run_id=run.id)
        raise

    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def internal_error(stage: str, trace_id: str) -> str:
    return f"internal error in {stage} (trace id {trace_id[:12]})"


def _store(artifacts: ArtifactStore, result: StageResult | None) -> dict[str, str]:
    return {name: artifacts.put(path) for name, path in result.files.items()} if result else {}


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
