"""An order as its buyer (or a partner) sees it: JSON-ready, the same on every replay."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from vistapass.platform.tenancy.binding import current_tenant
from vistapass.tenants.models import Order, Ticket
from vistapass.tenants.orders.rows import NewOrder, NewTicket


class _TicketState(Protocol):
    """A ticket row or a gate's copy of one: what its state follows from."""

    @property
    def revoked_at(self) -> datetime | None: ...
    @property
    def revoked_reason(self) -> str | None: ...
    @property
    def qr(self) -> str | None: ...


def ticket_state(ticket: _TicketState) -> str:
    if ticket.revoked_at is not None:
        return ticket.revoked_reason or "revoked"
    return "valid" if ticket.qr else "unpaid"


async def order_view(
    session: AsyncSession, order: Order, tickets: Sequence[Ticket] | None = None
) -> dict[str, Any]:
    """The order as JSON; `tickets` when the caller holds them already (saves a query)."""
    if tickets is None:
        tickets = (
            await session.scalars(
                select(Ticket).where(Ticket.order_id == order.id).order_by(Ticket.position)
            )
        ).all()
    return order_body(order, tickets, current_tenant(session).slug)


def order_body(
    order: Order | NewOrder, tickets: Sequence[Ticket] | Sequence[NewTicket], slug: str
) -> dict[str, Any]:
    """`order_view` for rows at hand, such as those a group commit is about to write."""
    return {
        "code": order.code,
        "status": order.status,
        "channel": order.channel,
        "product": order.product_code,
        "date": order.visit_date.isoformat(),
        "slot": order.slot,
        "currency": order.currency,
        "total": order.total,
        "refunded": order.refunded_amount,
        "quote": order.quote,
        "contact": {
            "name": order.contact_name,
            "email": order.contact_email,
            "phone": order.contact_phone,
        },
        "payment": {"provider": order.provider, "reference": order.provider_ref},
        "expires_at": order.expires_at.isoformat() if order.expires_at else None,
        "paid_at": order.paid_at.isoformat() if order.paid_at else None,
        "note": order.note,
        # The buyer's own link: it survives a closed browser and needs no account.
        "token": order.access_token,
        "ticket_page": f"/p/{slug}/orders/{order.code}?t={order.access_token}",
        "tickets": [
            {
                "id": str(ticket.id),
                "position": ticket.position,
                "unit": ticket.unit,
                "price": ticket.price,
                "refunded": ticket.refunded_amount,
                "state": ticket_state(ticket),
                "valid_from": ticket.valid_from.isoformat(),
                "valid_to": ticket.valid_to.isoformat(),
                "slot": ticket.slot,
                "real_name": ticket.holder_id is not None,
                "qr": ticket.qr if ticket.revoked_at is None else None,
            }
            for ticket in tickets
        ],
    }
