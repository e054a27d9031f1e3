"""Audit log (hash-chained, append-only for the park's role) and park branding.

Revision ID: t0003
Revises: t0002
Created: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from vistapass.tenants.migrations import tenant_schema

revision: str = "t0003"
down_revision: str | None = "t0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Uuid()),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("ip", sa.String(45)),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("before", postgresql.JSONB()),
        sa.Column("after", postgresql.JSONB()),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
        schema=tenant_schema(),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"], schema=tenant_schema())
    op.create_index("ix_audit_log_action", "audit_log", ["action"], schema=tenant_schema())
    op.add_column("park_profile", sa.Column("logo_key", sa.Text()), schema=tenant_schema())
    op.add_column(
        "park_profile",
        sa.Column("brand_primary", sa.String(7), server_default="#1f6f43", nullable=False),
        schema=tenant_schema(),
    )
    op.add_column(
        "park_profile",
        sa.Column("brand_accent", sa.String(7), server_default="#b35c00", nullable=False),
        schema=tenant_schema(),
    )
    op.add_column(
        "park_profile",
        sa.Column(
            "languages",
            postgresql.ARRAY(sa.String(10)),
            server_default=sa.text("ARRAY['zh-CN', 'en']::varchar[]"),
            nullable=False,
        ),
        schema=tenant_schema(),
    )
    for column in ("contact_phone", "contact_email", "contact_address"):
        op.add_column("park_profile", sa.Column(column, sa.Text()), schema=tenant_schema())


def downgrade() -> None:
    for column in (
        "contact_address", "contact_email", "contact_phone", "languages", "brand_accent",
        "brand_primary", "logo_key",
    ):  # fmt: skip
        op.drop_column("park_profile", column, schema=tenant_schema())
    op.drop_table("audit_log", schema=tenant_schema())
