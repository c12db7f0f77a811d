"""企业核验 requests remember whether they were made in the requester's private chat (handlers/four_factors/state.py)

Revision ID: four_factors_0001
Revises: adjust_records_0001
Create Date: 2026-12-03 12:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "four_factors_0001"
down_revision = "adjust_records_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("four_factors_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("private", sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("four_factors_requests", schema=None) as batch_op:
        batch_op.drop_column("private")
