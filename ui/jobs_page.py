"""Page 2, "Jobs": the job list with filters, and one job's details — stages with seconds,
errors, QA numbers, the review reason, the published URL and the video."""

from __future__ import annotations

import json

import streamlit as st

from factory.store import Job, JobStatus
from ui.console import Console
from ui.job_details import first_line, job_rows, spoken_text, status_label
from ui.job_widgets import show_job

STATUSES = [
    JobStatus.QUEUED,
    JobStatus.RUNNING,
    JobStatus.NEEDS_REVIEW,
    JobStatus.FAILED,
    JobStatus.DEAD,
    JobStatus.PUBLISHED,
]
ALL = "all"


def jobs_page(console: Console) -> None:
    st.header("Jobs")
    service = console.service
    left, middle, right = st.columns([2, 2, 1])
    status = left.selectbox(
        "Status", [ALL, *STATUSES], format_func=lambda s: "all" if s == ALL else status_label(s), key="filter_status"
    )
    batch = middle.text_input("Batch", key="filter_batch")
    limit = right.number_input("Show", min_value=5, max_value=1000, value=50, step=5, key="filter_limit")
    if st.button("Refresh", key="refresh"):
        pass  # any click re-runs the page, which re-reads the store

    jobs = service.list(limit=int(limit), status=None if status == ALL else status, batch=batch.strip() or None)
    if not jobs:
        st.info("No jobs match." if status != ALL or batch else "No jobs yet: make one on the New video page.")
        return
    st.dataframe(job_rows(jobs), hide_index=True)

    ids = [job.id for job in jobs]
    by_id = {job.id: job for job in jobs}
    wanted = st.query_params.get("job")
    chosen = st.selectbox(
        "Open job",
        ids,
        index=ids.index(wanted) if wanted in ids else 0,
        format_func=lambda i: f"{i} — {status_label(by_id[i].status)} — {by_id[i].created_at:%Y-%m-%d %H:%M}",
        key="open_job",
    )
    st.query_params["job"] = chosen  # the address bar now links to this job
    st.divider()
    job_detail(console, chosen)


def job_detail(console: Console, job_id: str) -> None:
    service = console.service
    job = show_job(console, job_id)
    job = service.get(job_id)  # show_job may have seen an older state; the rest reads the latest

    _actions(console, job)

    _review(job)
    if job.status == JobStatus.NEEDS_REVIEW:
        _decide(console, job)
    _timings(console, job)
    text = spoken_text(job)
    if text:
        with st.expander("What it says"):
            st.write(text)
    with st.expander("Parameters, files and values"):
        st.markdown(f"Plan: {' → '.join(job.plan)}; created {job.created_at:%Y-%m-%d %H:%M:%S} UTC")
        if job.batch:
            st.markdown(f"Batch: `{job.batch}`")
        st.json(job.params)
        for name, artifact in sorted(job.files.items()):
            st.markdown(f"- {name}: `{service.artifacts.url(artifact)}`")
        values = {k: v for k, v in job.values.items() if k not in ("speech",)}  # phoneme lists are long
        st.json(json.loads(json.dumps(values, default=str)))


def _review(job: Job) -> None:
    if not job.review:
        return
    # The reason is shown above and the QA numbers in their own table; the rest goes here.
    details = {k: v for k, v in job.review.items() if k not in ("reason", "stage", "qa")}
    if details:
        with st.expander("Review details"):
            st.json(json.loads(json.dumps(details, default=str)))


def _actions(console: Console, job: Job) -> None:
    """Resume, retry or cancel, where the job's state allows (``factory.lifecycle``)."""
    from factory.lifecycle import ALLOWED_FROM, TransitionRefused

    offered = [(label, request) for label, request, event in (
        ("Resume", "resume", "resumed"), ("Retry", "retry", "retried"), ("Cancel", "cancel", "cancelled"))
        if job.status in ALLOWED_FROM[event] and (request != "resume" or console.stalled(job))]
    for column, (label, request) in zip(st.columns(max(1, len(offered))), offered):
        if column.button(label, key=f"{request}-{job.id}"):
            try:
                getattr(console.service, request)(job.id)
            except TransitionRefused as exc:  # the job moved on meanwhile
                st.warning(str(exc))
            else:
                st.rerun()


def _decide(console: Console, job: Job) -> None:
    """Approve (the job goes on from where it was held) or reject with a reason."""
    approve, reject = st.columns(2)
    if approve.button("Approve", key=f"approve-{job.id}", type="primary"):
        console.service.approve(job.id)  # it runs on wherever this factory runs stages
        st.rerun()
    reason = reject.text_input("Reason for rejecting", key=f"reject-reason-{job.id}")
    if reject.button("Reject", key=f"reject-{job.id}", disabled=not reason.strip()):
        console.service.reject(job.id, reason.strip())
        st.rerun()


def _timings(console: Console, job: Job) -> None:
    runs = console.service.runs(job.id)
    if not runs:
        return
    rows = [
        {
            "stage": r.stage,
            "attempt": r.attempt,
            "status": r.status,
            "seconds": round(r.seconds, 2) if r.seconds is not None else None,
            "worker": r.worker or "",
            "error": first_line(r.error, 120),
        }
        for r in runs
    ]
    total = sum(r.seconds or 0.0 for r in runs)
    st.markdown(f"**Stage runs** — {total:.1f} s in all")
    st.dataframe(rows, hide_index=True)
    tracebacks = [r for r in runs if r.error and "\n" in r.error.strip()]
    if tracebacks:
        with st.expander("Full error texts"):
            for r in tracebacks:
                st.code(f"{r.stage} attempt {r.attempt}:\n{r.error}", language=None)
