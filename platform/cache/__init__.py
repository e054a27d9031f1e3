"""The process's Redis client."""

from __future__ import annotations

from redis.asyncio import BlockingConnectionPool, Redis

from vistapass.platform.settings import Settings

# Connections per process. A rush keeps many requests in flight in one process;
# past this they wait for a free connection instead of failing.
MAX_CONNECTIONS = 64


def redis_client(settings: Settings) -> Redis:
    """An async client whose pool waits (up to the connect timeout) when it is full.

    redis-py's default pool raises "Too many connections" at 100 in-flight commands,
    which a single busy process reaches during a flash sale.
    """
    pool = BlockingConnectionPool.from_url(
        settings.redis_url,
        max_connections=MAX_CONNECTIONS,
        timeout=max(settings.db_pool_timeout, settings.db_connect_timeout),
        socket_connect_timeout=settings.db_connect_timeout,
        socket_timeout=settings.db_connect_timeout,
    )
    return Redis(connection_pool=pool)
