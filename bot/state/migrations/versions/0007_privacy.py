"""privacy: who the audit rows are about, where shown, how many people; consents per notice version

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_records", schema=None) as batch_op:
        batch_op.add_column(sa.Column("subject_id", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("place", sa.String(length=160), nullable=True))
        batch_op.add_column(sa.Column("people", sa.Integer(), nullable=True))
        batch_op.create_index("ix_audit_records_at", ["at"], unique=False)
        batch_op.create_index("ix_audit_records_subject_id", ["subject_id"], unique=False)
    op.create_table(
        "consents",
        sa.Column("user", sa.String(length=128), nullable=False),
        sa.Column("notice", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("agreed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("user", "notice", "version"),
    )
    with op.batch_alter_table("consents", schema=None) as batch_op:
        batch_op.create_index("ix_consents_withdrawn_at", ["withdrawn_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("consents", schema=None) as batch_op:
        batch_op.drop_index("ix_consents_withdrawn_at")
    op.drop_table("consents")
    with op.batch_alter_table("audit_records", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_records_subject_id")
        batch_op.drop_index("ix_audit_records_at")
        batch_op.drop_column("people")
        batch_op.drop_column("place")
        batch_op.drop_column("subject_id")
