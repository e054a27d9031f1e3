"""Announcements of a busy park are folded: one message at once, one for the rest."""

from __future__ import annotations

import asyncio
import uuid

from redis.asyncio import Redis

from vistapass.platform.settings import Settings
from vistapass.tenants.gates.live import ANNOUNCE_EVERY_S, _Announcer


async def _received(settings: Settings, announcements: int) -> int:
    name = f"test-announce:{uuid.uuid4().hex}"
    listener, sender = Redis.from_url(settings.redis_url), Redis.from_url(settings.redis_url)
    pubsub = listener.pubsub()
    try:
        await pubsub.subscribe(name)
        await pubsub.get_message(timeout=5)  # the subscription is confirmed
        announcer = _Announcer()
        for _ in range(announcements):
            await announcer.publish(sender, name)
        # Every announcement is covered once the trailing message (if any) went out.
        await asyncio.sleep(ANNOUNCE_EVERY_S * 3)
        count = 0
        while await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.2):
            count += 1
        return count
    finally:
        await pubsub.aclose()
        await listener.aclose()
        await sender.aclose()


def test_one_announcement_sends_one_message(migrated: Settings) -> None:
    assert asyncio.run(_received(migrated, 1)) == 1


def test_a_burst_sends_one_message_now_and_one_after(migrated: Settings) -> None:
    assert asyncio.run(_received(migrated, 200)) == 2
