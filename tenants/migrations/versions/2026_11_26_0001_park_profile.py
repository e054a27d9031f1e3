"""Park profile: the park's display name, time zone, currency and default language.

Revision ID: t0001
Revises:
Created: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from vistapass.tenants.migrations import tenant_schema

revision: str = "t0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "park_profile",
        sa.Column("id", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("display_name", sa.Text(), nullable=False),
        sa.Column("time_zone", sa.String(64), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("default_locale", sa.String(10), nullable=False),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint("id = 1", name="ck_park_profile_single_row"),
        sa.PrimaryKeyConstraint("id", name="pk_park_profile"),
        schema=tenant_schema(),
    )


def downgrade() -> None:
    op.drop_table("park_profile", schema=tenant_schema())
