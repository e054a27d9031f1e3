"""Group commit: the plain web orders of one park that are ready at once, in one transaction.

A holiday on-sale sends hundreds of orders a second at one slot. Written one by
one, each is a transaction of its own that waits for the slot's bucket row (the
single-row update limit) and pays a commit. Here a process's ready orders for a
park wait while the transaction before them runs, then go together:

1. with BEGIN, one round trip reads the facts version (`facts.py`), stores every
   order's idempotency answer (`ON CONFLICT DO NOTHING`: a key already there is a
   retry, or a request still running elsewhere) and takes each bucket's places for
   all of the batch's orders at once, in lock order, with the usual
   `taken + n <= capacity` condition;
2. a second round trip gives back what orders that cannot go took, and writes the
   orders, their lines, tickets and holds with one multi-row insert per table;
3. COMMIT.

An order that cannot go this way (priced at an older facts version, a key seen
before, a bucket that is missing or too full for the whole batch) is not written:
its caller takes the ordinary path (`service.place_order`), which decides it
alone, with every check and retry that path has. The transaction is all or
nothing like any other, so a batch leaves whole orders or none; a failure before
the commit sends every order of the batch down the ordinary path, and only a
failure of the COMMIT itself (when nobody can know if it happened) is an error.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from vistapass.platform.db import Database
from vistapass.platform.db.raw import Raw, Statement
from vistapass.platform.errors import VistapassError
from vistapass.platform.tenancy.binding import bind_tenant_then
from vistapass.tenants.inventory.service import Need
from vistapass.tenants.models import Order, OrderLine, Ticket
from vistapass.tenants.orders.facts import VERSION_SQL, SaleFactsCache

log = logging.getLogger(__name__)

# Enough to fill a transaction, few enough that one failed batch sends little back.
MAX_BATCH = 64

Bucket = tuple[str, date, str]  # scope, day, slot


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
    order: Order
    lines: list[OrderLine]
    tickets: list[Ticket]
    needs: list[Need]
    body: dict[str, Any]
    claim: Claim | None
    written: asyncio.Future[bool] = field(init=False)

    def __post_init__(self) -> None:
        self.written = asyncio.get_running_loop().create_future()


class RequestInProgress(VistapassError):
    status_code = 409
    code = "request_in_progress"


class GroupCommit:
    """Per process: a queue per park, drained by one transaction at a time."""

    def __init__(self, db: Database, facts: SaleFactsCache) -> None:
        self.db = db
        self.facts = facts
        self._waiting: dict[str, list[Ready]] = {}
        self._draining: dict[str, asyncio.Task[None]] = {}
        self._keys: set[tuple[str, str, str]] = set()  # (slug, scope, key) queued or running

    async def write(self, slug: str, ready: Ready) -> bool:
        """True once the order is committed; False: take the ordinary path."""
        claim = ready.claim
        if claim is not None:
            held = (slug, claim.scope, claim.key)
            if held in self._keys:
                raise RequestInProgress(
                    "The first request with this Idempotency-Key is still being processed.",
                    details={"key": claim.key},
                ).with_headers({"Retry-After": "1"})
            self._keys.add(held)
        try:
            self._waiting.setdefault(slug, []).append(ready)
            if slug not in self._draining:
                self._draining[slug] = asyncio.create_task(self._drain(slug))
            # Shielded: a buyer who hangs up does not cancel the batch the order is in.
            return await asyncio.shield(ready.written)
        finally:
            if claim is not None:
                self._keys.discard((slug, claim.scope, claim.key))

    async def _drain(self, slug: str) -> None:
        try:
            while waiting := self._waiting.get(slug):
                batch = waiting[:MAX_BATCH]
                del waiting[:MAX_BATCH]
                await self._settle(slug, batch)
        finally:
            del self._draining[slug]
            # Only when cancelled (shutdown) are orders still waiting: nothing of
            # theirs was written, so the ordinary path may try.
            for ready in self._waiting.pop(slug, []):
                if not ready.written.done():
                    ready.written.set_result(False)

    async def _settle(self, slug: str, batch: list[Ready]) -> None:
        try:
            written = await self._commit(slug, batch)
        except _CommitUnknown as exc:
            for ready in batch:
                if not ready.written.done():
                    ready.written.set_exception(exc.__cause__ or exc)
            return
        except VistapassError:
            # A suspended park, say: the ordinary path gives each buyer the answer.
            written = set()
        except Exception:
            # Rolled back before the commit: nothing of the batch was written.
            log.exception("group commit failed; its orders take the ordinary path")
            written = set()
        for ready in batch:
            if not ready.written.done():
                ready.written.set_result(id(ready) in written)

    async def _commit(self, slug: str, batch: list[Ready]) -> set[int]:
        """Write what can go; the ids of the Ready objects written."""
        async with self.db.session() as session:
            bound, rows = await bind_tenant_then(session, slug, (VERSION_SQL, None))
            version = int(rows[0]["version"])
            self.facts.saw_version(bound.schema_name, version)
            current = [ready for ready in batch if ready.facts_version == version]
            if not current:
                await session.rollback()
                return set()
            raw = await Raw.of(session)
            buckets = sorted({_bucket(need) for ready in current for need in ready.needs})
            keyed = [ready for ready in current if ready.claim is not None]
            statements = [*_claims(keyed), *(_lock(bucket) for bucket in buckets)]
            first = await raw.batch(*statements) if statements else []
            stored = {(r["scope"], r["key"]) for r in first[0]} if keyed else set()
            locked = {
                bucket: (rows[0]["id"], rows[0]["taken"])
                for bucket, rows in zip(buckets, first[1:] if keyed else first, strict=True)
                if rows
            }
            going = _fitting(
                [r for r in current if r.claim is None or (r.claim.scope, r.claim.key) in stored],
                locked,
            )
            if not going:
                await session.rollback()
                return set()
            going_ids = {id(ready) for ready in going}
            left_out = [ready for ready in current if id(ready) not in going_ids]
            bucket_ids = {bucket: bucket_id for bucket, (bucket_id, _) in locked.items()}
            await raw.batch(
                *_forget_answers(left_out, stored),
                *_takes(going, bucket_ids),
                *_inserts(going, bucket_ids),
            )
            try:
                await session.commit()
            except Exception as exc:
                raise _CommitUnknown() from exc
        return going_ids


class _CommitUnknown(Exception):
    """The COMMIT failed: the batch may or may not be written, so nobody may retry it."""


def _bucket(need: Need) -> Bucket:
    return (need.scope, need.day, need.slot)


def _fitting(candidates: Sequence[Ready], locked: dict[Bucket, tuple[int, int]]) -> list[Ready]:
    """The orders that fit, first come first served: every bucket they need exists
    and has room for them after the orders before them."""
    taken = {bucket: places for bucket, (_, places) in locked.items()}
    going = []
    for ready in candidates:
        buckets = [(_bucket(need), need) for need in ready.needs]
        if all(
            bucket in taken and taken[bucket] + need.quantity <= need.capacity
            for bucket, need in buckets
        ):
            for bucket, need in buckets:
                taken[bucket] += need.quantity
            going.append(ready)
    return going


def _claims(keyed: Sequence[Ready]) -> list[Statement]:
    if not keyed:
        return []
    claims = [ready.claim for ready in keyed if ready.claim is not None]
    return [
        (
            "INSERT INTO idempotency_records "
            "(scope, key, request_hash, response_status, response_body) "
            "SELECT s, k, h, 201, b::jsonb FROM unnest("
            "%(scopes)s::text[], %(keys)s::text[], %(hashes)s::bytea[], %(bodies)s::text[]"
            ") AS t(s, k, h, b) ON CONFLICT DO NOTHING RETURNING scope, key",
            {
                "scopes": [c.scope for c in claims],
                "keys": [c.key for c in claims],
                "hashes": [c.request_hash for c in claims],
                "bodies": [json.dumps(ready.body) for ready in keyed],
            },
        )
    ]


def _lock(bucket: Bucket) -> Statement:
    scope, day, slot = bucket
    return (
        "SELECT id, taken FROM inventory_buckets "
        "WHERE scope = %(scope)s AND day = %(day)s AND slot = %(slot)s FOR UPDATE",
        {"scope": scope, "day": day, "slot": slot},
    )


def _takes(going: Sequence[Ready], bucket_ids: dict[Bucket, int]) -> list[Statement]:
    """Each bucket's places for the orders that go; its capacity as configured now,
    as the ordinary path writes it (`inventory.take`)."""
    wanted: dict[int, tuple[int, int]] = {}
    for ready in going:
        for need in ready.needs:
            bucket_id = bucket_ids[_bucket(need)]
            places, _ = wanted.get(bucket_id, (0, need.capacity))
            wanted[bucket_id] = (places + need.quantity, need.capacity)
    return [
        (
            "UPDATE inventory_buckets SET taken = taken + %(n)s, capacity = %(capacity)s "
            "WHERE id = %(id)s",
            {"n": n, "capacity": capacity, "id": bucket_id},
        )
        for bucket_id, (n, capacity) in sorted(wanted.items())
    ]


def _forget_answers(left_out: Sequence[Ready], stored: set[tuple[str, str]]) -> list[Statement]:
    """The answers stored for orders that are not written here: their retries must not
    be told of orders that do not exist."""
    ours = [
        ready.claim
        for ready in left_out
        if ready.claim is not None and (ready.claim.scope, ready.claim.key) in stored
    ]
    if not ours:
        return []
    return [
        (
            "DELETE FROM idempotency_records WHERE (scope, key) IN "
            "(SELECT * FROM unnest(%(scopes)s::text[], %(keys)s::text[]))",
            {"scopes": [c.scope for c in ours], "keys": [c.key for c in ours]},
        )
    ]


def _inserts(going: Sequence[Ready], bucket_ids: dict[Bucket, int]) -> list[Statement]:
    orders = [ready.order for ready in going]
    lines = [line for ready in going for line in ready.lines]
    tickets = [ticket for ready in going for ticket in ready.tickets]
    holds = [
        (ready.order.id, bucket_ids[_bucket(need)], need.quantity, ready.order.expires_at)
        for ready in going
        for need in ready.needs
    ]
    return [
        (
            "INSERT INTO orders (id, code, access_token, channel, status, product_id, "
            "product_code, visit_date, slot, places, currency, subtotal, total, "
            "refunded_amount, quote, contact_name, contact_email, contact_phone, locale, "
            "provider, sold_by, expires_at, note) "
            "SELECT id, code, tok, ch, st, pid, pc, vd, sl, pl, cur, sub, tot, 0, q::jsonb, "
            "cn, ce, cp, loc, prov, sb, exp, note FROM unnest("
            "%(id)s::uuid[], %(code)s::text[], %(tok)s::text[], %(ch)s::text[], "
            "%(st)s::text[], %(pid)s::uuid[], %(pc)s::text[], %(vd)s::date[], "
            "%(sl)s::text[], %(pl)s::int[], %(cur)s::text[], %(sub)s::bigint[], "
            "%(tot)s::bigint[], %(q)s::text[], %(cn)s::text[], %(ce)s::text[], "
            "%(cp)s::text[], %(loc)s::text[], %(prov)s::text[], %(sb)s::uuid[], "
            "%(exp)s::timestamptz[], %(note)s::text[]) AS t(id, code, tok, ch, st, pid, pc, "
            "vd, sl, pl, cur, sub, tot, q, cn, ce, cp, loc, prov, sb, exp, note)",
            {
                "id": [o.id for o in orders],
                "code": [o.code for o in orders],
                "tok": [o.access_token for o in orders],
                "ch": [o.channel for o in orders],
                "st": [o.status for o in orders],
                "pid": [o.product_id for o in orders],
                "pc": [o.product_code for o in orders],
                "vd": [o.visit_date for o in orders],
                "sl": [o.slot for o in orders],
                "pl": [o.places for o in orders],
                "cur": [o.currency for o in orders],
                "sub": [o.subtotal for o in orders],
                "tot": [o.total for o in orders],
                "q": [json.dumps(o.quote) for o in orders],
                "cn": [o.contact_name for o in orders],
                "ce": [o.contact_email for o in orders],
                "cp": [o.contact_phone for o in orders],
                "loc": [o.locale for o in orders],
                "prov": [o.provider for o in orders],
                "sb": [o.sold_by for o in orders],
                "exp": [o.expires_at for o in orders],
                "note": [o.note for o in orders],
            },
        ),
        (
            "INSERT INTO order_lines (order_id, unit, quantity, base_price, unit_price, total, "
            "adjustments) SELECT o, u, q, b, p, t, a::jsonb FROM unnest(%(o)s::uuid[], "
            "%(u)s::text[], %(q)s::int[], %(b)s::bigint[], %(p)s::bigint[], %(t)s::bigint[], "
            "%(a)s::text[]) AS x(o, u, q, b, p, t, a)",
            {
                "o": [line.order_id for line in lines],
                "u": [line.unit for line in lines],
                "q": [line.quantity for line in lines],
                "b": [line.base_price for line in lines],
                "p": [line.unit_price for line in lines],
                "t": [line.total for line in lines],
                "a": [json.dumps(line.adjustments) for line in lines],
            },
        ),
        (
            "INSERT INTO tickets (id, order_id, position, unit, price, refunded_amount, "
            "valid_from, valid_to, slot, entitlement) SELECT i, o, p, u, pr, 0, vf, vt, sl, "
            "e::jsonb FROM unnest(%(i)s::uuid[], %(o)s::uuid[], %(p)s::smallint[], "
            "%(u)s::text[], %(pr)s::bigint[], %(vf)s::date[], %(vt)s::date[], %(sl)s::text[], "
            "%(e)s::text[]) AS x(i, o, p, u, pr, vf, vt, sl, e)",
            {
                "i": [t.id for t in tickets],
                "o": [t.order_id for t in tickets],
                "p": [t.position for t in tickets],
                "u": [t.unit for t in tickets],
                "pr": [t.price for t in tickets],
                "vf": [t.valid_from for t in tickets],
                "vt": [t.valid_to for t in tickets],
                "sl": [t.slot for t in tickets],
                "e": [json.dumps(t.entitlement) for t in tickets],
            },
        ),
        (
            "INSERT INTO order_holds (order_id, bucket_id, quantity, expires_at) "
            "SELECT * FROM unnest(%(o)s::uuid[], %(b)s::bigint[], %(q)s::int[], "
            "%(e)s::timestamptz[])",
            {
                "o": [h[0] for h in holds],
                "b": [h[1] for h in holds],
                "q": [h[2] for h in holds],
                "e": [h[3] for h in holds],
            },
        ),
    ]
