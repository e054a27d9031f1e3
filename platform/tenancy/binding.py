"""Binding a park to a session: the only way tenant tables are reached.

A tenant session maps the placeholder schema `tenant` to the park's schema and,
inside its transaction, switches to the park's own role with `SET LOCAL ROLE`
(never a session-level `SET` on a pooled connection). From then on PostgreSQL
itself refuses any other park's schema, and the control-plane tables too.

The edge (request dependency, actor, CLI command) owns the transaction: it
commits or rolls back; services only flush. Jobs a service enqueued are sent
only after the commit and are dropped on rollback.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

from psycopg.rows import DictRow
from sqlalchemy.ext.asyncio import AsyncSession

from vistapass.platform.cache.local import Recent
from vistapass.platform.db import Database
from vistapass.platform.db.raw import Raw, Statement
from vistapass.platform.models import Tenant, TenantStatus
from vistapass.platform.tenancy import repository
from vistapass.platform.tenancy.errors import TenantNotBound, TenantNotFound, TenantSuspended
from vistapass.platform.tenancy.naming import (
    checked_role,
    checked_schema,
    is_valid_slug,
    schema_for,
)
from vistapass.platform.worker.enqueue import discard_jobs, flush_jobs
from vistapass.tenants.models import TENANT_SCHEMA

TENANT_KEY = "vistapass.tenant"
# How long a process keeps a park's registry row: a suspension made by another
# process (the CLI, another worker) is obeyed within this many seconds.
REGISTRY_CACHE_S = 3.0


@dataclass(frozen=True, slots=True)
class BoundTenant:
    id: uuid.UUID
    slug: str
    display_name: str
    schema_name: str
    db_role: str
    status: str

    @classmethod
    def from_row(cls, tenant: Tenant) -> BoundTenant:
        return cls(
            id=tenant.id,
            slug=tenant.slug,
            display_name=tenant.display_name,
            schema_name=checked_schema(tenant.schema_name),
            db_role=checked_role(tenant.db_role),
            status=tenant.status,
        )


# Registry rows by (database, slug): every request of a park binds it, and the
# row (schema, role, status) changes only when the park is suspended or resumed.
_registry: Recent[tuple[object, str], BoundTenant] = Recent(REGISTRY_CACHE_S)


def forget_tenant(slug: str | None = None) -> None:
    """Drop a park (or all) from this process's registry cache, after changing its row."""
    if slug is None:
        _registry.forget()
        return
    _registry.forget_matching(lambda key: key[1] == slug)


async def _registry_row(session: AsyncSession, slug: str) -> BoundTenant:
    # The engine keys the cache (tests and tools may hold several databases): the
    # object itself, as rendering its URL on every request costs a tenth of a ms.
    key = (session.bind, slug)
    tenant = _registry.get(key)
    if tenant is not None:
        return tenant
    return await _load_registry_row(session, slug)


async def _load_registry_row(session: AsyncSession, slug: str) -> BoundTenant:
    key = (session.bind, slug)
    row = await repository.get_by_slug(session, slug)
    if row is None or row.status == TenantStatus.PROVISIONING:
        raise TenantNotFound(f"No park is called '{slug}'.", details={"slug": slug})
    return _registry.put(key, BoundTenant.from_row(row))


def current_tenant(session: AsyncSession) -> BoundTenant:
    tenant = session.info.get(TENANT_KEY)
    if tenant is None:
        raise TenantNotBound("This operation needs a park bound to its session.")
    return tenant


# `SET LOCAL ROLE` and `SET LOCAL search_path`, as one statement with parameters,
# so that it shares a round trip (platform/db/raw.py) with the transaction's BEGIN.
_BIND = "SELECT set_config('role', %(role)s, true), set_config('search_path', %(path)s, true)"


async def bind_tenant(
    session: AsyncSession, slug: str, *, allow_suspended: bool = False
) -> BoundTenant:
    """Look the park up and bind it; must be the first thing the session does."""
    return (await bind_tenant_then(session, slug, allow_suspended=allow_suspended))[0]


async def bind_tenant_then(
    session: AsyncSession,
    slug: str,
    *then: Statement,
    allow_suspended: bool = False,
    then_for: Callable[[BoundTenant], Sequence[Statement]] | None = None,
) -> tuple[BoundTenant, list[list[DictRow]]]:
    """`bind_tenant`, with the statements `then` run as the park in the same round
    trip: the rows of each.

    For the busiest calls (a gate's redeem, a batch of orders), whose first
    questions can travel with the binding instead of after it. `then_for` adds
    statements that depend on the park's registry row (its id keys per-process
    caches); their rows follow those of `then`.
    """
    if session.in_transaction():
        raise RuntimeError("bind_tenant must start the session's transaction")
    _check_slug(slug)
    # Execution options only apply when the session procures its connection, so
    # the schema map is set first (it follows from the slug) and checked below.
    connection = await session.connection(
        execution_options={"schema_translate_map": {TENANT_SCHEMA: schema_for(slug)}}
    )
    tenant = _bindable(await _registry_row(session, slug), slug, allow_suspended)
    # The search path lets hand-written SQL (the hot paths of selling) name tenant
    # tables unqualified; ORM statements are mapped by schema_translate_map. Sent
    # straight through psycopg, with BEGIN: every request of a park starts with it.
    # Role and schema names are checked (lower-case letters, digits, "_") on loading.
    raw = await Raw.on(connection)
    more = then_for(tenant) if then_for is not None else ()
    rows = await raw.batch(_bind(tenant), *then, *more)
    session.info[TENANT_KEY] = tenant
    return tenant, rows[1:]


def _check_slug(slug: str) -> None:
    if not is_valid_slug(slug):
        raise TenantNotFound(f"No park is called '{slug}'.", details={"slug": slug})


def _bindable(tenant: BoundTenant, slug: str, allow_suspended: bool) -> BoundTenant:
    """The registry row, if a session may be bound to it now."""
    schema = schema_for(slug)
    if tenant.schema_name != schema:
        raise RuntimeError(f"registry schema {tenant.schema_name!r} is not {schema!r}")
    if tenant.status == TenantStatus.SUSPENDED and not allow_suspended:
        raise TenantSuspended(f"The park '{slug}' is suspended.", details={"slug": slug})
    return tenant


def _bind(tenant: BoundTenant) -> Statement:
    return (_BIND, {"role": tenant.db_role, "path": f'"{tenant.schema_name}"'})


async def bind_tenant_raw(
    db: Database, raw: Raw, slug: str, *then: Statement
) -> tuple[BoundTenant, list[list[DictRow]]]:
    """`bind_tenant_then` on a connection without a session: BEGIN, the park's role
    and search path, and `then`, in one round trip; the rows of each of `then`.

    For the group commit, which holds one connection for batch after batch (a
    session and a pool checkout per batch cost more than half of a batch's CPU).
    The caller ends each transaction (COMMIT or ROLLBACK on `raw`).
    """
    _check_slug(slug)
    tenant = _registry.get((db.engine, slug))
    if tenant is None:
        async with db.session() as session:
            tenant = await _load_registry_row(session, slug)
    rows = await raw.batch(_bind(_bindable(tenant, slug, allow_suspended=False)), *then)
    return tenant, rows[1:]


AFTER_COMMIT_KEY = "vistapass.after_commit"


def after_commit(session: AsyncSession, callback: Callable[[], Awaitable[None]]) -> None:
    """Run `callback` once this session's transaction has committed (never on rollback)."""
    session.info.setdefault(AFTER_COMMIT_KEY, []).append(callback)


@asynccontextmanager
async def transaction(session: AsyncSession) -> AsyncIterator[AsyncSession]:
    """Commit on success (then send the jobs), roll back and drop the jobs on error."""
    try:
        yield session
        await session.commit()
    except BaseException:
        await session.rollback()
        discard_jobs(session)
        session.info.pop(AFTER_COMMIT_KEY, None)
        raise
    finally:
        await session.close()
    await flush_jobs(session)
    for callback in session.info.pop(AFTER_COMMIT_KEY, []):
        await callback()


@asynccontextmanager
async def tenant_session(
    db: Database, slug: str, *, allow_suspended: bool = False
) -> AsyncIterator[AsyncSession]:
    async with transaction(db.session()) as session:
        await bind_tenant(session, slug, allow_suspended=allow_suspended)
        yield session


@asynccontextmanager
async def control_session(db: Database) -> AsyncIterator[AsyncSession]:
    async with transaction(db.session()) as session:
        yield session
