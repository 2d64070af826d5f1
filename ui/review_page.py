"""The "Review" page: every job held for a person, why it waits, the player beside the reasons,
and the decision — approve, reject with a note, or render again with another seed."""

from __future__ import annotations

import streamlit as st

from factory.store import Job, JobStatus
from ui.job_details import spoken_text, title_of
from ui.job_widgets import review_actions, show_qa, show_video
from ui.visit import Visit

MAX_SHOWN = 200


def review_page(visit: Visit) -> None:
    tr = visit.tr
    st.header(tr("review.header"))
    st.button(tr("jobs.refresh"), key="review_refresh")
    jobs = visit.console.service.list(limit=MAX_SHOWN, status=JobStatus.NEEDS_REVIEW)
    if not jobs:
        st.info(tr("review.empty"))
        return
    st.caption(tr("review.count", count=len(jobs)))
    jobs = sorted(jobs, key=lambda job: job.updated_at)  # the longest waiting first
    ids = [job.id for job in jobs]
    by_id = {job.id: job for job in jobs}
    chosen = st.radio(
        tr("jobs.open"), ids, key="review_job",
        format_func=lambda i: f"{title_of(by_id[i]) or i} — {by_id[i].created_at:%m-%d %H:%M}"
                              + (f" — {by_id[i].created_by}" if getattr(by_id[i], "created_by", None) else ""),
    )
    st.divider()
    review_one(visit, by_id[chosen])


def reasons(job: Job) -> list[tuple[str, dict]]:
    """Why the job waits, as (message key, values) for ``tr``: the stage's reason first, then
    the writer's unsupported facts and blocked terms. The QA numbers have their own table."""
    review = job.review or {}
    found: list[tuple[str, dict]] = [("job.held", {"reason": review.get("reason") or job.error or ""})]
    facts = [str(issue.get("text")) for issue in review.get("grounding_issues") or [] if isinstance(issue, dict)]
    if facts:
        found.append(("review.grounding", {"facts": ", ".join(f"“{fact}”" for fact in facts)}))
    if review.get("blocked_terms"):
        found.append(("review.blocked", {"terms": ", ".join(map(str, review["blocked_terms"]))}))
    return found


def review_one(visit: Visit, job: Job) -> None:
    tr = visit.tr
    player, why = st.columns([3, 2])
    with player:
        if "video" in job.files:
            show_video(visit, job)
        else:
            st.info(tr("review.no_video"))
        text = spoken_text(job)
        if text:
            st.markdown(f"**{tr('job.what_it_says')}**")
            st.write(text)
    with why:
        st.markdown(f"**{tr('review.why')}**")
        for key, values in reasons(job):
            st.warning(tr(key, **values))
        show_qa(visit, job)
    review_actions(visit, job)
