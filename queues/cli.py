"""``factory worker`` and ``factory status`` (mounted lazily by ``factory.cli``).

Also runnable without the console script: ``python -m queues.cli worker --stage render``.
"""

from __future__ import annotations

import json

import click


def _settings(ctx: click.Context):
    from factory.cli import load_settings

    return load_settings(ctx)


@click.command()
@click.option("--stage", "stages", multiple=True, required=True, help="Stage(s) to serve, e.g. --stage render (repeatable).")
@click.option("--gpu", help="GPU index for this worker's stage processes (sets CUDA_VISIBLE_DEVICES). One render worker per GPU.")
@click.option("--concurrency", type=click.IntRange(1, 64), default=1, show_default=True, help="Stages run at once (one process each).")
@click.option("--grace", "grace_seconds", type=float, default=30.0, show_default=True, help="On SIGTERM: seconds to let running stages finish before requeueing them.")
@click.option("--id", "worker_id", default="", help="Worker id shown by `factory status` (default host:pid:stages).")
@click.pass_context
def worker(ctx: click.Context, stages: tuple[str, ...], gpu: str | None, concurrency: int, grace_seconds: float, worker_id: str) -> None:
    """Serve stage messages from RabbitMQ (distributed mode) until SIGTERM."""
    import logging

    from queues.worker import Worker, WorkerOptions

    settings = _settings(ctx)
    if not settings.amqp_url:
        raise click.ClickException("FACTORY_AMQP_URL is not set: workers need a broker (and FACTORY_DATABASE_URL, FACTORY_STORE_URL).")
    logging.getLogger("queues").setLevel(logging.INFO)
    logging.getLogger("pika").setLevel(logging.CRITICAL)  # our own line says when the broker is gone
    try:
        w = Worker(settings, WorkerOptions(stages=list(stages), gpu=gpu, concurrency=concurrency, grace_seconds=grace_seconds, worker_id=worker_id))
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"worker {w.id}: serving {', '.join(stages)} (concurrency {concurrency}{f', GPU {gpu}' if gpu else ''})", err=True)
    stats = w.run()
    click.echo(f"worker {w.id} stopped: {stats.handled} messages, {stats.retried} retried, {stats.dead} dead, {stats.timeouts} over time limit", err=True)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Queue depths, workers alive and jobs stuck past their stage time limit."""
    import logging

    from queues.status import collect_status, format_status

    logging.getLogger("pika").setLevel(logging.ERROR)  # a missing queue is normal here, not a warning
    settings = _settings(ctx)
    if not settings.amqp_url and not as_json:
        click.echo("embedded mode (no FACTORY_AMQP_URL): stages run inside `factory make`; no queues or workers.")
    report = collect_status(settings)
    click.echo(json.dumps(report.as_dict(), indent=2) if as_json else format_status(report))


@click.group()
@click.pass_context
def main(ctx: click.Context) -> None:
    ctx.obj = {"config": None}


main.add_command(worker)
main.add_command(status)

if __name__ == "__main__":
    main()
