"""One name per feature: four_factors_requests; 个人社保's flows move to the core's dialog state

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 15:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

FLOW_DATA = ("area_code", "area_name", "login_type", "tid", "last_code")


def upgrade() -> None:
    with op.batch_alter_table("four_factor_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_four_factor_requests_status")
        batch_op.drop_index("ix_four_factor_requests_created_at")
    op.rename_table("four_factor_requests", "four_factors_requests")
    with op.batch_alter_table("four_factors_requests", schema=None) as batch_op:
        batch_op.create_index("ix_four_factors_requests_created_at", ["created_at"], unique=False)
        batch_op.create_index("ix_four_factors_requests_status", ["status"], unique=False)

    dialogs = op.create_table(
        "dialogs",
        sa.Column("feature", sa.String(length=64), nullable=False),
        sa.Column("user", sa.String(length=128), nullable=False),
        sa.Column("chat_id", sa.String(length=128), nullable=False),
        sa.Column("message_id", sa.String(length=128), nullable=True),
        sa.Column("step", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("feature", "user"),
    )
    with op.batch_alter_table("dialogs", schema=None) as batch_op:
        batch_op.create_index("ix_dialogs_expires_at", ["expires_at"], unique=False)
        batch_op.create_index("ix_dialogs_step", ["step"], unique=False)

    flows = sa.table(
        "personal_flows",
        *(sa.column(name) for name in ("user", "chat_id", "message_id", "state", "version", *FLOW_DATA)),
        sa.column("updated_at", sa.DateTime(timezone=True)),
        sa.column("expires_at", sa.DateTime(timezone=True)),
    )
    rows = op.get_bind().execute(sa.select(flows)).mappings().all()
    if rows:
        op.bulk_insert(
            dialogs,
            [
                {
                    "feature": "personal_social",
                    "user": row["user"],
                    "chat_id": row["chat_id"],
                    "message_id": row["message_id"],
                    "step": row["state"],
                    "version": row["version"],
                    "data": {name: row[name] for name in FLOW_DATA},
                    "updated_at": row["updated_at"],
                    "expires_at": row["expires_at"],
                }
                for row in rows
            ],
        )
    with op.batch_alter_table("personal_flows", schema=None) as batch_op:
        batch_op.drop_index("ix_personal_flows_state")
        batch_op.drop_index("ix_personal_flows_expires_at")
    op.drop_table("personal_flows")


def downgrade() -> None:
    raise NotImplementedError("the dialog state of every feature cannot be split back into personal_flows")
