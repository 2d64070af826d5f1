"""The ``factory`` command line.

    factory make --script-file my.txt --image me.jpg --out me.mp4
    factory make --audio interview.m4a --image me.jpg --out me.mp4
    factory jobs list | factory jobs show ID
    factory doctor
    factory check VIDEO --script-file my.txt          (qa/)
    factory worker --stage render                      (queues/, distributed mode)

Only click and the standard library are imported at start-up; every command imports what it
needs when it runs, so ``factory --help`` is instant.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
from pathlib import Path

import click

from factory.payloads import NARRATION_LANGUAGES as LANGUAGES

# Commands that live in other packages, imported only when used.
LAZY_COMMANDS = {
    "check": "qa.cli:check",
    "worker": "queues.cli:worker",
    "status": "queues.cli:status",
    "ui": "ui.cli:ui",
    "voices": "tts.cli:voices",
    "schedule": "factory.cli_schedules:schedule",
    "scheduler": "factory.cli_schedules:scheduler",
    "users": "factory.cli_accounts:users",
    "tokens": "factory.cli_accounts:tokens",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *LAZY_COMMANDS])

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in COMMANDS_WITH_RENDER_OPTIONS:
            add_render_options(super().get_command(ctx, name))
        if name in LAZY_COMMANDS:
            module, attr = LAZY_COMMANDS[name].split(":")
            try:
                return getattr(importlib.import_module(module), attr)
            except ModuleNotFoundError as exc:  # an optional part not installed; real bugs still raise
                reason = f"not available here: {exc}"

                @click.command(name, help=f"({reason})", context_settings={"ignore_unknown_options": True})
                @click.argument("args", nargs=-1, type=click.UNPROCESSED)
                def unavailable(args: tuple[str, ...]) -> None:
                    raise click.ClickException(f"the {name!r} command is {reason}")

                return unavailable
        return super().get_command(ctx, name)


@click.group(cls=LazyGroup)
@click.option("--config", type=click.Path(dir_okay=False), help="TOML settings file (else $FACTORY_CONFIG or ./factory.toml).")
@click.option("-v", "--verbose", is_flag=True, help="Show library logs.")
@click.pass_context
def cli(ctx: click.Context, config: str | None, verbose: bool) -> None:
    """Talking-video factory: script (or topic, or recording) + portrait photo → talking MP4."""
    import logging

    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    ctx.obj = {"config": config}


def load_settings(ctx: click.Context):
    from factory.settings import Settings

    try:
        return Settings.load((ctx.obj or {}).get("config"))
    except (ValueError, OSError) as exc:
        raise click.ClickException(f"bad settings: {exc}") from None


def open_service(ctx: click.Context):
    from factory.service import JobService

    return JobService(load_settings(ctx))


# --- progress ------------------------------------------------------------------------------


class ProgressPrinter:
    """One line per stage on stderr, redrawn in place on a terminal."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.last_print = 0.0
        self.started = time.monotonic()

    def for_stage(self, stage: str):
        def report(fraction: float, note: str = "") -> None:
            now = time.monotonic()
            if now - self.last_print < (0.2 if self.tty else 5.0) and fraction < 1.0:
                return
            self.last_print = now
            bar = "#" * int(fraction * 20)
            line = f"  {stage:<8} [{bar:<20}] {fraction * 100:5.1f}% {note}"
            if self.tty:
                click.echo("\r" + line[:100].ljust(100), nl=False, err=True)
            else:
                click.echo(line, err=True)

        return report

    def progress(self, stage: str, progress) -> None:
        self.for_stage(stage)(progress.fraction, progress.note)

    def stage_done(self, run) -> None:
        """One line per finished stage run (``factory.store.StageRun``)."""
        if self.tty:
            click.echo("\r" + " " * 100 + "\r", nl=False, err=True)
        mark = {"done": "✓", "cached": "✓", "failed": "✗", "review": "⚑", "rerun": "↺", "error": "!",
                "interrupted": "!"}.get(run.status, "·")
        extra = " (cache hit)" if run.status == "cached" else ""
        if run.error and run.status not in ("done", "cached"):
            extra += f" — {run.error.splitlines()[0]}"  # the reason; a traceback stays in the log
        click.echo(f"{mark} {run.stage:<8} {run.seconds or 0.0:6.2f} s{extra}", err=True)


# --- make ----------------------------------------------------------------------------------

COMMANDS_WITH_RENDER_OPTIONS = ("make", "batch")


def add_render_options(command: click.Command) -> None:
    """One option per render parameter, as the render stage declares them (``Stage.params``):
    added when the command is first looked up, so importing the CLI loads no stage package."""
    if getattr(command, "has_render_options", False):
        return
    from factory.stages import get_stage

    for spec in get_stage("render").params:
        name = "--" + spec.name.replace("_", "-")
        if spec.kind is bool:
            option = click.Option([name], is_flag=True, default=None, help=spec.help)
        elif spec.choices:
            option = click.Option([name], type=click.Choice(list(spec.choices)), help=spec.help)
        elif spec.low is not None:
            kind = click.IntRange(spec.low, spec.high) if spec.kind is int else click.FloatRange(spec.low, spec.high)
            option = click.Option([name], type=kind, help=spec.help)
        else:
            option = click.Option([name], type=spec.kind, help=spec.help)
        option.render_option = True
        command.params.append(option)
    command.has_render_options = True


def render_values(options: dict) -> dict:
    """The render parameters the editor gave, out of all of a command's options."""
    return {k: v for k, v in options.items() if v is not None}


@cli.command()
@click.option("--script", "script_text", help="The narration text to speak.")
@click.option("--script-file", type=click.Path(exists=True, dir_okay=False), help="A UTF-8 text file with the narration.")
@click.option("--audio", type=click.Path(exists=True, dir_okay=False), help="Your own recording (WAV/MP3/M4A/FLAC...) instead of a script: skips TTS.")
@click.option("--topic", help="A headline: the LLM writes a short neutral narration about it.")
@click.option("--summary", help="Optional summary to go with --topic.")
@click.option("--source-file", type=click.Path(exists=True, dir_okay=False), help="A policy document (PDF, DOCX, HTML or TXT): the LLM explains only what it says.")
@click.option("--product-file", type=click.Path(exists=True, dir_okay=False), help="A product row as JSON (name, features, price, promotion): a 20–40 s pitch.")
@click.option("--seconds", "target_seconds", type=click.FloatRange(5, 300), help="Target narration length for --topic/--source-file/--product-file [default: the template's: 40 s topic, 75 s policy, 30 s product].")
@click.option("--image", required=True, type=click.Path(exists=True, dir_okay=False), help="The portrait photo (JPEG/PNG/WebP).")
@click.option("--voice", help="A voice from `factory voices` (name) or the path of a Piper .onnx file (default: the language's bundled voice).")
@click.option("--language", type=click.Choice(LANGUAGES),
              help="The narration's language [default: zh for a script or topic written in Chinese, else en].")
@click.option("--out", type=click.Path(dir_okay=False), help="Where to write the MP4 (default: out/<job id>.mp4).")
@click.option("--no-cache", is_flag=True, help="Run every stage afresh even if the same work was done before.")
@click.option("--no-check", is_flag=True, help="Skip the QA stage (Whisper transcript + lip-sync score).")
@click.option("--wait/--no-wait", default=True, help="Distributed mode: follow the job until it ends (default) or return at once.")
@click.option("--json", "as_json", is_flag=True, help="Print the finished job as JSON on stdout.")
@click.pass_context
def make(ctx: click.Context, script_text, script_file, audio, topic, summary, source_file, product_file, target_seconds,
         image, voice, language, out, no_cache, no_check, wait, as_json, **render) -> None:
    """Render one talking video."""
    from factory.documents import DocumentError
    from factory.script_text import ScriptTextError, read_script_file
    from factory.text import written_language

    try:
        if script_file:
            script_text = read_script_file(script_file)
        language = language or written_language(script_text or topic or "") or "en"
        writer_request = _writer_request(topic, summary, source_file, product_file, target_seconds, language)
    except (ScriptTextError, DocumentError) as exc:
        raise click.BadParameter(str(exc)) from None
    given = [x is not None for x in (script_text, audio, writer_request)]
    if sum(given) != 1:
        raise click.UsageError("give exactly one of --script/--script-file, --audio, --topic, --source-file or --product-file")

    params = job_params(render_values(render), language=language, voice=voice)
    with open_service(ctx) as service:
        try:
            job = service.submit(image=image, script=script_text, audio=audio, writer_request=writer_request,
                                 params=params, check=False if no_check else None, use_cache=not no_cache,
                                 created_by=cli_user())
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None
        click.echo(f"job {job.id}: {' → '.join(job.plan)}", err=True)
        if not wait and not service.dispatcher.needs_this_process:
            click.echo(job.id)
            return
        job = _follow(service, job.id)
        _finish(service, job, out, as_json)


def job_params(render: dict, *, language: str, voice: str | None) -> dict:
    from factory.job_params import build_job_params

    try:
        return build_job_params(render, language=language, voice=voice)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _writer_request(topic, summary, source_file, product_file, target_seconds, language):
    from factory.payloads import WriterRequest
    from factory.script_text import read_script_file

    if topic is not None:
        return WriterRequest.for_topic(topic, summary, language, target_seconds).to_value()
    if source_file:
        from factory.documents import read_document

        return WriterRequest.for_policy(read_document(source_file), language, target_seconds).to_value()
    if product_file:
        try:
            row = json.loads(read_script_file(product_file))
        except json.JSONDecodeError as exc:
            raise click.BadParameter(f"not valid JSON: {exc}", param_hint="--product-file") from None
        if not isinstance(row, dict):
            raise click.BadParameter('must be one JSON object: {"name": ..., "features": [...], "price": ...}',
                                     param_hint="--product-file")
        return WriterRequest.for_product(row, language, target_seconds).to_value()
    return None


def _follow(service, job_id: str, printer: ProgressPrinter | None = None):
    """Follow the job until it stops, one line per stage; Ctrl-C stops it here (resumable)."""
    printer = printer or ProgressPrinter()
    try:
        return service.follow(job_id, on_run=printer.stage_done, on_progress=printer.progress)
    except KeyboardInterrupt:
        service.close()  # a stage running in this process is stopped; the job can be resumed
        job = service.get(job_id)
        click.echo(f"\n! job {job_id} {job.status}; go on with: factory jobs resume {job_id}", err=True)
        sys.exit(130)


def _finish(service, job, out: str | None, as_json: bool) -> None:
    from factory.store import JobStatus

    total = sum(r.seconds or 0.0 for r in service.runs(job.id))
    if job.status == JobStatus.PUBLISHED:
        target = service.export(job.id, "video", out or Path("out") / f"{job.id}.mp4") if "video" in job.files else None
        if as_json:
            click.echo(json.dumps(service.describe(job.id), indent=2))
        click.echo(f"✓ job {job.id} published in {total:.1f} s" + (f" → {target}" if target else ""), err=True)
        if target and not as_json:
            click.echo(str(target))
        return
    if as_json:
        click.echo(json.dumps(service.describe(job.id), indent=2))
    label = {"needs_review": "held for review", "failed": "failed", "dead": "gave up", "cancelled": "was cancelled",
             "interrupted": "was interrupted"}.get(job.status, job.status)
    hint = f" (go on with: factory jobs resume {job.id})" if job.status in (JobStatus.INTERRUPTED, JobStatus.QUEUED) else ""
    click.echo(f"✗ job {job.id} {label}: {job.error}{hint}", err=True)
    sys.exit(2 if job.status == JobStatus.NEEDS_REVIEW else 1)


@cli.command()
@click.option("--out", default="out/demo.mp4", show_default=True, type=click.Path(dir_okay=False))
@click.option("--no-cache", is_flag=True, help="Render afresh even if the demo was rendered before.")
@click.pass_context
def demo(ctx: click.Context, out: str, no_cache: bool) -> None:
    """Render the bundled sample script with a public-domain portrait (no input needed)."""
    from importlib.resources import files

    import skimage.data

    from factory.media import save_image

    portrait = Path(out).with_name("demo-portrait.png")
    portrait.parent.mkdir(parents=True, exist_ok=True)
    save_image(portrait, skimage.data.astronaut())  # NASA photo of Eileen Collins, public domain
    script = files("factory.samples").joinpath("demo_script.txt").read_text(encoding="utf-8")
    click.echo(f"script: {script.strip()}", err=True)
    ctx.invoke(make, script_text=script, image=str(portrait), out=out, no_cache=no_cache)


@cli.command()
@click.argument("rows", type=click.Path(exists=True, dir_okay=False))
@click.option("--image", type=click.Path(exists=True, dir_okay=False), help="Portrait for rows without an image column.")
@click.option("--language", default="en", show_default=True, type=click.Choice(LANGUAGES))
@click.option("--seconds", "target_seconds", type=click.FloatRange(5, 300), help="Target length for rows the LLM writes.")
@click.option("--voice", help="A voice from `factory voices` (name) or a Piper .onnx path, for every row.")
@click.option("--out-dir", type=click.Path(file_okay=False), help="Copy each published video here as <row>-<job id>.mp4.")
@click.option("--no-check", is_flag=True, help="Skip the QA stage.")
@click.option("--wait/--no-wait", default=True, help="Distributed mode: follow the batch until every job ends.")
@click.pass_context
def batch(ctx: click.Context, rows, image, language, target_seconds, voice, out_dir, no_check, wait, **render) -> None:
    """One video per row of a CSV / JSON-lines file (script, topic, or product columns).

    \b
    CSV header examples:
      script,image
      topic,summary
      name,features,price,promotion      (features separated by ';')
    """
    from factory.batch import plan_rows, read_rows
    from factory.store import JobStatus, new_job_id

    try:
        planned = plan_rows(read_rows(rows), Path(image) if image else None, language, target_seconds, Path(rows).parent)
    except (ValueError, KeyError) as exc:
        raise click.ClickException(f"cannot read {rows}: {exc}") from None
    params = job_params(render_values(render), language=language, voice=voice)
    with open_service(ctx) as service:
        batch_id = f"batch-{new_job_id()}"
        jobs: list[tuple[int, str]] = []
        rates: dict[str, float | None] = {}   # the voice's measured speaking rate, one query per language
        for row in planned:
            if row.problem:
                click.echo(f"row {row.number}: skipped — {row.problem}", err=True)
                continue
            if row.writer_request and not row.writer_request.get("speaking_rate"):
                if row.language not in rates:
                    rates[row.language] = service.measured_speaking_rate(params, row.language)
                row.writer_request["speaking_rate"] = rates[row.language]
            job = service.submit(image=row.image, script=row.script, writer_request=row.writer_request,
                                 params={**params, "language": row.language}, check=False if no_check else None, batch=batch_id,
                                 created_by=cli_user())
            jobs.append((row.number, job.id))
        click.echo(f"{batch_id}: {len(jobs)} job(s) from {len(planned)} row(s)", err=True)

        if not wait and not service.dispatcher.needs_this_process:
            click.echo(batch_id)
            return
        counts: dict[str, int] = {}
        for index, (number, job_id) in enumerate(jobs, start=1):
            try:
                job = service.follow(job_id)
            except KeyboardInterrupt:
                service.close()
                click.echo(f"\n! batch {batch_id} stopped; resume its jobs with: factory jobs resume ID", err=True)
                sys.exit(130)
            counts[job.status] = counts.get(job.status, 0) + 1
            where = ""
            if job.status == JobStatus.PUBLISHED and out_dir:
                where = " → " + str(service.export(job_id, "video", Path(out_dir) / f"{number:04d}-{job_id}.mp4"))
            reason = f": {job.error}" if job.error else ""
            click.echo(f"[{index}/{len(jobs)}] row {number} job {job_id} {job.status}{where}{reason}", err=True)
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    click.echo(f"{batch_id}: {summary or 'nothing to do'}", err=True)
    click.echo(batch_id)
    if counts.get(JobStatus.PUBLISHED, 0) != len(jobs) or len(jobs) != len(planned):
        sys.exit(1)


# --- jobs ----------------------------------------------------------------------------------


@cli.group()
def jobs() -> None:
    """List and inspect jobs."""


@jobs.command("list")
@click.option("--status", type=click.Choice(["queued", "running", "interrupted", "needs_review", "failed", "dead", "cancelled", "published"]), help="Only jobs with this status.")
@click.option("--batch", help="Only jobs of this batch.")
@click.option("--limit", default=20, show_default=True)
@click.pass_context
def jobs_list(ctx: click.Context, status: str | None, batch: str | None, limit: int) -> None:
    """The newest jobs: id, created, status, next stage, and the whole reason when there is one."""
    service = open_service(ctx)
    rows = service.list(limit=limit, status=status, batch=batch)
    if not rows:
        click.echo("no jobs")
        return
    for job in rows:
        where = job.next_stage or "-"
        click.echo(f"{job.id}  {job.created_at:%Y-%m-%d %H:%M}  {job.status:<12} next={where:<8}")
        if job.error:
            click.echo(f"    {job.error}")


@jobs.command("show")
@click.argument("job_id")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def jobs_show(ctx: click.Context, job_id: str, as_json: bool) -> None:
    """One job: plan, params, files, each stage's attempts and seconds, error or review reason."""
    service = open_service(ctx)
    try:
        job = service.get(job_id)
    except KeyError as exc:
        raise click.ClickException(str(exc.args[0])) from None
    if as_json:
        click.echo(json.dumps(service.describe(job.id), indent=2))
        return
    click.echo(f"job      {job.id}  ({job.status})")
    click.echo(f"plan     {' → '.join(job.plan)}   next: {job.next_stage or '-'}")
    click.echo(f"created  {job.created_at:%Y-%m-%d %H:%M:%S}" + (f" by {job.created_by}" if job.created_by else ""))
    if job.decided_by:
        click.echo(f"decided  by {job.decided_by}")
    if job.error:
        click.echo(f"error    {job.error}")
    if job.review:
        click.echo(f"review   {json.dumps(job.review, default=str)[:400]}")
    click.echo(f"params   {json.dumps(job.params)}")
    for name, aid in sorted(job.files.items()):
        click.echo(f"file     {name:<14} {service.artifacts.url(aid)}")
    report = (job.values.get("render") or {}).get("renderer_report")
    if report:   # the GPU renderer's seconds, time to first frame and peak memory
        click.echo(f"render   {json.dumps(report)}")
    for model in job.values.get("models", []):
        click.echo(f"model    {model_line(model)}")
    click.echo("stages")
    for r in service.runs(job.id):
        err = f"  {r.error.splitlines()[0]}" if r.error else ""
        click.echo(f"  {r.stage:<8} attempt {r.attempt}  {r.status:<7} {r.seconds or 0:7.2f} s{err}")
    for delivery in service.deliveries(job.id):
        last = delivery["attempts"][-1]["note"] if delivery["attempts"] else "not tried yet"
        click.echo(f"sent     {delivery['kind']} {delivery['event'] or ''} → {delivery['destination']}: "
                   f"{delivery['status']} after {len(delivery['attempts'])} attempt(s) ({last})")


def model_line(model: dict) -> str:
    """One model a job used, with its licence; a model not for commercial use says so loudly."""
    warning = "  NOT FOR COMMERCIAL USE" if model.get("commercial_use") is False else ""
    return f"{model.get('role', '?'):<8} {model.get('name', '?')}  licence: {model.get('licence', 'unknown')}{warning}"


def _request(ctx: click.Context, job_id: str, change: str, *args) -> None:
    """Ask the service for one of the lifecycle's requests; a refusal is a plain sentence."""
    from factory.lifecycle import TransitionRefused

    with open_service(ctx) as service:
        try:
            job = getattr(service, change)(job_id, *args, by=cli_user())
        except KeyError as exc:
            raise click.ClickException(str(exc.args[0])) from None
        except TransitionRefused as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"job {job.id}: {job.status}", err=True)
        if job.status not in ("queued", "running") or not service.dispatcher.needs_this_process:
            return
        # embedded: the stages run in this process, so follow the job until it stops
        _finish(service, _follow(service, job.id), None, False)


# The requests that take nothing but the job id: command name -> its help.
JOB_REQUESTS = {
    "approve": "Release a job held for review (it is then published, or runs on).",
    "cancel": "Stop a job that is queued, running, interrupted or waiting for review.",
    "resume": "Go on with an interrupted job at the stage it had reached.",
    "retry": "Run a failed or dead job again from the stage that stopped it.",
}


def _request_command(name: str, help_text: str) -> None:
    @jobs.command(name, help=help_text)
    @click.argument("job_id")
    @click.pass_context
    def command(ctx: click.Context, job_id: str) -> None:
        _request(ctx, job_id, name)


for _name, _help in JOB_REQUESTS.items():
    _request_command(_name, _help)


@jobs.command("reject")
@click.argument("job_id")
@click.option("--reason", required=True, help="Why: stored on the job.")
@click.pass_context
def jobs_reject(ctx: click.Context, job_id: str, reason: str) -> None:
    """Reject a job held for review."""
    _request(ctx, job_id, "reject", reason)


def cli_user() -> str:
    """Who is at the command line, as jobs record it."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name in a bare container
        return "cli"


# --- the outbox ----------------------------------------------------------------------------


@cli.group()
def outbox() -> None:
    """Webhooks, e-mails and uploads waiting to leave, and their delivery."""


@outbox.command("run")
@click.option("--interval", default=2.0, show_default=True, help="Seconds between looks for due messages.")
@click.pass_context
def outbox_run(ctx: click.Context, interval: float) -> None:
    """Deliver due messages until stopped (one per machine is plenty; several are safe)."""
    from factory.outbox import OutboxDrainer
    from factory.store import JobStore

    settings = load_settings(ctx)
    click.echo("delivering the outbox; Ctrl-C stops", err=True)
    try:
        OutboxDrainer(JobStore(settings.resolved_database_url), settings, interval).run()
    except KeyboardInterrupt:
        pass


@outbox.command("list")
@click.option("--status", type=click.Choice(["pending", "delivered", "dead"]), help="Only messages with this status.")
@click.option("--limit", default=20, show_default=True)
@click.pass_context
def outbox_list(ctx: click.Context, status: str | None, limit: int) -> None:
    """The newest messages: when, kind, job, where to, status, attempts, last error."""
    from sqlmodel import select

    from factory.outbox import OutboxMessage
    from factory.store import JobStore

    store = JobStore(load_settings(ctx).resolved_database_url)
    with store.session() as session:
        query = select(OutboxMessage).order_by(OutboxMessage.created_at.desc()).limit(limit)
        rows = list(session.exec(query.where(OutboxMessage.status == status) if status else query))
    if not rows:
        click.echo("nothing in the outbox")
    for m in rows:
        click.echo(f"{m.created_at:%Y-%m-%d %H:%M}  {m.kind:<14} job={m.job_id or '-':<12} {m.status:<9} "
                   f"tries={m.attempts}  → {m.destination}" + (f"\n    {m.last_error}" if m.last_error else ""))


# --- doctor --------------------------------------------------------------------------------


@cli.command()
@click.pass_context
def doctor(ctx: click.Context) -> None:
    """What is installed, which models were found, what is missing and how to get it."""
    from factory.doctor import run_checks

    settings = load_settings(ctx)
    problems = 0
    for check in run_checks(settings):
        mark = "✓" if check.ok else ("·" if check.optional else "✗")
        problems += 0 if (check.ok or check.optional) else 1
        click.echo(f"{mark} {check.name:<28} {check.detail}")
        if not check.ok and check.fix:
            click.echo(f"    → {check.fix}")
    if problems:
        sys.exit(1)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.pass_context
def api(ctx: click.Context, host: str, port: int) -> None:
    """Serve the HTTP API (submit jobs, follow them, download videos)."""
    import uvicorn

    from factory.api import create_app

    uvicorn.run(create_app(load_settings(ctx)), host=host, port=port)


# Native start-up chatter from MediaPipe / TensorFlow Lite that no setting turns off.
NATIVE_NOISE = (b"INFO: Created TensorFlow Lite", b"WARNING: All log messages before absl", b"W0000 ", b"I0000 ")


def filter_native_noise() -> None:
    """Route this process's stderr (fd 2) through a thread that drops ``NATIVE_NOISE`` lines.
    Works at the descriptor level because the chatter comes from C++ threads, not Python."""
    import os
    import threading

    if not hasattr(os, "pipe"):
        return
    real_stderr = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)

    def pump() -> None:
        pending = b""
        while chunk := os.read(read_end, 65536):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            kept = [line + b"\n" for line in lines if not line.startswith(NATIVE_NOISE)]
            if pending and b"\r" in pending and not pending.startswith(NATIVE_NOISE):
                kept.append(pending)  # a progress bar redraw: show it now
                pending = b""
            if kept:
                os.write(real_stderr, b"".join(kept))
        if pending:
            os.write(real_stderr, pending)

    threading.Thread(target=pump, name="stderr-filter", daemon=True).start()


def main() -> None:
    if os.environ.get("FACTORY_FILTER_NATIVE_LOGS", "1") != "0":
        filter_native_noise()
    try:
        cli(prog_name="factory")
    finally:
        sys.stderr.flush()
        time.sleep(0.05)  # let the filter thread pass on the last lines


if __name__ == "__main__":
    main()
