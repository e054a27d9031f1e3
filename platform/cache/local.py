"""Facts remembered for a few seconds inside one process.

For what every request of a park reads and almost never changes (which schema
and role a slug has, the park's time zone, its public ticket keys): a read from
memory instead of a database round trip on every request. Each entry is
forgotten after `ttl` seconds, so a change made by another process shows within
that time; the process that makes a change calls `forget` itself.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")

MAX_ENTRIES = 10_000  # bounded: unknown keys (probes, typos) must not grow it forever


class Recent(Generic[K, V]):
    """A small map whose entries expire `ttl` seconds after they were stored."""

    def __init__(
        self,
        ttl: float,
        max_entries: int = MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        self._entries: dict[K, tuple[V, float]] = {}

    def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[1] <= self._clock():
            del self._entries[key]
            return None
        return entry[0]

    def put(self, key: K, value: V) -> V:
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[key] = (value, self._clock() + self.ttl)
        return value

    def forget(self, key: K | None = None) -> None:
        """Forget one key, or everything."""
        if key is None:
            self._entries.clear()
        else:
            self._entries.pop(key, None)

    def forget_matching(self, matches: Callable[[K], bool]) -> None:
        for key in [key for key in self._entries if matches(key)]:
            del self._entries[key]


class SingleFlight(Generic[K, V]):
    """Concurrent calls for one key share the first one's work.

    When a cache entry is missing at the start of an on-sale, every buyer in
    that instant misses it at once; with this they wait for one query instead of
    each sending their own. The work's exception, too, is everyone's.
    """

    def __init__(self) -> None:
        self._running: dict[K, asyncio.Future[V]] = {}

    async def run(self, key: K, work: Callable[[], Awaitable[V]]) -> V:
        running = self._running.get(key)
        if running is not None:
            # Shielded: a waiter who gives up must not cancel the others' answer.
            return await asyncio.shield(running)
        shared: asyncio.Future[V] = asyncio.get_running_loop().create_future()
        self._running[key] = shared
        try:
            value = await work()
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                shared.cancel()
            else:
                shared.set_exception(exc)
                shared.exception()  # seen here, whether or not anyone waited
            raise
        else:
            shared.set_result(value)
            return value
        finally:
            del self._running[key]
