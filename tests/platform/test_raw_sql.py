"""Hand-written SQL on a session's connection: same transaction, and a broken
connection answers 503 `database_unavailable` and leaves the pool."""

from __future__ import annotations

import psycopg
import pytest

from tests.conftest import TENANTS
from vistapass.platform.db import Database
from vistapass.platform.db.raw import DatabaseUnavailable, Raw
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
