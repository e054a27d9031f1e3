"""The principal of a request: a signed-in person (session cookie) or an API token."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Literal

from litestar.connection import ASGIConnection
from sqlalchemy import select, update

from vistapass.platform.identity.secrets import same, token_hash
from vistapass.platform.identity.sessions import SESSION_COOKIE, SessionStore
from vistapass.platform.models import ApiToken, Membership, Tenant, User
from vistapass.platform.models.base import utcnow

TOKEN_PREFIX = "vpt_"  # noqa: S105 not a secret: marks our tokens in logs and scanners
PRINCIPAL_KEY = "principal"


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: uuid.UUID
    email: str
    name: str
    is_platform_admin: bool
    via: Literal["session", "token"]
    session_id: str | None = None
    mfa_pending: bool = False
    # An API token acts for one park with one role, never more.
    token_id: uuid.UUID | None = None
    token_tenant: str | None = None
    token_role: str | None = None

    @property
    def label(self) -> str:
        return f"{self.email} (token)" if self.via == "token" else self.email


def session_store(connection: ASGIConnection[Any, Any, Any, Any]) -> SessionStore:
    return SessionStore(connection.app.state.redis, connection.app.state.settings.redis_namespace)


def client_ip(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    return connection.client.host if connection.client else None


async def _from_token(connection: ASGIConnection[Any, Any, Any, Any], raw: str) -> Principal | None:
    parts = raw.split("_")
    if len(parts) != 3 or parts[0] + "_" != TOKEN_PREFIX or len(parts[1]) != 12:
        return None
    async with connection.app.state.db.session() as session:
        row = (
            await session.execute(
                select(ApiToken, User, Tenant.slug)
                .join(User, User.id == ApiToken.user_id)
                .join(Tenant, Tenant.id == ApiToken.tenant_id)
                .join(
                    Membership,
                    (Membership.user_id == ApiToken.user_id)
                    & (Membership.tenant_id == ApiToken.tenant_id),
                )
                .where(ApiToken.token_prefix == parts[1], ApiToken.revoked_at.is_(None))
            )
        ).first()
        if row is None:
            return None
        token, user, slug = row
        if not same(token.token_hash, token_hash(raw)):
            return None
        if token.expires_at is not None and token.expires_at <= utcnow():
            return None
        await session.execute(
            update(ApiToken).where(ApiToken.id == token.id).values(last_used_at=utcnow())
        )
        await session.commit()
    return Principal(
        user_id=user.id,
        email=user.email,
        name=user.name,
        is_platform_admin=False,
        via="token",
        token_id=token.id,
        token_tenant=slug,
        token_role=token.role,
    )


async def resolve_principal(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal | None:
    """Who sent this request (cached on it); None when nobody is signed in."""
    if PRINCIPAL_KEY in connection.scope.get("state", {}):
        return connection.scope["state"][PRINCIPAL_KEY]
    principal: Principal | None = None
    authorization = connection.headers.get("authorization", "")
    if authorization.lower().startswith("bearer "):
        principal = await _from_token(connection, authorization[7:].strip())
    else:
        session_id = connection.cookies.get(SESSION_COOKIE)
        data = await session_store(connection).get(session_id)
        if data is not None:
            principal = Principal(
                user_id=uuid.UUID(data.user_id),
                email=data.email,
                name=data.name,
                is_platform_admin=data.is_platform_admin,
                via="session",
                session_id=session_id,
                mfa_pending=data.mfa_pending,
            )
    connection.scope.setdefault("state", {})[PRINCIPAL_KEY] = principal
    return principal
