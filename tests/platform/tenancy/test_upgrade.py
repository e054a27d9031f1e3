"""`db upgrade`: every schema in its own transaction, resuming after a failure."""

from __future__ import annotations

import pytest

from tests.conftest import unique_slug
from vistapass.platform.db import Database
from vistapass.platform.db.migrations import Tree, downgrade_tenant, head
from vistapass.platform.tenancy.provisioning import provision_tenant
from vistapass.platform.tenancy.upgrade import SchemaResult, schema_statuses, upgrade_all


@pytest.fixture
def behind(db_run) -> list[str]:
    """Three new parks whose schemas are one revision behind head."""
    slugs = [unique_slug("behind") for _ in range(3)]

    async def prepare(db: Database) -> None:
        for slug in slugs:
            made = await provision_tenant(db, slug, slug)
            await db.in_sync_transaction(downgrade_tenant, made.schema_name, "t0001")

    db_run(prepare)
    return slugs


def schema(slug: str) -> str:
    return "t_" + slug.replace("-", "_")


def revisions(db_run, slugs: list[str]) -> dict[str, str | None]:
    statuses = db_run(schema_statuses)
    return {s.slug: s.revision for s in statuses if s.slug in slugs}


def test_upgrade_resumes_after_a_failure_in_one_schema(db_run, admin_conn, behind) -> None:
    broken = behind[1]
    # The injected fault: the next migration's table already exists in one schema.
    admin_conn.execute(f'CREATE TABLE "{schema(broken)}".job_runs (planted int)')
    seen: list[SchemaResult] = []

    async def upgrade(db: Database) -> list[SchemaResult]:
        # One park per process, so the worker-process path is what runs here.
        return await upgrade_all(db, concurrency=2, on_result=seen.append, schemas_per_process=1)

    results = db_run(upgrade)
    by_schema = {r.schema: r for r in results}
    assert results[0].schema == "public" and results[0].ok
    assert "DuplicateTable" in (by_schema[schema(broken)].error or "")
    assert len(seen) == len(results) - 1  # progress reported once per park schema
    tenant_head = head(Tree.TENANT)
    assert revisions(db_run, behind) == {
        behind[0]: tenant_head,
        broken: "t0001",  # rolled back as a whole: still at its old revision
        behind[2]: tenant_head,
    }
    assert by_schema["t_alpha"].ok and by_schema["t_alpha"].after == tenant_head

    admin_conn.execute(f'DROP TABLE "{schema(broken)}".job_runs')
    rerun = {r.schema: r for r in db_run(lambda db: upgrade_all(db, concurrency=2))}
    assert all(r.ok for r in rerun.values())
    assert (rerun[schema(broken)].before, rerun[schema(broken)].after) == ("t0001", tenant_head)
    assert rerun[schema(behind[0])].before == rerun[schema(behind[0])].after == tenant_head
    assert set(revisions(db_run, behind).values()) == {tenant_head}


def test_upgraded_tables_are_usable_by_the_parks_role(db_run, admin_conn, behind, migrated) -> None:
    db_run(lambda db: upgrade_all(db, concurrency=1))
    role = f"{migrated.db_role_prefix}_{schema(behind[0])}"
    with admin_conn.transaction():
        admin_conn.execute(f'SET LOCAL ROLE "{role}"')
        admin_conn.execute(
            f'INSERT INTO "{schema(behind[0])}".job_runs (message_id, actor_name) '
            "VALUES ('m', 'a')"
        )
        rows = admin_conn.execute(f'SELECT count(*) FROM "{schema(behind[0])}".job_runs').fetchone()
    assert rows == (1,)


def test_status_lists_every_schema_and_its_revision(db_run) -> None:
    statuses = db_run(schema_statuses)
    assert statuses[0].schema == "public" and statuses[0].current
    names = {s.slug for s in statuses}
    assert {"alpha", "beta"} <= names
