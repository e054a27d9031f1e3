"""Finding orders at the gate: by order code, contact name or phone, with each ticket's state."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from vistapass.tenants.checkin.reads import TicketRow, histories
from vistapass.tenants.checkin.rules import History
from vistapass.tenants.checkin.service import summary_of
from vistapass.tenants.models import Order, Product, ProductUnit, Ticket
from vistapass.tenants.orders.views import ticket_state

SEARCH_LIMIT = 20


def _like(value: str) -> str:
    return "%" + re.sub(r"([\\%_])", r"\\\1", value) + "%"


async def search(session: AsyncSession, query: str, today: date) -> list[dict[str, Any]]:
    """Orders by code, contact name or phone, with each ticket's state at the gate."""
    query = " ".join(query.split())
    if len(query) < 2:
        return []
    conditions = [
        Order.code == query.replace(" ", "").upper(),
        Order.contact_name.ilike(_like(query), escape="\\"),
    ]
    digits = re.sub(r"\D", "", query)
    if len(digits) >= 4:
        conditions.append(
            func.regexp_replace(Order.contact_phone, r"\D", "", "g").like(_like(digits))
        )
    orders = (
        await session.scalars(
            select(Order)
            .where(or_(*conditions))
            .order_by(Order.created_at.desc())
            .limit(SEARCH_LIMIT)
        )
    ).all()
    if not orders:
        return []
    tickets = (
        await session.scalars(
            select(Ticket)
            .where(Ticket.order_id.in_([o.id for o in orders]))
            .order_by(Ticket.order_id, Ticket.position)
        )
    ).all()
    products = {
        p.id: p
        for p in await session.scalars(
            select(Product).where(Product.id.in_({o.product_id for o in orders}))
        )
    }
    units = {
        (u.product_id, u.unit): u
        for u in await session.scalars(
            select(ProductUnit).where(ProductUnit.product_id.in_(products))
        )
    }
    known = await histories(session, [t.id for t in tickets], today)
    answer = []
    for order in orders:
        product = products[order.product_id]
        mine = [t for t in tickets if t.order_id == order.id]
        answer.append(
            {
                "code": order.code,
                "status": order.status,
                "product": product.code,
                "product_name": {"zh-CN": product.name_zh, "en": product.name_en},
                "date": order.visit_date.isoformat(),
                "slot": order.slot,
                "contact_name": order.contact_name,
                "tickets": [
                    {
                        **summary_of(
                            TicketRow.of(t, order.code, product, units.get((product.id, t.unit))),
                            None,
                            known.get(t.id, History()),
                            today,
                        ),
                        # Staff check a ticket in from the search through the same scan.
                        "qr": t.qr if ticket_state(t) == "valid" else None,
                        "card": t.card,
                    }
                    for t in mine
                ],
            }
        )
    return answer
