"""Refunds: whole orders or single tickets, by the product's policy or by staff.

The tickets are revoked, their places and ID claims given back, and the money
sent back through the provider that took it. Window and test money is handed
back on the spot and recorded at once; Stripe's goes through a job that calls
Stripe with a stable idempotency key and records the refund when Stripe confirms.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from vistapass.platform.errors import VistapassError
from vistapass.platform.models.base import utcnow
from vistapass.platform.tenancy.binding import after_commit, current_tenant
from vistapass.platform.worker.enqueue import enqueue_job
from vistapass.tenants.inventory import service as inventory
from vistapass.tenants.inventory.availability import invalidate
from vistapass.tenants.ledger.service import record_payment
from vistapass.tenants.models import Order, Product, Ticket
from vistapass.tenants.orders.context import Selling

# Money that changes hands at once: recorded in the refund's own transaction.
IMMEDIATE_REFUND_PROVIDERS = frozenset({"cash", "card_terminal", "test"})


class RefundError(VistapassError):
    status_code = 422
    code = "refund_rejected"


@dataclass(frozen=True, slots=True)
class RefundResult:
    order: Order
    amount: int
    tickets: list[Ticket]


def refund_share(
    policy: dict[str, object], price: int, visit_start: datetime, now: datetime
) -> int:
    """What the buyer gets back for one ticket under the product's policy.

    Raises RefundError naming the rule when the policy allows nothing.
    """
    kind = policy.get("kind", "none")
    if now >= visit_start:
        raise RefundError(
            "The visit has started; tickets can no longer be refunded online.",
            code="refund_window_closed",
        )
    if kind == "free_until":
        hours = int(policy.get("hours", 0))  # type: ignore[call-overload]
        if now > visit_start - timedelta(hours=hours):
            raise RefundError(
                f"Refunds close {hours} hours before the visit.",
                code="refund_window_closed",
                details={"hours": hours},
            )
        return price
    if kind == "fee":
        percent = int(policy.get("percent", 0))  # type: ignore[call-overload]
        fee = (price * percent + 50) // 100
        return price - fee
    raise RefundError("This product's tickets are not refundable.", code="not_refundable")


def visit_start(order: Order, time_zone: str) -> datetime:
    """The moment the visit begins: the slot's start, else the day's start."""
    start = (order.quote.get("slot_start") if isinstance(order.quote, dict) else None) or "00:00"
    hour, minute = (int(part) for part in str(start).split(":"))
    return datetime(
        order.visit_date.year,
        order.visit_date.month,
        order.visit_date.day,
        hour,
        minute,
        tzinfo=ZoneInfo(time_zone),
    )


async def refund_order(
    session: AsyncSession,
    selling: Selling,
    order: Order,
    *,
    ticket_ids: Sequence[uuid.UUID] | None,
    by_staff: bool,
    time_zone: str,
    business_date: date,
    reason: str,
) -> RefundResult:
    """Refund the named tickets (all live ones when None) of a paid order.

    A buyer gets what the policy allows; staff refund each ticket's full share.
    """
    locked = await session.scalar(select(Order).where(Order.id == order.id).with_for_update())
    assert locked is not None
    order = locked
    if order.status not in ("paid", "partially_refunded"):
        raise RefundError(
            f"Only a paid order can be refunded; this one is {order.status}.",
            code="order_not_refundable",
            details={"status": order.status},
        )
    tickets = await _tickets(session, order)
    live = [t for t in tickets if t.revoked_at is None]
    if ticket_ids is None:
        chosen = live
    else:
        wanted = set(ticket_ids)
        unknown = wanted - {t.id for t in tickets}
        if unknown:
            raise RefundError(
                "Some tickets are not part of this order.",
                code="unknown_ticket",
                details={"tickets": sorted(str(t) for t in unknown)},
            )
        chosen = [t for t in tickets if t.id in wanted]
        if any(t.revoked_at is not None for t in chosen):
            raise RefundError(
                "A ticket named was already refunded.",
                code="already_refunded",
                details={"tickets": [str(t.id) for t in chosen if t.revoked_at is not None]},
            )
    if not chosen:
        raise RefundError("Nothing left to refund on this order.", code="already_refunded")
    product = await session.get(Product, order.product_id)
    assert product is not None
    now = utcnow()
    start = visit_start(order, time_zone)
    shares = [
        t.price if by_staff else refund_share(product.refund_policy, t.price, start, now)
        for t in chosen
    ]
    amount = sum(shares)
    if order.refunded_amount + amount > order.total:
        raise RefundError(
            "That is more than is left of what was paid.",
            code="refund_exceeds_paid",
            details={"paid": order.total, "refunded": order.refunded_amount, "asked": amount},
        )
    await withdraw_tickets(session, selling, order, live, chosen, shares, start=start, now=now)
    await send_refund(session, order, amount, reason, business_date=business_date)
    return RefundResult(order=order, amount=amount, tickets=chosen)


async def withdraw_tickets(
    session: AsyncSession,
    selling: Selling,
    order: Order,
    live: Sequence[Ticket],
    chosen: Sequence[Ticket],
    shares: Sequence[int],
    *,
    start: datetime,
    now: datetime,
) -> None:
    """Revoke `chosen` of the order's `live` tickets (each refunded its share), add the
    shares to the order's refunded amount and give back their places and ID claims; the
    money is the caller's."""
    for ticket, share in zip(chosen, shares, strict=True):
        ticket.revoked_at = now
        ticket.revoked_reason = "refunded"
        ticket.refunded_amount = share
    order.refunded_amount += sum(shares)
    order.status = "refunded" if len(chosen) == len(live) else "partially_refunded"
    if order.status == "refunded":
        order.closed_at = now
    await session.flush()
    if not chosen:
        return
    await session.execute(
        text("DELETE FROM identity_claims WHERE ticket_id = ANY(:ids)"),
        {"ids": [t.id for t in chosen]},
    )
    # Places come back only while they can still be sold.
    if start > now:
        await inventory.release(session, order.id, len(chosen))
        product = await session.get(Product, order.product_id)
        assert product is not None
        tenant = current_tenant(session)
        visit, product_code = order.visit_date, order.product_code
        returned = inventory.needs_for(
            product, await inventory.pools_for(session, product), visit, order.slot, len(chosen)
        )

        async def announce() -> None:
            await selling.gate.returned(tenant.schema_name, returned)
            await selling.gate.forget_sold_out(tenant.schema_name, product_code, visit)
            await invalidate(selling, tenant.slug, {visit})

        after_commit(session, announce)


async def apply_outside_refund(
    session: AsyncSession, selling: Selling, order: Order, amount: int, *, time_zone: str
) -> int:
    """Money the provider refunded without us (a refund in Stripe's dashboard): make the
    order and its tickets say so; how many tickets were revoked.

    Stripe does not say which tickets a refund was for. A refund of all that is left
    of the order revokes every ticket. A smaller one revokes tickets from the last
    while it still covers a whole ticket's price (a refund of one ticket's price
    revokes one); what is left over (a goodwill refund) is money and revokes nothing.
    """
    locked = await session.scalar(select(Order).where(Order.id == order.id).with_for_update())
    assert locked is not None
    order = locked
    if order.status not in ("paid", "partially_refunded") or amount <= 0:
        return 0
    rest = order.total - order.refunded_amount
    amount = min(amount, rest)
    if amount <= 0:
        return 0  # what we asked for already covers it all
    live = [t for t in await _tickets(session, order) if t.revoked_at is None]
    if amount == rest:
        chosen, shares, left = live, _spread(amount, [t.price for t in live]), 0
    else:
        chosen, left = [], amount
        for ticket in reversed(live):
            if ticket.price > left:
                break
            chosen.append(ticket)
            left -= ticket.price
        shares = [t.price for t in chosen]
    start, now = visit_start(order, time_zone), utcnow()
    await withdraw_tickets(session, selling, order, live, chosen, shares, start=start, now=now)
    order.refunded_amount += left
    await session.flush()
    return len(chosen)


def _spread(amount: int, prices: list[int]) -> list[int]:
    """Shares of `amount` by ticket: each its price, the difference taken from (or given
    to) the last tickets, so that they add up to `amount`."""
    shares = list(prices)
    if not shares:
        return shares
    difference = amount - sum(shares)
    if difference > 0:
        shares[-1] += difference
    for index in reversed(range(len(shares))):
        if difference >= 0:
            break
        cut = min(-difference, shares[index])
        shares[index] -= cut
        difference += cut
    return shares


async def _tickets(session: AsyncSession, order: Order) -> list[Ticket]:
    return list(
        await session.scalars(
            select(Ticket).where(Ticket.order_id == order.id).order_by(Ticket.position)
        )
    )


async def send_refund(
    session: AsyncSession, order: Order, amount: int, reason: str, *, business_date: date
) -> None:
    """Send `amount` back through the order's provider (now, or by a retried job)."""
    if amount <= 0:
        return
    refund_id = uuid.uuid4()
    if order.provider in IMMEDIATE_REFUND_PROVIDERS:
        await record_payment(
            session,
            order,
            kind="refund",
            provider=order.provider,
            provider_ref=f"refund_{refund_id.hex}",
            amount=amount,
            platform_fee=0,
            business_date=business_date,
        )
        return
    enqueue_job(
        session,
        "orders.refund_with_provider",
        order_id=str(order.id),
        refund_id=str(refund_id),
        amount=amount,
        reason=reason,
    )
