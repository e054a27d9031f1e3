"""The gate hub's tables: who may connect (edges, online devices), what is wired, conflicts.

Credentials connect out from a park's network to the hub; only a hash of each
secret is kept. A conflict is an admission the hub stored although it went
beyond the ticket's entitlement (two edges, both offline, admitting one ticket):
offline admissions are facts, so they are recorded for audit, never refused.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    LargeBinary,
    String,
    UniqueConstraint,
    Uuid,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from vistapass.platform.models.base import utcnow
from vistapass.tenants.models.base import TenantBase

CREDENTIAL_KINDS = ("edge", "device")
DEVICE_KINDS = ("mqtt", "isapi", "zkteco", "tcp", "wiegand", "online")
DEVICE_DIRECTIONS = ("entry", "exit", "both")


class GateCredential(TenantBase):
    """An edge process or an online scanner allowed to call `/gate/v1/`."""

    __tablename__ = "gate_credentials"
    __table_args__ = (CheckConstraint("kind IN ('edge', 'device')", name="known_kind"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    kind: Mapped[str] = mapped_column(String(10))
    name: Mapped[str] = mapped_column(String(100))
    secret_hash: Mapped[bytes] = mapped_column(LargeBinary)  # sha256 of the random secret
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), default=utcnow
    )
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The edge's last status report (online, outbox size, version, devices).
    status: Mapped[dict[str, Any] | None] = mapped_column(JSONB)


class GateDevice(TenantBase):
    """A turnstile, terminal or reader that an edge speaks to on the park's network."""

    __tablename__ = "gate_devices"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('mqtt', 'isapi', 'zkteco', 'tcp', 'wiegand', 'online')", name="known_kind"
        ),
        CheckConstraint("direction IN ('entry', 'exit', 'both')", name="known_direction"),
        UniqueConstraint("edge_id", "external_id", name="uq_gate_devices_edge_id_external_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    edge_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("gate_credentials.id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(10))
    external_id: Mapped[str] = mapped_column(String(100))  # the id the device reports itself by
    zone: Mapped[str | None] = mapped_column(String(60))
    direction: Mapped[str] = mapped_column(String(5))
    settings: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), default=utcnow
    )


class GateConflict(TenantBase):
    """An admission stored beyond the ticket's entitlement, or after it was revoked."""

    __tablename__ = "gate_conflicts"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    ticket_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("tickets.id", ondelete="CASCADE"), index=True
    )
    admission_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("admissions.id", ondelete="CASCADE")
    )
    credential_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("gate_credentials.id", ondelete="SET NULL")
    )
    reason: Mapped[str] = mapped_column(String(40))
    offline: Mapped[bool] = mapped_column(Boolean, default=False)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # when the gate admitted
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), default=utcnow
    )
