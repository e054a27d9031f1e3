"""Selling: capacity, orders, holds, tickets, real-name holders, keys, payments, ledger.

Revision ID: t0005
Revises: t0004
Created: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from vistapass.tenants.migrations import tenant_schema

revision: str = "t0005"
down_revision: str | None = "t0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _now(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False)


def _uuid_pk() -> sa.Column:
    return sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), primary_key=True)


def _order_fk(schema: str, ondelete: str | None = "CASCADE") -> sa.Column:
    return sa.Column(
        "order_id",
        sa.Uuid(),
        sa.ForeignKey(f"{schema}.orders.id", ondelete=ondelete),
        nullable=False,
        index=True,
    )


def upgrade() -> None:
    schema = tenant_schema()
    op.add_column(
        "products",
        sa.Column("number", sa.Integer(), sa.Identity(), nullable=False),
        schema=schema,
    )
    op.create_unique_constraint("uq_products_number", "products", ["number"], schema=schema)
    op.add_column("products", sa.Column("daily_capacity", sa.Integer()), schema=schema)
    op.add_column(
        "products",
        sa.Column(
            "pool_codes",
            postgresql.ARRAY(sa.String(40)),
            server_default=sa.text("'{}'::varchar[]"),
            nullable=False,
        ),
        schema=schema,
    )
    op.add_column(
        "products",
        sa.Column("id_limit_per_day", sa.SmallInteger(), server_default="1", nullable=False),
        schema=schema,
    )
    op.add_column(
        "products",
        sa.Column("flash_sale", sa.Boolean(), server_default=sa.false(), nullable=False),
        schema=schema,
    )
    op.add_column(
        "park_profile",
        sa.Column("hold_minutes", sa.SmallInteger(), server_default="15", nullable=False),
        schema=schema,
    )
    op.add_column("park_profile", sa.Column("stripe_account_id", sa.Text()), schema=schema)

    op.create_table(
        "capacity_pools",
        sa.Column("code", sa.String(40), primary_key=True),
        sa.Column("name_zh", sa.Text(), nullable=False),
        sa.Column("name_en", sa.Text(), nullable=False),
        sa.Column("daily_capacity", sa.Integer(), nullable=False),
        schema=schema,
    )
    op.create_table(
        "inventory_buckets",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("scope", sa.String(80), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("slot", sa.String(20), server_default="", nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("taken", sa.Integer(), server_default="0", nullable=False),
        sa.UniqueConstraint("scope", "day", "slot", name="uq_inventory_buckets_scope_day_slot"),
        sa.CheckConstraint("taken >= 0", name="taken_not_negative"),
        sa.CheckConstraint("capacity >= 0", name="capacity_not_negative"),
        schema=schema,
    )
    op.create_table(
        "orders",
        _uuid_pk(),
        sa.Column("code", sa.String(16), nullable=False, unique=True),
        sa.Column("access_token", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(40), nullable=False),
        sa.Column("status", sa.String(20), server_default="pending", nullable=False, index=True),
        sa.Column(
            "product_id",
            sa.Uuid(),
            sa.ForeignKey(f"{schema}.products.id"),
            nullable=False,
            index=True,
        ),
        sa.Column("product_code", sa.String(60), nullable=False),
        sa.Column("visit_date", sa.Date(), nullable=False),
        sa.Column("slot", sa.String(20)),
        sa.Column("places", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("subtotal", sa.BigInteger(), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("refunded_amount", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("quote", postgresql.JSONB(), nullable=False),
        sa.Column("contact_name", sa.Text(), server_default="", nullable=False),
        sa.Column("contact_email", sa.Text(), server_default="", nullable=False),
        sa.Column("contact_phone", sa.Text(), server_default="", nullable=False),
        sa.Column("locale", sa.String(10), server_default="zh-CN", nullable=False),
        sa.Column("provider", sa.String(30), nullable=False),
        sa.Column("provider_ref", sa.Text(), index=True),
        sa.Column("sold_by", sa.Uuid()),
        sa.Column("expires_at", sa.DateTime(timezone=True)),
        sa.Column("paid_at", sa.DateTime(timezone=True)),
        sa.Column("closed_at", sa.DateTime(timezone=True)),
        sa.Column("note", sa.Text(), server_default="", nullable=False),
        _now("created_at"),
        _now("updated_at"),
        sa.CheckConstraint(
            "status IN ('pending', 'paid', 'partially_refunded', 'refunded', 'expired', "
            "'cancelled')",
            name="known_status",
        ),
        sa.CheckConstraint("refunded_amount >= 0 AND refunded_amount <= total", name="refund_le"),
        sa.CheckConstraint("total >= 0", name="total_not_negative"),
        schema=schema,
    )
    op.create_table(
        "order_lines",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        _order_fk(schema),
        sa.Column("unit", sa.String(20), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("base_price", sa.BigInteger(), nullable=False),
        sa.Column("unit_price", sa.BigInteger(), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column(
            "adjustments", postgresql.JSONB(), server_default=sa.text("'[]'::jsonb"), nullable=False
        ),
        schema=schema,
    )
    op.create_table(
        "order_holds",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        _order_fk(schema),
        sa.Column(
            "bucket_id",
            sa.BigInteger(),
            sa.ForeignKey(f"{schema}.inventory_buckets.id"),
            nullable=False,
            index=True,
        ),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True)),
        sa.Column("released_at", sa.DateTime(timezone=True)),
        schema=schema,
    )
    # Finding a bucket's expired, unreleased holds is what a sold-out retry does.
    op.create_index(
        "ix_order_holds_live",
        "order_holds",
        ["bucket_id", "expires_at"],
        schema=schema,
        postgresql_where=sa.text("released_at IS NULL AND expires_at IS NOT NULL"),
    )
    op.create_table(
        "ticket_holders",
        _uuid_pk(),
        sa.Column("document_type", sa.String(20), nullable=False),
        sa.Column("document_hash", sa.LargeBinary(), nullable=False, index=True),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("data_key_id", sa.Integer(), nullable=False),
        _now("created_at"),
        schema=schema,
    )
    op.create_table(
        "tickets",
        _uuid_pk(),
        _order_fk(schema),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.Column("unit", sa.String(20), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.Column("refunded_amount", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=False),
        sa.Column("slot", sa.String(20)),
        sa.Column("entitlement", postgresql.JSONB(), nullable=False),
        sa.Column("key_id", sa.Integer()),
        sa.Column("qr", sa.Text()),
        sa.Column("holder_id", sa.Uuid(), sa.ForeignKey(f"{schema}.ticket_holders.id")),
        sa.Column("issued_at", sa.DateTime(timezone=True)),
        sa.Column("revoked_at", sa.DateTime(timezone=True), index=True),
        sa.Column("revoked_reason", sa.String(40)),
        sa.UniqueConstraint("order_id", "position", name="uq_tickets_order_position"),
        schema=schema,
    )
    op.create_table(
        "identity_claims",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("document_hash", sa.LargeBinary(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("seq", sa.SmallInteger(), nullable=False),
        sa.Column("day_limit", sa.SmallInteger(), nullable=False),
        _order_fk(schema),
        sa.Column(
            "ticket_id",
            sa.Uuid(),
            sa.ForeignKey(f"{schema}.tickets.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.UniqueConstraint("document_hash", "day", "seq", name="uq_identity_claims_hash_day_seq"),
        sa.CheckConstraint("seq >= 1 AND seq <= day_limit", name="within_limit"),
        schema=schema,
    )
    op.create_table(
        "data_keys",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=False),
        sa.Column("wrapped_by", sa.Text(), nullable=False),
        _now("created_at"),
        schema=schema,
    )
    op.create_table(
        "signing_keys",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("sealed_private_key", sa.LargeBinary(), nullable=False),
        sa.Column("data_key_id", sa.Integer(), nullable=False),
        _now("created_at"),
        sa.Column("retired_at", sa.DateTime(timezone=True)),
        schema=schema,
    )
    op.create_table(
        "payments",
        _uuid_pk(),
        _order_fk(schema, ondelete=None),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("provider", sa.String(30), nullable=False),
        sa.Column("provider_ref", sa.Text(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("platform_fee", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False, index=True),
        _now("created_at"),
        sa.UniqueConstraint("provider", "provider_ref", name="uq_payments_provider_ref"),
        sa.CheckConstraint("amount >= 0", name="amount_not_negative"),
        sa.CheckConstraint("kind IN ('charge', 'refund')", name="known_kind"),
        schema=schema,
    )
    op.create_table(
        "ledger_lines",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("business_date", sa.Date(), nullable=False, index=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("channel", sa.String(40), nullable=False),
        sa.Column("provider", sa.String(30), nullable=False),
        _order_fk(schema, ondelete=None),
        sa.Column("payment_id", sa.Uuid(), sa.ForeignKey(f"{schema}.payments.id")),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        _now("created_at"),
        schema=schema,
    )
    op.create_table(
        "idempotency_records",
        sa.Column("scope", sa.Text(), primary_key=True),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("request_hash", sa.LargeBinary(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True)),
        sa.Column("response_status", sa.SmallInteger()),
        sa.Column("response_body", postgresql.JSONB()),
        _now("created_at"),
        schema=schema,
    )


def downgrade() -> None:
    schema = tenant_schema()
    for table in (
        "idempotency_records",
        "ledger_lines",
        "payments",
        "signing_keys",
        "data_keys",
        "identity_claims",
        "tickets",
        "ticket_holders",
        "order_holds",
        "order_lines",
        "orders",
        "inventory_buckets",
        "capacity_pools",
    ):
        op.drop_table(table, schema=schema)
    op.drop_column("park_profile", "stripe_account_id", schema=schema)
    op.drop_column("park_profile", "hold_minutes", schema=schema)
    for column in ("flash_sale", "id_limit_per_day", "pool_codes", "daily_capacity", "number"):
        op.drop_column("products", column, schema=schema)
