"""The outbox (everything that leaves the system) and who made or decided each job.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as jobs:
        jobs.add_column(sa.Column("created_by", sa.String(128)))
        jobs.add_column(sa.Column("decided_by", sa.String(128)))
        jobs.add_column(sa.Column("callback_url", sa.String(2000)))
        jobs.add_column(sa.Column("token_id", sa.String(32)))
    op.create_table(
        "outbox",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("destination", sa.String(2000), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("job_id", sa.String(32), index=True),
        sa.Column("dedupe_key", sa.String(255), unique=True),
        sa.Column("secret_ref", sa.String(128)),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("lease_until", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True)),
        sa.Column("last_error", sa.Text),
    )
    op.create_table(
        "outbox_attempts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("message_id", sa.String(32), sa.ForeignKey("outbox.id"), nullable=False, index=True),
        sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ok", sa.Boolean, nullable=False),
        sa.Column("note", sa.Text),
        sa.Column("seconds", sa.Float),
    )


def downgrade() -> None:
    op.drop_table("outbox_attempts")
    op.drop_table("outbox")
    with op.batch_alter_table("jobs") as jobs:
        for column in ("token_id", "callback_url", "decided_by", "created_by"):
            jobs.drop_column(column)
