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

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date
from functools import partial

from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from vistapass.platform.cache.local import SingleFlight
from vistapass.tenants.inventory.service import Need, SoldOut

RESYNC_SECONDS = 10
# How long a refusal is remembered. A place freed in a shared pool by another
# product's refund is not announced here, so it may wait this long to be sold.
MARKER_SECONDS = 5

# Several buyers' admissions in one call, each decided in turn. ARGV[1]: how many.
# Then, per admission, KEYS: the sold-out marker of its product, date and slot,
# then one counter per bucket; ARGV: its number of counters, the places wanted,
# the quantity per counter. Returns two numbers per admission, in order: {1, 0}
# when all were taken; {0, 0} when a counter has too few places; {2, left} when
# the marker says only `left` are left (nothing taken either way); {3, i} when
# counter i is missing (the caller fills it from PostgreSQL).
_ADMIT = """
local out = {}
local k, a = 1, 2
for _ = 1, tonumber(ARGV[1]) do
  local n, wanted = tonumber(ARGV[a]), tonumber(ARGV[a + 1])
  a = a + 2
  local outcome, value = 1, 0
  local marked = redis.call('GET', KEYS[k])
  if marked and tonumber(marked) < wanted then
    outcome, value = 2, tonumber(marked)
  else
    for i = 1, n do
      local left = redis.call('GET', KEYS[k + i])
      if not left then
        outcome, value = 3, i
        break
      end
      if tonumber(left) < tonumber(ARGV[a + i - 1]) then
        outcome = 0
        break
      end
    end
    if outcome == 1 then
      for i = 1, n do redis.call('DECRBY', KEYS[k + i], ARGV[a + i - 1]) end
    end
  end
  out[#out + 1] = outcome
  out[#out + 1] = value
  k, a = k + 1 + n, a + n
end
return out
"""
# Admissions per call: a batch stays a small, quick script.
MAX_ADMISSIONS = 64

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
        self._admit_many = redis.register_script(_ADMIT)
        self._give_back = redis.register_script(_GIVE_BACK)
        # Admissions waiting for the call in flight, with their callers' futures.
        self._waiting: list[tuple[list[str], list[int], asyncio.Future[tuple[int, int]]]] = []
        self._sending: asyncio.Task[None] | None = None
        # A counter missing when the rush starts is filled by one query, not one per buyer.
        self._filling: SingleFlight[str, int] = SingleFlight()

    def key(self, schema: str, need: Need) -> str:
        return f"{self.namespace}:gate:{schema}:{need.scope}:{need.day.isoformat()}:{need.slot}"

    async def admit(
        self,
        schema: str,
        needs: Sequence[Need],
        left_in: Callable[[Need], Awaitable[int]],
        marker: str,
    ) -> Admission | None:
        """Take the needs' places from their counters, or raise SoldOut.

        `marker` (`marker_key`), a recent refusal for the product's date and slot,
        is checked in the same call, so a buyer of a gated product costs one
        Redis round trip. Returns None when there is nothing to gate. Counters that are
        missing are filled from PostgreSQL (`left_in`: places left now, plus the
        margin) and retried.
        """
        if not needs:
            return None
        first = needs[0]
        keys = tuple(self.key(schema, need) for need in needs)
        quantities = tuple(need.quantity for need in needs)
        for _ in range(len(keys) + 1):
            outcome, value = await self._admit([marker, *keys], [first.quantity, *quantities])
            if outcome == 1:
                return Admission(keys, quantities)
            if outcome in (0, 2):
                raise SoldOut.left(first.day, first.slot, int(value))
            missing = int(value) - 1
            left = await self._filling.run(keys[missing], partial(left_in, needs[missing]))
            await self.redis.set(keys[missing], left + self.margin, ex=RESYNC_SECONDS, nx=True)
        raise SoldOut.left(first.day, first.slot, 0)

    async def _admit(self, keys: list[str], args: list[int]) -> tuple[int, int]:
        """One admission, sent with those of the other buyers waiting at that moment.

        redis-py costs more CPU per command than the script does: under a rush, a
        process sends one call at a time, carrying every admission that arrived
        while the one before was in flight.
        """
        answer: asyncio.Future[tuple[int, int]] = asyncio.get_running_loop().create_future()
        self._waiting.append((keys, args, answer))
        if self._sending is None:
            self._sending = asyncio.create_task(self._send())
        return await answer

    async def _send(self) -> None:
        try:
            while self._waiting:
                batch = self._waiting[:MAX_ADMISSIONS]
                del self._waiting[:MAX_ADMISSIONS]
                keys: list[str] = []
                args: list[int] = [len(batch)]
                for their_keys, (wanted, *quantities), _ in batch:
                    keys += their_keys
                    args += [len(quantities), wanted, *quantities]
                try:
                    flat = await self._admit_many(keys=keys, args=args)
                except Exception as exc:
                    for *_, answer in batch:
                        if not answer.done():
                            answer.set_exception(exc)
                    continue
                for at, (their_keys, (_, *quantities), answer) in enumerate(batch):
                    outcome, value = int(flat[2 * at]), int(flat[2 * at + 1])
                    if not answer.done():
                        answer.set_result((outcome, value))
                    elif outcome == 1:
                        # The buyer left while the call was in flight: not theirs to keep.
                        await self.give_back(Admission(tuple(their_keys[1:]), tuple(quantities)))
        finally:
            self._sending = None

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
