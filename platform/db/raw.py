"""Hand-written SQL on a session's own connection, for the few hottest paths.

A statement through SQLAlchemy's execution path costs about 0.4 ms of CPU on a
2-core machine, the same statement through a psycopg cursor about 0.12 ms, and
a round trip of several statements through psycopg's pipeline mode about as
much per statement again: at a gate redeem's two round trips, that was half of
the request's CPU. So each round trip here is one simple-protocol query: the
statements joined by `;`, each a server-side prepared statement run with
`EXECUTE` (prepared on the connection the first time it meets it, in the same
round trip, so the server plans a statement once per connection, not per call),
its parameters quoted as literals by psycopg's own adapters
(`Transformer.as_literal`, as `ClientCursor` does), the rows read back through
psycopg's loaders. Measured: a round trip of four statements 0.66 ms of client CPU by the
pipeline, 0.26 ms so.

A prepared statement names tables as written; PostgreSQL parses it again when
the search path changed since its last use, and checks privileges when it runs,
so one connection serves every park safely. The statements run on the session's
connection, in its transaction: the park's role and search path set by
`bind_tenant` apply, and the session commits. Statements name tenant tables
unqualified (the search path finds the park's schema) and use psycopg's
`%(name)s` placeholders. Each must be a single statement.

Everything else goes through SQLAlchemy: this is for measured hot spots only.
"""

from __future__ import annotations

import hashlib
import re
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg import errors as pg_errors
from psycopg.adapt import Transformer
from psycopg.generators import execute
from psycopg.pq import ExecStatus, TransactionStatus
from psycopg.pq.abc import PGresult
from psycopg.rows import DictRow
from sqlalchemy.ext import asyncio as sa_asyncio
from sqlalchemy.ext.asyncio import AsyncSession

from vistapass.platform.errors import ServiceUnavailable


class DatabaseUnavailable(ServiceUnavailable):
    code = "database_unavailable"


# A statement and its parameters (None: no parameters).
Statement = tuple[str, dict[str, Any] | None]


@dataclass(slots=True)
class _Kept:
    """What a connection keeps between uses."""

    # Its prepared statements, by name: they live as long as the server session
    # (a rolled-back transaction does not undo a PREPARE).
    prepared: set[str]
    # The connection's own adapters: quote parameters as SQL literals, load rows.
    adapters: Transformer


_KEPT: weakref.WeakKeyDictionary[AsyncConnection[Any], _Kept] = weakref.WeakKeyDictionary()
_PLACEHOLDER = re.compile(r"%\((\w+)\)s|%%")


class Raw:
    """The session's psycopg connection, with the calls the hot paths need."""

    def __init__(self, owner: sa_asyncio.AsyncConnection, driver: AsyncConnection[Any]) -> None:
        self.owner = owner  # SQLAlchemy's side of the connection: its transaction, its pool
        self.connection = driver
        kept = _KEPT.get(driver)
        if kept is None:
            kept = _KEPT[driver] = _Kept(set(), Transformer(driver))
        self._kept = kept

    @classmethod
    async def on(cls, connection: sa_asyncio.AsyncConnection) -> Raw:
        pooled = await connection.get_raw_connection()
        return cls(connection, pooled.driver_connection)  # type: ignore[arg-type]

    @classmethod
    async def of(cls, session: AsyncSession) -> Raw:
        """The connection of the session's transaction (begun if it is not yet)."""
        return await cls.on(await session.connection())

    async def one(self, sql: str, params: dict[str, Any]) -> DictRow | None:
        rows = await self.all(sql, params)
        return rows[0] if rows else None

    async def all(self, sql: str, params: dict[str, Any]) -> list[DictRow]:
        (rows,) = await self.batch((sql, params))
        return rows

    async def batch(self, *statements: Statement) -> list[list[DictRow]]:
        """Send `statements` in one round trip; each one's rows.

        The server runs them one after the other, each with its own snapshot, just
        as if they had been sent one by one: a statement may read what the one before
        it locked. A statement that fails raises, and those after it do not run.
        A statement without rows (SET, an INSERT without RETURNING) gives [].
        """
        connection = self.connection
        prepared, adapters = self._kept.prepared, self._kept.adapters
        # The BEGIN psycopg would otherwise send in a round trip of its own.
        begin = not connection.autocommit and (
            connection.pgconn.transaction_status == TransactionStatus.IDLE
        )
        parts = ["BEGIN"] if begin else []
        encoding = connection.info.encoding
        preparing: dict[str, int] = {}  # name -> the index of its PREPARE's result
        for sql, params in statements:
            if not params:
                parts.append(sql)
                continue
            name, text, names = _prepared_form(sql)
            if name not in prepared and name not in preparing:
                preparing[name] = len(parts)
                parts.append(f"PREPARE {name} AS {text}")
            values = b", ".join(adapters.as_literal(params[key]) for key in names)
            parts.append(
                f"EXECUTE {name}({values.decode(encoding)})" if names else f"EXECUTE {name}"
            )
        async with self._reachable(), connection.lock:
            connection.pgconn.send_query(";".join(parts).encode(encoding))
            results = await connection.wait(execute(connection.pgconn))
            for name, at in preparing.items():
                # Those that ran exist now, even if a later statement failed.
                if at < len(results) and results[at].status == ExecStatus.COMMAND_OK:
                    prepared.add(name)
            self._raise_if_failed(results, prepared)
            skip = set(preparing.values())
            answers = [r for at, r in enumerate(results) if at >= begin and at not in skip]
            if len(answers) != len(statements):
                # One of the statements held several: the rows would be mismatched.
                raise RuntimeError(f"{len(statements)} statements gave {len(answers)} results")
            return [self._rows(result) for result in answers]

    def _raise_if_failed(self, results: list[PGresult], prepared: set[str]) -> None:
        for result in results:
            if result.status == ExecStatus.FATAL_ERROR:
                error = pg_errors.error_from_result(result, encoding=self.connection.info.encoding)
                if error.sqlstate == UNKNOWN_PREPARED_STATEMENT:
                    # Something dropped them (DISCARD ALL): prepare afresh from now on.
                    prepared.clear()
                raise error

    def _rows(self, result: PGresult) -> list[DictRow]:
        if result.status != ExecStatus.TUPLES_OK:
            return []
        loader = self._kept.adapters
        loader.set_pgresult(result)
        names = [(result.fname(column) or b"").decode() for column in range(result.nfields)]
        return [
            dict(zip(names, values, strict=True))
            for values in loader.load_rows(0, result.ntuples, tuple)
        ]

    @asynccontextmanager
    async def _reachable(self) -> AsyncIterator[None]:
        # What SQLAlchemy does for its own statements: a connection that broke is
        # dropped from the pool, and the caller hears 503, not 500.
        try:
            yield
        except psycopg.OperationalError as exc:
            if self.connection.closed or _lost(exc):
                await self.owner.invalidate(exc)
                raise DatabaseUnavailable(
                    "The database is not reachable; try again shortly."
                ).with_headers({"Retry-After": "5"}) from exc
            raise


UNKNOWN_PREPARED_STATEMENT = "26000"  # invalid_sql_statement_name


@lru_cache(maxsize=512)
def _prepared_form(sql: str) -> tuple[str, str, tuple[str, ...]]:
    """A statement's prepared name, its text with `$n` placeholders, and the names
    of its parameters in `$n` order."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match.group(0) == "%%":
            return "%"
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    text = _PLACEHOLDER.sub(number, sql)
    return "vp_" + hashlib.blake2b(sql.encode(), digest_size=10).hexdigest(), text, tuple(names)


def _lost(error: psycopg.OperationalError) -> bool:
    """The server said it is ending the session (class 08, or 57P: shut down by an
    administrator, a crash, not accepting connections). libpq may not have read
    the end of the stream yet, so the connection can still look open."""
    return (error.sqlstate or "").startswith(("08", "57P"))
