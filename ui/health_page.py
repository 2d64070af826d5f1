"""The "Health" page: what an editor asks when videos do not come — is the writer there, are
the models installed, are the database and the broker reachable, are workers alive, how much
waits in each queue. It reads ``factory doctor``'s checks and ``factory status``'s report."""

from __future__ import annotations

import streamlit as st

from factory.doctor import CHECKS, Check, check_broker, check_database
from factory.settings import Settings
from factory.store import JobStatus
from ui.submission import writer_status
from ui.visit import Visit

ROW_PIXELS = 35  # st.dataframe's row height
CHECK_SECONDS = 30  # the checks are cheap but not free (imports, a broker connection): cached this long


@st.cache_data(ttl=CHECK_SECONDS, show_spinner=False)
def _doctor(_settings: Settings, key: str) -> list[Check]:
    from factory.doctor import run_checks

    return run_checks(_settings)


def factory_check(checks: list[Check], function) -> Check | None:
    """The result of one of ``factory.doctor.CHECKS`` (e.g. ``check_database``): ``run_checks``
    lists them first, in that order."""
    index = CHECKS.index(function)
    return checks[index] if index < len(checks) else None


def health_page(visit: Visit) -> None:
    tr = visit.tr
    settings = visit.console.settings
    st.header(tr("health.header"))
    if st.button(tr("health.recheck"), key="recheck"):
        _doctor.clear()
    checks = _doctor(settings, repr(settings))

    writer = writer_status(settings)
    st.markdown(("✅ " + tr("health.writer_ok", detail=writer.detail)) if writer.ok
                else ("⚠️ " + tr("health.writer_missing", detail=writer.detail, fix=writer.fix)))
    database = factory_check(checks, check_database)
    if database is not None:
        st.markdown(("✅ " + tr("health.database_ok", detail=database.detail)) if database.ok
                    else ("❌ " + tr("health.database_down", detail=database.detail, fix=database.fix)))
    broker = factory_check(checks, check_broker)
    if broker is not None:
        st.markdown(("✅ " + tr("health.broker_ok", detail=broker.detail)) if broker.ok
                    else ("❌ " + tr("health.broker_down", detail=broker.detail, fix=broker.fix)))

    if settings.amqp_url:
        _workers_and_queues(visit)
    else:
        jobs = visit.console.service.jobs
        st.markdown(tr("health.embedded", queued=len(jobs.list(limit=1000, status=JobStatus.QUEUED)),
                       running=len(jobs.list(limit=1000, status=JobStatus.RUNNING))))

    st.subheader(tr("health.checks"))
    st.dataframe([{
        tr("health.col_check"): check.name + (" " + tr("health.optional") if check.optional else ""),
        tr("health.col_ok"): "✅" if check.ok else ("⚠️" if check.optional else "❌"),
        tr("health.col_detail"): check.detail,
        tr("health.col_fix"): "" if check.ok else check.fix,
    } for check in checks], hide_index=True, height=ROW_PIXELS * (len(checks) + 1) + 3)  # every row, no scrolling


def _workers_and_queues(visit: Visit) -> None:
    from queues.status import collect_status

    tr = visit.tr
    try:
        report = collect_status(visit.console.settings, visit.console.service.jobs)
    except Exception as exc:  # noqa: BLE001 — the page still shows the rest
        st.error(tr("health.status_failed", problem=str(exc).splitlines()[0] if str(exc) else type(exc).__name__))
        return
    st.markdown(tr("health.workers", alive=len(report.workers_alive), silent=len(report.workers_silent)))
    if report.workers_alive:
        st.dataframe([{
            tr("health.col_worker"): w.id,
            tr("health.col_stages"): ", ".join(tr.stage(s) for s in w.stages),
            tr("health.col_doing"): f"{tr.stage(w.current_stage)} · {w.current_job}" if w.current_job else tr("health.idle"),
        } for w in report.workers_alive], hide_index=True)
    else:
        st.warning(tr("health.no_workers"))
    if report.broker_error:
        st.error(tr("health.broker_down", detail=report.broker_error, fix=""))
    st.subheader(tr("health.queues"))
    st.dataframe([{
        tr("health.col_queue"): q.name,
        tr("health.col_messages"): "—" if q.messages is None else str(q.messages),
        tr("health.col_consumers"): "—" if q.consumers is None else str(q.consumers),
    } for q in report.queues], hide_index=True)
    st.markdown(tr("health.stuck", count=len(report.stuck)))
