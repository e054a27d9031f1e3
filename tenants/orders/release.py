"""Giving places back: unpaid orders that expire or are cancelled.

Selling never waits for a scheduler: a sale that finds a bucket full of holds
whose time ran out (or an ID document whose claims belong to such orders)
expires those orders here, in a transaction of its own, and tries once more. A
periodic job (`expire_overdue`) also expires the rest, so that an order nobody
touches again reads `expired` everywhere, not only where the hold is checked.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from functools import partial

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from vistapass.platform.tenancy.binding import after_commit, current_tenant, tenant_session
from vistapass.tenants.inventory import service as inventory
from vistapass.tenants.inventory.availability import invalidate
from vistapass.tenants.models import Order, Product
from vistapass.tenants.orders.context import Selling
from vistapass.tenants.orders.errors import OrderError


async def reclaim_expired(selling: Selling, slug: str, needs: Sequence[inventory.Need]) -> int:
    """Expire the unpaid orders whose holds ran out in these buckets; how many."""
    async with tenant_session(selling.db, slug) as session:
        expired = 0
        for order_id in await inventory.expired_orders_in(session, needs):
            if await expire_order(session, selling, order_id):
                expired += 1
        return expired


async def reclaim_expired_claims(
    selling: Selling, slug: str, document_hash: bytes, day: date
) -> int:
    """Expire the unpaid, timed-out orders holding this document's claims for `day`."""
    async with tenant_session(selling.db, slug) as session:
        rows = await session.execute(
            text(
                "SELECT DISTINCT c.order_id FROM identity_claims c "
                "JOIN orders o ON o.id = c.order_id WHERE c.document_hash = :hash "
                "AND c.day = :day AND o.status = 'pending' AND o.expires_at < now()"
            ),
            {"hash": document_hash, "day": day},
        )
        expired = 0
        for order_id in list(rows.scalars()):
            if await expire_order(session, selling, order_id):
                expired += 1
        return expired


EXPIRE_BATCH = 200


async def expire_overdue(selling: Selling, slug: str, limit: int = EXPIRE_BATCH) -> int:
    """Expire up to `limit` unpaid orders of the park whose hold ran out; how many."""
    async with tenant_session(selling.db, slug) as session:
        overdue = await session.scalars(
            text(
                "SELECT id FROM orders WHERE status = 'pending' AND expires_at < now() "
                "ORDER BY expires_at LIMIT :limit"
            ),
            {"limit": limit},
        )
        expired = 0
        for order_id in list(overdue):
            if await expire_order(session, selling, order_id):
                expired += 1
        return expired


async def expire_order(session: AsyncSession, selling: Selling, order_id: uuid.UUID) -> bool:
    """Expire one unpaid order whose time is up, giving back its places and claims."""
    row = (
        await session.execute(
            text(
                "UPDATE orders SET status = 'expired', closed_at = now(), updated_at = now() "
                "WHERE id = :id AND status = 'pending' AND expires_at < now() RETURNING id"
            ),
            {"id": order_id},
        )
    ).first()
    if row is None:
        return False  # paid or closed meanwhile: its places are not ours to take
    await _give_back(session, selling, order_id)
    return True


async def cancel_order(session: AsyncSession, selling: Selling, order: Order) -> Order:
    """The buyer (or staff) gives up an unpaid order."""
    if order.status != "pending":
        raise OrderError(
            f"Only an unpaid order can be cancelled; this one is {order.status}.",
            code="order_not_pending",
            details={"status": order.status},
        )
    await session.execute(
        text(
            "UPDATE orders SET status = 'cancelled', closed_at = now(), updated_at = now() "
            "WHERE id = :id"
        ),
        {"id": order.id},
    )
    await _give_back(session, selling, order.id)
    await session.refresh(order)
    return order


async def _give_back(session: AsyncSession, selling: Selling, order_id: uuid.UUID) -> None:
    order = await session.get(Order, order_id)
    assert order is not None
    product = await session.get(Product, order.product_id)
    assert product is not None
    await inventory.release(session, order_id)
    await session.execute(
        text("DELETE FROM identity_claims WHERE order_id = :id"), {"id": order_id}
    )
    needs = inventory.needs_for(
        product,
        await inventory.pools_for(session, product),
        order.visit_date,
        order.slot,
        order.places,
    )
    schema = current_tenant(session).schema_name
    slug = current_tenant(session).slug
    after_commit(session, partial(selling.gate.returned, schema, needs))
    after_commit(
        session,
        partial(selling.gate.forget_sold_out, schema, order.product_code, order.visit_date),
    )
    after_commit(session, partial(invalidate, selling, slug, {order.visit_date}))
