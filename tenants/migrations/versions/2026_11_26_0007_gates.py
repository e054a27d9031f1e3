"""Gate hub: edge and device credentials, devices, conflicts, and the sync cursor.

`tickets.sync_xid` is the id of the last transaction that changed the ticket or
stored an accepted scan of it. Edges pull "everything with sync_xid >= my
cursor", where the cursor is the xmin of the snapshot their previous pull read
with: a transaction still running at that moment has an id >= xmin, so no
change is ever skipped (some are sent twice, which is harmless). Triggers keep
the column right whatever code writes tickets or admissions.

Revision ID: t0007
Revises: t0006
Created: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from vistapass.tenants.migrations import tenant_schema

revision: str = "t0007"
down_revision: str | None = "t0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _now(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False)


def upgrade() -> None:
    schema = tenant_schema()
    op.create_table(
        "gate_credentials",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), primary_key=True),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("secret_hash", sa.LargeBinary(), nullable=False),
        sa.Column("created_by", sa.Uuid()),
        _now("created_at"),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        sa.Column("last_seen_at", sa.DateTime(timezone=True)),
        sa.Column("status", postgresql.JSONB()),
        sa.CheckConstraint("kind IN ('edge', 'device')", name="known_kind"),
        schema=schema,
    )
    op.create_table(
        "gate_devices",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), primary_key=True),
        sa.Column(
            "edge_id",
            sa.Uuid(),
            sa.ForeignKey(f"{schema}.gate_credentials.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("external_id", sa.String(100), nullable=False),
        sa.Column("zone", sa.String(60)),
        sa.Column("direction", sa.String(5), nullable=False),
        sa.Column("settings", postgresql.JSONB(), server_default="{}", nullable=False),
        _now("created_at"),
        sa.CheckConstraint(
            "kind IN ('mqtt', 'isapi', 'zkteco', 'tcp', 'wiegand', 'online')", name="known_kind"
        ),
        sa.CheckConstraint("direction IN ('entry', 'exit', 'both')", name="known_direction"),
        sa.UniqueConstraint("edge_id", "external_id", name="uq_gate_devices_edge_id_external_id"),
        schema=schema,
    )
    op.create_table(
        "gate_conflicts",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column(
            "ticket_id", sa.Uuid(), sa.ForeignKey(f"{schema}.tickets.id", ondelete="CASCADE")
        ),
        sa.Column(
            "admission_id",
            sa.BigInteger(),
            sa.ForeignKey(f"{schema}.admissions.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "credential_id",
            sa.Uuid(),
            sa.ForeignKey(f"{schema}.gate_credentials.id", ondelete="SET NULL"),
        ),
        sa.Column("reason", sa.String(40), nullable=False),
        sa.Column("offline", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        _now("created_at"),
        schema=schema,
    )
    op.create_index("ix_gate_conflicts_ticket_id", "gate_conflicts", ["ticket_id"], schema=schema)
    # Occupancy and hourly figures read one day of admissions at a time.
    op.create_index("ix_admissions_day", "admissions", ["day"], schema=schema)

    q = f'"{schema}"'
    op.execute(
        f"ALTER TABLE {q}.tickets ADD COLUMN sync_xid xid8 NOT NULL DEFAULT pg_current_xact_id()"
    )
    op.execute(f"CREATE INDEX ix_tickets_sync_xid ON {q}.tickets (sync_xid)")
    op.execute(
        f"""
        CREATE FUNCTION {q}.gates_touch_ticket() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            NEW.sync_xid := pg_current_xact_id();
            RETURN NEW;
        END $$
        """
    )
    op.execute(
        f"""
        CREATE TRIGGER gates_touch_ticket BEFORE INSERT OR UPDATE ON {q}.tickets
        FOR EACH ROW EXECUTE FUNCTION {q}.gates_touch_ticket()
        """
    )
    # An accepted scan changes what edges must know (entries used, inside or not).
    op.execute(
        f"""
        CREATE FUNCTION {q}.gates_touch_admitted() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE {q}.tickets SET sync_xid = pg_current_xact_id() WHERE id = NEW.ticket_id;
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        f"""
        CREATE TRIGGER gates_touch_admitted AFTER INSERT ON {q}.admissions
        FOR EACH ROW WHEN (NEW.ok AND NEW.ticket_id IS NOT NULL)
        EXECUTE FUNCTION {q}.gates_touch_admitted()
        """
    )


def downgrade() -> None:
    schema = tenant_schema()
    q = f'"{schema}"'
    op.execute(f"DROP TRIGGER IF EXISTS gates_touch_admitted ON {q}.admissions")
    op.execute(f"DROP FUNCTION IF EXISTS {q}.gates_touch_admitted()")
    op.execute(f"DROP TRIGGER IF EXISTS gates_touch_ticket ON {q}.tickets")
    op.execute(f"DROP FUNCTION IF EXISTS {q}.gates_touch_ticket()")
    op.execute(f"ALTER TABLE {q}.tickets DROP COLUMN IF EXISTS sync_xid")
    op.drop_index("ix_admissions_day", "admissions", schema=schema)
    op.drop_table("gate_conflicts", schema=schema)
    op.drop_table("gate_devices", schema=schema)
    op.drop_table("gate_credentials", schema=schema)
