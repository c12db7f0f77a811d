"""ledger of billed provider calls, circuit breakers, warnings sent

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ledger_calls",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("api", sa.String(length=64), nullable=False),
        sa.Column("feature", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=128), nullable=False),
        sa.Column("chat_id", sa.String(length=128), nullable=False),
        sa.Column("price", sa.Numeric(precision=12, scale=4, asdecimal=False), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("error", sa.String(length=64), nullable=True),
        sa.Column("ref", sa.String(length=128), nullable=True),
        sa.Column("latency_ms", sa.Integer(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_ledger_calls_started_at", "ledger_calls", ["started_at"])
    op.create_index("ix_ledger_calls_user_id_started_at", "ledger_calls", ["user_id", "started_at"])
    op.create_index("ix_ledger_calls_chat_id_started_at", "ledger_calls", ["chat_id", "started_at"])
    op.create_index("ix_ledger_calls_provider_ref", "ledger_calls", ["provider", "ref"])
    op.create_table(
        "ledger_breakers",
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("open_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("provider"),
    )
    op.create_table(
        "ledger_notices",
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )


def downgrade() -> None:
    op.drop_table("ledger_notices")
    op.drop_table("ledger_breakers")
    op.drop_index("ix_ledger_calls_provider_ref", table_name="ledger_calls")
    op.drop_index("ix_ledger_calls_chat_id_started_at", table_name="ledger_calls")
    op.drop_index("ix_ledger_calls_user_id_started_at", table_name="ledger_calls")
    op.drop_index("ix_ledger_calls_started_at", table_name="ledger_calls")
    op.drop_table("ledger_calls")
