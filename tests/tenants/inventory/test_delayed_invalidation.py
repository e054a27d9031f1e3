"""Cached availability the group commit changed: dropped together, a moment later,
and at once for a reader in the same process or at shutdown (real Redis)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

from redis.asyncio import Redis

from vistapass.platform.cache import redis_client
from vistapass.platform.settings import Settings
from vistapass.platform.tenancy.naming import schema_for
from vistapass.tenants.inventory.availability import DelayedInvalidation

SLUG = "delayed-park"
DAYS = [date(2026, 10, day) for day in (1, 2, 3)]
# Long enough that a check right after a sale comes before the timer on a slow
# machine; the tests wait up to WAIT_S for the timer.
DELAY_S = 0.5
WAIT_S = 10.0


def key(namespace: str, day: date) -> str:
    return f"{namespace}:avail:{schema_for(SLUG)}:{day.isoformat()}"


def with_cache(
    settings: Settings,
    work: Callable[[DelayedInvalidation, Redis, str, list[tuple[str, ...]]], Awaitable[Any]],
) -> Any:
    """Runs `work` with a DelayedInvalidation over a namespace of its own whose
    three days are cached, and the key lists of the DELs it sent."""

    async def main() -> Any:
        redis = redis_client(settings)
        namespace = f"delayed-{secrets.token_hex(4)}"
        for day in DAYS:
            await redis.hset(key(namespace, day), "product", "{}")
        later = DelayedInvalidation(redis, namespace, DELAY_S)
        deletes: list[tuple[str, ...]] = []
        delete = redis.delete

        async def counted(*names: str) -> Any:
            deletes.append(tuple(sorted(names)))
            return await delete(*names)

        redis.delete = counted  # type: ignore[method-assign]
        try:
            return await work(later, redis, namespace, deletes)
        finally:
            await redis.aclose()

    return asyncio.run(main())


async def cached(redis: Redis, namespace: str) -> list[date]:
    return [day for day in DAYS if await redis.exists(key(namespace, day))]


async def until_dropped(redis: Redis, namespace: str) -> list[date]:
    for _ in range(int(WAIT_S / 0.01)):
        if not await cached(redis, namespace):
            return []
        await asyncio.sleep(0.01)
    return await cached(redis, namespace)


def test_the_days_of_many_batches_are_dropped_together_a_moment_later(
    settings: Settings,
) -> None:
    async def work(later: DelayedInvalidation, redis: Redis, namespace: str, deletes: Any) -> None:
        for day in (DAYS[0], DAYS[1], DAYS[0]):
            await later.add(SLUG, {day})
        # Another process's reader may still see them for a moment.
        assert await cached(redis, namespace) == DAYS
        assert await until_dropped(redis, namespace) == [DAYS[2]]
        assert deletes == [tuple(sorted(key(namespace, day) for day in DAYS[:2]))]

        # A day added later is dropped by a timer of its own.
        await later.add(SLUG, {DAYS[2]})
        assert await until_dropped(redis, namespace) == []
        assert len(deletes) == 2

    with_cache(settings, work)


def test_a_reader_in_the_process_drops_the_days_it_reads_at_once(settings: Settings) -> None:
    async def work(later: DelayedInvalidation, redis: Redis, namespace: str, deletes: Any) -> None:
        await later.add(SLUG, set(DAYS[:2]))
        await later.flush([key(namespace, DAYS[0]), key(namespace, DAYS[2])])
        assert await cached(redis, namespace) == DAYS[1:]
        assert deletes == [(key(namespace, DAYS[0]),)]
        # Nothing waiting for those keys: a second read sends nothing.
        await later.flush([key(namespace, DAYS[0])])
        assert len(deletes) == 1
        # The rest goes with the timer.
        assert await until_dropped(redis, namespace) == [DAYS[2]]

    with_cache(settings, work)


def test_at_shutdown_what_waits_is_dropped_at_once(settings: Settings) -> None:
    async def work(later: DelayedInvalidation, redis: Redis, namespace: str, deletes: Any) -> None:
        await later.add(SLUG, set(DAYS))
        await later.close()
        assert await cached(redis, namespace) == []
        assert len(deletes) == 1
        await asyncio.sleep(0.1)  # the cancelled timer sends nothing more
        assert len(deletes) == 1

    with_cache(settings, work)
