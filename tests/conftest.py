"""Shared fixtures. Services are real: PostgreSQL on 127.0.0.1:5432 and RabbitMQ on :5672.
Under CI=true a missing service is a failure, never a skip."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
# Piper without its sampling noise: the same text gives the same audio in every run and every
# stage process, so no test's verdict (e.g. Whisper hearing "API" as "ATI") depends on a draw.
os.environ.setdefault("FACTORY_TTS_SAMPLING_NOISE", "false")
PG_ADMIN_URL = os.environ.get("FACTORY_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def service_missing(message: str) -> None:
    """Fail under CI, skip on a developer's machine without the service."""
    if IN_CI:
        pytest.fail(f"{message} (CI=true: services are required)")
    pytest.skip(message)


@pytest.fixture
def settings(tmp_path: Path):
    from factory.settings import Settings

    return Settings.load(data_dir=tmp_path / "data", publish_dir=tmp_path / "published")


@pytest.fixture(scope="session")
def portrait_path(tmp_path_factory) -> Path:
    """A real photo of a real person: skimage's astronaut (NASA, public domain), 512×512."""
    import skimage.data

    from factory.media import save_image

    path = tmp_path_factory.mktemp("portrait") / "astronaut.png"
    save_image(path, skimage.data.astronaut())
    return path


@pytest.fixture(scope="session")
def postgres_url():
    """A fresh, empty PostgreSQL database for this test session, dropped afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import OperationalError

    name = f"factory_test_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        service_missing(f"PostgreSQL is not reachable at {PG_ADMIN_URL}: {exc.orig}")
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    yield url
    with admin.connect() as conn:
        conn.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


# RabbitMQ, S3 (moto server) and distributed-mode fixtures live in their own module.
from conftest_services import amqp_url, distributed, queue_prefix, s3_endpoint  # noqa: E402,F401
