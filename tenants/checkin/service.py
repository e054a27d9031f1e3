"""Scanning tickets online: the check-in page and the hub's redeem call `scan`.

`scan` verifies the code, locks the ticket's row (`SELECT ... FOR UPDATE`), reads
its history from `admissions`, asks `rules.decide` and records the decision, all
in the caller's transaction: two devices scanning one ticket at once are
decided one after the other, so a single entry admits once. Every decision is
recorded, refusals included. A scan sent again with the same nonce (a retry
after a lost answer) gets the first decision back and changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from vistapass.platform.errors import VistapassError
from vistapass.tenants.checkin.rules import (
    DIRECTIONS,
    MAX_CODE,
    Direction,
    History,
    TicketFacts,
    decide,
    effective_window,
    message_for,
)
from vistapass.tenants.keys.signing import public_keys
from vistapass.tenants.models import (
    Admission,
    Order,
    Product,
    ProductUnit,
    Ticket,
    TicketHolder,
)
from vistapass.tenants.orders.context import Selling
from vistapass.tenants.orders.holders import HolderIn, document_hash
from vistapass.tenants.orders.views import ticket_state
from vistapass.tenants.park.service import get_profile
from vistapass.tenants.tickets.codec import TicketInvalid, TicketPayload, decode
from vistapass.tenants.tickets.verify import verify_ticket
from vistapass.tenants.visitors.documents import normalise_document

MAX_NONCE = 100
MAX_DEVICE = 100
MAX_ZONE = 60
RECENT_LIMIT = 10


class ScanError(VistapassError):
    status_code = 422
    code = "invalid_scan"


@dataclass(frozen=True, slots=True)
class Decision:
    ok: bool
    code: str
    direction: str
    ticket: dict[str, Any] | None  # the ticket summary; None for a code that is not ours
    admission_id: int
    at: datetime
    replayed: bool = False

    @property
    def message(self) -> str:
        """In English: translate it with the page's gettext."""
        return message_for(self.code, self.direction)


@dataclass(frozen=True, slots=True)
class Presented:
    """An ID document shown at the gate, to compare with a named ticket's holder."""

    document_type: str
    document_number: str


@dataclass(frozen=True, slots=True)
class ParkClock:
    today: date
    minute: int


@dataclass
class TicketRow:
    ticket: Ticket
    order_code: str
    product: Product
    unit: ProductUnit | None
    holder_hash: bytes | None = None


def _limit(value: str | None, name: str, most: int) -> str | None:
    if value is None:
        return None
    if len(value) > most or not value.isprintable():
        raise ScanError(
            f"'{name}' is at most {most} printable characters.",
            code=f"invalid_{name}",
            details={"field": name},
        )
    return value


async def park_clock(session: AsyncSession, now: datetime) -> ParkClock:
    profile = await get_profile(session)
    local = now.astimezone(ZoneInfo(profile.time_zone))
    return ParkClock(local.date(), local.hour * 60 + local.minute)


_HISTORY = text(
    """
    SELECT ticket_id,
           count(*) FILTER (WHERE counted) AS entries_total,
           count(*) FILTER (WHERE counted AND day = :today) AS entries_today,
           min(day) FILTER (WHERE counted) AS first_entry_day,
           (array_agg(direction ORDER BY id DESC) FILTER (WHERE day = :today))[1] AS last_dir,
           (array_agg(at ORDER BY id DESC) FILTER (WHERE day = :today))[1] AS last_at
      FROM admissions
     WHERE ok AND ticket_id = ANY(:ids)
     GROUP BY ticket_id
    """
)


async def histories(
    session: AsyncSession, ticket_ids: Sequence[uuid.UUID], today: date
) -> dict[uuid.UUID, History]:
    """Each ticket's accepted scans, as `rules.decide` needs them (empty ones left out)."""
    if not ticket_ids:
        return {}
    rows = await session.execute(_HISTORY, {"ids": list(ticket_ids), "today": today})
    return {
        row.ticket_id: History(
            entries_total=row.entries_total,
            entries_today=row.entries_today,
            inside=row.last_dir == "entry",
            last_exit_at=row.last_at if row.last_dir == "exit" else None,
            first_entry_day=row.first_entry_day,
        )
        for row in rows
    }


async def _locked_ticket(session: AsyncSession, ticket_id: uuid.UUID) -> TicketRow | None:
    """The ticket with what its summary needs; its row stays locked until the commit."""
    row = (
        await session.execute(
            select(Ticket, Order.code, Product, TicketHolder.document_hash)
            .join(Order, Order.id == Ticket.order_id)
            .join(Product, Product.id == Order.product_id)
            .outerjoin(TicketHolder, TicketHolder.id == Ticket.holder_id)
            .where(Ticket.id == ticket_id)
            .with_for_update(of=Ticket)
        )
    ).first()
    if row is None:
        return None
    ticket, order_code, product, holder_hash = row
    unit = await session.scalar(
        select(ProductUnit).where(
            ProductUnit.product_id == product.id, ProductUnit.unit == ticket.unit
        )
    )
    return TicketRow(ticket, order_code, product, unit, bytes(holder_hash) if holder_hash else None)


def summary_of(
    row: TicketRow, payload: TicketPayload | None, history: History, today: date
) -> dict[str, Any]:
    """The ticket as staff see it next to a decision (history: after the decision)."""
    ticket, entitlement = row.ticket, row.ticket.entitlement or {}
    extras = entitlement.get("extras") or {}
    valid_from, valid_to = ticket.valid_from, ticket.valid_to
    if payload is None and ticket.qr:
        # Only the dates are read from it here: the signature was checked when it was issued.
        payload = decode(ticket.qr)[0]
    if payload is not None:
        window = effective_window(payload, entitlement, history, today)
        valid_from, valid_to = window.valid_from, window.valid_to
    unit = row.unit
    return {
        "id": str(ticket.id),
        "order": row.order_code,
        "number": ticket.position + 1,
        "product": row.product.code,
        "product_name": {"zh-CN": row.product.name_zh, "en": row.product.name_en},
        "unit": ticket.unit,
        "unit_label": {
            "zh-CN": (unit.label_zh if unit else "") or ticket.unit,
            "en": (unit.label_en if unit else "") or ticket.unit,
        },
        "valid_from": valid_from.isoformat(),
        "valid_to": valid_to.isoformat(),
        "slot": ticket.slot,
        "slot_start": extras.get("slot_start"),
        "slot_end": extras.get("slot_end"),
        "entries_used": history.entries_total,
        "entries_today": history.entries_today,
        "entries_total": entitlement.get("entries_total"),
        "entries_per_day": entitlement.get("entries_per_day"),
        "reentry_allowed": bool(entitlement.get("reentry_allowed")),
        "named": ticket.holder_id is not None,
        "inside": history.inside,
        "state": ticket_state(ticket),
    }


def _after(history: History, direction: str, ok: bool, counted: bool, today: date) -> History:
    if not ok:
        return history
    if direction == "exit":
        return History(
            history.entries_total, history.entries_today, False, None, history.first_entry_day
        )
    return History(
        history.entries_total + counted,
        history.entries_today + counted,
        True,
        None,
        history.first_entry_day or (today if counted else None),
    )


def _decision(row: Admission, replayed: bool) -> Decision:
    return Decision(
        ok=row.ok,
        code=row.code,
        direction=row.direction,
        ticket=row.summary,
        admission_id=row.id,
        at=row.at,
        replayed=replayed,
    )


async def _by_nonce(session: AsyncSession, nonce: str) -> Admission | None:
    return await session.scalar(select(Admission).where(Admission.nonce == nonce))


def _checked_document(presented: Presented | None, today: date) -> HolderIn | None:
    if presented is None:
        return None
    number = normalise_document(presented.document_type, presented.document_number, today=today)
    return HolderIn("", presented.document_type, number)


async def scan(
    session: AsyncSession,
    selling: Selling,
    *,
    code: str,
    direction: Direction | str,
    device: str,
    nonce: str | None,
    now: datetime,
    zone: str | None = None,
    document: Presented | None = None,
    staff_user_id: uuid.UUID | None = None,
) -> Decision:
    """Decide one scan and record it; see the module's docstring."""
    if direction not in DIRECTIONS:
        raise ScanError(
            "direction is 'entry' or 'exit'.",
            code="invalid_direction",
            details={"direction": direction},
        )
    nonce = _limit(nonce or None, "nonce", MAX_NONCE)
    device = _limit(device, "device", MAX_DEVICE) or ""
    zone = _limit(zone or None, "zone", MAX_ZONE)
    if nonce is not None:
        first = await _by_nonce(session, nonce)
        if first is not None:
            return _decision(first, replayed=True)
    clock = await park_clock(session, now)
    # A mistyped ID number is the staff's typo to fix, not a decision about the ticket.
    checked = _checked_document(document, clock.today)
    text_code = code.strip()
    row: TicketRow | None = None
    payload: TicketPayload | None = None
    history = History()
    counted = False
    try:
        if len(text_code) > MAX_CODE:
            raise TicketInvalid("malformed", "Far too long for a ticket code.")
        payload = verify_ticket(text_code, await public_keys(session), ())
    except TicketInvalid as exc:
        verdict_code = exc.code
    else:
        row = await _locked_ticket(session, payload.ticket_id)
        if row is None:
            # Signed by this park but gone (its order deleted): as good as cancelled.
            verdict_code = "revoked"
        else:
            history = (await histories(session, [row.ticket.id], clock.today)).get(
                row.ticket.id, History()
            )
            presented_hash = None
            if checked is not None and row.holder_hash is not None:
                presented_hash = await document_hash(session, selling, checked)
            verdict = decide(
                payload,
                TicketFacts(
                    entitlement=row.ticket.entitlement or {},
                    revoked_reason=row.ticket.revoked_reason,
                    revoked=row.ticket.revoked_at is not None,
                    holder_hash=row.holder_hash,
                ),
                history,
                direction=direction,  # type: ignore[arg-type]
                today=clock.today,
                minute=clock.minute,
                now=now,
                zone=zone,
                presented_hash=presented_hash,
            )
            verdict_code, counted = verdict.code, verdict.counted
    ok = verdict_code == "ok"
    summary = None
    if row is not None:
        after = _after(history, direction, ok, counted, clock.today)
        summary = summary_of(row, payload, after, clock.today)
    inserted = await session.execute(
        insert(Admission)
        .values(
            ticket_id=row.ticket.id if row is not None else None,
            direction=direction,
            code=verdict_code,
            ok=ok,
            counted=counted,
            day=clock.today,
            at=now,
            device=device,
            zone=zone,
            nonce=nonce,
            staff_user_id=staff_user_id,
            summary=summary,
        )
        .on_conflict_do_nothing(index_elements=[Admission.nonce])
        .returning(Admission.id)
    )
    admission_id = inserted.scalar_one_or_none()
    if admission_id is None:
        # The same nonce was decided by a concurrent request that committed first.
        assert nonce is not None
        first = await _by_nonce(session, nonce)
        assert first is not None
        return _decision(first, replayed=True)
    return Decision(ok, verdict_code, direction, summary, admission_id, now)


async def recent(session: AsyncSession, limit: int = RECENT_LIMIT) -> list[Decision]:
    """The park's latest decisions, newest first."""
    rows = await session.scalars(select(Admission).order_by(Admission.id.desc()).limit(limit))
    return [_decision(row, replayed=False) for row in rows]
