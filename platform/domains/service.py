"""Claiming and verifying custom domains.

The operator adds a domain and gets a token; they publish it as a text file on
that domain; we fetch it once and, if it matches, the booking site answers on
the domain. The fetch refuses private and loopback addresses in production, so
the verifier cannot be turned into a way of probing our own network.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from vistapass.platform.errors import NotFound, VistapassError
from vistapass.platform.identity.secrets import new_token
from vistapass.platform.models import TenantDomain
from vistapass.platform.models.base import utcnow
from vistapass.platform.settings import Settings
from vistapass.platform.tenancy.admin import normalise_domain
from vistapass.platform.tenancy.errors import DomainTaken

MAX_BODY = 1024
FETCH_TIMEOUT = 5.0


class DomainNotVerified(VistapassError):
    status_code = 422
    code = "domain_not_verified"


class DomainNotFound(NotFound):
    code = "domain_not_found"


@dataclass(frozen=True, slots=True)
class DomainView:
    domain: str
    verified: bool
    token: str | None
    check_url: str


def check_url(settings: Settings, domain: str) -> str:
    return settings.domain_verify_url.format(domain=domain)


def view(settings: Settings, row: TenantDomain) -> DomainView:
    return DomainView(
        row.domain, row.verified, row.verification_token, check_url(settings, row.domain)
    )


async def list_domains(session: AsyncSession, tenant_id: uuid.UUID) -> list[TenantDomain]:
    return list(
        await session.scalars(
            select(TenantDomain)
            .where(TenantDomain.tenant_id == tenant_id)
            .order_by(TenantDomain.domain)
        )
    )


async def claim(session: AsyncSession, tenant_id: uuid.UUID, domain: str) -> TenantDomain:
    """Add a domain awaiting verification. A verified domain of another park stays
    theirs; an unverified claim by another park is taken over (it proved nothing)."""
    name = normalise_domain(domain)
    row = await session.get(TenantDomain, name, with_for_update=True)
    if row is not None and row.tenant_id != tenant_id:
        if row.verified:
            raise DomainTaken(f"{name} already belongs to another park.", details={"domain": name})
        await session.delete(row)
        await session.flush()
        row = None
    if row is None:
        row = TenantDomain(
            domain=name, tenant_id=tenant_id, verified=False, verification_token=new_token(24)
        )
        session.add(row)
        await session.flush()
    return row


async def get_own(session: AsyncSession, tenant_id: uuid.UUID, domain: str) -> TenantDomain:
    row = await session.get(TenantDomain, normalise_domain(domain), with_for_update=True)
    if row is None or row.tenant_id != tenant_id:
        raise DomainNotFound("This park has no such domain.", details={"domain": domain})
    return row


def _refuse_private(url: str) -> None:
    host = urlsplit(url).hostname or ""
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except socket.gaierror as exc:
        raise DomainNotVerified(f"{host} does not resolve.", details={"host": host}) from exc
    for address in addresses:
        ip = ipaddress.ip_address(address)
        if ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved:
            raise DomainNotVerified(f"{host} points to a private address.", details={"host": host})


async def fetch_published_token(settings: Settings, domain: str) -> str:
    url = check_url(settings, domain)
    if settings.is_production:
        await asyncio.to_thread(_refuse_private, url)
    try:
        async with (
            httpx.AsyncClient(timeout=FETCH_TIMEOUT, follow_redirects=False) as client,
            client.stream("GET", url) as response,
        ):
            if response.status_code != 200:
                raise DomainNotVerified(
                    f"{url} answered {response.status_code}, not 200.", details={"url": url}
                )
            body = b""
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_BODY:
                    break
    except httpx.HTTPError as exc:
        raise DomainNotVerified(f"{url} could not be fetched.", details={"url": url}) from exc
    return body[:MAX_BODY].decode("utf-8", "replace").strip()


async def verify(session: AsyncSession, settings: Settings, row: TenantDomain) -> TenantDomain:
    if row.verified:
        return row
    published = await fetch_published_token(settings, row.domain)
    if not row.verification_token or published != row.verification_token:
        raise DomainNotVerified(
            "The file on the domain does not hold this park's token.",
            details={"url": check_url(settings, row.domain)},
        )
    row.verified = True
    row.verified_at = utcnow()
    await session.flush()
    return row
