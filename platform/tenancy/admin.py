"""Operating parks from the platform side: list, suspend, resume."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from vistapass.platform.db import Database
from vistapass.platform.db.migrations import Tree, current_revision, head
from vistapass.platform.errors import ServiceUnavailable
from vistapass.platform.models import Tenant, TenantDomain, TenantStatus
from vistapass.platform.tenancy import repository
from vistapass.platform.tenancy.binding import control_session, forget_tenant
from vistapass.platform.tenancy.errors import DomainTaken, InvalidDomain, TenantNotFound


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
    forget_tenant(slug)
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
    forget_tenant(slug)
    return True


DOMAIN_PATTERN = re.compile(r"^(?=.{4,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


def normalise_domain(domain: str) -> str:
    name = domain.strip().lower().rstrip(".")
    if not DOMAIN_PATTERN.fullmatch(name):
        raise InvalidDomain(f"'{domain}' is not a domain name.", details={"domain": domain})
    return name


async def add_domain(db: Database, slug: str, domain: str) -> bool:
    """Serve the park on a domain its owner has proven control of.

    True if added, False if the park already had it. A domain belongs to one park.
    """
    name = normalise_domain(domain)
    await require_migrated(db)
    async with control_session(db) as session:
        tenant = await _get(session, slug)
        existing = await session.get(TenantDomain, name)
        if existing is not None:
            if existing.tenant_id != tenant.id:
                raise DomainTaken(
                    f"{name} already belongs to another park.", details={"domain": name}
                )
            changed = not existing.verified
            existing.verified = True
            return changed
        session.add(TenantDomain(domain=name, tenant_id=tenant.id, verified=True))
        return True


async def remove_domain(db: Database, slug: str, domain: str) -> bool:
    name = normalise_domain(domain)
    await require_migrated(db)
    async with control_session(db) as session:
        tenant = await _get(session, slug)
        existing = await session.get(TenantDomain, name)
        if existing is None or existing.tenant_id != tenant.id:
            return False
        await session.delete(existing)
        return True


async def domains_of(db: Database, slug: str) -> list[str]:
    await require_migrated(db)
    async with control_session(db) as session:
        tenant = await _get(session, slug)
        return await repository.domains_of(session, tenant.id)
