"""Joins the identity (0003) and schedules (0004) branches, both built on 0002.

Revision ID: 0005
Revises: 0003, 0004
Create Date: 2026-12-07
"""

revision = "0005"
down_revision = ("0003", "0004")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
