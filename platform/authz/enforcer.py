"""The one place that asks casbin.

Policy lines (role → permission) live in `casbin_rules`; who holds which role in
which park comes from `memberships` (and `users.is_platform_admin`). Each process
loads them once and reloads when the version counter in Redis moves, which every
change bumps after its commit.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import casbin
from casbin import persist
from redis.asyncio import Redis
from sqlalchemy import Engine, select

from vistapass.platform.authz.permissions import PLATFORM_DOMAIN
from vistapass.platform.identity.errors import Forbidden, NotAuthenticated
from vistapass.platform.identity.principal import Principal
from vistapass.platform.models import CasbinRule, Membership, Tenant, User

MODEL_PATH = Path(__file__).with_name("model.conf")
PLATFORM_ADMIN = "platform_admin"


class PolicyAdapter(persist.Adapter):  # type: ignore[misc]
    """Reads policy lines and role assignments from PostgreSQL (read-only)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def load_policy(self, model: Any) -> None:
        with self.engine.connect() as conn:
            for rule in conn.execute(select(CasbinRule).order_by(CasbinRule.id)):
                values = [rule.v0, rule.v1, rule.v2, rule.v3, rule.v4, rule.v5]
                persist.load_policy_line(", ".join([rule.ptype, *[v for v in values if v]]), model)
            members = conn.execute(
                select(Membership.user_id, Membership.role, Tenant.slug).join(
                    Tenant, Tenant.id == Membership.tenant_id
                )
            )
            for user_id, role, slug in members:
                persist.load_policy_line(f"g, {user_id}, {role}, {slug}", model)
            for (user_id,) in conn.execute(select(User.id).where(User.is_platform_admin)):
                persist.load_policy_line(
                    f"g, {user_id}, {PLATFORM_ADMIN}, {PLATFORM_DOMAIN}", model
                )


class Authorizer:
    def __init__(self, engine: Engine, redis: Redis, namespace: str) -> None:
        # Attached after construction: casbin would otherwise load at once, and the
        # app must start (and answer 503s) while the database is down.
        self.enforcer = casbin.Enforcer(str(MODEL_PATH))
        self.enforcer.set_adapter(PolicyAdapter(engine))
        self.redis = redis
        self.version_key = f"{namespace}:authz:version"
        self.loaded_version: bytes | None = None
        self._lock = asyncio.Lock()

    async def refresh(self) -> None:
        """Reload if anything changed since the last load (one Redis GET otherwise)."""
        current = await self.redis.get(self.version_key)
        if current == self.loaded_version and self.loaded_version is not None:
            return
        async with self._lock:
            if current != self.loaded_version or self.loaded_version is None:
                await asyncio.to_thread(self.enforcer.load_policy)
                self.loaded_version = current or b"0"

    async def bump(self) -> None:
        await self.redis.incr(self.version_key)

    def roles_in(self, principal: Principal, park: str) -> list[str]:
        if principal.via == "token":
            return [principal.token_role] if principal.token_role else []
        return list(self.enforcer.get_roles_for_user_in_domain(str(principal.user_id), park))

    def allows(self, principal: Principal, park: str, permission: str) -> bool:
        obj, act = permission.split(":")
        if principal.via == "token":
            # A token acts only in its own park, with its own role.
            if principal.token_tenant != park or principal.token_role is None:
                return False
            return bool(self.enforcer.enforce(principal.token_role, park, obj, act))
        return bool(self.enforcer.enforce(str(principal.user_id), park, obj, act))


async def authorize(
    authorizer: Authorizer, principal: Principal | None, park: str, permission: str
) -> Principal:
    """Raise unless `principal` holds `permission` in `park` (or the platform domain)."""
    if principal is None or principal.mfa_pending:
        raise NotAuthenticated("Sign in first.")
    await authorizer.refresh()
    if not authorizer.allows(principal, park, permission):
        raise Forbidden(
            "Your role does not allow this.", details={"permission": permission, "park": park}
        )
    return principal
