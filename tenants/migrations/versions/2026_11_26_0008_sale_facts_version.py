"""A version number for what an order is priced from, bumped by every change to it.

The order path keeps, per process, the product, its units, the calendar and the
park's currency and hold time it priced with, and writes an order only if the
version it priced at is still the current one (read in the order's own
transaction). Triggers bump the version, so no code that changes a product, a
price, a calendar day or a pool can forget to.

Revision ID: t0008
Revises: t0007
Created: 2026-11-26
"""

from collections.abc import Sequence

from alembic import op

from vistapass.tenants.migrations import tenant_schema

revision: str = "t0008"
down_revision: str | None = "t0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Everything `tenants.catalog.quote.load_quote_inputs` and the capacity needs read.
PRICED_FROM = (
    "products",
    "product_units",
    "pricing_modes",
    "opening_hours",
    "calendar_days",
    "park_profile",
    "capacity_pools",
)


def upgrade() -> None:
    q = f'"{tenant_schema()}"'
    op.execute(
        f"CREATE TABLE {q}.sale_facts (id smallint PRIMARY KEY CHECK (id = 1), "
        "version bigint NOT NULL)"
    )
    op.execute(f"INSERT INTO {q}.sale_facts (id, version) VALUES (1, 1)")
    op.execute(
        f"""
        CREATE FUNCTION {q}.bump_sale_facts() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE {q}.sale_facts SET version = version + 1 WHERE id = 1;
            RETURN NULL;
        END $$
        """
    )
    for table in PRICED_FROM:
        op.execute(
            f"CREATE TRIGGER bump_sale_facts AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
            f"ON {q}.{table} FOR EACH STATEMENT EXECUTE FUNCTION {q}.bump_sale_facts()"
        )


def downgrade() -> None:
    q = f'"{tenant_schema()}"'
    for table in PRICED_FROM:
        op.execute(f"DROP TRIGGER IF EXISTS bump_sale_facts ON {q}.{table}")
    op.execute(f"DROP FUNCTION IF EXISTS {q}.bump_sale_facts()")
    op.execute(f"DROP TABLE IF EXISTS {q}.sale_facts")
