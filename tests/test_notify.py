"""A schedule run's owner gets one e-mail when the run's last job stops (a local SMTP server)."""

from __future__ import annotations

import uuid

import pytest
from sqlmodel import select

from test_batch_products import Mailbox


@pytest.fixture
def mailbox():
    box = Mailbox()
    yield box
    box.controller.stop()


def test_one_email_per_schedule_run_when_its_last_job_stops(tmp_path, postgres_url, amqp_url, queue_prefix,
                                                           portrait_path, mailbox):
    from factory.notify import sweep_finished_groups
    from factory.outbox import OutboxMessage, deliver_due
    from factory.scheduler import Scheduler
    from factory.schedules import ScheduleSpec, add_schedule
    from factory.service import JobService
    from factory.settings import Settings

    settings = Settings.load(data_dir=tmp_path / "data", database_url=postgres_url, amqp_url=amqp_url,
                             queue_prefix=queue_prefix, retry_delays=[0.3, 0.6], smtp_host="127.0.0.1",
                             smtp_port=mailbox.port, smtp_starttls=False, smtp_from="factory@example.org")
    with JobService(settings) as service:
        spec = ScheduleSpec(name=f"weekly-{uuid.uuid4().hex[:6]}", cron="0 9 * * 1", source_kind="topics",
                            source="Bus fares\nLibrary hours", avatar=str(portrait_path), notify_email="owner@example.org")
        run = Scheduler(service).run_schedule(add_schedule(service.jobs, spec))
        assert len(run.jobs) == 2

        def emails() -> list[OutboxMessage]:
            with service.jobs.session() as s:
                return list(s.exec(select(OutboxMessage).where(OutboxMessage.dedupe_key == f"email:{run.batch}")))

        service.cancel(run.jobs[0], by="owner")
        assert emails() == []  # one job of the run is still waiting
        service.cancel(run.jobs[1], by="owner")
        assert len(emails()) == 1
        assert sweep_finished_groups(service.jobs) == 0  # the sweep finds it sent already
        while deliver_due(service.jobs, settings):
            pass
    assert len(mailbox.messages) == 1
    mail = mailbox.messages[0]
    assert mail["To"] == "owner@example.org" and mail["From"] == "factory@example.org"
    assert spec.name in mail["Subject"] and "2 failed or cancelled" in mail["Subject"]
    body = mail.get_content()
    assert all(f"{job_id}  cancelled" in body for job_id in run.jobs)
