"""The dramatiq broker on Redis, configured once per process from the settings."""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import AsyncIO, CurrentMessage

from vistapass.platform.settings import Settings
from vistapass.platform.worker.registry import attach_all

_configured: list[Settings] = []


def broker_settings() -> Settings:
    """The settings the broker of this process was configured with (actors use these)."""
    if not _configured:
        raise RuntimeError("configure_broker() has not run in this process")
    return _configured[0]


def configure_broker(settings: Settings) -> RedisBroker:
    broker = RedisBroker(url=settings.redis_url, namespace=f"{settings.redis_namespace}:dramatiq")
    broker.add_middleware(AsyncIO())
    broker.add_middleware(CurrentMessage())
    dramatiq.set_broker(broker)
    _configured[:] = [settings]
    attach_all(broker)
    return broker
