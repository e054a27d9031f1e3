"""Catalog: products, their units, enabled pricing modes, opening hours, calendar.

Revision ID: t0004
Revises: t0003
Created: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from vistapass.tenants.migrations import tenant_schema

revision: str = "t0004"
down_revision: str | None = "t0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _now(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False)


def upgrade() -> None:
    schema = tenant_schema()
    op.create_table(
        "products",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("code", sa.String(60), nullable=False),
        sa.Column("name_zh", sa.Text(), nullable=False),
        sa.Column("name_en", sa.Text(), nullable=False),
        sa.Column("description_zh", sa.Text(), server_default="", nullable=False),
        sa.Column("description_en", sa.Text(), server_default="", nullable=False),
        sa.Column("image_key", sa.Text()),
        sa.Column("pricing_mode", sa.String(60), nullable=False),
        sa.Column(
            "pricing_config",
            postgresql.JSONB(),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "channels",
            postgresql.ARRAY(sa.String(40)),
            server_default=sa.text("'{}'::varchar[]"),
            nullable=False,
        ),
        sa.Column("sale_from", sa.Date()),
        sa.Column("sale_to", sa.Date()),
        sa.Column("visit_from", sa.Date()),
        sa.Column("visit_to", sa.Date()),
        sa.Column("tax_rate_bp", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "refund_policy",
            postgresql.JSONB(),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("real_name_required", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("face_required", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("status", sa.String(20), server_default="draft", nullable=False),
        sa.Column("sort_order", sa.Integer(), server_default="0", nullable=False),
        _now("created_at"),
        _now("updated_at"),
        sa.CheckConstraint("status IN ('draft', 'on_sale', 'off_sale')", name="ck_products_status"),
        sa.CheckConstraint("tax_rate_bp BETWEEN 0 AND 10000", name="ck_products_tax_rate"),
        sa.CheckConstraint("code ~ '^[a-z0-9][a-z0-9-]{0,59}$'", name="ck_products_code"),
        sa.PrimaryKeyConstraint("id", name="pk_products"),
        sa.UniqueConstraint("code", name="uq_products_code"),
        schema=schema,
    )
    op.create_table(
        "product_units",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("unit", sa.String(20), nullable=False),
        sa.Column("label_zh", sa.Text(), nullable=False),
        sa.Column("label_en", sa.Text(), nullable=False),
        sa.Column("min_age", sa.SmallInteger()),
        sa.Column("max_age", sa.SmallInteger()),
        sa.Column("min_height_cm", sa.SmallInteger()),
        sa.Column("max_height_cm", sa.SmallInteger()),
        sa.Column("eligibility_zh", sa.Text(), server_default="", nullable=False),
        sa.Column("eligibility_en", sa.Text(), server_default="", nullable=False),
        sa.Column("sort_order", sa.Integer(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["product_id"],
            [f"{schema}.products.id"],
            name="fk_product_units_product_id_products",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_product_units"),
        sa.UniqueConstraint("product_id", "unit", name="uq_product_units_unit"),
        schema=schema,
    )
    op.create_index("ix_product_units_product_id", "product_units", ["product_id"], schema=schema)
    op.create_table(
        "pricing_modes",
        sa.Column("key", sa.String(60), nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_pricing_modes"),
        schema=schema,
    )
    op.create_table(
        "opening_hours",
        sa.Column("weekday", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("is_open", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("opens_at", sa.Time(), server_default="08:30", nullable=False),
        sa.Column("closes_at", sa.Time(), server_default="17:30", nullable=False),
        sa.CheckConstraint("weekday BETWEEN 0 AND 6", name="ck_opening_hours_weekday"),
        sa.PrimaryKeyConstraint("weekday", name="pk_opening_hours"),
        schema=schema,
    )
    op.execute(
        sa.text(f'INSERT INTO "{schema}".opening_hours (weekday) SELECT generate_series(0, 6)')
    )
    op.create_table(
        "calendar_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("is_open", sa.Boolean()),
        sa.Column("opens_at", sa.Time()),
        sa.Column("closes_at", sa.Time()),
        sa.Column("kind", sa.String(10)),
        sa.Column("note", sa.Text(), server_default="", nullable=False),
        sa.CheckConstraint(
            "kind IN ('weekday', 'weekend', 'holiday')", name="ck_calendar_days_kind"
        ),
        sa.PrimaryKeyConstraint("day", name="pk_calendar_days"),
        schema=schema,
    )


def downgrade() -> None:
    schema = tenant_schema()
    for table in ("calendar_days", "opening_hours", "pricing_modes", "product_units", "products"):
        op.drop_table(table, schema=schema)
