"""The rows of a new order, built once for either way of writing them.

`build_order` prices nothing and reads nothing: it lays out what an order, its
lines and its tickets hold. The ordinary path turns the rows into ORM objects
(`NewRows.orm`); the group commit writes them as they are, which is why they are
plain dataclasses (an ORM object costs several times more to make, and a holiday
rush makes thousands a second).
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from vistapass.platform.plugin_api import Entitlement, Quote, QuoteLine
from vistapass.tenants.models import Order, OrderLine, Product, Ticket

if TYPE_CHECKING:
    from vistapass.tenants.orders.service import OrderRequest

# Crockford's base32 without I, L, O, U: codes read aloud at a window are unambiguous.
CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 10


def new_order_code() -> str:
    # One read of the system's randomness, not one per character; 256 is a multiple
    # of the alphabet's 32 letters, so `b % 32` picks each of them equally often.
    return "".join(CODE_ALPHABET[b % 32] for b in secrets.token_bytes(CODE_LENGTH))


def allocate(total: int, weights: Sequence[int]) -> list[int]:
    """Split `total` into shares proportional to `weights` that add up exactly.

    Largest remainder, ties to the earlier share; equal shares when every weight
    is zero. Refunding one ticket of a discounted family then refunds its share
    of what was really paid, and all shares together are the order's total.
    """
    if not weights:
        return []
    if not any(weights):
        weights = [1] * len(weights)
    whole = sum(weights)
    shares = [total * weight // whole for weight in weights]
    remainders = sorted(range(len(weights)), key=lambda i: (-(total * weights[i] % whole), i))
    for i in remainders[: total - sum(shares)]:
        shares[i] += 1
    return shares


def adjustments(items: Sequence[Any]) -> list[dict[str, Any]]:
    return [{"code": a.code, "reason": a.reason, "amount": a.amount} for a in items]


def quote_json(quote: Quote, entitlements: Sequence[Entitlement]) -> dict[str, Any]:
    """The quote as sold, kept on the order: later price changes never reach it."""

    return {
        "currency": quote.currency,
        "lines": [
            {
                "unit": line.unit,
                "quantity": line.quantity,
                "base_price": line.base_price,
                "adjustments": adjustments(line.adjustments),
                "unit_price": line.unit_price,
                "total": line.total,
            }
            for line in quote.lines
        ],
        "adjustments": adjustments(quote.adjustments),
        "subtotal": quote.subtotal,
        "total": quote.total,
        "tickets": len(entitlements),
        # When the visit starts, for refund deadlines: the slot's start, if any.
        "slot_start": next(
            (e.extras.get("slot_start") for e in entitlements if e.extras.get("slot_start")),
            None,
        ),
    }


def entitlement_json(entitlement: Entitlement) -> dict[str, Any]:
    return {
        "unit": entitlement.unit,
        "valid_from": entitlement.valid_from.isoformat(),
        "valid_to": entitlement.valid_to.isoformat(),
        "slot": entitlement.slot,
        "entries_per_day": entitlement.entries_per_day,
        "entries_total": entitlement.entries_total,
        "zones": list(entitlement.zones),
        "real_name_required": entitlement.real_name_required,
        "face_required": entitlement.face_required,
        "reentry_allowed": entitlement.reentry_allowed,
        "extras": dict(entitlement.extras),
    }


@dataclass(slots=True)
class NewOrder:
    id: uuid.UUID
    code: str
    access_token: str
    channel: str
    status: str
    product_id: uuid.UUID
    product_code: str
    visit_date: date
    slot: str | None
    places: int
    currency: str
    subtotal: int
    total: int
    refunded_amount: int
    quote: dict[str, Any]
    contact_name: str
    contact_email: str
    contact_phone: str
    locale: str
    provider: str
    provider_ref: str | None
    sold_by: uuid.UUID | None
    expires_at: datetime | None
    paid_at: datetime | None
    note: str


@dataclass(slots=True)
class NewLine:
    order_id: uuid.UUID
    unit: str
    quantity: int
    base_price: int
    unit_price: int
    total: int
    adjustments: list[dict[str, Any]]


@dataclass(slots=True)
class NewTicket:
    id: uuid.UUID
    order_id: uuid.UUID
    position: int
    unit: str
    price: int
    refunded_amount: int
    valid_from: date
    valid_to: date
    slot: str | None
    entitlement: dict[str, Any]
    qr: str | None = None
    holder_id: uuid.UUID | None = None
    revoked_at: datetime | None = None
    revoked_reason: str | None = None


def _orm(row: Any, model: type[Any]) -> Any:
    return model(**{f.name: getattr(row, f.name) for f in fields(row)})


@dataclass(slots=True)
class NewRows:
    order: NewOrder
    lines: list[NewLine]
    tickets: list[NewTicket]

    def orm(self) -> tuple[Order, list[OrderLine], list[Ticket]]:
        """The same rows as ORM objects, for a session to add."""
        return (
            _orm(self.order, Order),
            [_orm(line, OrderLine) for line in self.lines],
            [_orm(ticket, Ticket) for ticket in self.tickets],
        )


@dataclass(frozen=True, slots=True)
class PricedRows:
    """What every order of one priced basket holds alike: its quote as JSON, its
    lines and each ticket's price and entitlement. Built once per basket the fast
    path keeps priced (`facts.SaleFacts.priced`) and shared by the orders made from
    it, so nothing may change the dicts and lists in it."""

    quote: dict[str, Any]
    subtotal: int
    total: int
    lines: tuple[tuple[QuoteLine, int, list[dict[str, Any]]], ...]  # line, unit price, adj.
    tickets: tuple[tuple[Entitlement, int, dict[str, Any]], ...]  # entitlement, price, JSON


def priced_rows(quote: Quote, entitlements: Sequence[Entitlement]) -> PricedRows:
    unit_prices = {line.unit: line.unit_price for line in quote.lines}
    prices = allocate(quote.total, [unit_prices.get(e.unit, 0) for e in entitlements])
    return PricedRows(
        quote=quote_json(quote, entitlements),
        subtotal=quote.subtotal,
        total=quote.total,
        lines=tuple((line, line.unit_price, adjustments(line.adjustments)) for line in quote.lines),
        tickets=tuple(
            (entitlement, price, entitlement_json(entitlement))
            for entitlement, price in zip(entitlements, prices, strict=True)
        ),
    )


def build_order(
    request: OrderRequest,
    product: Product,
    priced: PricedRows,
    *,
    provider: str,
    expires_at: datetime | None,
) -> NewRows:
    """The rows of a new order, not yet added to any session."""
    order = NewOrder(
        id=uuid.uuid4(),
        code=new_order_code(),
        access_token=secrets.token_urlsafe(24),
        channel=request.channel,
        status="pending",
        product_id=product.id,
        product_code=product.code,
        visit_date=request.visit_date,
        slot=request.slot,
        places=len(priced.tickets),
        currency=priced.quote["currency"],
        subtotal=priced.subtotal,
        total=priced.total,
        refunded_amount=0,
        quote=priced.quote,
        contact_name=request.buyer.name,
        contact_email=request.buyer.email,
        contact_phone=request.buyer.phone,
        locale=request.buyer.locale,
        provider=provider,
        provider_ref=None,
        sold_by=request.sold_by,
        expires_at=expires_at,
        paid_at=None,
        note=request.note,
    )
    lines = [
        NewLine(
            order_id=order.id,
            unit=line.unit,
            quantity=line.quantity,
            base_price=line.base_price,
            unit_price=unit_price,
            total=unit_price * line.quantity,
            adjustments=adjusted,
        )
        for line, unit_price, adjusted in priced.lines
    ]
    tickets = [
        NewTicket(
            id=uuid.uuid4(),
            order_id=order.id,
            position=position,
            unit=entitlement.unit,
            price=price,
            refunded_amount=0,
            valid_from=entitlement.valid_from,
            valid_to=entitlement.valid_to,
            slot=entitlement.slot,
            entitlement=shown,
        )
        for position, (entitlement, price, shown) in enumerate(priced.tickets)
    ]
    return NewRows(order, lines, tickets)
