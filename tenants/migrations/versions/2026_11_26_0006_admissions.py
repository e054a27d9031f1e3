"""Admissions: every check-in and gate decision, accepted or refused.

Revision ID: t0006
Revises: t0005
Created: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from vistapass.tenants.migrations import tenant_schema

revision: str = "t0006"
down_revision: str | None = "t0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    schema = tenant_schema()
    op.create_table(
        "admissions",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column(
            "ticket_id", sa.Uuid(), sa.ForeignKey(f"{schema}.tickets.id", ondelete="CASCADE")
        ),
        sa.Column("direction", sa.String(5), nullable=False),
        sa.Column("code", sa.String(40), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("counted", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("device", sa.String(100), server_default="", nullable=False),
        sa.Column("zone", sa.String(60)),
        sa.Column("nonce", sa.String(100), unique=True),
        sa.Column("staff_user_id", sa.Uuid()),
        sa.Column("summary", postgresql.JSONB()),
        sa.CheckConstraint("direction IN ('entry', 'exit')", name="known_direction"),
        sa.CheckConstraint(
            "counted = false OR (ok AND direction = 'entry')", name="counted_is_entry"
        ),
        schema=schema,
    )
    op.create_index("ix_admissions_ticket_day", "admissions", ["ticket_id", "day"], schema=schema)
    op.create_index("ix_admissions_at", "admissions", ["at"], schema=schema)


def downgrade() -> None:
    op.drop_table("admissions", schema=tenant_schema())
