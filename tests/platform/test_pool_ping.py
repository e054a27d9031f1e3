"""Pooled connections are pinged only after standing idle (`PING_AFTER_IDLE_S`)."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from vistapass.platform.db import Database, engine


async def backend_pid(db: Database) -> int:
    async with db.session() as session:
        return int(await session.scalar(text("SELECT pg_backend_pid()")))


def test_an_idle_connection_whose_server_side_died_is_replaced_unseen(
    db_run, admin_conn: psycopg.Connection, monkeypatch
) -> None:
    monkeypatch.setattr(engine, "PING_AFTER_IDLE_S", 0.0)

    async def work(db: Database) -> tuple[int, int]:
        await db.engine.dispose()  # one pooled connection, ours
        first = await backend_pid(db)
        admin_conn.execute("SELECT pg_terminate_backend(%s)", (first,))
        return first, await backend_pid(db)  # no error: the ping found it dead

    first, second = db_run(work)
    assert second != first


def test_a_connection_used_moments_ago_is_not_pinged(
    db_run, admin_conn: psycopg.Connection, monkeypatch
) -> None:
    """The price of not pinging: a server that died in between fails that one
    request, and the pool is renewed for the next."""
    monkeypatch.setattr(engine, "PING_AFTER_IDLE_S", 3600.0)

    async def work(db: Database) -> tuple[int, int]:
        await db.engine.dispose()
        first = await backend_pid(db)
        admin_conn.execute("SELECT pg_terminate_backend(%s)", (first,))
        with pytest.raises(DBAPIError) as failed:
            await backend_pid(db)
        assert failed.value.connection_invalidated
        return first, await backend_pid(db)

    first, second = db_run(work)
    assert second != first
