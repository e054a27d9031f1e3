"""What a buyer sees on the calendar: available / limited / sold_out / closed.

A day's answer for a product is computed from its buckets in one query and kept
in Redis (one hash per park and day, a field per product) until a sale, expiry,
cancellation or refund on that day drops it, or `CACHE_SECONDS` pass. The sales
of the group commit drop theirs together, a moment later (`DelayedInvalidation`).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Collection, Iterable
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from vistapass.platform.plugin_api import Day
from vistapass.platform.tenancy.binding import current_tenant
from vistapass.platform.tenancy.naming import schema_for
from vistapass.tenants.calendar.service import days as calendar_days
from vistapass.tenants.inventory.service import Need, needs_for, pools_for, product_slots
from vistapass.tenants.models import CapacityPool, Product
from vistapass.tenants.orders.context import Selling

log = logging.getLogger(__name__)

CACHE_SECONDS = 60
# How long after a group commit its days' answers may still be served (by other
# processes: this one drops them before it reads, see `availability`).
DELAYED_INVALIDATION_S = 0.05
MAX_DAYS = 62
# "Limited" once a tenth or fewer of the places are left, and never above this.
LIMITED_SHARE = 10
LIMITED_MAX = 20


@dataclass(frozen=True, slots=True)
class SlotAvailability:
    code: str
    start: str
    end: str
    state: str
    left: int | None  # None: no limit


@dataclass(frozen=True, slots=True)
class DayAvailability:
    date: str
    state: str
    left: int | None
    slots: list[SlotAvailability]


def state_for(left: int | None, capacity: int | None) -> str:
    if left is None or capacity is None:
        return "available"
    if left <= 0:
        return "sold_out"
    if left <= min(LIMITED_MAX, max(1, capacity // LIMITED_SHARE)):
        return "limited"
    return "available"


def _key(namespace: str, schema: str, day: date) -> str:
    return f"{namespace}:avail:{schema}:{day.isoformat()}"


def _cache_key(selling: Selling, schema: str, day: date) -> str:
    return _key(selling.settings.redis_namespace, schema, day)


async def invalidate(selling: Selling, slug: str, days: Iterable[date]) -> None:
    schema = schema_for(slug)
    keys = [_cache_key(selling, schema, day) for day in days]
    if keys:
        await selling.redis.delete(*keys)


class DelayedInvalidation:
    """The days a process's group commits sold places on, dropped from the cache
    together DELAYED_INVALIDATION_S after the first of them.

    During an on-sale a process commits a batch every few milliseconds, and a DEL
    after each cost a twentieth of the server's CPU per order. Readers in other
    processes may get an answer up to that long older than a sale (the answer is a
    guide: the sale itself checks the places under a lock); readers in this
    process drop the days they read first (`flush`), so they never do.
    """

    def __init__(
        self, redis: Redis, namespace: str, delay_s: float = DELAYED_INVALIDATION_S
    ) -> None:
        self._redis = redis
        self._namespace = namespace
        self._delay_s = delay_s
        self._keys: set[str] = set()
        self._timer: asyncio.Task[None] | None = None

    async def add(self, slug: str, days: Iterable[date]) -> None:
        schema = schema_for(slug)
        self._keys.update(_key(self._namespace, schema, day) for day in days)
        if self._keys and self._timer is None:
            self._timer = asyncio.create_task(self._flush_later())

    async def flush(self, keys: Collection[str] | None = None) -> None:
        """Drop the days waiting (only those of `keys`, if given) now."""
        if not self._keys:
            return
        due = self._keys if keys is None else self._keys.intersection(keys)
        if not due:
            return
        self._keys = set() if keys is None else self._keys - due
        await self._redis.delete(*due)

    async def close(self) -> None:
        """At shutdown: drop what is waiting now, not a moment later."""
        if self._timer is not None:
            self._timer.cancel()
        await self.flush()

    async def _flush_later(self) -> None:
        try:
            await asyncio.sleep(self._delay_s)
            await self.flush()
        except Exception:
            # Not dropped: the answers lapse by themselves within CACHE_SECONDS.
            log.exception("dropping cached availability")
        finally:
            self._timer = None
            if self._keys and not _cancelled():  # added while the DEL was on its way
                self._timer = asyncio.create_task(self._flush_later())


def _cancelled() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def _taken(
    session: AsyncSession, scopes: set[str], first: date, last: date
) -> dict[tuple[str, date, str], int]:
    """Places taken per (scope, day, slot) over a range, expired holds not counted."""
    if not scopes:
        return {}
    rows = await session.execute(
        text(
            "SELECT b.scope, b.day, b.slot, b.taken - COALESCE((SELECT sum(h.quantity) "
            "FROM order_holds h WHERE h.bucket_id = b.id AND h.released_at IS NULL "
            "AND h.expires_at IS NOT NULL AND h.expires_at < now()), 0) AS taken "
            "FROM inventory_buckets b WHERE b.day BETWEEN :first AND :last "
            "AND b.scope = ANY(:scopes)"
        ),
        {"first": first, "last": last, "scopes": sorted(scopes)},
    )
    return {(row.scope, row.day, row.slot): int(row.taken) for row in rows}


def _left(needs: list[Need], taken: dict[tuple[str, date, str], int]) -> int | None:
    if not needs:
        return None
    return max(
        min(need.capacity - taken.get((need.scope, need.day, need.slot), 0) for need in needs),
        0,
    )


def _answer(
    product: Product,
    pools: dict[str, CapacityPool],
    info: Day,
    taken: dict[tuple[str, date, str], int],
) -> DayAvailability:
    day = info.date
    slots = product_slots(product)
    outside = (product.visit_from and day < product.visit_from) or (
        product.visit_to and day > product.visit_to
    )
    if not info.is_open or outside:
        closed = [SlotAvailability(s.code, s.start, s.end, "closed", 0) for s in slots]
        return DayAvailability(day.isoformat(), "closed", 0, closed)
    slot_answers = []
    for slot in slots:
        needs = needs_for(product, pools, day, slot.code, 1, slots=slots)
        left = _left(needs, taken)
        capacity = min((need.capacity for need in needs), default=None)
        slot_answers.append(
            SlotAvailability(slot.code, slot.start, slot.end, state_for(left, capacity), left)
        )
    if slots:
        lefts = [s.left for s in slot_answers]
        left = None if any(v is None for v in lefts) else sum(v or 0 for v in lefts)
        states = {s.state for s in slot_answers}
        state = (
            "sold_out"
            if states == {"sold_out"}
            else "available"
            if "available" in states
            else "limited"
        )
    else:
        all_needs = needs_for(product, pools, day, None, 1, slots=slots)
        left = _left(all_needs, taken)
        capacity = min((need.capacity for need in all_needs), default=None)
        state = state_for(left, capacity)
    return DayAvailability(day.isoformat(), state, left, slot_answers)


def _decode(cached: bytes) -> DayAvailability:
    raw: dict[str, Any] = json.loads(cached)
    raw["slots"] = [SlotAvailability(**slot) for slot in raw["slots"]]
    return DayAvailability(**raw)


async def availability(
    session: AsyncSession, selling: Selling, product: Product, first: date, days: int
) -> list[DayAvailability]:
    """One answer per day from `first`: cached days from one Redis round trip, the
    rest computed together (one calendar read, one bucket query) and cached."""
    schema = current_tenant(session).schema_name
    field = str(product.id)
    wanted = [first + timedelta(days=offset) for offset in range(min(days, MAX_DAYS))]
    keys = [_cache_key(selling, schema, day) for day in wanted]
    await selling.later.flush(keys)
    reads = selling.redis.pipeline(transaction=False)
    for key in keys:
        reads.hget(key, field)
    cached = await reads.execute()
    missing = [day for day, hit in zip(wanted, cached, strict=True) if hit is None]
    computed: dict[date, DayAvailability] = {}
    if missing:
        pools = await pools_for(session, product)
        slots = product_slots(product)
        scopes = {
            need.scope
            for slot in [None, *(s.code for s in slots)]
            for need in needs_for(product, pools, missing[0], slot, 1, slots=slots)
        }
        taken = await _taken(session, scopes, missing[0], missing[-1])
        infos = {info.date: info for info in await calendar_days(session, missing[0], missing[-1])}
        writes = selling.redis.pipeline(transaction=False)
        for day in missing:
            answer = _answer(product, pools, infos[day], taken)
            computed[day] = answer
            key = _cache_key(selling, schema, day)
            writes.hset(key, field, json.dumps(asdict(answer)))
            writes.expire(key, CACHE_SECONDS)
        await writes.execute()
    return [
        computed[day] if hit is None else _decode(hit)
        for day, hit in zip(wanted, cached, strict=True)
    ]
