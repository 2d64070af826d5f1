"""Alembic migrations for the job store, run automatically when a store is opened.

To add a migration: change ``factory/store.py``, then write the next file in ``versions/`` by
hand (see ``0001_initial.py``), or generate one from Python with
``alembic.command.revision(alembic_config(url), message="...", autogenerate=True)``, which
compares the database at ``url`` against ``SQLModel.metadata``.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import Engine

HERE = Path(__file__).parent


def alembic_config(url: str | None = None):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(HERE))
    if url:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database up to ``revision`` (idempotent; safe from several processes on
    PostgreSQL thanks to an advisory lock)."""
    from alembic import command

    config = alembic_config()
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Workers starting together must not race to create the same tables.
            connection.exec_driver_sql("SELECT pg_advisory_xact_lock(727274)")
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
