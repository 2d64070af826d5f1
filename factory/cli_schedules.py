"""``factory schedule add|list|show|pause|resume|run-now|remove`` and ``factory scheduler``.

    factory schedule add morning-news --cron "0 8 * * 1-5" --tz Asia/Shanghai \\
        --feed https://example.org/news.xml --image host.jpg --language zh --publish-folder /srv/site
    factory schedule list
    factory scheduler            # long-running: turns due schedules into jobs

Registered in ``factory.cli.LAZY_COMMANDS``; nothing heavy is imported until a command runs.
"""

from __future__ import annotations

import json
import signal
import sys
import threading

import click

from factory.payloads import NARRATION_LANGUAGES


def _open_service(ctx: click.Context):
    from factory.cli import open_service

    return open_service(ctx)


@click.group("schedule")
def schedule() -> None:
    """Scheduled videos from feeds, topic lists, document folders and product files."""


@schedule.command("add")
@click.argument("name")
@click.option("--cron", required=True, help="When to run, as a cron expression: '0 8 * * 1-5' is 08:00 on weekdays.")
@click.option("--tz", "timezone", default="UTC", show_default=True, help="Time zone of the cron times, e.g. Asia/Shanghai.")
@click.option("--feed", help="An RSS or Atom feed URL (each new entry becomes a video).")
@click.option("--topic", "topics", multiple=True, help="A fixed headline (repeat for a list; each is made once).")
@click.option("--topics-file", type=click.Path(exists=True, dir_okay=False), help="A text file of headlines, one per line.")
@click.option("--folder", type=click.Path(file_okay=False), help="A watched folder of policy documents (PDF, DOCX, HTML, TXT).")
@click.option("--products", type=click.Path(exists=True, dir_okay=False), help="A product file (CSV or XLSX, one product per row).")
@click.option("--template", type=click.Choice(["topic", "policy", "product"]), help="How items are narrated [default: by source: feed/topics topic, folder policy, products product].")
@click.option("--image", type=click.Path(exists=True, dir_okay=False), help="The portrait photo.")
@click.option("--avatar", help="Or an avatar of the library (its name or id): its photo, and its voice unless --voice.")
@click.option("--language", default="en", show_default=True, type=click.Choice(NARRATION_LANGUAGES))
@click.option("--voice", help="A voice from `factory voices` for every video (default: the language's).")
@click.option("--seconds", "target_seconds", type=click.FloatRange(5, 300), help="Target narration length.")
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE", help="A render parameter (repeatable), e.g. min_resolution=384.")
@click.option("--review", type=click.Choice(["auto", "always"]), default="auto", show_default=True, help="always: every video waits for an editor's approval.")
@click.option("--publish-folder", type=click.Path(file_okay=False), help="Also publish into this folder (with an index.html).")
@click.option("--publish-s3", metavar="BUCKET", help="Also upload to this S3 bucket.")
@click.option("--s3-key", default="{date}/{job_id}.mp4", show_default=True, help="Object key template for --publish-s3.")
@click.option("--s3-public-url", help="Public URL base of the bucket (recorded on each job).")
@click.option("--publish-cms", metavar="URL", help="Also POST each video's URL and metadata to this CMS webhook (signed).")
@click.option("--notify", "notify_email", help="E-mail address told once per run.")
@click.option("--owner", help="Who owns the schedule (recorded as each job's creator).")
@click.option("--max-items", default=5, show_default=True, type=click.IntRange(1, 1000), help="At most this many new items per run.")
@click.pass_context
def add(ctx: click.Context, name, cron, timezone, feed, topics, topics_file, folder, products, template, image, avatar, language,
        voice, target_seconds, params, review, publish_folder, publish_s3, s3_key, s3_public_url, publish_cms,
        notify_email, owner, max_items) -> None:
    """Add a schedule (give exactly one source: --feed, --topic/--topics-file, --folder or --products)."""
    from pathlib import Path

    from factory.schedules import ScheduleSpec, add_schedule

    sources = [(k, v) for k, v in (("feed", feed), ("folder", folder), ("products", products)) if v]
    if topics or topics_file:
        lines = list(topics) + (Path(topics_file).read_text(encoding="utf-8-sig").splitlines() if topics_file else [])
        sources.append(("topics", "\n".join(line.strip() for line in lines if line.strip())))
    if len(sources) != 1:
        raise click.UsageError("give exactly one source: --feed, --topic/--topics-file, --folder or --products")
    if (image is None) == (avatar is None):
        raise click.UsageError("give the portrait: --image PHOTO or --avatar NAME (one of them)")
    kind, location = sources[0]
    if kind in ("folder", "products"):
        location = str(Path(location).expanduser().resolve())
    targets = []
    if publish_folder:
        targets.append({"kind": "folder", "path": str(Path(publish_folder).expanduser().resolve())})
    if publish_s3:
        targets.append({"kind": "s3", "bucket": publish_s3, "key": s3_key, **({"public_url": s3_public_url} if s3_public_url else {})})
    if publish_cms:
        targets.append({"kind": "cms", "url": publish_cms})
    spec = ScheduleSpec(name=name, cron=cron, timezone=timezone, source_kind=kind, source=location,
                        avatar=str(Path(image).resolve()) if image else avatar, template=template, language=language, voice=voice,
                        render_params=_render_params(params), target_seconds=target_seconds, review=review,
                        publish_targets=targets, notify_email=notify_email, owner=owner, max_items_per_run=max_items)
    with _open_service(ctx) as service:
        if avatar is not None:
            from factory.avatars import get_avatar

            found = get_avatar(service.jobs, avatar)
            if found is None:
                raise click.BadParameter(f"there is no avatar {avatar!r} in the library", param_hint="--avatar")
            spec.avatar, spec.voice = found.id, voice or found.voice
        try:
            created = add_schedule(service.jobs, spec)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None
    click.echo(f"schedule {created.name} ({created.id}): next run {created.next_run_at:%Y-%m-%d %H:%M} UTC", err=True)
    click.echo(created.id)


def _render_params(pairs: tuple[str, ...]) -> dict[str, str]:
    values = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{pair!r}: write NAME=VALUE, e.g. min_resolution=384", param_hint="--param")
        values[key.strip()] = value.strip()
    return values


@schedule.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the schedules as JSON.")
@click.pass_context
def list_(ctx: click.Context, as_json: bool) -> None:
    """Every schedule: when it runs next, and its last error."""
    from factory.schedules import list_schedules

    with _open_service(ctx) as service:
        rows = list_schedules(service.jobs)
    if as_json:
        click.echo(json.dumps([r.model_dump(mode="json") for r in rows], indent=2, ensure_ascii=False))
        return
    if not rows:
        click.echo("no schedules")
        return
    for r in rows:
        state = "paused" if r.paused else (f"ERROR ({r.failures}x): {r.last_error}" if r.last_error else "ok")
        source = r.source.splitlines()[0] + (" …" if "\n" in r.source else "")
        click.echo(f"{r.name:<20} {r.id}  {r.cron!r} {r.timezone}  {r.source_kind}:{source}  "
                   f"next {r.next_run_at:%Y-%m-%d %H:%M} UTC  {state}")


@schedule.command("show")
@click.argument("name")
@click.option("--runs", "limit", default=10, show_default=True, help="How many recent runs to show.")
@click.pass_context
def show(ctx: click.Context, name: str, limit: int) -> None:
    """A schedule's settings and its recent runs with the jobs they created."""
    from factory.schedules import runs_of

    with _open_service(ctx) as service:
        found = _find(service, name)
        runs = runs_of(service.jobs, found.id, limit)
    click.echo(json.dumps(found.model_dump(mode="json"), indent=2, ensure_ascii=False))
    for run in runs:
        what = run.error if run.status == "failed" else f"{len(run.jobs)} job(s) of {run.items_seen} item(s): {' '.join(run.jobs)}"
        click.echo(f"run {run.id} {run.trigger:<6} {run.started_at:%Y-%m-%d %H:%M} {run.status}: {what}")
        for problem in run.problems:
            click.echo(f"    not made: {problem}")


def _find(service, name: str):
    """The schedule called ``name``, or a ClickException that says there is none."""
    from factory.schedules import get_schedule

    try:
        return get_schedule(service.jobs, name)
    except KeyError as exc:
        raise click.ClickException(exc.args[0]) from None


def _change_command(name: str, help_text: str, change) -> None:
    @schedule.command(name, help=help_text)
    @click.argument("schedule_name", metavar="NAME")
    @click.pass_context
    def command(ctx: click.Context, schedule_name: str) -> None:
        with _open_service(ctx) as service:
            try:
                result = change(service.jobs, schedule_name)
            except KeyError as exc:
                raise click.ClickException(exc.args[0]) from None
        click.echo(f"schedule {result.name}: {name}d")


def _pause(store, name):
    from factory.schedules import set_paused

    return set_paused(store, name, True)


def _resume(store, name):
    from factory.schedules import set_paused

    return set_paused(store, name, False)


def _remove(store, name):
    from factory.schedules import remove_schedule

    return remove_schedule(store, name)


_change_command("pause", "Stop running the schedule until resumed.", _pause)
_change_command("resume", "Run the schedule again from its next cron time (missed runs are not made up).", _resume)
_change_command("remove", "Delete the schedule and its run history (its videos stay).", _remove)


@schedule.command("run-now")
@click.argument("name")
@click.option("--wait/--no-wait", default=True, help="Embedded mode: follow the run's jobs until they stop.")
@click.pass_context
def run_now(ctx: click.Context, name: str, wait: bool) -> None:
    """Run the schedule once now (items already made are skipped)."""
    from factory.scheduler import Scheduler

    with _open_service(ctx) as service:
        found = _find(service, name)
        run = Scheduler(service).run_schedule(found, trigger="manual")
        if run.status == "failed":
            raise click.ClickException(f"run {run.id} failed: {run.error}")
        click.echo(f"run {run.id}: {len(run.jobs)} new job(s) from {run.items_seen} item(s)", err=True)
        for problem in run.problems:
            click.echo(f"  not made: {problem}", err=True)
        for job_id in run.jobs:
            click.echo(job_id)
        if wait and service.dispatcher.needs_this_process:  # the jobs run in this process: stay until they stop
            for job_id in run.jobs:
                job = service.follow(job_id)
                click.echo(f"job {job_id} {job.status}" + (f": {job.error}" if job.error else ""), err=True)


@click.command("scheduler")
@click.option("--interval", type=click.FloatRange(1, 3600), help="Seconds between looks for due schedules [default: setting scheduler_interval_seconds].")
@click.option("--once", is_flag=True, help="Run what is due now and exit (for cron jobs and tests).")
@click.pass_context
def scheduler(ctx: click.Context, interval: float | None, once: bool) -> None:
    """Long-running: turn due schedules and new feed items into jobs, and deliver the outbox."""
    from factory.scheduler import Scheduler

    with _open_service(ctx) as service:
        runner = Scheduler(service)
        if once:
            report = runner.tick()
            click.echo(f"{len(report.runs)} run(s), {len(report.jobs)} job(s) in {report.seconds * 1000:.0f} ms", err=True)
            if service.dispatcher.needs_this_process:  # embedded mode: the jobs run here, so stay until they stop
                for job_id in report.jobs:
                    service.follow(job_id)
            return
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        service.deliver_in_background()  # stopped when the service closes
        click.echo(f"scheduler: looking for due schedules every {interval or service.settings.scheduler_interval_seconds:.0f} s "
                   f"({service.dispatcher.description})", err=True)
        runner.run_forever(stop, interval)
    sys.exit(0)
