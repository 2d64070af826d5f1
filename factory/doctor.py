"""``factory doctor``: what is installed, which models were found, what is missing and how to
get it. Each check is cheap (it finds files and imports modules; it loads no model). The
factory's own checks are here; each stage declares its own (``Stage.doctor``)."""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from factory.settings import Settings


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    optional: bool = False


def installed_version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def package_file(module: str, *parts: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]).joinpath(*parts)
    return path if path.exists() else None


def check_python(settings: Settings) -> Check:
    ok = sys.version_info >= (3, 11)
    return Check("python", ok, sys.version.split()[0], "install Python 3.11 or newer")


def check_ffmpeg(settings: Settings) -> Check:
    try:
        from factory.media import ffmpeg_exe

        return Check("ffmpeg (imageio-ffmpeg)", True, ffmpeg_exe())
    except Exception as exc:  # noqa: BLE001 — any failure here is the answer
        return Check("ffmpeg (imageio-ffmpeg)", False, str(exc), "pip install imageio-ffmpeg==0.8.1")


def check_database(settings: Settings) -> Check:
    try:
        from sqlalchemy import text

        from factory.store import JobStore

        if not settings.database_url:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        store = JobStore(settings.resolved_database_url, migrate=False)
        with store.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return Check("job store", True, store.engine.url.render_as_string(hide_password=True))
    except Exception as exc:  # noqa: BLE001
        return Check("job store", False, str(exc).splitlines()[0], "check FACTORY_DATABASE_URL and that the server is running")


def check_broker(settings: Settings) -> Check:
    if not settings.amqp_url:
        return Check("broker (RabbitMQ)", True, "not used: stages run in process (embedded mode)")
    try:
        import pika

        pika.BlockingConnection(pika.URLParameters(settings.amqp_url)).close()
        return Check("broker (RabbitMQ)", True, settings.amqp_url.split("@")[-1])
    except Exception as exc:  # noqa: BLE001
        return Check("broker (RabbitMQ)", False, f"{type(exc).__name__}: {exc}", "check FACTORY_AMQP_URL and that RabbitMQ is running")


CHECKS: list[Callable[[Settings], Check]] = [check_python, check_ffmpeg, check_database, check_broker]
"""The factory's own checks; each stage adds its own (``Stage.doctor``)."""


def run_checks(settings: Settings) -> list[Check]:
    from factory.stages import STAGE_MODULES, get_stage

    checks = [check(settings) for check in CHECKS]
    for name in STAGE_MODULES:
        try:
            stage = get_stage(name)
        except ImportError as exc:  # an optional stage package that is not installed
            checks.append(Check(f"{name} stage", False, f"not installed ({exc})", optional=True))
            continue
        if stage.doctor is not None:
            checks.extend(stage.doctor(settings))
    return checks
