"""The "Schedules" page: videos made on a timetable from a feed, a list of topics, a folder of
policy documents or a product file (``factory.schedules``; the scheduler process runs them).
List with the next and last run, create, pause and resume, and each schedule's last runs with
the jobs they made."""

from __future__ import annotations

import streamlit as st

from ui.submission import LANGUAGES
from ui.visit import Visit

RUNS_SHOWN = 10


def schedules_page(visit: Visit) -> None:
    from factory.schedules import list_schedules

    tr = visit.tr
    store = visit.console.service.jobs
    st.header(tr("sched.header"))
    schedules = list_schedules(store)
    if schedules:
        def source(s) -> str:
            kind = tr(f"sched.kind_{s.source_kind}")
            return f"{kind}: {s.source.splitlines()[0]}" if s.source else kind

        st.dataframe([{
            tr("sched.col_name"): s.name,
            tr("sched.col_source"): source(s),
            tr("sched.col_when"): f"{s.cron} ({s.timezone})",
            tr("sched.col_state"): tr("sched.paused") if s.paused else tr("sched.active"),
            tr("sched.col_next"): "" if s.paused else f"{s.next_run_at:%Y-%m-%d %H:%M}",
            tr("sched.col_last"): f"{s.last_run_at:%Y-%m-%d %H:%M}" if s.last_run_at else "",
            tr("sched.col_problem"): s.last_error or "",
        } for s in schedules], hide_index=True)
        by_id = {s.id: s for s in schedules}
        chosen = by_id[st.selectbox(tr("sched.open"), list(by_id), format_func=lambda i: by_id[i].name,
                                    key="schedule_open")]
        _one(visit, chosen)
    else:
        st.info(tr("sched.none"))
    with st.expander(tr("sched.new"), expanded=not schedules):
        _create(visit)


def _one(visit: Visit, schedule) -> None:
    from factory.schedules import runs_of, set_paused

    tr = visit.tr
    store = visit.console.service.jobs
    label = tr("sched.resume") if schedule.paused else tr("sched.pause")
    if st.button(label, key=f"pause-{schedule.id}"):
        set_paused(store, schedule.id, not schedule.paused)
        st.rerun()
    runs = runs_of(store, schedule.id, limit=RUNS_SHOWN)
    if not runs:
        st.caption(tr("sched.no_runs"))
        return
    st.markdown(f"**{tr('sched.last_runs')}**")
    st.dataframe([{
        tr("sched.col_started"): f"{run.started_at:%Y-%m-%d %H:%M}",
        tr("sched.col_trigger"): run.trigger,
        tr("sched.col_state"): run.status,
        tr("sched.col_jobs"): ", ".join(run.jobs),
        tr("sched.col_problem"): run.error or "; ".join(run.problems),
    } for run in runs], hide_index=True)
    st.caption(tr("sched.jobs_hint"))


def _create(visit: Visit) -> None:
    from factory.avatars import list_avatars
    from factory.schedules import ScheduleSpec, add_schedule
    from factory.sources import SOURCE_KINDS

    tr = visit.tr
    service = visit.console.service
    avatars = {a.id: a for a in list_avatars(service.jobs)}
    if not avatars:
        st.info(tr("sched.needs_avatar"))
        return
    name = st.text_input(tr("sched.name"), key="sched_name")
    kind = st.selectbox(tr("sched.kind"), list(SOURCE_KINDS), format_func=lambda k: tr(f"sched.kind_{k}"),
                        key=visit.key("sched_kind"))
    source = st.text_area(tr(f"sched.source_{kind}"), height=100, key=f"sched_source_{kind}")
    left, right = st.columns(2)
    cron = left.text_input(tr("sched.cron"), value="0 9 * * 1-5", key="sched_cron", help=tr("sched.cron_help"))
    timezone = right.text_input(tr("sched.timezone"), value="Asia/Shanghai", key="sched_timezone")
    avatar = avatars[st.selectbox(tr("new.avatar"), list(avatars), format_func=lambda i: avatars[i].name,
                                  key="sched_avatar")]
    language = st.selectbox(tr("new.language"), list(LANGUAGES), format_func=lambda c: tr(f"lang.{c}"),
                            key=visit.key("sched_language"))
    always_review = st.checkbox(tr("sched.review"), key="sched_review")
    per_run = st.number_input(tr("sched.per_run"), min_value=1, max_value=100, value=5, key="sched_per_run")
    if st.button(tr("sched.create"), type="primary", key="sched_create"):
        spec = ScheduleSpec(name=name, cron=cron, source_kind=kind, source=source, timezone=timezone.strip() or "UTC",
                            avatar=avatar.id, voice=avatar.voice, language=language,
                            review="always" if always_review else "auto", owner=visit.actor,
                            max_items_per_run=int(per_run))
        try:
            schedule = add_schedule(service.jobs, spec)
        except ValueError as exc:  # a bad cron, time zone or source: the sentence says which
            st.error(str(exc))
        else:
            st.success(tr("sched.created", name=schedule.name, next=f"{schedule.next_run_at:%Y-%m-%d %H:%M}"))
