"""What both pages show for one job: stage progress (live while it runs), then the outcome —
the video with a download button, or the reason it failed or is held for review."""

from __future__ import annotations

import json

import streamlit as st

from factory.store import Job, JobStatus
from ui.console import Console
from ui.job_details import first_line, qa_of, qa_view, stage_lines, status_label

POLL_SECONDS = 1.0


def show_job(console: Console, job_id: str) -> Job:
    """Progress and outcome of one job. While it runs, this part of the page refreshes itself
    every second (a Streamlit fragment) without re-running the rest of the page."""
    job = console.service.get(job_id)
    if not console.in_progress(job):
        show_stages(console, job)
        show_outcome(console, job)
        return job

    @st.fragment(run_every=POLL_SECONDS)
    def live() -> None:
        current = console.service.get(job_id)
        show_stages(console, current)
        if not console.in_progress(current):
            st.rerun()  # the whole page again: it now shows the finished job, without polling

    live()
    return job


def show_stages(console: Console, job: Job) -> None:
    live = console.progress(job)
    st.markdown(f"**Job `{job.id}`** — {status_label(job.status)}")
    for line in stage_lines(job, console.service.runs(job.id), live):
        if line.state == "running":
            st.progress(line.fraction or 0.0, text=line.summary)
        else:
            st.markdown(line.summary)
            if line.state in ("failed", "error", "review", "rerun") and line.error:
                st.caption(first_line(line.error, 300))


def show_outcome(console: Console, job: Job) -> None:
    if job.status == JobStatus.PUBLISHED:
        url = job.values.get("published_url")
        st.success(f"Published: {url}" if url else "Published.")
    elif job.status == JobStatus.FAILED:
        st.error(f"Failed — {job.error}")
    elif job.status == JobStatus.DEAD:
        st.error(f"Gave up — {job.error}")
    elif job.status == JobStatus.NEEDS_REVIEW:
        reason = (job.review or {}).get("reason") or job.error
        st.warning(f"Held for an editor's review — {reason}")
    elif job.status == JobStatus.CANCELLED:
        st.info("Cancelled.")
    elif console.stalled(job):
        reason = f" — {job.error}" if job.error else ""
        st.warning(f"This job was interrupted and nothing is running it now{reason}. Resume it on the Jobs page.")
    show_qa(job)
    show_video(console, job)


def show_qa(job: Job) -> None:
    view = qa_view(qa_of(job))
    if view is None:
        return
    verdict = {True: "passed ✅", False: "failed ❌", None: ""}[view.passed]
    st.markdown(f"**Quality check** {verdict}")
    for reason in view.reasons:
        st.markdown(f"- {reason}")
    if view.rows:
        st.dataframe(view.rows, hide_index=True)
    with st.expander("QA details"):
        st.json(json.loads(json.dumps(view.raw, default=str)))


def show_video(console: Console, job: Job) -> None:
    if "video" not in job.files:
        return
    try:
        path = console.service.artifacts.fetch(job.files["video"])
    except (FileNotFoundError, OSError) as exc:
        st.warning(f"The video file is not available here: {exc}")
        return
    st.video(str(path))
    st.download_button(
        "Download the MP4",
        data=path.read_bytes,  # read when clicked, not on every rerun (streamlit >= 1.52)
        file_name=f"{job.id}.mp4",
        mime="video/mp4",
        key=f"download-{job.id}",
    )
