"""Issuing tickets: each admitted person's QR code, signed with the park's key.

Runs inside the transaction that marks the order paid, so a paid order always
has its tickets and an unpaid one never has a valid code.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from vistapass.platform.models.base import utcnow
from vistapass.tenants.keys.signing import active_signing_key
from vistapass.tenants.models import Order, Product, Ticket, TicketHolder
from vistapass.tenants.orders.context import Selling
from vistapass.tenants.tickets.codec import (
    NO_FLAGS,
    TicketFlags,
    TicketPayload,
    holder_marker,
    sign_payload,
)


def _minutes(clock: object) -> int | None:
    if not isinstance(clock, str) or ":" not in clock:
        return None
    hours, minutes = clock.split(":", 1)
    return int(hours) * 60 + int(minutes)


def payload_for(
    ticket: Ticket, product: Product, key_id: int, marker: bytes = b""
) -> TicketPayload:
    entitlement = ticket.entitlement
    extras = entitlement.get("extras") or {}
    flags = NO_FLAGS
    if entitlement.get("real_name_required"):
        flags |= TicketFlags.REAL_NAME
    if entitlement.get("face_required"):
        flags |= TicketFlags.FACE
    if entitlement.get("reentry_allowed"):
        flags |= TicketFlags.REENTRY
    if extras.get("priority_lane"):
        flags |= TicketFlags.PRIORITY
    if product.pricing_mode == "annual_card":
        flags |= TicketFlags.MEMBER
    start, end = _minutes(extras.get("slot_start")), _minutes(extras.get("slot_end"))
    if start is None or end is None:
        start = end = None
    return TicketPayload(
        key_id=key_id,
        ticket_id=ticket.id,
        product_number=product.number,
        valid_from=ticket.valid_from,
        valid_to=ticket.valid_to,
        slot_start_min=start,
        slot_end_min=end,
        entries_per_day=entitlement.get("entries_per_day"),
        entries_total=entitlement.get("entries_total"),
        flags=flags,
        holder_marker=marker,
    )


async def issue_tickets(
    session: AsyncSession, selling: Selling, order: Order, product: Product
) -> list[Ticket]:
    key_id, private_key = await active_signing_key(session, selling.wrapper)
    rows = (
        await session.execute(
            select(Ticket, TicketHolder.document_hash)
            .outerjoin(TicketHolder, TicketHolder.id == Ticket.holder_id)
            .where(Ticket.order_id == order.id, Ticket.qr.is_(None))
            .order_by(Ticket.position)
        )
    ).all()
    now = utcnow()
    tickets = []
    for ticket, document_hash in rows:
        marker = holder_marker(bytes(document_hash)) if document_hash is not None else b""
        ticket.key_id = key_id
        ticket.qr = sign_payload(payload_for(ticket, product, key_id, marker), private_key)
        ticket.issued_at = now
        tickets.append(ticket)
    await session.flush()
    return tickets
