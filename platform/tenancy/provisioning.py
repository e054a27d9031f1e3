"""Provisioning a park: registry row, schema, role, tenant migrations, defaults.

It runs in two transactions. The first records the park as `provisioning`, so
it is visible and its slug taken. The second does everything else and marks it
`active`; PostgreSQL's DDL is transactional, so a failure there leaves nothing
behind but the registry row, and running provisioning again finishes the job.
Every step also tolerates pieces left by an earlier, interrupted attempt.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from vistapass.platform.db import Database
from vistapass.platform.db.migrations import tenant_connection, upgrade_tenant
from vistapass.platform.models import Tenant, TenantStatus
from vistapass.platform.models.base import utcnow
from vistapass.platform.tenancy.errors import TenantExists
from vistapass.platform.tenancy.naming import role_for, schema_for, validate_slug
from vistapass.tenants.models import ParkProfile


@dataclass(frozen=True, slots=True)
class ProvisionedTenant:
    slug: str
    display_name: str
    schema_name: str
    db_role: str
    resumed: bool


def _quote(connection: Connection, name: str) -> str:
    return connection.dialect.identifier_preparer.quote(name)


def _lock(connection: Connection, slug: str) -> None:
    # Serialises concurrent attempts on one slug (CREATE ROLE is not IF NOT EXISTS).
    connection.execute(
        text("SELECT pg_advisory_xact_lock(hashtext('vistapass.provision'), hashtext(:slug))"),
        {"slug": slug},
    )


def register(connection: Connection, slug: str, display_name: str, role_prefix: str) -> bool:
    """Record the park as provisioning. True if an unfinished earlier attempt is resumed."""
    _lock(connection, slug)
    row = connection.execute(select(Tenant.status).where(Tenant.slug == slug)).first()
    if row is not None:
        if row.status != TenantStatus.PROVISIONING:
            raise TenantExists(
                f"A park with the slug '{slug}' already exists.", details={"slug": slug}
            )
        return True
    connection.execute(
        insert(Tenant).values(
            slug=slug,
            display_name=display_name,
            schema_name=schema_for(slug),
            db_role=role_for(role_prefix, slug),
            status=TenantStatus.PROVISIONING,
        )
    )
    return False


def ensure_role_and_schema(connection: Connection, schema: str, role: str) -> None:
    q_schema, q_role = _quote(connection, schema), _quote(connection, role)
    exists = connection.scalar(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role})
    if not exists:
        connection.execute(text(f"CREATE ROLE {q_role} NOLOGIN NOINHERIT"))
    is_superuser = connection.scalar(
        text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
    )
    if not is_superuser:
        # A non-superuser app role needs membership to `SET ROLE` to the park's role.
        connection.execute(text(f"GRANT {q_role} TO CURRENT_USER"))
    connection.execute(text(f"CREATE SCHEMA IF NOT EXISTS {q_schema}"))
    connection.execute(text(f"REVOKE ALL ON SCHEMA {q_schema} FROM PUBLIC"))
    connection.execute(text(f"GRANT USAGE ON SCHEMA {q_schema} TO {q_role}"))
    # Tables made by later migrations (run as the app's role) get the same rights.
    connection.execute(
        text(
            f"ALTER DEFAULT PRIVILEGES IN SCHEMA {q_schema} "
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {q_role}"
        )
    )
    connection.execute(
        text(
            f"ALTER DEFAULT PRIVILEGES IN SCHEMA {q_schema} "
            f"GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO {q_role}"
        )
    )


def grant_tables(connection: Connection, schema: str, role: str) -> None:
    """Give the park's role its rights on every table, but never on the version table."""
    q_schema, q_role = _quote(connection, schema), _quote(connection, role)
    connection.execute(
        text(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {q_schema} TO {q_role}")
    )
    connection.execute(
        text(f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA {q_schema} TO {q_role}")
    )
    connection.execute(text(f"REVOKE ALL ON {q_schema}.alembic_version FROM {q_role}"))
    # The audit log is append-only for the park itself: tampering needs the owner's
    # role, and even then `vistapass audit verify` sees the broken hash chain.
    audit = connection.scalar(text("SELECT to_regclass(:t)"), {"t": f"{schema}.audit_log"})
    if audit is not None:
        connection.execute(
            text(f"REVOKE UPDATE, DELETE, TRUNCATE ON {q_schema}.audit_log FROM {q_role}")
        )


def seed_defaults(connection: Connection, schema: str, display_name: str) -> None:
    tenant = tenant_connection(connection, schema)
    tenant.execute(
        pg_insert(ParkProfile)
        .values(
            id=1,
            display_name=display_name,
            time_zone="Asia/Shanghai",
            currency="CNY",
            default_locale="zh-CN",
        )
        .on_conflict_do_nothing(index_elements=["id"])
    )


def build(connection: Connection, slug: str) -> Tenant:
    """Everything after registration, in the caller's transaction; marks the park active."""
    _lock(connection, slug)
    tenant = connection.execute(select(Tenant).where(Tenant.slug == slug)).one()
    ensure_role_and_schema(connection, tenant.schema_name, tenant.db_role)
    upgrade_tenant(connection, tenant.schema_name)
    grant_tables(connection, tenant.schema_name, tenant.db_role)
    seed_defaults(connection, tenant.schema_name, tenant.display_name)
    connection.execute(
        update(Tenant)
        .where(Tenant.slug == slug, Tenant.status == TenantStatus.PROVISIONING)
        .values(status=TenantStatus.ACTIVE, status_changed_at=utcnow())
    )
    return tenant


async def provision_tenant(db: Database, slug: str, display_name: str) -> ProvisionedTenant:
    """Create a park, or finish one whose provisioning was interrupted.

    Raises InvalidSlug / SlugReserved (422) for a bad slug and TenantExists (409)
    when the slug belongs to a park that is already live.
    """
    validate_slug(slug)
    display_name = display_name.strip() or slug
    async with db.engine.begin() as conn:
        resumed = await conn.run_sync(register, slug, display_name, db.settings.db_role_prefix)
    tenant = await db.in_sync_transaction(build, slug)
    return ProvisionedTenant(
        slug=slug,
        display_name=tenant.display_name,
        schema_name=tenant.schema_name,
        db_role=tenant.db_role,
        resumed=resumed,
    )
