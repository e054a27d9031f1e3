"""The flash-sale gate: a Redis counter in front of a hot bucket.

When thousands ask for the last 50 places at once, only about 50 of them need to
reach PostgreSQL. For a product marked `flash_sale`, each bucket gets a counter of
places left (plus a small margin); a buyer is admitted to the database path only
by taking from it, and everyone else is told `sold_out` at once, without a
database round trip.

PostgreSQL stays the truth: the counter can be wrong in either direction and
nothing is oversold, because the conditional update decides. It is kept honest
three ways: an admitted buyer who does not get a place gives the ticket back; a
released place (expiry, cancellation, refund) is added back; and every counter
expires after `RESYNC_SECONDS`, after which the next buyer refills it from
PostgreSQL (that refill is the reconciler, and needs no process of its own).

Once a product's date and slot are sold out, a marker remembers it for a few
seconds, for every product (gated or not): the order path checks it before
touching the database, so the rush after the last place costs one Redis read
per buyer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date

from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from vistapass.tenants.inventory.service import Need, SoldOut

RESYNC_SECONDS = 10
# How long a refusal is remembered. A place freed in a shared pool by another
# product's refund is not announced here, so it may wait this long to be sold.
MARKER_SECONDS = 5

# KEYS: one counter per bucket. ARGV: the quantity per key, in the same order.
# Returns -1-i when counter i is missing (the caller fills it from PostgreSQL),
# 0 when one has too few places (nothing taken), 1 when all were taken.
_ADMIT = """
for i, key in ipairs(KEYS) do
  local left = redis.call('GET', key)
  if not left then return -i end
  if tonumber(left) < tonumber(ARGV[i]) then return 0 end
end
for i, key in ipairs(KEYS) do
  redis.call('DECRBY', key, ARGV[i])
end
return 1
"""

# Add back only to counters that still exist: a missing one refills from the truth.
_GIVE_BACK = """
for i, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then redis.call('INCRBY', key, ARGV[i]) end
end
return 1
"""


@dataclass(frozen=True, slots=True)
class Admission:
    """Places a buyer took from the gate; give them back if the order does not happen."""

    keys: tuple[str, ...]
    quantities: tuple[int, ...]


class FlashSaleGate:
    def __init__(self, redis: Redis, namespace: str, margin: int) -> None:
        self.redis = redis
        self.namespace = namespace
        self.margin = margin
        self._admit = redis.register_script(_ADMIT)
        self._give_back = redis.register_script(_GIVE_BACK)

    def key(self, schema: str, need: Need) -> str:
        return f"{self.namespace}:gate:{schema}:{need.scope}:{need.day.isoformat()}:{need.slot}"

    async def admit(
        self, schema: str, needs: Sequence[Need], left_in: Callable[[Need], Awaitable[int]]
    ) -> Admission | None:
        """Take the needs' places from their counters, or raise SoldOut.

        Returns None when there is nothing to gate. Counters that are missing are
        filled from PostgreSQL (`left_in`: places left now, plus the margin) and
        retried.
        """
        if not needs:
            return None
        keys = tuple(self.key(schema, need) for need in needs)
        quantities = tuple(need.quantity for need in needs)
        for _ in range(len(keys) + 1):
            result = int(await self._admit(keys=list(keys), args=list(quantities)))
            if result == 1:
                return Admission(keys, quantities)
            if result == 0:
                raise SoldOut(
                    "That date and time are sold out.",
                    day=needs[0].day,
                    slot=needs[0].slot,
                    available=0,
                )
            missing = needs[-result - 1]
            left = await left_in(missing)
            await self.redis.set(keys[-result - 1], left + self.margin, ex=RESYNC_SECONDS, nx=True)
        raise SoldOut(
            "That date and time are sold out.", day=needs[0].day, slot=needs[0].slot, available=0
        )

    async def give_back(self, admission: Admission | None) -> None:
        if admission is not None:
            await self._give_back(keys=list(admission.keys), args=list(admission.quantities))

    async def sold_out(
        self, schema: str, admission: Admission | None, full: Need, left: int
    ) -> None:
        """PostgreSQL refused an admitted buyer: the full bucket's counter learns the
        truth (so the gate sheds from now on), the other counters get their places back."""
        if admission is None:
            return
        full_key = self.key(schema, full)
        pairs = zip(admission.keys, admission.quantities, strict=True)
        others = [(key, quantity) for key, quantity in pairs if key != full_key]
        if len(others) < len(admission.keys):
            await self.redis.set(full_key, left, ex=RESYNC_SECONDS, xx=True)
        if others:
            await self._give_back(keys=[k for k, _ in others], args=[q for _, q in others])

    def marker_key(self, schema: str, product: str, day: date, slot: str | None) -> str:
        return f"{self.namespace}:soldout:{schema}:{product}:{day.isoformat()}:{slot or ''}"

    async def mark_sold_out(
        self, schema: str, product: str, day: date, slot: str | None, left: int
    ) -> None:
        """Remember for a few seconds that only `left` places remain, so the next
        buyers asking for more are answered from Redis without any database work."""
        await self.redis.set(self.marker_key(schema, product, day, slot), left, ex=MARKER_SECONDS)

    async def refused_at_once(
        self, schema: str, product: str, day: date, slot: str | None, places: int
    ) -> int | None:
        """Places left if a recent refusal says `places` cannot be had; else None."""
        left = await self.redis.get(self.marker_key(schema, product, day, slot))
        if left is not None and int(left) < places:
            return int(left)
        return None

    async def forget_sold_out(self, schema: str, product: str, day: date) -> None:
        """Places of this product and day came back: drop its refusals, every slot's."""
        pattern = self.marker_key(schema, product, day, None) + "*"
        keys = [key async for key in self.redis.scan_iter(match=pattern, count=100)]
        if keys:
            await self.redis.delete(*keys)

    async def returned(self, schema: str, needs: Sequence[Need]) -> None:
        """Places came back in PostgreSQL (expiry, cancellation, refund)."""
        if needs:
            await self.give_back(
                Admission(
                    tuple(self.key(schema, need) for need in needs),
                    tuple(need.quantity for need in needs),
                )
            )


async def places_left(session: AsyncSession, need: Need) -> int:
    """Places PostgreSQL would still sell in a bucket, counting expired holds as free."""
    row = (
        await session.execute(
            text(
                "SELECT b.taken - COALESCE((SELECT sum(h.quantity) FROM order_holds h "
                "WHERE h.bucket_id = b.id AND h.released_at IS NULL "
                "AND h.expires_at IS NOT NULL AND h.expires_at < now()), 0) AS taken "
                "FROM inventory_buckets b WHERE b.scope = :scope AND b.day = :day "
                "AND b.slot = :slot"
            ),
            {"scope": need.scope, "day": need.day, "slot": need.slot},
        )
    ).first()
    taken = 0 if row is None else int(row.taken)
    return max(need.capacity - taken, 0)
