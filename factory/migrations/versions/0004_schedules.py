"""Schedules, their runs and the source items they made; product batches; publications.

Revision ID: 0004
Revises: 0002
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "schedules",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(120), nullable=False, unique=True),
        sa.Column("cron", sa.String(120), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("source_kind", sa.String(16), nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("template", sa.String(16), nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("avatar", sa.Text, nullable=False),
        sa.Column("voice", sa.Text),
        sa.Column("render_params", sa.JSON, nullable=False),
        sa.Column("target_seconds", sa.Float),
        sa.Column("review", sa.String(16), nullable=False),
        sa.Column("publish_targets", sa.JSON, nullable=False),
        sa.Column("notify_email", sa.Text),
        sa.Column("owner", sa.String(128)),
        sa.Column("max_items_per_run", sa.Integer, nullable=False),
        sa.Column("paused", sa.Boolean, nullable=False),
        sa.Column("next_run_at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("retry_at", sa.DateTime(timezone=True)),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("last_run_at", sa.DateTime(timezone=True)),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "schedule_runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("schedule_id", sa.String(32), nullable=False, index=True),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True)),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("items_seen", sa.Integer, nullable=False),
        sa.Column("jobs", sa.JSON, nullable=False),
        sa.Column("problems", sa.JSON, nullable=False),
        sa.Column("batch", sa.String(64), nullable=False, index=True),
    )
    op.create_table(
        "schedule_items",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("schedule_id", sa.String(32), nullable=False, index=True),
        sa.Column("item_key", sa.String(512), nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("run_id", sa.Integer),
        sa.Column("job_id", sa.String(32)),
        sa.Column("error", sa.Text),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        # The rule "an item is made once", kept by the database whichever scheduler tries.
        sa.UniqueConstraint("schedule_id", "item_key", name="uq_schedule_items_key"),
    )
    op.create_table(
        "batches",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("file_name", sa.Text, nullable=False),
        sa.Column("submitted_by", sa.String(128)),
        sa.Column("notify_email", sa.Text),
        sa.Column("rows", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "publications",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("job_id", sa.String(32), nullable=False, index=True),
        sa.Column("target", sa.String(64), nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("job_id", "target", name="uq_publications_job_target"),
    )


def downgrade() -> None:
    for table in ("publications", "batches", "schedule_items", "schedule_runs", "schedules"):
        op.drop_table(table)
