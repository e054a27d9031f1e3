"""Group commit: the plain web orders of one park that are ready at once, in one transaction.

A holiday on-sale sends hundreds of orders a second at one slot. Written one by
one, each is a transaction of its own that waits for the slot's bucket row (the
single-row update limit) and pays a commit. Here a process's ready orders for a
park wait while the transaction before them runs, then go together:

1. with BEGIN and the park's binding, one round trip reads the facts version
   (`facts.py`), stores every order's idempotency answer (`ON CONFLICT DO NOTHING`:
   a key already there is a retry, or a request still running elsewhere), and
   locks the bucket rows the batch needs, in lock order, reading their places
   taken (a slot's first sale makes its bucket row just before locking it);
2. a second round trip takes the places of the orders that fit, writes them, their
   lines, tickets and holds with one insert per table (rows as one JSON document),
   and commits.

A park's batches go one after the other on one connection, held for as long as
they keep coming. The statements themselves are built in `batch_sql.py`.

An order that cannot go this way (priced at an older facts version, a key seen
before, a bucket with no room left for it once the orders before it in the
batch are counted) is not written, nor is its stored answer:
its caller takes the ordinary path (`service.place_order`), which decides it
alone, with every check and retry that path has. The transaction is all or
nothing like any other, so a batch leaves whole orders or none; a failure before
the commit sends every order of the batch down the ordinary path, and only a
connection lost while committing (when nobody can know if it happened) is an error.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from vistapass.platform.cache.local import Recent
from vistapass.platform.db import Database
from vistapass.platform.db.raw import DatabaseUnavailable, Raw, Statement
from vistapass.platform.errors import VistapassError
from vistapass.platform.tenancy.binding import bind_tenant_raw
from vistapass.tenants.inventory.service import Need
from vistapass.tenants.orders.batch_sql import (
    Bucket,
    claims,
    create_bucket,
    forget_answers,
    inserts,
    lock_bucket,
    takes,
)
from vistapass.tenants.orders.facts import VERSION_SQL, SaleFactsCache
from vistapass.tenants.orders.idempotency import RequestInProgress
from vistapass.tenants.orders.rows import NewLine, NewOrder, NewTicket

log = logging.getLogger(__name__)

# Enough to fill a transaction, few enough that one failed batch sends little back.
MAX_BATCH = 64

# How long a process remembers that a bucket exists (they are never deleted; the
# bound only keeps the memory small).
BUCKETS_SEEN_S = 3600.0
# How long the room a batch left in a bucket is taken as a hint (`has_room`).
ROOM_HINT_S = 1.0
# How long a park's connection waits for the next order once its queue is empty,
# before it goes back to the pool: under load the next one is a millisecond away.
HOLD_CONNECTION_S = 0.01


@dataclass(frozen=True, slots=True)
class Claim:
    """An order's Idempotency-Key, with the hash of the request that sent it."""

    scope: str
    key: str
    request_hash: bytes


@dataclass(slots=True, eq=False)
class Ready:
    """One priced order, its rows built, waiting for a batch."""

    facts_version: int
    order: NewOrder
    lines: list[NewLine]
    tickets: list[NewTicket]
    needs: list[Need]
    body: dict[str, Any]
    claim: Claim | None
    written: asyncio.Future[bool] = field(init=False)

    def __post_init__(self) -> None:
        self.written = asyncio.get_running_loop().create_future()


class GroupCommit:
    """Per process: a queue per park, drained by one transaction at a time."""

    def __init__(
        self,
        db: Database,
        facts: SaleFactsCache,
        on_written: Callable[[str, set[date]], Awaitable[None]] | None = None,
    ) -> None:
        self.db = db
        self.facts = facts
        # After each commit, once per batch: the days whose availability changed.
        self.on_written = on_written
        self._waiting: dict[str, list[Ready]] = {}
        self._draining: dict[str, asyncio.Task[None]] = {}
        self._arrived: dict[str, asyncio.Event] = {}  # set when an order is queued
        self._closing = False
        self._keys: set[tuple[str, str, str]] = set()  # (slug, scope, key) queued or running
        self._buckets_seen: Recent[tuple[str, Bucket], bool] = Recent(BUCKETS_SEEN_S)
        self._room: Recent[tuple[str, Bucket], int] = Recent(ROOM_HINT_S)

    def has_room(self, slug: str, needs: Sequence[Need]) -> bool:
        """Whether this process's last batch in each bucket, under ROOM_HINT_S ago,
        left room for `needs`.

        A hint, never a promise (other processes sell too): the batch checks the
        room again under the bucket's lock. It spares a busy slot's buyers the Redis
        question whether the slot just sold out.
        """
        for need in needs:
            left = self._room.get((slug, need.bucket))
            if left is None or left < need.quantity:
                return False
        return True

    async def write(self, slug: str, ready: Ready) -> bool:
        """True once the order is committed; False: take the ordinary path."""
        claim = ready.claim
        if claim is not None:
            held = (slug, claim.scope, claim.key)
            if held in self._keys:
                raise RequestInProgress.for_key(claim.key)
            self._keys.add(held)
        try:
            self._waiting.setdefault(slug, []).append(ready)
            if slug not in self._draining:
                self._draining[slug] = asyncio.create_task(self._drain(slug))
            elif (arrived := self._arrived.get(slug)) is not None:
                arrived.set()
            # Shielded: a buyer who hangs up does not cancel the batch the order is in.
            return await asyncio.shield(ready.written)
        finally:
            if claim is not None:
                self._keys.discard((slug, claim.scope, claim.key))

    async def close(self) -> None:
        """At shutdown: what is queued is written, then each connection goes back
        to the pool (a connection still held when the loop ends is never returned)."""
        self._closing = True
        for arrived in self._arrived.values():
            arrived.set()
        if self._draining:
            await asyncio.gather(*self._draining.values(), return_exceptions=True)

    async def _drain(self, slug: str) -> None:
        try:
            while self._waiting.get(slug):
                try:
                    await self._drain_on_one_connection(slug)
                except Exception:
                    # No connection to be had (the database is down, say): the orders
                    # waiting take the ordinary path, which answers each buyer.
                    log.exception("group commit found no connection")
                    self._hand_back(slug)
        finally:
            del self._draining[slug]
            self._arrived.pop(slug, None)
            # Only when cancelled (shutdown) are orders still waiting: nothing of
            # theirs was written, so the ordinary path may try.
            self._hand_back(slug)

    async def _drain_on_one_connection(self, slug: str) -> None:
        """Batches on one connection for as long as they keep coming (with pauses of
        up to HOLD_CONNECTION_S): a session and a pool checkout per batch cost more
        than half of a batch's CPU. A batch that
        fails leaves the connection (its transaction may be open; the pool rolls it
        back), and the next batch takes another."""
        async with self.db.engine.connect() as connection:
            raw = await Raw.on(connection)
            while True:
                waiting = self._waiting.get(slug)
                if not waiting:
                    if await self._next_order(slug):
                        continue
                    return
                batch = waiting[:MAX_BATCH]
                del waiting[:MAX_BATCH]
                if not await self._settle(slug, raw, batch):
                    return

    async def _next_order(self, slug: str) -> bool:
        """Whether an order for `slug` was queued within HOLD_CONNECTION_S."""
        if self._closing:
            return False
        arrived = self._arrived.setdefault(slug, asyncio.Event())
        arrived.clear()
        try:
            await asyncio.wait_for(arrived.wait(), HOLD_CONNECTION_S)
        except TimeoutError:
            return False
        return True

    def _hand_back(self, slug: str) -> None:
        for ready in self._waiting.pop(slug, []):
            if not ready.written.done():
                ready.written.set_result(False)

    async def _settle(self, slug: str, raw: Raw, batch: list[Ready]) -> bool:
        """Write the batch and tell its buyers; whether `raw` may take the next."""
        usable = True
        try:
            written = await self._commit(slug, raw, batch)
        except _CommitUnknown as exc:
            for ready in batch:
                if not ready.written.done():
                    ready.written.set_exception(exc.__cause__ or exc)
            return False
        except VistapassError:
            # A suspended park, say: the ordinary path gives each buyer the answer.
            written, usable = set(), False
        except Exception:
            # Rolled back before the commit: nothing of the batch was written.
            log.exception("group commit failed; its orders take the ordinary path")
            written, usable = set(), False
        if written and self.on_written is not None:
            days = {need.day for ready in batch if id(ready) in written for need in ready.needs}
            try:
                await self.on_written(slug, days)
            except Exception:
                # The orders are written; a stale availability answer lapses by itself.
                log.exception("after a group commit")
        for ready in batch:
            if not ready.written.done():
                ready.written.set_result(id(ready) in written)
        return usable

    async def _commit(self, slug: str, raw: Raw, batch: list[Ready]) -> set[int]:
        """Write what can go; the ids of the Ready objects written."""
        keyed = [ready for ready in batch if ready.claim is not None]
        capacities = {need.bucket: need.capacity for ready in batch for need in ready.needs}
        statements: list[Statement] = [(VERSION_SQL, None), *claims(keyed)]
        lock_at: dict[Bucket, int] = {}
        for bucket in sorted(capacities):
            # A bucket this process has not seen is made first if need be (a slot's
            # first sale), just before its lock, so locks are still taken in order.
            if self._buckets_seen.get((slug, bucket)) is None:
                statements.append(create_bucket(bucket, capacities[bucket]))
            lock_at[bucket] = len(statements)
            statements.append(lock_bucket(bucket))
        bound, results = await bind_tenant_raw(self.db, raw, slug, *statements)
        version = int(results[0][0]["version"])
        self.facts.saw_version(bound.schema_name, version)
        stored = {(r["scope"], r["key"]) for r in results[1]} if keyed else set()
        locked = {
            bucket: (rows[0]["id"], rows[0]["taken"])
            for bucket, at in lock_at.items()
            if (rows := results[at])
        }
        for bucket in locked:
            self._buckets_seen.put((slug, bucket), True)
        going = _fitting(
            [
                ready
                for ready in batch
                if ready.facts_version == version
                and (ready.claim is None or (ready.claim.scope, ready.claim.key) in stored)
            ],
            locked,
        )
        if not going:
            await raw.batch(("ROLLBACK", None))
            return set()
        going_ids = {id(ready) for ready in going}
        room = _room_left(going, locked, capacities)
        left_out = [ready for ready in batch if id(ready) not in going_ids]
        bucket_ids = {bucket: bucket_id for bucket, (bucket_id, _) in locked.items()}
        try:
            # COMMIT travels with the writes: the bucket rows stay locked for one
            # round trip.
            await raw.batch(
                *forget_answers(left_out, stored),
                *takes(going, bucket_ids),
                *inserts(going, bucket_ids),
                ("COMMIT", None),
            )
        except DatabaseUnavailable as exc:
            # The connection broke: the COMMIT may have arrived, or not.
            raise _CommitUnknown() from exc
        for bucket, left in room.items():
            self._room.put((slug, bucket), left)
        return going_ids


class _CommitUnknown(Exception):
    """The COMMIT failed: the batch may or may not be written, so nobody may retry it."""


def _fitting(candidates: Sequence[Ready], locked: dict[Bucket, tuple[int, int]]) -> list[Ready]:
    """The orders that fit, first come first served: every bucket they need exists
    and has room for them after the orders before them."""
    taken = {bucket: places for bucket, (_, places) in locked.items()}
    going = []
    for ready in candidates:
        buckets = [(need.bucket, need) for need in ready.needs]
        if all(
            bucket in taken and taken[bucket] + need.quantity <= need.capacity
            for bucket, need in buckets
        ):
            for bucket, need in buckets:
                taken[bucket] += need.quantity
            going.append(ready)
    return going


def _room_left(
    going: Sequence[Ready], locked: dict[Bucket, tuple[int, int]], capacities: dict[Bucket, int]
) -> dict[Bucket, int]:
    """Each locked bucket's places left once the orders that go are written."""
    left = {bucket: capacities[bucket] - taken for bucket, (_, taken) in locked.items()}
    for ready in going:
        for need in ready.needs:
            left[need.bucket] -= need.quantity
    return left
