"""Reading orders for staff: the filtered list and everything one order holds.

Real-name holders' names and documents are sealed and never read here: a
ticket only says whether it is named.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from vistapass.platform.errors import VistapassError
from vistapass.tenants.catalog.extras import money
from vistapass.tenants.models import LedgerLine, Order, Payment, Product, Ticket
from vistapass.tenants.orders.views import ticket_state

PAGE_SIZE = 50
MAX_PAGE = 10_000
MAX_SEARCH = 100
STATUSES = ("pending", "paid", "partially_refunded", "refunded", "expired", "cancelled")
CHANNELS = ("web", "window", "partner", "ota:ctrip", "ota:meituan", "ota:fliggy")


class InvalidFilter(VistapassError):
    status_code = 422
    code = "invalid_filter"


@dataclass(frozen=True, slots=True)
class OrderFilter:
    """The list's filters as typed (`typed`, to show again) and as read."""

    visit: date | None = None
    status: str = ""
    channel: str = ""
    product: str = ""
    q: str = ""
    page: int = 1
    typed: dict[str, str] = field(default_factory=dict)

    def query(self, **changes: Any) -> dict[str, str]:
        """The filters as query parameters, with `changes` applied (empty ones left out)."""
        params = {k: v for k, v in self.typed.items() if v and k != "page"}
        params.update({k: str(v) for k, v in changes.items()})
        return params


def parse_filter(params: Mapping[str, str]) -> OrderFilter:
    """Read the list's query parameters; a value that cannot be read names its field."""
    typed = {
        name: (params.get(name) or "").strip()[:MAX_SEARCH]
        for name in ("visit", "status", "channel", "product", "q", "page")
    }
    visit = None
    if typed["visit"]:
        try:
            visit = date.fromisoformat(typed["visit"])
        except ValueError:
            raise InvalidFilter("Dates look like 2026-05-01.", details={"field": "visit"}) from None
    if typed["status"] and typed["status"] not in STATUSES:
        raise InvalidFilter("Choose a status from the list.", details={"field": "status"})
    if typed["channel"] and typed["channel"] not in CHANNELS:
        raise InvalidFilter("Choose a channel from the list.", details={"field": "channel"})
    page = 1
    if typed["page"]:
        if not typed["page"].isdigit() or not 1 <= int(typed["page"]) <= MAX_PAGE:
            raise InvalidFilter("A page is a whole number.", details={"field": "page"})
        page = int(typed["page"])
    return OrderFilter(
        visit=visit,
        status=typed["status"],
        channel=typed["channel"],
        product=typed["product"],
        q=typed["q"],
        page=page,
        typed=typed,
    )


def _like(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _conditions(found: OrderFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if found.visit is not None:
        conditions.append(Order.visit_date == found.visit)
    if found.status:
        conditions.append(Order.status == found.status)
    if found.channel:
        conditions.append(Order.channel == found.channel)
    if found.product:
        conditions.append(Order.product_code == found.product)
    if found.q:
        pattern = _like(found.q)
        conditions.append(
            or_(
                Order.code == found.q.upper(),
                Order.contact_name.ilike(pattern, escape="\\"),
                Order.contact_phone.ilike(pattern, escape="\\"),
                Order.contact_email.ilike(pattern, escape="\\"),
            )
        )
    return conditions


def local(moment: datetime | None, time_zone: str) -> str:
    if moment is None:
        return ""
    return moment.astimezone(ZoneInfo(time_zone)).strftime("%Y-%m-%d %H:%M")


async def product_names(session: AsyncSession) -> dict[str, tuple[str, str]]:
    """Each product's code with its (Chinese, English) names, in the catalogue's order."""
    rows = await session.execute(
        select(Product.code, Product.name_zh, Product.name_en).order_by(
            Product.sort_order, Product.code
        )
    )
    return {code: (name_zh, name_en) for code, name_zh, name_en in rows}


async def search_orders(
    session: AsyncSession, found: OrderFilter, time_zone: str
) -> tuple[list[dict[str, Any]], bool]:
    """One page of matching orders, newest first, and whether another page follows."""
    query = (
        select(Order)
        .where(*_conditions(found))
        .order_by(Order.created_at.desc(), Order.id.desc())
        .offset((found.page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE + 1)  # one more than shown: is there a next page?
    )
    orders = list(await session.scalars(query))
    rows = [
        {
            "code": o.code,
            "created": local(o.created_at, time_zone),
            "visit_date": o.visit_date.isoformat(),
            "slot": o.slot or "",
            "product": o.product_code,
            "channel": o.channel,
            "status": o.status,
            "total": money(o.total, o.currency),
            "refunded": money(o.refunded_amount, o.currency) if o.refunded_amount else "",
        }
        for o in orders[:PAGE_SIZE]
    ]
    return rows, len(orders) > PAGE_SIZE


def _adjustments(items: Any, currency: str) -> list[dict[str, Any]]:
    return [
        {
            "code": str(a.get("code", "")),
            "reason": str(a.get("reason", "")),
            "amount": money(int(a.get("amount", 0)), currency),
        }
        for a in items or ()
        if isinstance(a, Mapping)
    ]


def quote_view(order: Order) -> dict[str, Any]:
    """The quote the order was sold at, with money formatted (it never changes later)."""
    quote = order.quote if isinstance(order.quote, Mapping) else {}
    currency = order.currency
    return {
        "lines": [
            {
                "unit": line.get("unit", ""),
                "quantity": line.get("quantity", 0),
                "base_price": money(int(line.get("base_price", 0)), currency),
                "adjustments": _adjustments(line.get("adjustments"), currency),
                "unit_price": money(int(line.get("unit_price", 0)), currency),
                "total": money(int(line.get("total", 0)), currency),
            }
            for line in quote.get("lines", ())
            if isinstance(line, Mapping)
        ],
        "adjustments": _adjustments(quote.get("adjustments"), currency),
        "subtotal": money(int(quote.get("subtotal", order.subtotal)), currency),
        "total": money(int(quote.get("total", order.total)), currency),
    }


async def order_detail(session: AsyncSession, order: Order, time_zone: str) -> dict[str, Any]:
    """Everything the order page shows, the holders' sealed details left out."""
    currency = order.currency
    tickets = list(
        await session.scalars(
            select(Ticket).where(Ticket.order_id == order.id).order_by(Ticket.position)
        )
    )
    ledger = list(
        await session.scalars(
            select(LedgerLine).where(LedgerLine.order_id == order.id).order_by(LedgerLine.id)
        )
    )
    payments = list(
        await session.scalars(
            select(Payment)
            .where(Payment.order_id == order.id)
            .order_by(Payment.created_at, Payment.provider_ref)
        )
    )
    return {
        "code": order.code,
        "status": order.status,
        "channel": order.channel,
        "product": order.product_code,
        "visit_date": order.visit_date.isoformat(),
        "slot": order.slot or "",
        "places": order.places,
        "total": money(order.total, currency),
        "refunded": money(order.refunded_amount, currency),
        "created": local(order.created_at, time_zone),
        "paid": local(order.paid_at, time_zone),
        "expires": local(order.expires_at, time_zone),
        "closed": local(order.closed_at, time_zone),
        "contact": {
            "name": order.contact_name,
            "email": order.contact_email,
            "phone": order.contact_phone,
            "locale": order.locale,
        },
        "provider": order.provider,
        "provider_ref": order.provider_ref or "",
        "note": order.note,
        "quote": quote_view(order),
        "tickets": [
            {
                "id": str(t.id),
                "number": t.position + 1,
                "unit": t.unit,
                "price": money(t.price, currency),
                "refunded": money(t.refunded_amount, currency) if t.refunded_amount else "",
                "state": ticket_state(t),
                "valid_from": t.valid_from.isoformat(),
                "valid_to": t.valid_to.isoformat(),
                "slot": t.slot or "",
                "named": t.holder_id is not None,
                "live": t.revoked_at is None,
            }
            for t in tickets
        ],
        "ledger": [
            {
                "date": line.business_date.isoformat(),
                "kind": line.kind,
                "channel": line.channel,
                "provider": line.provider,
                "amount": money(line.amount, line.currency),
            }
            for line in ledger
        ],
        "payments": [
            {
                "date": p.business_date.isoformat(),
                "kind": p.kind,
                "provider": p.provider,
                "reference": p.provider_ref,
                "amount": money(p.amount, p.currency),
                "fee": money(p.platform_fee, p.currency),
                "at": local(p.created_at, time_zone),
            }
            for p in payments
        ],
    }
