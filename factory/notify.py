"""E-mail notifications: one message per product batch or schedule run, not one per video.

When the last job of a batch (``batch-…``) or of a schedule run (``run-…``) stops — published,
held for review, failed or cancelled — the requester (the batch's ``notify_email``, the
schedule's ``notify_email``) gets one e-mail listing every video with its status, its URL or the
reason, and the rows or items that could not be made. The message is queued in the outbox
(kind ``email``, dedupe key ``email:<group>``) by ``on_job_event`` inside the transaction that
stopped the last job, or by ``group_closed`` when the batch or run has submitted its last job
(its jobs may all have stopped by then); ``sweep_finished_groups`` (run by the scheduler each
tick) queues any that a race between two jobs stopping at once left out — the dedupe key keeps
it to one.

``deliver_email`` sends it through the SMTP server in the settings (``smtp_host``...).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlmodel import select

from factory.store import Job, JobStatus, utcnow

SWEEP_DAYS = 7
"""How far back the sweep looks for batches and runs that finished without their e-mail."""


def on_job_event(session: Any, job: Job, event: str) -> None:
    """Job-event listener: when ``job`` was the last of its batch or run to stop, queue the
    group's one e-mail."""
    if job.batch and (job.batch.startswith("batch-") or job.batch.startswith("run-")):
        _maybe_enqueue(session, job.batch, just_stopped=job)


def group_closed(session: Any, group: str) -> None:
    """Every job of the batch or run has been submitted (called in the transaction that
    records it): if they all stopped already, or none could be made, queue the e-mail now."""
    _maybe_enqueue(session, group)


def sweep_finished_groups(store: Any) -> int:
    """Queue the e-mail of every recent batch or run whose jobs have all stopped and that has
    none yet; returns how many were queued."""
    from factory.batch import Batch
    from factory.outbox import OutboxMessage
    from factory.schedules import Schedule, ScheduleRun

    since = utcnow() - timedelta(days=SWEEP_DAYS)
    queued = 0
    with store.session() as session:
        groups = [b.id for b in session.exec(select(Batch).where(Batch.created_at >= since, Batch.notify_email.is_not(None)))]
        groups += [r.batch for r, _ in session.exec(
            select(ScheduleRun, Schedule).where(ScheduleRun.schedule_id == Schedule.id, ScheduleRun.started_at >= since,
                                                ScheduleRun.status == "done", Schedule.notify_email.is_not(None)))
                   if r.jobs]
        if not groups:
            return 0
        sent = set(session.exec(select(OutboxMessage.dedupe_key).where(
            OutboxMessage.dedupe_key.in_([f"email:{g}" for g in groups]))))
        for group in groups:
            if f"email:{group}" not in sent and _maybe_enqueue(session, group):
                queued += 1
        session.commit()
    return queued


def _maybe_enqueue(session: Any, group: str, just_stopped: Job | None = None) -> bool:
    """Queue the group's e-mail if it has someone to tell, all its jobs were submitted and all
    have stopped; True when queued now."""
    details = _group_details(session, group)
    if details is None:
        return False
    heading, recipient, language, problems = details
    # the cheap question first (it is asked on every job event of the group): have all stopped?
    statuses = dict(session.exec(select(Job.id, Job.status).where(Job.batch == group)).all())
    if just_stopped is not None:  # the job being changed, as it is now (maybe not flushed yet)
        statuses[just_stopped.id] = just_stopped.status
    if any(status not in JobStatus.FINAL for status in statuses.values()) or not (statuses or problems):
        return False
    jobs = [just_stopped if just_stopped is not None and j.id == just_stopped.id else j
            for j in session.exec(select(Job).where(Job.batch == group))]
    rows = [_job_line(j) for j in sorted(jobs, key=lambda j: j.created_at)]
    subject = _subject(heading, jobs, language)
    return _enqueue(session, group, recipient, subject, _body(heading, rows, problems, language)) is not None


def _group_details(session: Any, group: str) -> tuple[str, str, str, list[str]] | None:
    """(heading, recipient, language, items not made) of a batch or schedule run whose jobs
    have all been submitted and that has someone to tell; else None."""
    if group.startswith("batch-"):
        from factory.batch import Batch

        batch = session.get(Batch, group)
        if batch is None or not batch.notify_email or not batch.rows:  # rows are recorded once all are submitted
            return None
        problems = [f"row {r['row']}: {r['problem']}" for r in batch.rows if r.get("problem")]
        return f"Batch {batch.file_name} ({group})", batch.notify_email, "en", problems
    from factory.schedules import Schedule, ScheduleRun

    run_id = group.rsplit("-", 1)[-1]
    run = session.get(ScheduleRun, int(run_id)) if run_id.isdigit() else None
    schedule = session.get(Schedule, run.schedule_id) if run else None
    if schedule is None or not schedule.notify_email or run.status != "done":  # "done": all its items submitted
        return None
    return _run_heading(schedule, run), schedule.notify_email, schedule.language, list(run.problems)


def _run_heading(schedule: Any, run: Any) -> str:
    return f"Schedule {schedule.name}, run {run.id} ({run.started_at:%Y-%m-%d %H:%M} UTC)"


def _job_line(job: Job) -> str:
    urls = list(job.values.get("published_to", {}).values())
    title = (job.values.get("narration") or {}).get("title") or (job.values.get("writer_request") or {}).get("topic") or ""
    where = urls[0] if urls else job.values.get("published_url") or ""
    detail = where if job.status == JobStatus.PUBLISHED else (job.error or "")
    return f"{job.id}  {job.status:<12} {title}  {detail}".rstrip()


def _subject(heading: str, jobs: list[Job], language: str) -> str:
    published = sum(j.status == JobStatus.PUBLISHED for j in jobs)
    held = sum(j.status == JobStatus.NEEDS_REVIEW for j in jobs)
    other = len(jobs) - published - held
    text = f"{heading}: {published} published, {held} held for review, {other} failed or cancelled"
    if language == "zh":
        text = f"{heading}：已发布 {published}，待审核 {held}，失败或取消 {other} — " + text
    return text


def _body(heading: str, rows: list[str], problems: list[str], language: str) -> str:
    lines = [heading, ""]
    if rows:
        lines += ["Videos:" if language != "zh" else "视频 / Videos:", *rows, ""]
    if problems:
        lines += ["Not made:" if language != "zh" else "未制作 / Not made:", *problems, ""]
    return "\n".join(lines)


def _enqueue(session: Any, group: str, recipient: str, subject: str, body: str) -> Any:
    from factory.outbox import enqueue

    return enqueue(session, "email", recipient, {"to": recipient, "subject": subject, "body": body, "group": group},
                   dedupe_key=f"email:{group}")


def deliver_email(message: Any, context: Any) -> str:
    """Send the message through the SMTP server in the settings. Its ``Message-ID`` is the
    outbox message id, so a mail system sees a repeated delivery as the same message."""
    import smtplib
    import socket
    from email.message import EmailMessage

    from factory.outbox import DeliveryFailed

    settings = context.settings
    if not settings.smtp_host:
        raise DeliveryFailed("no SMTP server is set (smtp_host): e-mail cannot be sent", retry=False)
    mail = EmailMessage()
    mail["From"] = settings.smtp_from
    mail["To"] = message.payload["to"]
    mail["Subject"] = message.payload["subject"]
    mail["Message-ID"] = f"<{message.id}@talking-factory>"
    mail.set_content(message.payload["body"])
    try:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=30) as smtp:
            smtp.ehlo()
            if settings.smtp_starttls and smtp.has_extn("starttls"):
                smtp.starttls()
                smtp.ehlo()
            if settings.smtp_user:
                smtp.login(settings.smtp_user, settings.smtp_password)
            refused = smtp.send_message(mail)
    except smtplib.SMTPAuthenticationError:
        raise DeliveryFailed("the SMTP server refused the user name or password (smtp_user, smtp_password)", retry=False) from None
    except smtplib.SMTPRecipientsRefused:
        raise DeliveryFailed(f"the SMTP server refused the address {message.payload['to']}", retry=False) from None
    except (smtplib.SMTPException, socket.error) as exc:
        raise DeliveryFailed(f"could not send e-mail through {settings.smtp_host}:{settings.smtp_port}: {exc}") from None
    if refused:
        raise DeliveryFailed(f"the SMTP server refused {', '.join(refused)}", retry=False)
    return f"sent to {message.payload['to']}"
