"""Every scan at a gate or on the check-in page, accepted or not.

The table is the ticket's history at the gate: entries counted against its
entitlement, whether its holder is inside now, and when an annual card was first
used. Refusals are kept too, for the staff's "last scans" list and for audit.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    String,
    Uuid,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from vistapass.platform.models.base import utcnow
from vistapass.tenants.models.base import TenantBase


class Admission(TenantBase):
    """One decision on one scan. `counted`: an entry that used up one of the ticket's entries."""

    __tablename__ = "admissions"
    __table_args__ = (
        CheckConstraint("direction IN ('entry', 'exit')", name="known_direction"),
        CheckConstraint("counted = false OR (ok AND direction = 'entry')", name="counted_is_entry"),
        # The ticket's accepted scans by day: what every decision reads under the ticket lock.
        Index("ix_admissions_ticket_day", "ticket_id", "day"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    # None for a code that is not a genuine ticket of this park (malformed, forged).
    ticket_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("tickets.id", ondelete="CASCADE")
    )
    direction: Mapped[str] = mapped_column(String(5))
    code: Mapped[str] = mapped_column(String(40))  # ok, or why it was refused
    ok: Mapped[bool] = mapped_column(Boolean)
    counted: Mapped[bool] = mapped_column(Boolean, default=False)
    day: Mapped[date] = mapped_column(Date)  # the park's local date of the scan
    at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), default=utcnow, index=True
    )
    device: Mapped[str] = mapped_column(String(100), default="")
    zone: Mapped[str | None] = mapped_column(String(60))
    # The client's id for this scan: a retry with the same nonce gets the first decision.
    nonce: Mapped[str | None] = mapped_column(String(100), unique=True)
    staff_user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    # The ticket as the decision saw it (product, unit, dates, entries): replays and lists.
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
