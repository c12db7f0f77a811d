"""durable inbox: an event's progress on its dedup row, replica heartbeats, lease generations, billed calls by event

Revision ID: 0008_durable_inbox
Revises: 0007
Create Date: 2026-12-03 08:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_durable_inbox"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("processed_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("state", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("owner", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("generation", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("payload", sa.LargeBinary(), nullable=True))
        batch_op.create_index("ix_processed_events_state", ["state"], unique=False)
    with op.batch_alter_table("leases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("generation", sa.Integer(), server_default="0", nullable=False))
    with op.batch_alter_table("ledger_calls", schema=None) as batch_op:
        batch_op.add_column(sa.Column("event_key", sa.String(length=160), nullable=True))
        batch_op.create_index("ix_ledger_calls_event_key", ["event_key"], unique=True)
    op.create_table(
        "replicas",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("replicas")
    with op.batch_alter_table("ledger_calls", schema=None) as batch_op:
        batch_op.drop_index("ix_ledger_calls_event_key")
        batch_op.drop_column("event_key")
    with op.batch_alter_table("leases", schema=None) as batch_op:
        batch_op.drop_column("generation")
    with op.batch_alter_table("processed_events", schema=None) as batch_op:
        batch_op.drop_index("ix_processed_events_state")
        batch_op.drop_column("payload")
        batch_op.drop_column("generation")
        batch_op.drop_column("owner")
        batch_op.drop_column("state")
