"""All SQL on the tenant registry (control plane, `public` schema)."""

from __future__ import annotations

import uuid

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from vistapass.platform.models import Tenant, TenantDomain, TenantStatus
from vistapass.platform.models.base import utcnow


async def get_by_slug(session: AsyncSession, slug: str) -> Tenant | None:
    return await session.scalar(select(Tenant).where(Tenant.slug == slug))


async def list_tenants(session: AsyncSession) -> list[Tenant]:
    return list(await session.scalars(select(Tenant).order_by(Tenant.slug)))


async def slug_for_domain(session: AsyncSession, domain: str) -> str | None:
    return await session.scalar(
        select(Tenant.slug)
        .join(TenantDomain, TenantDomain.tenant_id == Tenant.id)
        .where(TenantDomain.domain == domain, TenantDomain.verified.is_(True))
    )


async def set_status(session: AsyncSession, tenant: Tenant, status: TenantStatus) -> None:
    await session.execute(
        update(Tenant)
        .where(Tenant.id == tenant.id)
        .values(status=status, status_changed_at=utcnow())
    )
    tenant.status = status


async def domains_of(session: AsyncSession, tenant_id: uuid.UUID) -> list[str]:
    return list(
        await session.scalars(
            select(TenantDomain.domain)
            .where(TenantDomain.tenant_id == tenant_id)
            .order_by(TenantDomain.domain)
        )
    )
