"""Refunds paid outside the provider: cash at the window, a bank transfer.

When a provider fails a refund it had reported (`stripe_payments._reverse_refund`),
the money stays with the park: the reversal is in the books, the order's note says
`refund_failed`, and its tickets stay revoked because the buyer asked for the
refund. Staff then pay the buyer another way and record it here, as a refund
payment of that method with its ledger line, so the day still reconciles. What
may be recorded is what the provider took back and was not yet paid another way.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from vistapass.platform.audit.service import Actor, record
from vistapass.tenants.ledger.service import record_payment
from vistapass.tenants.models import Order
from vistapass.tenants.orders.errors import OrderError
from vistapass.tenants.orders.service import load_order
from vistapass.tenants.park.service import get_profile

OUTSIDE_METHODS = ("cash", "bank_transfer")
PAID_OUTSIDE = "refund_paid_outside"  # the order's note once nothing is owed


async def owed_outside(session: AsyncSession, order: Order) -> int:
    """What the provider took back of this order's refunds and staff have not yet
    paid another way (minor units)."""
    owed = await session.scalar(
        text(
            "SELECT COALESCE(sum(amount) FILTER (WHERE kind = 'reversal'), 0) - "
            "COALESCE(sum(amount) FILTER (WHERE kind = 'refund' AND provider = ANY(:methods)), 0) "
            "FROM payments WHERE order_id = :order"
        ),
        {"order": order.id, "methods": list(OUTSIDE_METHODS)},
    )
    return max(0, int(owed or 0))


async def record_outside_refund(
    session: AsyncSession, order: Order, *, amount: int, method: str, business_date: date
) -> int:
    """Record `amount` paid back to the buyer by `method`; what is still owed after it.

    `order` must be locked (`load_order(..., for_update=True)`): two staff members
    recording at once must not both pay what is owed once.
    """
    if method not in OUTSIDE_METHODS:
        raise OrderError(
            f"Unknown refund method '{method}'.",
            code="unknown_refund_method",
            details={"method": method, "known": list(OUTSIDE_METHODS)},
        )
    owed = await owed_outside(session, order)
    if owed == 0:
        raise OrderError(
            "Nothing is owed on this order: no refund failed at the provider.",
            code="nothing_owed",
        )
    if not 1 <= amount <= owed:
        raise OrderError(
            "That is more than is owed to the buyer.",
            code="refund_exceeds_owed",
            details={"amount": amount, "owed": owed},
        )
    await record_payment(
        session,
        order,
        kind="refund",
        provider=method,
        provider_ref=f"outside:{uuid.uuid4().hex}",
        amount=amount,
        platform_fee=0,
        business_date=business_date,
    )
    order.refunded_amount += amount
    if amount == owed:
        order.note = PAID_OUTSIDE
    await session.flush()
    return owed - amount


async def staff_outside_refund(
    session: AsyncSession, actor: Actor, code: str, *, amount: int, method: str, reference: str
) -> tuple[Order, int]:
    """A staff member's record of a refund paid another way, audited with the
    reference they give (a transfer's number, a receipt's); the order and what is
    still owed."""
    order = await load_order(session, code, for_update=True)
    profile = await get_profile(session)
    before = {"refunded": order.refunded_amount, "note": order.note}
    left = await record_outside_refund(
        session,
        order,
        amount=amount,
        method=method,
        business_date=datetime.now(ZoneInfo(profile.time_zone)).date(),
    )
    await record(
        session,
        actor,
        "order.refund_paid_outside",
        f"order:{order.code}",
        before=before,
        after={
            "refunded": order.refunded_amount,
            "note": order.note,
            "amount": amount,
            "method": method,
            "reference": reference,
            "owed": left,
        },
    )
    return order, left
