"""A card or wristband bound to a ticket, for gates that read cards (ZKTeco terminals).

One card belongs to at most one ticket of a park at a time: binding it to another
ticket takes it off the first (a wristband is handed out again the next day).
Edges get it with the ticket and put it on their ZKTeco terminals' user lists.

Revision ID: t0009
Revises: t0008
Created: 2026-11-26
"""

from collections.abc import Sequence

from alembic import op

from vistapass.tenants.migrations import tenant_schema

revision: str = "t0009"
down_revision: str | None = "t0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    q = f'"{tenant_schema()}"'
    op.execute(f"ALTER TABLE {q}.tickets ADD COLUMN card varchar(20)")
    op.execute(f"CREATE UNIQUE INDEX uq_tickets_card ON {q}.tickets (card) WHERE card IS NOT NULL")


def downgrade() -> None:
    q = f'"{tenant_schema()}"'
    op.execute(f"DROP INDEX IF EXISTS {q}.uq_tickets_card")
    op.execute(f"ALTER TABLE {q}.tickets DROP COLUMN IF EXISTS card")
