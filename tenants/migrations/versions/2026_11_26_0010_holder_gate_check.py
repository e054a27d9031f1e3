"""A named ticket holder's check for the gates: salt and scrypt of the ID number.

Edges compare an ID card presented with a named ticket against it offline
(`tenants/visitors/gate_check.py`). Holders sold before this revision have none;
their tickets are compared by staff, as before.

Revision ID: t0010
Revises: t0009
Created: 2026-11-26
"""

from collections.abc import Sequence

from alembic import op

from vistapass.tenants.migrations import tenant_schema

revision: str = "t0010"
down_revision: str | None = "t0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(f'ALTER TABLE "{tenant_schema()}".ticket_holders ADD COLUMN gate_check bytea')


def downgrade() -> None:
    op.execute(f'ALTER TABLE "{tenant_schema()}".ticket_holders DROP COLUMN IF EXISTS gate_check')
