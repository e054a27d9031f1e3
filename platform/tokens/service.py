"""Minting, listing and revoking personal API tokens (control-plane tables).

A token is `vpt_<12 hex prefix>_<secret>`; only the SHA-256 of the whole string is
kept (see `identity.principal._from_token`, which authenticates it). Its role is
the maker's own role at the park or a lesser one, and never carries a permission
the maker lacks there.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from vistapass.platform.authz.enforcer import Authorizer
from vistapass.platform.errors import NotFound, VistapassError
from vistapass.platform.identity.principal import TOKEN_PREFIX
from vistapass.platform.identity.secrets import token_hash
from vistapass.platform.models import ApiToken, CasbinRule, Membership, Role
from vistapass.platform.models.base import utcnow

# owner > manager > {finance, cashier, gate_staff} > viewer; the middle three are
# different jobs, not ranks, so each compares only with itself.
LESSER: dict[str, tuple[str, ...]] = {
    Role.OWNER: tuple(Role),
    Role.MANAGER: (Role.MANAGER, Role.FINANCE, Role.CASHIER, Role.GATE_STAFF, Role.VIEWER),
    Role.FINANCE: (Role.FINANCE, Role.VIEWER),
    Role.CASHIER: (Role.CASHIER, Role.VIEWER),
    Role.GATE_STAFF: (Role.GATE_STAFF, Role.VIEWER),
    Role.VIEWER: (Role.VIEWER,),
}
MAX_NAME = 100


class TokenInvalid(VistapassError):
    status_code = 422
    code = "invalid_token_request"


class TokenRoleNotAllowed(VistapassError):
    status_code = 403
    code = "token_role_not_allowed"


@dataclass(frozen=True, slots=True)
class Minted:
    token: ApiToken
    secret: str  # the whole token string: shown once, never stored


def describe(token: ApiToken) -> dict[str, Any]:
    return {
        "id": str(token.id),
        "name": token.name,
        "role": token.role,
        "prefix": token.token_prefix,
        "created_at": _iso(token.created_at),
        "last_used_at": _iso(token.last_used_at),
        "revoked_at": _iso(token.revoked_at),
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


async def own_role(session: AsyncSession, user_id: uuid.UUID, tenant_id: uuid.UUID) -> str | None:
    return await session.scalar(
        select(Membership.role).where(
            Membership.user_id == user_id, Membership.tenant_id == tenant_id
        )
    )


async def _permissions(session: AsyncSession) -> list[tuple[str, str]]:
    rows = await session.execute(
        select(CasbinRule.v2, CasbinRule.v3).where(CasbinRule.ptype == "p").distinct()
    )
    return [(obj, act) for obj, act in rows]


async def allowed_roles(
    session: AsyncSession, authorizer: Authorizer, park: str, role: str | None
) -> list[str]:
    """Roles the holder of `role` may give a token at `park`, most powerful first."""
    if role not in LESSER:
        return []
    await authorizer.refresh()
    enforce = authorizer.enforcer.enforce
    permissions = await _permissions(session)
    own = {p for p in permissions if enforce(role, park, *p)}
    # The rank table alone would let, say, a cashier mint a viewer token that reads
    # reports the cashier cannot: the policy has the last word.
    return [
        str(candidate)
        for candidate in LESSER[role]
        if {p for p in permissions if enforce(str(candidate), park, *p)} <= own
    ]


async def mint(
    session: AsyncSession,
    authorizer: Authorizer,
    park: str,
    user_id: uuid.UUID,
    tenant_id: uuid.UUID,
    name: str,
    role: str,
) -> Minted:
    name = name.strip()
    if not name or len(name) > MAX_NAME:
        raise TokenInvalid(
            f"Give the token a name of 1 to {MAX_NAME} characters.",
            code="name_required",
            details={"field": "name"},
        )
    if role not in {r.value for r in Role}:
        raise TokenInvalid("Unknown role.", code="invalid_role", details={"role": role})
    mine = await own_role(session, user_id, tenant_id)
    if role not in await allowed_roles(session, authorizer, park, mine):
        raise TokenRoleNotAllowed(
            "A token cannot have more rights than your own role at this park.",
            details={"role": role, "your_role": mine},
        )
    prefix = secrets.token_hex(6)
    # Hex: `_` separates the parts of the token, so the secret must not contain one.
    raw = f"{TOKEN_PREFIX}{prefix}_{secrets.token_hex(24)}"
    token = ApiToken(
        user_id=user_id,
        tenant_id=tenant_id,
        role=role,
        name=name,
        token_prefix=prefix,
        token_hash=token_hash(raw),
    )
    session.add(token)
    await session.flush()
    await session.refresh(token)
    return Minted(token, raw)


async def list_own(
    session: AsyncSession, user_id: uuid.UUID, tenant_id: uuid.UUID
) -> list[ApiToken]:
    return list(
        await session.scalars(
            select(ApiToken)
            .where(ApiToken.user_id == user_id, ApiToken.tenant_id == tenant_id)
            .order_by(ApiToken.created_at.desc())
        )
    )


async def revoke(
    session: AsyncSession, user_id: uuid.UUID, tenant_id: uuid.UUID, token_id: uuid.UUID
) -> ApiToken | None:
    """Revoke one's own token; returns it if this call revoked it (None if it already was)."""
    token = await session.scalar(
        select(ApiToken)
        .where(
            ApiToken.id == token_id,
            ApiToken.user_id == user_id,
            ApiToken.tenant_id == tenant_id,
        )
        .with_for_update()
    )
    if token is None:
        # Somebody else's token looks exactly like no token at all.
        raise NotFound("No such token.", details={"token_id": str(token_id)})
    if token.revoked_at is not None:
        return None
    token.revoked_at = utcnow()
    await session.flush()
    return token
