"""Hand-written SQL on a session's own connection, for the few hottest paths.

A statement through SQLAlchemy's execution path costs about 0.4 ms of CPU on a
2-core machine, the same statement straight through psycopg about 0.12 ms. A
gate redeem makes half a dozen statements; scanners make hundreds a second. So
those paths take the session's connection (the same transaction: the park's role
and search path set by `bind_tenant` apply, and the session commits) and talk
to psycopg directly. Statements name tenant tables unqualified (the search path
finds the park's schema) and use psycopg's `%(name)s` placeholders.

Everything else goes through SQLAlchemy: this is for measured hot spots only.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg.abc import Query
from psycopg.rows import DictRow, dict_row
from sqlalchemy.ext import asyncio as sa_asyncio
from sqlalchemy.ext.asyncio import AsyncSession

from vistapass.platform.errors import ServiceUnavailable


class DatabaseUnavailable(ServiceUnavailable):
    code = "database_unavailable"


class Raw:
    """The session's psycopg connection, with the three calls the hot paths need."""

    def __init__(self, owner: sa_asyncio.AsyncConnection, driver: AsyncConnection[Any]) -> None:
        self.owner = owner  # SQLAlchemy's side of the connection: its transaction, its pool
        self.connection = driver

    @classmethod
    async def on(cls, connection: sa_asyncio.AsyncConnection) -> Raw:
        pooled = await connection.get_raw_connection()
        return cls(connection, pooled.driver_connection)  # type: ignore[arg-type]

    @classmethod
    async def of(cls, session: AsyncSession) -> Raw:
        """The connection of the session's transaction (begun if it is not yet)."""
        return await cls.on(await session.connection())

    async def one(self, sql: Query, params: dict[str, Any]) -> DictRow | None:
        async with self._reachable(), self.connection.cursor(row_factory=dict_row) as cursor:
            await cursor.execute(sql, params)
            return await cursor.fetchone()

    async def all(self, sql: Query, params: dict[str, Any]) -> list[DictRow]:
        async with self._reachable(), self.connection.cursor(row_factory=dict_row) as cursor:
            await cursor.execute(sql, params)
            return await cursor.fetchall()

    async def run(self, sql: Query, params: dict[str, Any] | None = None) -> int:
        """Execute; the number of rows it changed. Without params, `sql` may hold
        several statements (psycopg then sends it as one simple query)."""
        async with self._reachable(), self.connection.cursor() as cursor:
            await cursor.execute(sql, params or None)
            return cursor.rowcount

    @asynccontextmanager
    async def _reachable(self) -> AsyncIterator[None]:
        # What SQLAlchemy does for its own statements: a connection that broke is
        # dropped from the pool, and the caller hears 503, not 500.
        try:
            yield
        except psycopg.OperationalError as exc:
            if self.connection.broken or self.connection.closed:
                await self.owner.invalidate(exc)
                raise DatabaseUnavailable(
                    "The database is not reachable; try again shortly."
                ).with_headers({"Retry-After": "5"}) from exc
            raise
