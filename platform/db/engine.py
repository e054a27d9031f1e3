"""One connection pool for every park (no pool per tenant), async for the app and workers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry

from vistapass.platform.settings import Settings

P = ParamSpec("P")
T = TypeVar("T")


def normalise_url(url: str) -> str:
    """Accept `postgres://` and `postgresql://` URLs and use the psycopg 3 driver."""
    parsed = make_url(url)
    if parsed.drivername in {"postgres", "postgresql", "postgresql+psycopg2"}:
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


# A pooled connection idle longer than this is pinged before use. Always pinging
# (`pool_pre_ping`) cost a round trip per request, a third of a gate redeem's;
# a connection back in the pool milliseconds ago is alive but for a server that
# died in those milliseconds, and then that one request fails (503) and the pool
# is renewed (SQLAlchemy invalidates it on a disconnect error).
PING_AFTER_IDLE_S = 1.0


def ping_when_idle(engine: AsyncEngine) -> None:
    """Ping a connection on checkout when it has been idle over PING_AFTER_IDLE_S."""
    pool = engine.sync_engine.pool
    dialect = engine.sync_engine.dialect

    @event.listens_for(pool, "checkin")
    def returned(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(pool, "checkout")
    def taken(dbapi_connection: Any, record: ConnectionPoolEntry, proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_S:
            return  # new, or just used
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as exc:
            # The pool drops this connection and hands out another (a fresh one).
            raise DisconnectionError("a pooled connection did not answer its ping") from exc


class Database:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine: AsyncEngine = create_async_engine(
            normalise_url(settings.database_url),
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_pool_size,
            # A database that is down must answer in seconds, not hang the request.
            pool_timeout=settings.db_pool_timeout,
            # Last in, first out: a quiet spell leaves the same few connections busy
            # (never pinged) and the rest idle, to be pinged or dropped.
            pool_use_lifo=True,
            connect_args={
                "connect_timeout": max(1, round(settings.db_connect_timeout)),
                # The statements prepared on these connections are the hot paths'
                # (platform/db/raw.py). psycopg's own automatic preparing would clear
                # them all (DEALLOCATE ALL) after any rollback; SQLAlchemy's
                # statements are planned per call instead.
                "prepare_threshold": None,
            },
        )
        ping_when_idle(self.engine)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)
        self._sync_engine: Engine | None = None

    @property
    def sync_engine(self) -> Engine:
        """A small synchronous pool for alembic, which is synchronous."""
        if self._sync_engine is None:
            self._sync_engine = create_engine(
                normalise_url(self.settings.database_url),
                pool_size=2,
                max_overflow=2,
                pool_pre_ping=True,
                connect_args={"connect_timeout": max(1, round(self.settings.db_connect_timeout))},
            )
        return self._sync_engine

    async def in_sync_transaction(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run `fn(connection, ...)` in one transaction on a thread, off the event loop."""

        def work() -> T:
            with self.sync_engine.begin() as connection:
                return fn(connection, *args, **kwargs)

        return await asyncio.to_thread(work)

    def session(self) -> AsyncSession:
        return self.sessionmaker()

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self._sync_engine is not None:
            self._sync_engine.dispose()
