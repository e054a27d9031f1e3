"""Counting places: one conditional update per bucket, inside the order's transaction.

A product's places for a day may be limited three ways at once: by its slot's
capacity (from the pricing mode), by its own daily capacity, and by each shared
pool it draws on. Each limit is a bucket row; an order takes places from every
bucket that applies, in a fixed order so two orders never wait on each other in a
cycle, with `taken + n <= capacity` checked by the same statement that takes them.

Unpaid orders hold places until `expires_at`. No scheduler gives them back: an
expired hold is still counted in `taken` until someone needs the place, and then
`reclaim_expired` expires its order and releases it (availability reads subtract
expired holds, so they are never shown as taken).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from vistapass.platform.errors import VistapassError
from vistapass.platform.plugin_api import SlotCatalog, SlotInfo
from vistapass.platform.pricing_registry import get_mode
from vistapass.tenants.models import CapacityPool, InventoryBucket, Product


class SoldOut(VistapassError):
    status_code = 409
    code = "sold_out"

    def __init__(
        self,
        message: str,
        *,
        day: date,
        slot: str | None,
        available: int,
        bucket: Need | None = None,
    ) -> None:
        super().__init__(
            message, details={"date": day.isoformat(), "slot": slot or None, "left": available}
        )
        self.bucket = bucket
        self.available = available

    @classmethod
    def left(cls, day: date, slot: str | None, left: int, bucket: Need | None = None) -> SoldOut:
        """The refusal when only `left` places remain (0: none)."""
        return cls(
            f"Only {left} places are left for that date and time."
            if left
            else "That date and time are sold out.",
            day=day,
            slot=slot,
            available=left,
            bucket=bucket,
        )


@dataclass(frozen=True, slots=True)
class Need:
    """`quantity` places wanted in one bucket whose capacity is `capacity` today."""

    scope: str
    day: date
    slot: str
    capacity: int
    quantity: int

    @property
    def bucket(self) -> tuple[str, date, str]:
        """The bucket row's key, which is also the order buckets are locked in."""
        return (self.scope, self.day, self.slot)


def product_scope(product: Product) -> str:
    return f"product:{product.id}"


def pool_scope(code: str) -> str:
    return f"pool:{code}"


def product_slots(product: Product) -> tuple[SlotInfo, ...]:
    mode = get_mode(product.pricing_mode)
    if isinstance(mode, SlotCatalog):
        return mode.slots(product.pricing_config)
    return ()


async def pools_for(session: AsyncSession, product: Product) -> dict[str, CapacityPool]:
    """The shared pools a product draws on, by code."""
    if not product.pool_codes:
        return {}
    rows = await session.scalars(
        select(CapacityPool).where(CapacityPool.code.in_(product.pool_codes))
    )
    return {pool.code: pool for pool in rows}


def needs_for(
    product: Product,
    pools: Mapping[str, CapacityPool],
    day: date,
    slot: str | None,
    places: int,
    slots: Sequence[SlotInfo] | None = None,
) -> list[Need]:
    """The buckets an order of `places` people takes from, sorted in lock order.

    `slots`: the product's, when the caller has them (parsing a config of many
    slots on every call is measurable on the order path)."""
    needs = []
    scope = product_scope(product)
    slot_capacity = next(
        (
            s.capacity
            for s in (product_slots(product) if slots is None else slots)
            if s.code == slot and s.capacity is not None
        ),
        None,
    )
    if slot and slot_capacity is not None:
        needs.append(Need(scope, day, slot, slot_capacity, places))
    if product.daily_capacity is not None:
        needs.append(Need(scope, day, "", product.daily_capacity, places))
    for code in product.pool_codes:
        pool = pools.get(code)
        # A pool the operator deleted no longer limits anything.
        if pool is not None:
            needs.append(Need(pool_scope(code), day, "", pool.daily_capacity, places))
    return sorted(needs, key=lambda need: need.bucket)


# A bucket created or freed by a concurrent sale is seen by the next statement.
TAKE_ATTEMPTS = 3

# Take the places and record the hold in one statement: the bucket row stays locked
# from here to the commit, so this runs last in the order's transaction.
_TAKE = text(
    """
    WITH bucket AS (
        UPDATE inventory_buckets
           SET taken = taken + :quantity, capacity = :capacity
         WHERE scope = :scope AND day = :day AND slot = :slot
           AND taken + :quantity <= :capacity
        RETURNING id
    )
    INSERT INTO order_holds (order_id, bucket_id, quantity, expires_at)
    SELECT :order_id, id, :quantity, :expires_at FROM bucket
    RETURNING bucket_id
    """
)


async def _bucket_left(session: AsyncSession, need: Need) -> int | None:
    """Places left in an existing bucket (None: no bucket yet)."""
    row = (
        await session.execute(
            text(
                "SELECT taken FROM inventory_buckets "
                "WHERE scope = :scope AND day = :day AND slot = :slot"
            ),
            {"scope": need.scope, "day": need.day, "slot": need.slot},
        )
    ).first()
    return None if row is None else max(need.capacity - row.taken, 0)


async def take(
    session: AsyncSession,
    order_id: uuid.UUID,
    needs: Sequence[Need],
    expires_at: datetime | None,
) -> None:
    """Take every need's places for the order, held until `expires_at` (None: sold
    for good), or raise SoldOut (the caller rolls back).

    The capacity written is today's configured capacity, so an operator's change
    applies to the next sale without a separate sync.
    """
    for need in needs:
        params = {
            "scope": need.scope,
            "day": need.day,
            "slot": need.slot,
            "quantity": need.quantity,
            "capacity": need.capacity,
            "order_id": order_id,
            "expires_at": expires_at,
        }
        left: int | None = None
        for _ in range(TAKE_ATTEMPTS):
            if (await session.execute(_TAKE, params)).first() is not None:
                break
            left = await _bucket_left(session, need)
            if left is None and need.quantity <= need.capacity:
                # First sale for this bucket. A concurrent creator may win the
                # insert; either way the conditional update decides next time round.
                await session.execute(
                    insert(InventoryBucket)
                    .values(
                        scope=need.scope,
                        day=need.day,
                        slot=need.slot,
                        capacity=need.capacity,
                        taken=0,
                    )
                    .on_conflict_do_nothing(constraint="uq_inventory_buckets_scope_day_slot")
                )
            elif left is None or left < need.quantity:
                # No bucket yet means nothing is taken: all of its capacity is left.
                raise _sold_out(need, need.capacity if left is None else left)
            # Otherwise the bucket appeared (or freed up) after the update's snapshot
            # was taken: a new statement sees it, so try again.
        else:
            raise _sold_out(need, left or 0)


def _sold_out(need: Need, left: int) -> SoldOut:
    return SoldOut.left(need.day, need.slot, left, bucket=need)


async def confirm_holds(session: AsyncSession, order_id: uuid.UUID) -> None:
    """The order is paid: its places are sold, no longer on a timer."""
    await session.execute(
        text(
            "UPDATE order_holds SET expires_at = NULL "
            "WHERE order_id = :order_id AND released_at IS NULL"
        ),
        {"order_id": order_id},
    )


async def release(session: AsyncSession, order_id: uuid.UUID, places: int | None = None) -> None:
    """Give back the order's places: all of them, or `places` from each live hold.

    Each hold row is released once, so releasing twice gives nothing back the
    second time. Buckets are updated in the same order `take` locks them.
    """
    if places is None:
        change = (
            "UPDATE order_holds SET released_at = now() "
            "WHERE order_id = :order_id AND released_at IS NULL "
            "RETURNING bucket_id, quantity"
        )
    else:
        # A partial refund: shrink each live hold by `places`.
        change = (
            "UPDATE order_holds SET quantity = quantity - :places, "
            "released_at = CASE WHEN quantity = :places THEN now() END "
            "WHERE order_id = :order_id AND released_at IS NULL AND quantity >= :places "
            "RETURNING bucket_id, CAST(:places AS int) AS quantity"
        )
    rows = (
        await session.execute(
            text(
                f"WITH changed AS ({change}) "
                "SELECT changed.bucket_id, changed.quantity FROM changed "
                "JOIN inventory_buckets b ON b.id = changed.bucket_id "
                "ORDER BY b.scope, b.day, b.slot"
            ),
            {"order_id": order_id, "places": places},
        )
    ).all()
    for bucket_id, quantity in rows:
        await session.execute(
            text("UPDATE inventory_buckets SET taken = taken - :quantity WHERE id = :id"),
            {"quantity": quantity, "id": bucket_id},
        )


async def expired_orders_in(session: AsyncSession, needs: Sequence[Need]) -> list[uuid.UUID]:
    """Unpaid orders whose hold has run out in any of these buckets."""
    if not needs:
        return []
    rows = await session.execute(
        text(
            "SELECT DISTINCT h.order_id FROM order_holds h "
            "JOIN inventory_buckets b ON b.id = h.bucket_id "
            "WHERE h.released_at IS NULL AND h.expires_at IS NOT NULL AND h.expires_at < now() "
            "AND (b.scope, b.day, b.slot) IN (SELECT * FROM unnest("
            "CAST(:scopes AS text[]), CAST(:days AS date[]), CAST(:slots AS text[])))"
        ),
        {
            "scopes": [need.scope for need in needs],
            "days": [need.day for need in needs],
            "slots": [need.slot for need in needs],
        },
    )
    return list(rows.scalars())
