"""Alembic environment: uses the connection handed over by ``factory.migrations.upgrade``,
or ``sqlalchemy.url`` / ``$FACTORY_DATABASE_URL`` when run from the alembic command line."""

from alembic import context
from sqlalchemy import create_engine

import factory.store  # noqa: F401  (registers the tables on SQLModel.metadata)
from sqlmodel import SQLModel

config = context.config
target_metadata = SQLModel.metadata


def run_with(connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    run_with(connection)
else:
    from factory.settings import Settings

    url = config.get_main_option("sqlalchemy.url") or Settings.load().resolved_database_url
    with create_engine(url).connect() as conn:
        run_with(conn)
        conn.commit()
