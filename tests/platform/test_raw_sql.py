"""Hand-written SQL on a session's connection: same transaction, statements
prepared once per connection and safe across parks, and a broken connection
answers 503 `database_unavailable` and leaves the pool."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime

import psycopg
import pytest
from psycopg.types.json import Jsonb
from sqlalchemy import text

from tests.conftest import TENANTS
from vistapass.platform.db import Database
from vistapass.platform.db.raw import DatabaseUnavailable, Raw
from vistapass.platform.settings import Settings
from vistapass.platform.tenancy.binding import tenant_session


def test_raw_statements_run_in_the_park_s_transaction(db_run) -> None:
    async def work(db: Database) -> tuple[str, str, int]:
        async with tenant_session(db, TENANTS[0]) as session:
            raw = await Raw.of(session)
            who = await raw.one("SELECT current_user AS role, current_schema() AS schema", {})
            assert who is not None
            # Written through psycopg, seen by SQLAlchemy: one transaction.
            await raw.batch(("CREATE TEMP TABLE raw_probe (n int) ON COMMIT DROP", None))
            inserted = await raw.all(
                "INSERT INTO raw_probe VALUES (%(n)s), (%(n)s) RETURNING n", {"n": 7}
            )
            changed = len(inserted)
            seen = (await session.connection()).exec_driver_sql("SELECT count(*) FROM raw_probe")
            assert (await seen).scalar_one() == 2
            return who["role"], who["schema"], changed

    role, schema, changed = db_run(work)
    assert schema == "t_" + TENANTS[0].replace("-", "_")
    assert role.endswith(schema)
    assert changed == 2


def test_a_connection_that_broke_is_unavailable_and_dropped(db_run, admin_conn) -> None:
    async def work(db: Database) -> bool:
        async with db.session() as session:
            raw = await Raw.of(session)
            pid = (await raw.one("SELECT pg_backend_pid() AS pid", {}) or {})["pid"]
            admin_conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
            with pytest.raises(DatabaseUnavailable) as caught:
                await raw.one("SELECT 1 AS one", {})
            assert caught.value.status_code == 503
            assert isinstance(caught.value.__cause__, psycopg.OperationalError)
            return raw.owner.invalidated

    assert db_run(work) is True


def test_a_batch_runs_in_order_and_gives_each_statement_s_rows(db_run) -> None:
    async def work(db: Database) -> list[list[dict]]:
        async with tenant_session(db, TENANTS[0]) as session:
            raw = await Raw.of(session)
            return await raw.batch(
                ("CREATE TEMP TABLE raw_batch (n int) ON COMMIT DROP", None),
                ("INSERT INTO raw_batch VALUES (%(n)s)", {"n": 3}),
                ("SELECT n FROM raw_batch", None),
                ("SELECT %(a)s::int + %(b)s::int AS sum", {"a": 2, "b": 5}),
            )

    assert db_run(work) == [[], [], [{"n": 3}], [{"sum": 7}]]


_CAPACITY = "SELECT capacity FROM inventory_buckets WHERE scope = %(scope)s"
_NEW_BUCKET = (
    "INSERT INTO inventory_buckets (scope, day, slot, capacity, taken) "
    "VALUES (%(scope)s, current_date, '', %(capacity)s, 0)"
)


def _one_connection(settings: Settings) -> Database:
    return Database(settings.model_copy(update={"db_pool_size": 1}))


def test_a_statement_prepared_for_one_park_reads_the_next_park_s_tables(migrated) -> None:
    """Prepared once per connection, a statement still names each park's own tables:
    PostgreSQL parses it again when the search path changed."""

    async def read(db: Database, slug: str, capacity: int) -> tuple[int, int, list[dict]]:
        async with tenant_session(db, slug) as session:
            raw = await Raw.of(session)
            pid, _, rows = await raw.batch(
                (
                    "SELECT pg_backend_pid() AS pid, count(*) AS kept FROM pg_prepared_statements "
                    "WHERE name LIKE 'vp!_%' ESCAPE '!'",
                    None,
                ),
                (_NEW_BUCKET, {"scope": "raw-probe", "capacity": capacity}),
                (_CAPACITY, {"scope": "raw-probe"}),
            )
            for _ in range(6):  # enough for psycopg's own preparing, were it on
                await session.execute(text("SELECT 1"))
            await session.rollback()  # leaves nothing behind
            return pid[0]["pid"], pid[0]["kept"], rows

    async def work() -> list[tuple[int, int, list[dict]]]:
        db = _one_connection(migrated)
        try:
            return [
                await read(db, TENANTS[0], 11),
                await read(db, TENANTS[1], 22),
                await read(db, TENANTS[0], 33),
            ]
        finally:
            await db.dispose()

    (pid_a, _, first), (pid_b, kept_b, second), (pid_c, kept_c, third) = asyncio.run(work())
    assert pid_a == pid_b == pid_c  # one connection
    # Prepared once (the park's binding, the insert, the select), and still there
    # after each rollback.
    assert kept_b == kept_c == 3
    assert (first, second, third) == ([{"capacity": 11}], [{"capacity": 22}], [{"capacity": 33}])


def test_a_failed_batch_keeps_what_it_prepared_and_a_lost_statement_is_prepared_again(
    migrated,
) -> None:
    async def work() -> tuple[str, list[list[dict]], str, list[list[dict]]]:
        db = _one_connection(migrated)
        try:
            async with db.session() as session:
                raw = await Raw.of(session)
                with pytest.raises(psycopg.errors.DivisionByZero):
                    # The PREPARE before the failing statement ran, and stays.
                    await raw.batch(
                        ("SELECT %(n)s::int + 1 AS next", {"n": 1}), ("SELECT 1 / 0", None)
                    )
                await session.rollback()
                again = await (await Raw.of(session)).batch(
                    ("SELECT %(n)s::int + 1 AS next", {"n": 2})
                )
                await session.rollback()
                # Someone drops every prepared statement: one batch fails, the next
                # prepares afresh.
                raw = await Raw.of(session)
                await raw.batch(("DEALLOCATE ALL", None))
                with pytest.raises(psycopg.errors.InvalidSqlStatementName) as lost:
                    await raw.batch(("SELECT %(n)s::int + 1 AS next", {"n": 3}))
                await session.rollback()
                after = await (await Raw.of(session)).batch(
                    ("SELECT %(n)s::int + 1 AS next", {"n": 4})
                )
                return "ok", again, lost.value.sqlstate or "", after
        finally:
            await db.dispose()

    _, again, sqlstate, after = asyncio.run(work())
    assert again == [[{"next": 3}]]
    assert sqlstate == "26000"
    assert after == [[{"next": 5}]]


def test_parameters_arrive_as_they_were_sent(db_run) -> None:
    """Quoted on the client: quotes, backslashes, other scripts, NULL, and every type
    the hot paths send come back unchanged."""
    values = {
        "text": "it's a \\ back'slash'; DROP TABLE x; --",
        "zh": "演示景区 \u00e9",
        "none": None,
        "yes": True,
        "n": -42,
        "id": uuid.uuid4(),
        "day": date(2026, 10, 1),
        "at": datetime(2026, 10, 1, 9, 30, 15, 123456, tzinfo=UTC),
        "ids": [uuid.uuid4(), uuid.uuid4()],
        "doc": Jsonb({"a": [1, "b'c"]}),
    }
    sql = (
        "SELECT %(text)s::text AS text, %(zh)s::text AS zh, %(none)s::int AS none, "
        "%(yes)s::bool AS yes, %(n)s::int AS n, %(id)s::uuid AS id, %(day)s::date AS day, "
        "%(at)s::timestamptz AS at, %(ids)s::uuid[] AS ids, %(doc)s::jsonb AS doc, "
        "%(n)s::int + 1 AS again"
    )

    async def work(db: Database) -> list[list[dict]]:
        async with db.session() as session:
            return await (await Raw.of(session)).batch((sql, values), ("SELECT 1 AS plain", {}))

    (row,), plain = db_run(work)
    assert row == {**values, "doc": {"a": [1, "b'c"]}, "again": -41}
    assert plain == [{"plain": 1}]
