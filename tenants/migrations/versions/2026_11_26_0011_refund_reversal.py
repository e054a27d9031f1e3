"""Payments of kind `reversal`: a refund the provider reported and then could not pay.

A wallet refund (WeChat Pay, Alipay) can be `pending` for a while and then fail;
the money stays with the park. The pending refund was recorded when Stripe first
reported it; its reversal is a payment of its own, so both days' books keep what
each day was told.

Revision ID: t0011
Revises: t0010
Created: 2026-11-26
"""

from collections.abc import Sequence

from alembic import op

from vistapass.tenants.migrations import tenant_schema

revision: str = "t0011"
down_revision: str | None = "t0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _replace_kind_check(kinds: str) -> None:
    q = f'"{tenant_schema()}"'
    # The check's name depends on the naming convention in force when t0005 ran.
    op.execute(
        f"""
        DO $$
        DECLARE found text;
        BEGIN
            FOR found IN SELECT conname FROM pg_constraint
                          WHERE conrelid = '{q}.payments'::regclass AND contype = 'c'
                            AND pg_get_constraintdef(oid) LIKE '%kind%'
            LOOP
                EXECUTE format('ALTER TABLE {q}.payments DROP CONSTRAINT %I', found);
            END LOOP;
        END $$
        """
    )
    op.execute(
        f"ALTER TABLE {q}.payments ADD CONSTRAINT ck_payments_known_kind CHECK (kind IN ({kinds}))"
    )


def upgrade() -> None:
    _replace_kind_check("'charge', 'refund', 'reversal'")


def downgrade() -> None:
    op.execute(f"DELETE FROM \"{tenant_schema()}\".payments WHERE kind = 'reversal'")
    _replace_kind_check("'charge', 'refund'")
