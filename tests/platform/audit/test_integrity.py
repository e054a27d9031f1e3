"""`vistapass audit verify` and `purge`, and the park role's append-only audit log."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from psycopg import errors, sql

from tests.conftest import run
from tests.platform.audit.conftest import insert_entry, new_park
from vistapass.platform.audit.service import Actor, record, verify_chain
from vistapass.platform.audit.tasks import purge_audit
from vistapass.platform.db import Database
from vistapass.platform.models.base import utcnow
from vistapass.platform.settings import Settings
from vistapass.platform.tenancy.binding import tenant_session
from vistapass.platform.tenancy.naming import role_for, schema_for
from vistapass.platform.worker.actors import use_database
from vistapass.platform.worker.broker import configure_broker

SCRIPT = shutil.which("vistapass", path=str(Path(sys.executable).parent))
ACTOR = Actor(None, "tester@example.com", "192.0.2.7")


@pytest.fixture
def cli_env(migrated: Settings, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VISTAPASS_")}
    env.update(
        VISTAPASS_DATABASE_URL=migrated.database_url,
        VISTAPASS_REDIS_URL=migrated.redis_url,
        VISTAPASS_DB_ROLE_PREFIX=migrated.db_role_prefix,
        VISTAPASS_DATA_DIR=str(tmp_path),
        VISTAPASS_REDIS_NAMESPACE=migrated.redis_namespace,
        VISTAPASS_LOG_FORMAT="console",
    )
    return env


def vistapass(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    assert SCRIPT is not None, "the vistapass console script is not installed in this venv"
    return subprocess.run(
        [SCRIPT, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def record_some(settings: Settings, slug: str, count: int) -> list[int]:
    async def work(db: Database) -> list[int]:
        ids = []
        for i in range(count):
            async with tenant_session(db, slug) as session:
                entry = await record(
                    session, ACTOR, "test.done", f"thing:{i}", before={"n": i}, after={"n": i + 1}
                )
                ids.append(entry.id)
        return ids

    return run(settings, work)


def table(slug: str) -> sql.Composable:
    return sql.Identifier(schema_for(slug), "audit_log")


def test_verify_passes_then_reports_an_edited_entry(migrated, cli_env, admin_conn) -> None:
    slug = new_park(migrated)
    ids = record_some(migrated, slug, 3)
    result = vistapass(cli_env, "audit", "verify", slug)
    assert (result.returncode, result.stdout.strip()) == (0, "ok: 3 entries verified")

    admin_conn.execute(
        sql.SQL("UPDATE {} SET target = 'x' WHERE id = %s").format(table(slug)), (ids[1],)
    )
    result = vistapass(cli_env, "audit", "verify", slug)
    assert result.returncode == 1
    assert result.stdout.strip() == (
        f"TAMPERED: entry #{ids[1]} its content does not match its hash"
    )


def test_verify_notices_a_deleted_middle_entry(migrated, cli_env, admin_conn) -> None:
    slug = new_park(migrated)
    ids = record_some(migrated, slug, 3)
    admin_conn.execute(sql.SQL("DELETE FROM {} WHERE id = %s").format(table(slug)), (ids[1],))
    result = vistapass(cli_env, "audit", "verify", slug)
    assert result.returncode == 1
    assert f"TAMPERED: entry #{ids[2]} does not follow the entry before it" in result.stdout


def test_verify_of_an_unknown_park_fails(cli_env) -> None:
    result = vistapass(cli_env, "audit", "verify", "no-such-park")
    assert result.returncode == 1 and "tenant_not_found" in result.stderr


def test_the_park_role_cannot_change_or_remove_entries(migrated, admin_conn) -> None:
    record_some(migrated, "alpha", 1)
    role = sql.Identifier(role_for(migrated.db_role_prefix, "alpha"))
    statements = [
        sql.SQL("UPDATE t_alpha.audit_log SET target = 'x'"),
        sql.SQL("DELETE FROM t_alpha.audit_log"),
        sql.SQL("TRUNCATE t_alpha.audit_log"),
    ]
    with admin_conn.transaction():
        admin_conn.execute(sql.SQL("SET LOCAL ROLE {}").format(role))
        # It can still read its log (the console does), just not rewrite it.
        row = admin_conn.execute("SELECT count(*) FROM t_alpha.audit_log").fetchone()
        assert row is not None and row[0] >= 1
        for statement in statements:
            with pytest.raises(errors.InsufficientPrivilege), admin_conn.transaction():
                admin_conn.execute(statement)


def test_purge_removes_old_entries_everywhere_and_the_rest_verifies(
    migrated, cli_env, admin_conn
) -> None:
    slug = new_park(migrated)
    old = [
        insert_entry(admin_conn, slug, utcnow() - timedelta(days=200, minutes=i), "test.old")
        for i in (3, 2, 1)
    ]
    kept_by_age = insert_entry(admin_conn, slug, utcnow() - timedelta(days=170), "test.recent")
    fresh = record_some(migrated, slug, 2)
    assert vistapass(cli_env, "audit", "verify", slug).stdout.strip() == "ok: 6 entries verified"

    result = vistapass(cli_env, "audit", "purge")
    assert result.returncode == 0, result.stderr
    assert f"{slug}: removed 3" in result.stdout

    rows = admin_conn.execute(
        sql.SQL("SELECT id, action, after FROM {} ORDER BY id").format(table(slug))
    ).fetchall()
    assert [r[0] for r in rows[:3]] == [kept_by_age, *fresh]
    assert not set(old) & {r[0] for r in rows}
    # The purge leaves a record of itself.
    assert rows[-1][1] == "audit.purged" and rows[-1][2]["removed"] == 3
    verified = vistapass(cli_env, "audit", "verify", slug)
    assert (verified.returncode, verified.stdout.strip()) == (0, "ok: 4 entries verified")

    # A shorter period removes more; nothing is left to purge in other parks.
    result = vistapass(cli_env, "audit", "purge", "--days", "100")
    assert f"{slug}: removed 1" in result.stdout
    assert vistapass(cli_env, "audit", "verify", slug).returncode == 0


def test_purge_refuses_a_period_under_a_day(cli_env) -> None:
    result = vistapass(cli_env, "audit", "purge", "--days", "0")
    assert result.returncode == 2


def test_verify_chain_accepts_an_empty_log(migrated) -> None:
    slug = new_park(migrated)

    async def work(db: Database):
        async with tenant_session(db, slug) as session:
            return await verify_chain(session)

    report = run(migrated, work)
    assert report.ok and report.checked == 0


def test_the_daily_job_purges_past_the_configured_retention(migrated, admin_conn) -> None:
    slug = new_park(migrated)
    old = insert_entry(admin_conn, slug, utcnow() - timedelta(days=181), "test.old")
    kept = insert_entry(admin_conn, slug, utcnow() - timedelta(days=179), "test.recent")
    broker = configure_broker(migrated)  # the worker's settings: retention 180 days

    async def job(db: Database) -> None:
        use_database(db)
        try:
            await purge_audit()
        finally:
            use_database(None)

    try:
        run(migrated, job)
    finally:
        broker.close()
    ids = {r[0] for r in admin_conn.execute(sql.SQL("SELECT id FROM {}").format(table(slug)))}
    assert kept in ids and old not in ids
