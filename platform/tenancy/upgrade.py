"""`vistapass db upgrade` and `db status`: the control plane, then every park's schema.

Schemas are upgraded concurrently by a bounded pool of worker processes, each
schema in its own transaction. A schema that fails is rolled back and reported; the
others go on, and the next run picks up exactly the schemas still behind.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, create_engine, select

from vistapass.platform.db import Database, normalise_url
from vistapass.platform.db.migrations import Tree, current_revision, head, upgrade_control
from vistapass.platform.db.migrations import upgrade_tenant as run_tenant_tree
from vistapass.platform.models import Tenant, TenantStatus
from vistapass.platform.tenancy.provisioning import grant_tables


@dataclass(frozen=True, slots=True)
class SchemaResult:
    slug: str | None
    schema: str
    before: str | None
    after: str | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True, slots=True)
class SchemaStatus:
    slug: str | None
    schema: str
    status: str
    revision: str | None
    head: str

    @property
    def current(self) -> bool:
        return self.revision == self.head


async def upgrade_control_plane(db: Database) -> SchemaResult:
    def upgrade(conn: Connection) -> SchemaResult:
        before = current_revision(conn, None)
        upgrade_control(conn)
        return SchemaResult(None, "public", before, current_revision(conn, None))

    return await db.in_sync_transaction(upgrade)


async def _migrated_tenants(db: Database) -> list[tuple[str, str, str, str]]:
    async with db.engine.connect() as conn:
        rows = await conn.execute(
            select(Tenant.slug, Tenant.schema_name, Tenant.db_role, Tenant.status)
            .where(Tenant.status != TenantStatus.PROVISIONING)
            .order_by(Tenant.slug)
        )
        return [(row.slug, row.schema_name, row.db_role, row.status) for row in rows]


def upgrade_schema(engine: Engine, slug: str, schema: str, role: str) -> SchemaResult:
    """Upgrade one park's schema in its own transaction; a failure is reported, not raised."""
    try:
        with engine.begin() as conn:
            before = current_revision(conn, schema)
            run_tenant_tree(conn, schema)
            grant_tables(conn, schema, role)
            after = current_revision(conn, schema)
    except Exception as exc:  # reported per schema; the other parks go on
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return SchemaResult(slug, schema, None, None, error=f"{type(exc).__name__}: {first_line}")
    return SchemaResult(slug, schema, before, after)


SCHEMAS_PER_PROCESS = 100

_process_engine: Engine | None = None


def _start_process(database_url: str, connect_timeout: float) -> None:
    global _process_engine
    _process_engine = create_engine(
        normalise_url(database_url),
        pool_size=1,
        connect_args={"connect_timeout": max(1, round(connect_timeout))},
    )


def _upgrade_in_process(slug: str, schema: str, role: str) -> SchemaResult:
    assert _process_engine is not None, "the pool initializer did not run"
    return upgrade_schema(_process_engine, slug, schema, role)


async def upgrade_all(
    db: Database,
    *,
    concurrency: int,
    on_result: Callable[[SchemaResult], None] | None = None,
    on_start: Callable[[int], None] | None = None,
    schemas_per_process: int = SCHEMAS_PER_PROCESS,
) -> list[SchemaResult]:
    """Upgrade `public`, then every park; returns one result per schema, `public` first.

    Parks are spread over up to `concurrency` worker processes (alembic runs one
    migration at a time per process, see `MIGRATION_LOCK`), one per
    `schemas_per_process` schemas: starting a process costs as much as upgrading
    dozens of schemas, so a small deployment upgrades in this process.
    """
    results = [await upgrade_control_plane(db)]
    tenants = [row[:3] for row in await _migrated_tenants(db)]
    if on_start:
        on_start(len(tenants))

    def report(result: SchemaResult) -> SchemaResult:
        if on_result:
            on_result(result)
        return result

    workers = min(concurrency, len(tenants) // max(1, schemas_per_process))
    if workers <= 1:
        for slug, schema, role in tenants:
            result = await asyncio.to_thread(upgrade_schema, db.sync_engine, slug, schema, role)
            results.append(report(result))
        return results

    loop = asyncio.get_running_loop()
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_process,
        initargs=(db.settings.database_url, db.settings.db_connect_timeout),
    ) as pool:

        async def one(slug: str, schema: str, role: str) -> SchemaResult:
            try:
                result = await loop.run_in_executor(pool, _upgrade_in_process, slug, schema, role)
            except BrokenProcessPool as exc:
                result = SchemaResult(slug, schema, None, None, error=f"worker died: {exc}")
            return report(result)

        results += await asyncio.gather(*(one(*row) for row in tenants))
    return results


async def schema_statuses(db: Database) -> list[SchemaStatus]:
    async with db.engine.connect() as conn:
        control = await conn.run_sync(current_revision, None)
        statuses = [SchemaStatus(None, "public", "control", control, head(Tree.CONTROL))]
        if control is None:
            return statuses
        tenant_head = head(Tree.TENANT)
        for slug, schema, _role, status in await _migrated_tenants(db):
            revision = await conn.run_sync(current_revision, schema)
            statuses.append(SchemaStatus(slug, schema, status, revision, tenant_head))
        rows = await conn.execute(
            select(Tenant.slug, Tenant.schema_name).where(
                Tenant.status == TenantStatus.PROVISIONING
            )
        )
        for slug, schema in rows:
            statuses.append(SchemaStatus(slug, schema, "provisioning", None, tenant_head))
    return statuses
