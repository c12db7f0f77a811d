"""four-factor verification requests

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "four_factor_requests",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("requester", sa.String(length=128), nullable=False),
        sa.Column("chat_id", sa.String(length=128), nullable=False),
        sa.Column("entname", sa.String(length=255), nullable=False),
        sa.Column("entmark", sa.String(length=32), nullable=False),
        sa.Column("realname", sa.String(length=64), nullable=True),
        sa.Column("idcard", sa.String(length=32), nullable=True),
        sa.Column("masked_name", sa.String(length=64), nullable=False),
        sa.Column("masked_idcard", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("message_ids", sa.JSON(), nullable=False),
        sa.Column("outcome", sa.JSON(), nullable=True),
        sa.Column("decided_by", sa.String(length=128), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("four_factor_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_four_factor_requests_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_four_factor_requests_status"), ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("four_factor_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_four_factor_requests_status"))
        batch_op.drop_index(batch_op.f("ix_four_factor_requests_created_at"))
    op.drop_table("four_factor_requests")
