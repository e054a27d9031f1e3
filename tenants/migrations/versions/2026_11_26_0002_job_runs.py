"""Job runs: the ids of background jobs already done in this park (idempotent actors).

Revision ID: t0002
Revises: t0001
Created: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from vistapass.tenants.migrations import tenant_schema

revision: str = "t0002"
down_revision: str | None = "t0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "job_runs",
        sa.Column("message_id", sa.String(64), nullable=False),
        sa.Column("actor_name", sa.String(100), nullable=False),
        sa.Column(
            "finished_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("message_id", name="pk_job_runs"),
        schema=tenant_schema(),
    )


def downgrade() -> None:
    op.drop_table("job_runs", schema=tenant_schema())
