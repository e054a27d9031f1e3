"""Cards and wristbands bound to tickets, for gates that read cards instead of QR codes.

Staff at the entrance bind one (its number as the reader gives it, in decimal) to
a valid ticket; edges receive it with the ticket and put it on their ZKTeco
terminals' user lists. A card belongs to one ticket at a time: binding it again
takes it off the ticket it was on, so wristbands can be handed out anew each day.
"""

from __future__ import annotations

import re
import uuid

from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from vistapass.platform.audit.service import Actor, record
from vistapass.platform.errors import VistapassError
from vistapass.tenants.models import Ticket

# What card readers report: the number in decimal. Wiegand 34 gives at most 10
# digits; 20 leaves room for longer UIDs read as decimal.
CARD_PATTERN = re.compile(r"[0-9]{4,20}")


class CardError(VistapassError):
    status_code = 422
    code = "invalid_card"


def normalise_card(value: str) -> str:
    card = value.strip()
    if not CARD_PATTERN.fullmatch(card):
        raise CardError(
            "A card number is 4 to 20 digits, as the reader shows it.",
            details={"card": value[:40]},
        )
    return card


async def _ticket(session: AsyncSession, ticket_id: uuid.UUID) -> Ticket:
    ticket = await session.scalar(select(Ticket).where(Ticket.id == ticket_id).with_for_update())
    if ticket is None:
        raise CardError("No such ticket.", code="ticket_not_found", status_code=404)
    return ticket


async def bind_card(
    session: AsyncSession, actor: Actor, ticket_id: uuid.UUID, card_number: str
) -> Ticket:
    """Bind `card_number` to the ticket, taking it off any other ticket of the park."""
    card = normalise_card(card_number)
    ticket = await _ticket(session, ticket_id)
    if ticket.qr is None or ticket.revoked_at is not None:
        raise CardError(
            "Only a valid, paid ticket can have a card.",
            code="ticket_not_valid",
            details={"state": "revoked" if ticket.revoked_at else "unpaid"},
        )
    if ticket.card == card:
        return ticket
    moved_from = (
        await session.execute(
            text("UPDATE tickets SET card = NULL WHERE card = :card AND id <> :id RETURNING id"),
            {"card": card, "id": ticket.id},
        )
    ).scalar_one_or_none()
    before = ticket.card
    ticket.card = card
    try:
        await session.flush()
    except IntegrityError:
        # Someone bound the same card to another ticket in the same instant.
        raise CardError(
            "This card was just bound to another ticket.", code="card_taken", status_code=409
        ) from None
    await record(
        session,
        actor,
        "ticket.card_bound",
        f"ticket:{ticket.id}",
        before={"card": before},
        after={"card": card, "taken_from": str(moved_from) if moved_from else None},
    )
    return ticket


async def unbind_card(session: AsyncSession, actor: Actor, ticket_id: uuid.UUID) -> Ticket:
    ticket = await _ticket(session, ticket_id)
    if ticket.card is not None:
        before, ticket.card = ticket.card, None
        await session.flush()
        await record(
            session, actor, "ticket.card_unbound", f"ticket:{ticket.id}", before={"card": before}
        )
    return ticket
