"""What the pages show for one job: stage progress (live while it runs), then the outcome —
the video with its downloads, the QA verdict and plot, what Whisper heard, the models used —
and the buttons a person may press (resume, retry, cancel; approve, reject, render again)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import streamlit as st

from factory.store import Job, JobStatus
from ui.job_details import (
    difference_lines,
    first_line,
    models_of,
    non_commercial,
    qa_of,
    qa_view,
    stage_lines,
)
from ui.visit import Visit

POLL_SECONDS = 1.0


def show_job(visit: Visit, job_id: str) -> Job:
    """Progress and outcome of one job. While it runs, this part of the page refreshes itself
    every second (a Streamlit fragment) without re-running the rest of the page, so a long
    render never holds the page (or any other editor's) up."""
    console = visit.console
    job = console.service.get(job_id)
    if not console.in_progress(job):
        show_stages(visit, job)
        show_outcome(visit, job)
        return job

    @st.fragment(run_every=POLL_SECONDS)
    def live() -> None:
        current = console.service.get(job_id)
        show_stages(visit, current)
        if not console.in_progress(current):
            st.rerun()  # the whole page again: it now shows the finished job, without polling

    live()
    return job


def show_stages(visit: Visit, job: Job) -> None:
    tr = visit.tr
    live = visit.console.progress(job)
    st.markdown(tr("job.heading", job_id=job.id, status=tr.status(job.status)))
    for line in stage_lines(job, visit.console.service.runs(job.id), live):
        if line.state == "running":
            st.progress(line.fraction or 0.0, text=line.summary(tr))
        else:
            st.markdown(line.summary(tr))
            if line.state in ("failed", "error", "review", "rerun") and line.error:
                st.caption(first_line(line.error, 300))


def show_outcome(visit: Visit, job: Job) -> None:
    tr = visit.tr
    if job.status == JobStatus.PUBLISHED:
        url = job.values.get("published_url")
        st.success(tr("job.published", url=url) if url else tr("job.published_plain"))
    elif job.status == JobStatus.FAILED:
        st.error(tr("job.failed", reason=job.error))
    elif job.status == JobStatus.DEAD:
        st.error(tr("job.dead", reason=job.error))
    elif job.status == JobStatus.NEEDS_REVIEW:
        st.warning(tr("job.held", reason=(job.review or {}).get("reason") or job.error))
    elif job.status == JobStatus.CANCELLED:
        st.info(tr("job.cancelled"))
    elif visit.console.stalled(job):
        st.warning(tr("job.stalled", reason=f" — {job.error}" if job.error else ""))
    show_models(visit, job)
    show_video(visit, job)
    show_qa(visit, job)


def show_video(visit: Visit, job: Job) -> None:
    """The player (with the QA stage's subtitles when there are some) and the downloads."""
    tr = visit.tr
    if "video" not in job.files:
        return
    path = _artifact(visit, job, "video")
    if path is None:
        return
    vtt = _artifact(visit, job, "subtitles_vtt", quiet=True)
    st.video(str(path), subtitles=str(vtt) if vtt else None)
    columns = st.columns(3)
    columns[0].download_button(
        tr("job.download_mp4"), data=path.read_bytes,  # read when clicked, not on every rerun
        file_name=f"{job.id}.mp4", mime="video/mp4", key=f"download-{job.id}",
    )
    for column, (name, suffix, label) in zip(columns[1:], (("subtitles_srt", "srt", "job.download_srt"),
                                                          ("subtitles_vtt", "vtt", "job.download_vtt"))):
        subtitles = _artifact(visit, job, name, quiet=True)
        if subtitles is not None:
            column.download_button(tr(label), data=subtitles.read_bytes, file_name=f"{job.id}.{suffix}",
                                   mime="text/plain", key=f"download-{name}-{job.id}")


def _artifact(visit: Visit, job: Job, name: str, quiet: bool = False) -> Path | None:
    if name not in job.files:
        return None
    try:
        return visit.console.service.artifacts.fetch(job.files[name])
    except (FileNotFoundError, OSError, KeyError) as exc:
        if not quiet:
            st.warning(visit.tr("job.video_missing", problem=str(exc)))
        return None


def show_qa(visit: Visit, job: Job) -> None:
    """The verdict, one row per check, the plot, and what Whisper heard against the script."""
    tr = visit.tr
    view = qa_view(qa_of(job), tr)
    if view is None:
        return
    verdict = {True: tr("job.qa_passed"), False: tr("job.qa_failed"), None: ""}[view.passed]
    st.markdown(tr("job.qa_header", verdict=verdict))
    for reason in view.reasons:
        st.markdown(f"- {reason}")
    if view.rows:
        # tall enough for every row: a scroll bar inside the table hides checks
        st.dataframe(view.rows, hide_index=True, height=36 * (len(view.rows) + 1) + 3)
    plot = _artifact(visit, job, "qa_plot", quiet=True)
    if plot is not None:
        st.image(str(plot), caption=tr("job.qa_plot"))
    report = _qa_report(visit, job)
    transcript = (report.get("transcript") or {}).get("text") if report else None
    if transcript:
        with st.expander(tr("job.transcript")):
            st.write(transcript)
            error_rate = report.get("error_rate") or {}
            if error_rate:
                st.markdown(tr("job.differences", name=("WER" if error_rate.get("unit") == "word" else "CER"),
                               rate=float(error_rate.get("rate") or 0.0)))
                lines = difference_lines(error_rate, tr)
                st.markdown("\n".join(f"- {line}" for line in lines) if lines else tr("job.no_differences"))
    with st.expander(tr("job.qa_details")):
        st.json(json.loads(json.dumps(view.raw, default=str)))


def _qa_report(visit: Visit, job: Job) -> dict | None:
    path = _artifact(visit, job, "qa_report", quiet=True)
    if path is None:
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def show_models(visit: Visit, job: Job) -> None:
    """The models and licences the job used; a clear warning for any not for commercial use."""
    tr = visit.tr
    models = models_of(job)
    if not models:
        return
    blocked = non_commercial(models)
    if blocked:
        st.error(tr("job.models_noncommercial", names=", ".join(f"{m.name} ({m.licence})" for m in blocked)))
    with st.expander(tr("job.models"), expanded=bool(blocked)):
        st.dataframe([{
            tr("job.col_role"): m.role, tr("job.col_model"): m.name, tr("job.col_licence"): m.licence,
            tr("job.col_commercial"): "" if m.commercial_use is None else (tr("yes") if m.commercial_use else tr("no")),
            tr("job.col_source"): m.source,
        } for m in models], hide_index=True)


# --- what a person may do ------------------------------------------------------------------------

def job_actions(visit: Visit, job: Job) -> None:
    """Resume, retry or cancel, where the job's state allows (``factory.lifecycle``)."""
    from factory.lifecycle import ALLOWED_FROM

    offered = [(request, event) for request, event in (
        ("resume", "resumed"), ("retry", "retried"), ("cancel", "cancelled"))
        if job.status in ALLOWED_FROM[event] and (request != "resume" or visit.console.stalled(job))]
    for column, (request, _) in zip(st.columns(max(1, len(offered))), offered):
        if column.button(visit.tr(f"job.{request}"), key=f"{request}-{job.id}"):
            _request(visit, request, job.id)


def review_actions(visit: Visit, job: Job) -> None:
    """Approve (the job goes on from where it was held), reject with a note, or render again
    with another seed (a new job from the same photo and narration; this one is rejected)."""
    tr = visit.tr
    if not visit.may("reviewer"):
        st.info(tr("review.reviewer_only"))
        return
    approve, rerender = st.columns(2)
    if approve.button(tr("job.approve"), key=f"approve-{job.id}", type="primary"):
        _request(visit, "approve", job.id)
    if rerender.button(tr("job.rerender"), key=f"rerender-{job.id}"):
        render_again(visit, job)
    reason = st.text_input(tr("job.reject_reason"), key=f"reject-reason-{job.id}")
    if st.button(tr("job.reject"), key=f"reject-{job.id}", disabled=not reason.strip()):
        _request(visit, "reject", job.id, reason.strip())


def _request(visit: Visit, request: str, job_id: str, *args: str) -> None:
    from factory.lifecycle import TransitionRefused

    try:
        getattr(visit.console.service, request)(job_id, *args, by=visit.actor)
    except TransitionRefused as exc:  # the job moved on meanwhile: the lifecycle's sentence
        st.warning(str(exc))
    else:
        st.rerun()


def render_again(visit: Visit, job: Job) -> None:
    """A new job with the held one's photo, narration (or recording) and parameters, and a new
    seed; the held job is rejected with a note naming the new one."""
    from ui.job_details import spoken_text

    tr = visit.tr
    service = visit.console.service
    script = spoken_text(job)
    audio = _artifact(visit, job, "audio_upload", quiet=True)
    image = _artifact(visit, job, "image", quiet=True)
    if image is None or not (script or audio):
        st.warning(tr("job.rerender_impossible"))
        return
    seed = random.randrange(1, 2**31)
    params = {**job.params, "seed": seed}
    new = service.submit(image=image, script=None if audio else script, audio=audio, params=params,
                         check="check" in job.plan, batch=job.batch, created_by=visit.actor)
    _request(visit, "reject", job.id, tr("job.rerender_note", seed=seed, job_id=new.id))
