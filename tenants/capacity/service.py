"""Shared capacity pools, and a day-by-day look at every bucket that limits sales.

A pool (`capacity_pools`) is places several products draw on, e.g. the park's
daily capacity. Products name the pools they draw on in `products.pool_codes`,
so a pool a product still names cannot be deleted. Every change is audited in
the caller's transaction.

The bucket view reads what selling wrote (`inventory_buckets`, `order_holds`)
the way availability does: an expired hold is still in `taken` until somebody
reclaims it, so it is subtracted here and never shown as taken.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from functools import partial
from typing import Any

from sqlalchemy import any_, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from vistapass.platform.audit.service import Actor, record
from vistapass.platform.errors import Conflict, NotFound, VistapassError
from vistapass.platform.tenancy.binding import after_commit, current_tenant
from vistapass.tenants.calendar.service import days as calendar_days
from vistapass.tenants.capacity.pools import list_pools
from vistapass.tenants.inventory.availability import invalidate, state_for
from vistapass.tenants.inventory.service import pool_scope, product_scope, product_slots
from vistapass.tenants.models import CapacityPool, Product
from vistapass.tenants.orders.context import Selling

POOL_CODE = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")
MAX_NAME = 200
MAX_CAPACITY = 1_000_000
MAX_RANGE_DAYS = 31
# Buyers' calendars are cached per day; a pool change drops this many days ahead
# at once (later days are cached for under a minute and catch up by themselves).
FORGET_DAYS = 400


class PoolError(VistapassError):
    """A value the operator must fix; `details.field` names it."""

    status_code = 422
    code = "invalid_pool"


class PoolNotFound(NotFound):
    code = "pool_not_found"


class PoolCodeTaken(Conflict):
    code = "pool_code_taken"


class PoolInUse(Conflict):
    code = "pool_in_use"


class InvalidRange(VistapassError):
    status_code = 422
    code = "invalid_range"


def _fail(code: str, field: str, message: str) -> PoolError:
    return PoolError(message, code=code, details={"field": field})


def check_pool(data: Mapping[str, Any], *, new: bool) -> dict[str, Any]:
    """The pool's fields, normalised; a new pool also needs its code."""
    values: dict[str, Any] = {}
    if new:
        code = data.get("code")
        if not isinstance(code, str) or not POOL_CODE.fullmatch(code):
            raise _fail(
                "invalid_code",
                "code",
                "A pool code is 1-40 lowercase letters, digits or '-', not first.",
            )
        values["code"] = code
    elif "code" in data:
        raise _fail("code_immutable", "code", "A pool's code cannot change: products name it.")
    for field in ("name_zh", "name_en"):
        name = data.get(field)
        if not isinstance(name, str) or not name.strip():
            raise _fail("name_required", field, "Both names are required.")
        if len(name.strip()) > MAX_NAME:
            raise _fail("invalid_text", field, "A name is at most 200 characters.")
        values[field] = name.strip()
    capacity = data.get("daily_capacity")
    if (
        isinstance(capacity, bool)
        or not isinstance(capacity, int)
        or not 0 <= capacity <= MAX_CAPACITY
    ):
        raise _fail(
            "invalid_capacity",
            "daily_capacity",
            "The daily capacity is a whole number from 0 to 1000000.",
        )
    values["daily_capacity"] = capacity
    return values


def pool_dict(pool: CapacityPool) -> dict[str, Any]:
    return {
        "code": pool.code,
        "name_zh": pool.name_zh,
        "name_en": pool.name_en,
        "daily_capacity": pool.daily_capacity,
    }


async def get_pool(session: AsyncSession, code: str) -> CapacityPool:
    pool = await session.get(CapacityPool, code)
    if pool is None:
        raise PoolNotFound(f"No pool is called '{code}'.", details={"code": code})
    return pool


async def pool_users(session: AsyncSession) -> dict[str, list[str]]:
    """Each pool's code with the codes of the products that draw on it."""
    users: dict[str, list[str]] = {}
    rows = await session.execute(
        select(Product.code, Product.pool_codes).order_by(Product.sort_order, Product.code)
    )
    for product_code, pools in rows:
        for pool in pools or ():
            users.setdefault(pool, []).append(product_code)
    return users


def forget_availability(session: AsyncSession, selling: Selling, today: date) -> None:
    """After the commit, drop buyers' cached calendars so the change shows at once."""
    slug = current_tenant(session).slug
    ahead = {today + timedelta(days=offset) for offset in range(-1, FORGET_DAYS)}
    after_commit(session, partial(invalidate, selling, slug, ahead))


async def create_pool(session: AsyncSession, actor: Actor, data: Mapping[str, Any]) -> CapacityPool:
    values = check_pool(data, new=True)
    if await session.get(CapacityPool, values["code"]) is not None:
        raise PoolCodeTaken(
            "A pool already has this code.", details={"field": "code", "code": values["code"]}
        )
    pool = CapacityPool(**values)
    try:
        # A savepoint: a concurrent twin that won the insert is a conflict, not a 500.
        async with session.begin_nested():
            session.add(pool)
            await session.flush()
    except IntegrityError:
        raise PoolCodeTaken(
            "A pool already has this code.", details={"field": "code", "code": values["code"]}
        ) from None
    await record(session, actor, "capacity_pool.created", f"pool:{pool.code}", after=values)
    return pool


async def update_pool(
    session: AsyncSession, actor: Actor, code: str, data: Mapping[str, Any]
) -> CapacityPool:
    pool = await get_pool(session, code)
    values = check_pool(data, new=False)
    before = pool_dict(pool)
    changed = {f: v for f, v in values.items() if getattr(pool, f) != v}
    if not changed:
        return pool
    for field, value in changed.items():
        setattr(pool, field, value)
    await session.flush()
    await record(
        session,
        actor,
        "capacity_pool.updated",
        f"pool:{code}",
        before={f: before[f] for f in changed},
        after=changed,
    )
    return pool


async def delete_pool(session: AsyncSession, actor: Actor, code: str) -> None:
    """Delete a pool no product draws on (a product's pools would silently lose a limit)."""
    # Locked: a product that names pools share-locks them (catalog.service), so it
    # cannot start drawing on this one between the check below and the delete.
    pool = await session.scalar(
        select(CapacityPool).where(CapacityPool.code == code).with_for_update()
    )
    if pool is None:
        raise PoolNotFound(f"No pool is called '{code}'.", details={"code": code})
    using = list(
        await session.scalars(
            select(Product.code).where(any_(Product.pool_codes) == code).order_by(Product.code)
        )
    )
    if using:
        raise PoolInUse(
            "Products still draw on this pool; take it off them first.",
            details={"code": code, "products": using},
        )
    before = pool_dict(pool)
    await session.delete(pool)
    await session.flush()
    await record(session, actor, "capacity_pool.deleted", f"pool:{code}", before=before)


def check_range(first: date, last: date) -> None:
    if last < first:
        raise InvalidRange(
            "The range ends before it starts.", details={"field": "to", "max": MAX_RANGE_DAYS}
        )
    if (last - first).days + 1 > MAX_RANGE_DAYS:
        raise InvalidRange(
            "Choose at most 31 days.", details={"field": "to", "max": MAX_RANGE_DAYS}
        )


@dataclass(frozen=True, slots=True)
class Limit:
    """One thing that limits sales: a product's slot or day, or a shared pool."""

    kind: str  # slot / product / pool
    code: str  # the product's or the pool's code
    name_zh: str
    name_en: str
    scope: str
    slot: str
    capacity: int
    visit_from: date | None = None
    visit_to: date | None = None

    def closed_on(self, day: date) -> bool:
        return bool(
            (self.visit_from and day < self.visit_from) or (self.visit_to and day > self.visit_to)
        )


@dataclass(frozen=True, slots=True)
class BucketRow:
    limit: Limit
    taken: int  # paid places and live holds
    held: int  # of which live holds of unpaid orders
    left: int
    state: str  # available / limited / sold_out / closed


@dataclass(frozen=True, slots=True)
class BucketDay:
    day: date
    is_open: bool
    rows: list[BucketRow]


async def limits(session: AsyncSession) -> list[Limit]:
    """Every limit the park's products and pools set, products first in sort order."""
    found = []
    products = await session.scalars(select(Product).order_by(Product.sort_order, Product.code))
    for product in products:
        scope = product_scope(product)
        names = (product.code, product.name_zh, product.name_en)
        window = {"visit_from": product.visit_from, "visit_to": product.visit_to}
        for slot in product_slots(product):
            if slot.capacity is not None:
                found.append(Limit("slot", *names, scope, slot.code, slot.capacity, **window))
        if product.daily_capacity is not None:
            found.append(Limit("product", *names, scope, "", product.daily_capacity, **window))
    for pool in await list_pools(session):
        found.append(
            Limit(
                "pool",
                pool.code,
                pool.name_zh,
                pool.name_en,
                pool_scope(pool.code),
                "",
                pool.daily_capacity,
            )
        )
    return found


_TAKEN = text(
    "SELECT b.scope, b.day, b.slot, b.taken - COALESCE(expired.quantity, 0) AS taken, "
    "COALESCE(live.quantity, 0) AS held FROM inventory_buckets b "
    "LEFT JOIN LATERAL (SELECT sum(h.quantity) AS quantity FROM order_holds h "
    "  WHERE h.bucket_id = b.id AND h.released_at IS NULL "
    "  AND h.expires_at IS NOT NULL AND h.expires_at < now()) expired ON true "
    "LEFT JOIN LATERAL (SELECT sum(h.quantity) AS quantity FROM order_holds h "
    "  WHERE h.bucket_id = b.id AND h.released_at IS NULL "
    "  AND h.expires_at IS NOT NULL AND h.expires_at >= now()) live ON true "
    "WHERE b.day BETWEEN :first AND :last AND b.scope = ANY(:scopes)"
)


async def bucket_days(session: AsyncSession, first: date, last: date) -> list[BucketDay]:
    """Every limit on every day from `first` to `last` (at most MAX_RANGE_DAYS)."""
    check_range(first, last)
    found = await limits(session)
    counts: dict[tuple[str, date, str], tuple[int, int]] = {}
    if found:
        rows = await session.execute(
            _TAKEN,
            {"first": first, "last": last, "scopes": sorted({limit.scope for limit in found})},
        )
        counts = {(r.scope, r.day, r.slot): (int(r.taken), int(r.held)) for r in rows}
    answer = []
    for day in await calendar_days(session, first, last):
        rows_of_day = []
        for limit in found:
            taken, held = counts.get((limit.scope, day.date, limit.slot), (0, 0))
            left = max(limit.capacity - taken, 0)
            closed = not day.is_open or limit.closed_on(day.date)
            state = "closed" if closed else state_for(left, limit.capacity)
            rows_of_day.append(BucketRow(limit, taken, held, left, state))
        answer.append(BucketDay(day.date, day.is_open, rows_of_day))
    return answer
