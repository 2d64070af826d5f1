"""The "Jobs" page: the job list (photo, title, status, who, when) with filters, and one job's
details — stages with seconds, errors, the video, QA, models, and what may be done with it."""

from __future__ import annotations

import base64
import io
import json

import streamlit as st

from factory.store import JobStatus
from ui.job_details import first_line, job_rows, matches, spoken_text
from ui.job_widgets import job_actions, review_actions, show_job
from ui.visit import Visit

ALL = "all"
THUMBNAIL_PIXELS = 96


def jobs_page(visit: Visit) -> None:
    tr = visit.tr
    service = visit.console.service
    st.header(tr("jobs.header"))
    status_col, batch_col, who_col, words_col, limit_col = st.columns([2, 2, 2, 3, 1])
    status = status_col.selectbox(tr("jobs.status"), [ALL, *JobStatus.ALL],
                                  format_func=lambda s: tr("status.all") if s == ALL else tr.status(s),
                                  key=visit.key("filter_status"))
    batch = batch_col.text_input(tr("jobs.batch"), key="filter_batch")
    who = who_col.text_input(tr("jobs.who"), key="filter_who")
    words = words_col.text_input(tr("jobs.search"), key="filter_words")
    limit = limit_col.number_input(tr("jobs.show"), min_value=5, max_value=1000, value=50, step=5, key="filter_limit")
    st.button(tr("jobs.refresh"), key="refresh")  # any click re-runs the page, which re-reads the store

    jobs = service.list(limit=int(limit), status=None if status == ALL else status, batch=batch.strip() or None)
    jobs = [job for job in jobs if matches(job, who, words)]
    if not jobs:
        filtered = status != ALL or batch or who or words
        st.info(tr("jobs.none_match") if filtered else tr("jobs.none_yet"))
        return
    thumbnails = {job.id: thumbnail(visit, job.files["image"]) for job in jobs if "image" in job.files}
    st.dataframe(
        job_rows(jobs, tr, thumbnails), hide_index=True,
        column_config={tr("jobs.col_picture"): st.column_config.ImageColumn(tr("jobs.col_picture"), width="small")},
    )

    ids = [job.id for job in jobs]
    by_id = {job.id: job for job in jobs}
    wanted = st.query_params.get("job")
    chosen = st.selectbox(
        tr("jobs.open"), ids, index=ids.index(wanted) if wanted in ids else 0,
        format_func=lambda i: f"{i} — {tr.status(by_id[i].status)} — {by_id[i].created_at:%Y-%m-%d %H:%M}",
        key=visit.key("open_job"),
    )
    st.query_params["job"] = chosen  # the address bar now links to this job
    st.divider()
    job_detail(visit, chosen)


def thumbnail(visit: Visit, artifact: str) -> str | None:
    """The portrait as a small JPEG data URL (embedded in the table: no media URL to guard)."""
    return _thumbnail(artifact, visit.console.service.artifacts)


@st.cache_data(max_entries=2000, show_spinner=False)
def _thumbnail(artifact: str, _artifacts) -> str | None:
    # Cached by artifact id (a content hash), the same for every editor; "_artifacts" is not hashed.
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(_artifacts.fetch(artifact)) as image:
            image = image.convert("RGB")
            image.thumbnail((THUMBNAIL_PIXELS, THUMBNAIL_PIXELS))
            out = io.BytesIO()
            image.save(out, "JPEG", quality=80)
    except (UnidentifiedImageError, OSError, KeyError, ValueError):
        return None  # a job whose "photo" was not an image failed at once: no picture
    return "data:image/jpeg;base64," + base64.b64encode(out.getvalue()).decode()


def job_detail(visit: Visit, job_id: str) -> None:
    tr = visit.tr
    service = visit.console.service
    show_job(visit, job_id)
    job = service.get(job_id)  # show_job may have seen an older state; the rest reads the latest

    job_actions(visit, job)
    if job.status == JobStatus.NEEDS_REVIEW:
        review_actions(visit, job)
    _review_details(visit, job)
    _timings(visit, job)
    text = spoken_text(job)
    if text:
        with st.expander(tr("job.what_it_says")):
            st.write(text)
    with st.expander(tr("job.parameters")):
        st.markdown(tr("job.plan", plan=" → ".join(tr.stage(s) for s in job.plan),
                       created=f"{job.created_at:%Y-%m-%d %H:%M:%S}"))
        if job.batch:
            st.markdown(tr("job.batch", batch=job.batch))
        st.json(job.params)
        values = {k: v for k, v in job.values.items() if k not in ("speech",)}  # phoneme lists are long
        st.json(json.loads(json.dumps(values, default=str)))


def _review_details(visit: Visit, job) -> None:
    if not job.review:
        return
    # The reason is shown above and the QA numbers in their own table; the rest goes here.
    details = {k: v for k, v in job.review.items() if k not in ("reason", "stage", "qa")}
    if details:
        with st.expander(visit.tr("job.review_details")):
            st.json(json.loads(json.dumps(details, default=str)))


def _timings(visit: Visit, job) -> None:
    tr = visit.tr
    runs = visit.console.service.runs(job.id)
    if not runs:
        return
    rows = [
        {
            tr("job.col_stage"): tr.stage(r.stage),
            tr("job.col_attempt"): r.attempt,
            tr("job.col_status"): tr(f"run.{r.status}"),
            tr("job.col_seconds"): round(r.seconds, 2) if r.seconds is not None else None,
            tr("job.col_worker"): r.worker or "",
            tr("job.col_error"): first_line(r.error, 120),
        }
        for r in runs
    ]
    st.markdown(tr("job.stage_runs", seconds=sum(r.seconds or 0.0 for r in runs)))
    st.dataframe(rows, hide_index=True)
    tracebacks = [r for r in runs if r.error and "\n" in r.error.strip()]
    if tracebacks:
        with st.expander(tr("job.full_errors")):
            for r in tracebacks:
                st.code(f"{r.stage} #{r.attempt}:\n{r.error}", language=None)
