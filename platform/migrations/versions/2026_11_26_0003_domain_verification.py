"""Custom domains are verified with a token the operator publishes on the domain.

Revision ID: 0003
Revises: 0002
Created: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("tenant_domains", sa.Column("verification_token", sa.String(64)))
    op.add_column("tenant_domains", sa.Column("verified_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    op.drop_column("tenant_domains", "verified_at")
    op.drop_column("tenant_domains", "verification_token")
