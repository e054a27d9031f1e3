"""Storing an edge's events exactly once, and flagging admissions beyond a ticket's rights.

Edges upload at least once (a lost answer means a resend), so each event is
keyed by its edge-made id: the admission's nonce is `edge:<id>` and a resend
inserts nothing. Offline admissions are facts, so nothing is refused; when an
accepted entry went beyond what the hub already holds for the ticket (its total
entries, its entries that day) or came after the ticket was revoked, the
admission is stored and a `gate_conflicts` row says why, for audit.

The tickets of a batch are locked first, in id order: two edges uploading the
same ticket at once are then counted one after the other (so the second is the
one flagged), and the locks are always taken in the same order (no deadlock).
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert as plain_insert
from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from vistapass.tenants.gates.schemas import EventIn
from vistapass.tenants.models import Admission, GateConflict
from vistapass.tenants.park.service import get_profile

NONCE_PREFIX = "edge:"

_LOCK = text(
    """
    SELECT id, entitlement, revoked_at FROM tickets
     WHERE id = ANY(:ids) ORDER BY id FOR UPDATE
    """
)
_HELD = text(
    """
    SELECT ticket_id, day, count(*) AS entries FROM admissions
     WHERE ok AND counted AND ticket_id = ANY(:ids)
     GROUP BY ticket_id, day
    """
)


@dataclass(frozen=True, slots=True)
class Ingested:
    stored: int
    duplicates: int
    conflicts: int


@dataclass
class _Held:
    """Counted entries the hub holds for one ticket: in total and per day."""

    total: int = 0
    by_day: Counter[date] = field(default_factory=Counter)

    def add(self, day: date, entries: int = 1) -> None:
        self.total += entries
        self.by_day[day] += entries


def _limit(value: Any) -> int | None:
    """An entitlement's count as `rules.decide` reads it: an int, or unlimited."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def conflict_reason(event: EventIn, ticket: Any, held: _Held, day: date) -> str | None:
    """Why this accepted entry went beyond the ticket's rights, given what was held before it."""
    if ticket.revoked_at is not None and ticket.revoked_at <= event.at:
        return "revoked"
    if not event.counted:
        return None
    entitlement = ticket.entitlement or {}
    total = _limit(entitlement.get("entries_total"))
    if total is not None and held.total >= total:
        return "entries_total_exceeded"
    per_day = _limit(entitlement.get("entries_per_day"))
    if per_day is not None and held.by_day[day] >= per_day:
        return "entries_per_day_exceeded"
    return None


async def ingest(
    session: AsyncSession, credential_id: uuid.UUID, events: list[EventIn]
) -> Ingested:
    """Store a batch (see the module's docstring); the caller commits."""
    unique: dict[str, EventIn] = {}
    for event in events:
        unique.setdefault(NONCE_PREFIX + str(event.id), event)
    if not unique:
        return Ingested(0, len(events), 0)
    zone = ZoneInfo((await get_profile(session)).time_zone)
    claimed = sorted({e.ticket_id for e in unique.values() if e.ticket_id is not None})
    tickets = {row.id: row for row in await session.execute(_LOCK, {"ids": claimed})}
    held: dict[uuid.UUID, _Held] = {ticket_id: _Held() for ticket_id in tickets}
    for row in await session.execute(_HELD, {"ids": list(tickets)}):
        held[row.ticket_id].add(row.day, row.entries)
    days = {nonce: event.at.astimezone(zone).date() for nonce, event in unique.items()}
    values = [
        {
            # A ticket of another park (or none at all) is kept as a fact without a ticket.
            "ticket_id": event.ticket_id if event.ticket_id in tickets else None,
            "direction": event.direction,
            "code": event.code,
            "ok": event.ok,
            "counted": event.counted,
            "day": days[nonce],
            "at": event.at,
            "device": event.device,
            "zone": event.zone,
            "nonce": nonce,
        }
        for nonce, event in unique.items()
    ]
    inserted = await session.execute(
        insert(Admission)
        .values(values)
        .on_conflict_do_nothing(index_elements=[Admission.nonce])
        .returning(Admission.nonce, Admission.id)
    )
    new_ids: dict[str, int] = {nonce: admission_id for nonce, admission_id in inserted}
    conflicts: list[dict[str, Any]] = []
    # In the batch's order: an edge's earlier event is held before its later one.
    for nonce, event in unique.items():
        admission_id = new_ids.get(nonce)
        ticket = tickets.get(event.ticket_id) if event.ticket_id is not None else None
        if admission_id is None or ticket is None or not (event.ok and event.direction == "entry"):
            continue
        day = days[nonce]
        reason = conflict_reason(event, ticket, held[ticket.id], day)
        if reason is not None:
            conflicts.append(
                {
                    "ticket_id": ticket.id,
                    "admission_id": admission_id,
                    "credential_id": credential_id,
                    "reason": reason,
                    "offline": event.offline,
                    "at": event.at,
                }
            )
        if event.counted:
            held[ticket.id].add(day)
    if conflicts:
        await session.execute(plain_insert(GateConflict), conflicts)
    return Ingested(len(new_ids), len(events) - len(new_ids), len(conflicts))
