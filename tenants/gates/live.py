"""Pushing fresh occupancy figures to open console pages, through Redis pub/sub.

Whatever stores accepted scans (an edge's upload, the online redeem, the
check-in page) calls `announce` on its session; after the commit a tiny message
goes to `<namespace>:occupancy:<slug>`. Each open stream subscribes to its
park's channel and, on a message (bursts folded into one) or every
`KEEPALIVE_S` seconds, reads the figures afresh in a short transaction of its
own: a stream never holds a database connection while it waits.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from litestar.datastructures import State
from litestar.response import ServerSentEventMessage
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from vistapass.platform.logging import get_logger
from vistapass.platform.models.base import utcnow
from vistapass.platform.tenancy.binding import after_commit, current_tenant, tenant_session
from vistapass.tenants.gates.occupancy import figures

log = get_logger(__name__)

KEEPALIVE_S = 15.0
SUBSCRIBE_TIMEOUT_S = 5.0
EVENT = "occupancy"


def channel(namespace: str, slug: str) -> str:
    return f"{namespace}:occupancy:{slug}"


# A park's scanners may accept hundreds of scans a second, and an open page refreshes
# at most a few times a second anyway: each process sends at most one message per
# park in this time, and one more at its end for what came in between.
ANNOUNCE_EVERY_S = 0.2


class _Announcer:
    """Publishes a park's announcements, folding those that come too close together."""

    def __init__(self) -> None:
        self._last: dict[str, float] = {}
        self._trailing: dict[str, asyncio.Task[None]] = {}

    async def publish(self, redis: Redis, name: str) -> None:
        if name in self._trailing:
            return  # the message already coming will cover this announcement
        loop = asyncio.get_running_loop()
        wait = self._last.get(name, float("-inf")) + ANNOUNCE_EVERY_S - loop.time()
        if wait > 0:
            self._trailing[name] = loop.create_task(self._later(redis, name, wait))
            return
        self._last[name] = loop.time()
        await _send(redis, name)

    async def _later(self, redis: Redis, name: str, wait: float) -> None:
        try:
            await asyncio.sleep(wait)
            self._last[name] = asyncio.get_running_loop().time()
        finally:
            del self._trailing[name]
        await _send(redis, name)


_announcer = _Announcer()


async def _send(redis: Redis, name: str) -> None:
    try:
        await redis.publish(name, b"1")
    except OSError as exc:
        # Live figures are a convenience: the scans are committed, and streams
        # refresh on their keep-alive anyway.
        log.warning("occupancy publish failed", error=str(exc))


def announce(session: AsyncSession, state: State) -> None:
    """After this session commits, tell the park's open streams that scans changed."""
    slug = current_tenant(session).slug
    redis: Redis = state.redis
    name = channel(state.settings.redis_namespace, slug)

    async def publish() -> None:
        await _announcer.publish(redis, name)

    after_commit(session, publish)


async def current(state: State, slug: str) -> dict[str, Any]:
    async with tenant_session(state.db, slug) as session:
        return await figures(session, slug, utcnow())


def message(data: dict[str, Any]) -> ServerSentEventMessage:
    return ServerSentEventMessage(data=json.dumps(data), event=EVENT)


async def stream(state: State, slug: str) -> AsyncIterator[Any]:
    """Figures now, then again after each announcement, and every `KEEPALIVE_S` seconds."""
    # Its own connection: a pub/sub connection is held for as long as the page is open,
    # and must not be taken from the pool that requests share.
    redis = Redis.from_url(state.settings.redis_url)
    pubsub = redis.pubsub()
    try:
        await pubsub.subscribe(channel(state.settings.redis_namespace, slug))
        # Subscribed (the server confirmed it) before the first figures are read: no
        # change can fall in between.
        await pubsub.get_message(timeout=SUBSCRIBE_TIMEOUT_S)
        yield message(await current(state, slug))
        while True:
            if await _announced(pubsub, KEEPALIVE_S):
                # Fold a burst (an edge uploading many batches) into one refresh.
                while await _announced(pubsub, 0.05):
                    pass
            yield message(await current(state, slug))
    finally:
        await asyncio.shield(_close(pubsub, redis))


async def _announced(pubsub: Any, within: float) -> bool:
    """True when a message came within `within` seconds (subscribe replies do not count)."""
    deadline = asyncio.get_running_loop().time() + within
    while (left := deadline - asyncio.get_running_loop().time()) > 0:
        # redis-py answers None at once for a subscribe reply it was told to ignore.
        got = await pubsub.get_message(ignore_subscribe_messages=True, timeout=left)
        if got is not None:
            return True
    return False


async def _close(pubsub: Any, redis: Redis) -> None:
    await pubsub.aclose()
    await redis.aclose()
