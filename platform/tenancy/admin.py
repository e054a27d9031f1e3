"""Operating parks from the platform side: list, suspend, resume."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from vistapass.platform.db import Database
from vistapass.platform.db.migrations import Tree, current_revision, head
from vistapass.platform.errors import ServiceUnavailable
from vistapass.platform.models import Tenant, TenantStatus
from vistapass.platform.tenancy import repository
from vistapass.platform.tenancy.binding import control_session
from vistapass.platform.tenancy.errors import TenantNotFound


@dataclass(frozen=True, slots=True)
class ParkRow:
    slug: str
    display_name: str
    status: str
    schema_name: str
    created_at: datetime

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["created_at"] = self.created_at.isoformat()
        return data


async def require_migrated(db: Database) -> None:
    async with db.engine.connect() as conn:
        revision = await conn.run_sync(current_revision, None)
    if revision != head(Tree.CONTROL):
        raise ServiceUnavailable(
            "The database is not migrated; run `vistapass db upgrade` first.",
            code="database_not_migrated",
        )


async def list_parks(db: Database) -> list[ParkRow]:
    await require_migrated(db)
    async with control_session(db) as session:
        return [
            ParkRow(t.slug, t.display_name, t.status, t.schema_name, t.created_at)
            for t in await repository.list_tenants(session)
        ]


async def _get(db_session: Any, slug: str) -> Tenant:
    tenant = await repository.get_by_slug(db_session, slug)
    if tenant is None:
        raise TenantNotFound(f"No park is called '{slug}'.", details={"slug": slug})
    return tenant


async def suspend(db: Database, slug: str) -> bool:
    """True if the park was suspended now, False if it already was."""
    await require_migrated(db)
    async with control_session(db) as session:
        tenant = await _get(session, slug)
        if tenant.status == TenantStatus.SUSPENDED:
            return False
        await repository.set_status(session, tenant, TenantStatus.SUSPENDED)
        return True


async def resume(db: Database, slug: str) -> bool | None:
    """True if reopened now, False if already active, None if still provisioning."""
    await require_migrated(db)
    async with control_session(db) as session:
        tenant = await _get(session, slug)
        if tenant.status == TenantStatus.PROVISIONING:
            return None
        if tenant.status == TenantStatus.ACTIVE:
            return False
        await repository.set_status(session, tenant, TenantStatus.ACTIVE)
        return True
