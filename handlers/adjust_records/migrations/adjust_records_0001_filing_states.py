"""增减员 filing states (handlers/adjust_records/filing_state.py)

Revision ID: adjust_records_0001
Revises: 0008_durable_inbox
Create Date: 2026-12-03 08:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "adjust_records_0001"
down_revision = "0008_durable_inbox"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "adjust_filing_states",
        sa.Column("record_key", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("fingerprint", sa.String(length=32), nullable=False),
        sa.Column("by", sa.String(length=128), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("prev_state", sa.String(length=16), nullable=True),
        sa.Column("prev_by", sa.String(length=128), nullable=True),
        sa.Column("prev_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("prev_reason", sa.String(length=200), nullable=True),
        sa.Column("synced", sa.String(length=16), nullable=True),
        sa.PrimaryKeyConstraint("record_key"),
    )


def downgrade() -> None:
    op.drop_table("adjust_filing_states")
