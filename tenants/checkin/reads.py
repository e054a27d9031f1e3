"""What a scan reads: the ticket's row, locked until the commit, and its history.

The statements run straight through psycopg (`platform.db.raw`): a gate redeem
is the busiest call a park has. Tenant tables are found by the search path.
`Prefetch` lets the hub's redeem send the lock with the park's binding.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from psycopg.rows import DictRow
from sqlalchemy.ext.asyncio import AsyncSession

from vistapass.platform.db.raw import Raw, Statement
from vistapass.tenants.checkin.park_facts import kept_park_facts
from vistapass.tenants.checkin.rules import MAX_CODE, History
from vistapass.tenants.models import Product, ProductUnit, Ticket
from vistapass.tenants.tickets.codec import TicketInvalid, TicketPayload
from vistapass.tenants.tickets.verify import verify_ticket


@dataclass(frozen=True, slots=True)
class TicketRow:
    """A ticket with what its summary at the gate needs."""

    id: uuid.UUID
    position: int
    unit: str
    slot: str | None
    valid_from: date
    valid_to: date
    entitlement: dict[str, Any]
    qr: str | None
    holder_id: uuid.UUID | None
    revoked_at: datetime | None
    revoked_reason: str | None
    order_code: str
    product_code: str
    product_name_zh: str
    product_name_en: str
    unit_label_zh: str
    unit_label_en: str
    holder_hash: bytes | None = None

    @classmethod
    def of(
        cls, ticket: Ticket, order_code: str, product: Product, unit: ProductUnit | None
    ) -> TicketRow:
        return cls(
            id=ticket.id,
            position=ticket.position,
            unit=ticket.unit,
            slot=ticket.slot,
            valid_from=ticket.valid_from,
            valid_to=ticket.valid_to,
            entitlement=ticket.entitlement or {},
            qr=ticket.qr,
            holder_id=ticket.holder_id,
            revoked_at=ticket.revoked_at,
            revoked_reason=ticket.revoked_reason,
            order_code=order_code,
            product_code=product.code,
            product_name_zh=product.name_zh,
            product_name_en=product.name_en,
            unit_label_zh=unit.label_zh if unit else "",
            unit_label_en=unit.label_en if unit else "",
        )


_HISTORY = """
    SELECT ticket_id,
           count(*) FILTER (WHERE counted) AS entries_total,
           count(*) FILTER (WHERE counted AND day = %(today)s) AS entries_today,
           min(day) FILTER (WHERE counted) AS first_entry_day,
           (array_agg(direction ORDER BY id DESC) FILTER (WHERE day = %(today)s))[1] AS last_dir,
           (array_agg(at ORDER BY id DESC) FILTER (WHERE day = %(today)s))[1] AS last_at
      FROM admissions
     WHERE ok AND ticket_id = ANY(%(ids)s)
     GROUP BY ticket_id
"""


async def histories(
    session: AsyncSession, ticket_ids: Sequence[uuid.UUID], today: date
) -> dict[uuid.UUID, History]:
    """Each ticket's accepted scans, as `rules.decide` needs them (empty ones left out)."""
    if not ticket_ids:
        return {}
    raw = await Raw.of(session)
    return _history_rows(await raw.all(_HISTORY, {"ids": list(ticket_ids), "today": today}))


def _history_rows(rows: Sequence[Mapping[str, Any]]) -> dict[uuid.UUID, History]:
    return {
        row["ticket_id"]: History(
            entries_total=row["entries_total"],
            entries_today=row["entries_today"],
            inside=row["last_dir"] == "entry",
            last_exit_at=row["last_at"] if row["last_dir"] == "exit" else None,
            first_entry_day=row["first_entry_day"],
        )
        for row in rows
    }


_LOCKED_TICKET = """
    SELECT t.id, t.position, t.unit, t.slot, t.valid_from, t.valid_to, t.entitlement, t.qr,
           t.holder_id, t.revoked_at, t.revoked_reason, o.code AS order_code,
           p.code AS product_code, p.name_zh AS product_name_zh, p.name_en AS product_name_en,
           coalesce(u.label_zh, '') AS unit_label_zh, coalesce(u.label_en, '') AS unit_label_en,
           h.document_hash AS holder_hash
      FROM tickets t
      JOIN orders o ON o.id = t.order_id
      JOIN products p ON p.id = o.product_id
      LEFT JOIN ticket_holders h ON h.id = t.holder_id
      LEFT JOIN product_units u ON u.product_id = p.id AND u.unit = t.unit
     WHERE t.id = %(ticket_id)s
       FOR UPDATE OF t
"""


def _lock_statements(ticket_id: uuid.UUID, today: date) -> tuple[Statement, Statement]:
    return (
        (_LOCKED_TICKET, {"ticket_id": ticket_id}),
        (_HISTORY, {"ids": [ticket_id], "today": today}),
    )


def ticket_of(
    ticket_id: uuid.UUID, found: list[DictRow], history: list[DictRow]
) -> tuple[TicketRow | None, History]:
    if not found:
        return None, History()
    row = dict(found[0])
    holder_hash = row.pop("holder_hash")
    row["entitlement"] = row["entitlement"] or {}
    ticket = TicketRow(**row, holder_hash=bytes(holder_hash) if holder_hash else None)
    return ticket, _history_rows(history).get(ticket_id, History())


async def locked_ticket(
    raw: Raw, ticket_id: uuid.UUID, today: date
) -> tuple[TicketRow | None, History]:
    """The ticket with what its summary needs, locked until the commit, and its history.

    One round trip: the server runs the history's read after the lock is taken,
    with a snapshot of its own, so it sees every scan of the ticket committed by
    whoever held the lock before.
    """
    found, history = await raw.batch(*_lock_statements(ticket_id, today))
    return ticket_of(ticket_id, found, history)


@dataclass(slots=True)
class Prefetch:
    """A scan's ticket locked, and its history read, in the park's binding round trip.

    The code is checked against the keys this process keeps before the park is
    bound; `scan` uses the rows only if its own check names the same ticket on
    the same park day, and locks the ticket itself otherwise.
    """

    code: str  # as scanned, stripped
    payload: TicketPayload  # what the park's kept keys verified in it
    today: date
    rows: list[list[DictRow]] | None = None  # the two statements' rows, once run

    @property
    def ticket_id(self) -> uuid.UUID:
        return self.payload.ticket_id

    @classmethod
    def of(cls, tenant_id: uuid.UUID, code: str, now: datetime) -> Prefetch | None:
        facts = kept_park_facts(tenant_id)
        code = code.strip()
        if facts is None or len(code) > MAX_CODE:
            return None
        try:
            payload = verify_ticket(code, facts.keys, ())
        except TicketInvalid:
            return None  # scan says why, with every key
        return cls(code, payload, now.astimezone(facts.zone).date())

    def statements(self) -> tuple[Statement, Statement]:
        return _lock_statements(self.ticket_id, self.today)
