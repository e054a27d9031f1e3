"""An order's money arriving: paid at once, or later by a provider's confirmation.

A paid order always has its tickets: they are issued in the transaction that
marks it paid. A payment that arrives after the hold ran out still buys the
places if they are free; if they are gone, the money goes back at once and the
buyer is told why.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from vistapass.platform.logging import get_logger
from vistapass.platform.models.base import utcnow
from vistapass.platform.worker.enqueue import enqueue_job
from vistapass.tenants.inventory import service as inventory
from vistapass.tenants.ledger.service import record_payment
from vistapass.tenants.models import Order, Product
from vistapass.tenants.orders.context import Selling, local_now
from vistapass.tenants.orders.refunds import send_refund
from vistapass.tenants.park.service import get_profile
from vistapass.tenants.tickets.issue import issue_tickets

log = get_logger(__name__)

PAID_STATES = frozenset({"paid", "partially_refunded", "refunded"})


async def settle_paid(
    session: AsyncSession,
    selling: Selling,
    order: Order,
    *,
    provider: str,
    provider_ref: str,
    amount: int,
    platform_fee: int,
    business_date: date,
) -> bool:
    """Mark a pending order paid: sold places, issued tickets, ledger lines.

    Returns False when this payment was already recorded (nothing changes).
    """
    payment = await record_payment(
        session,
        order,
        kind="charge",
        provider=provider,
        provider_ref=provider_ref,
        amount=amount,
        platform_fee=platform_fee,
        business_date=business_date,
    )
    if payment is None:
        return False
    order.status = "paid"
    order.paid_at = utcnow()
    order.expires_at = None
    order.provider = provider
    order.provider_ref = provider_ref
    await inventory.confirm_holds(session, order.id)
    product = await session.get(Product, order.product_id)
    assert product is not None
    await issue_tickets(session, selling, order, product)
    await session.flush()
    enqueue_confirmation(session, order)
    return True


def enqueue_confirmation(session: AsyncSession, order: Order) -> None:
    if order.contact_email:
        enqueue_job(
            session,
            "orders.send_confirmation",
            order_id=str(order.id),
        )


async def confirm_payment(
    session: AsyncSession,
    selling: Selling,
    order: Order,
    *,
    provider: str,
    provider_ref: str,
    amount: int,
    platform_fee: int,
    business_date: date,
) -> str:
    """A provider says the order's money arrived. Safe to call any number of times.

    Returns what happened: `paid`, `duplicate`, or `refunded_sold_out` when the
    hold had run out and the places were sold to someone else meanwhile.
    """
    locked = await session.scalar(select(Order).where(Order.id == order.id).with_for_update())
    assert locked is not None
    order = locked
    if order.status in PAID_STATES:
        return "duplicate"
    if order.status in ("expired", "cancelled"):
        # The hold is gone: take the places again, if there are any.
        product = await session.get(Product, order.product_id)
        assert product is not None
        pools = await inventory.pools_for(session, product)
        needs = inventory.needs_for(product, pools, order.visit_date, order.slot, order.places)
        try:
            async with session.begin_nested():
                await inventory.take(session, order.id, needs, None)
        except inventory.SoldOut:
            await _refund_unplaceable(
                session, order, provider, provider_ref, amount, platform_fee, business_date
            )
            return "refunded_sold_out"
        await session.execute(
            text("UPDATE orders SET status = 'pending', closed_at = NULL WHERE id = :id"),
            {"id": order.id},
        )
        await session.refresh(order)
    settled = await settle_paid(
        session,
        selling,
        order,
        provider=provider,
        provider_ref=provider_ref,
        amount=amount,
        platform_fee=platform_fee,
        business_date=business_date,
    )
    return "paid" if settled else "duplicate"


async def pay_in_test(session: AsyncSession, selling: Selling, order: Order) -> str:
    """The development payment: confirmed at once, as a provider would; no money moves."""
    profile = await get_profile(session)
    return await confirm_payment(
        session,
        selling,
        order,
        provider="test",
        provider_ref=f"test_{order.code}",
        amount=order.total,
        platform_fee=0,
        business_date=local_now(profile.time_zone).date(),
    )


async def _refund_unplaceable(
    session: AsyncSession,
    order: Order,
    provider: str,
    provider_ref: str,
    amount: int,
    platform_fee: int,
    business_date: date,
) -> None:
    """Record the late money and send it all back through the same provider."""
    payment = await record_payment(
        session,
        order,
        kind="charge",
        provider=provider,
        provider_ref=provider_ref,
        amount=amount,
        platform_fee=platform_fee,
        business_date=business_date,
    )
    if payment is None:
        return
    order.status = "refunded"
    order.paid_at = utcnow()
    order.refunded_amount = min(amount, order.total)
    order.provider = provider
    order.provider_ref = provider_ref
    order.note = "hold_expired_sold_out"
    await session.flush()
    log.info("late payment refunded", order=order.code, provider=provider)
    await send_refund(session, order, amount, "hold_expired_sold_out", business_date=business_date)
    enqueue_confirmation(session, order)
