"""Personal API tokens at one park: the console page and its JSON twin.

The tokens live in the control plane, which the park-bound request session cannot
reach (its database role is the park's), so they are written through a control
session; the audit entry goes to the park's own log in the request's session.
"""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, delete, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from vistapass.platform.audit.service import Actor, record
from vistapass.platform.authz.permissions import requires
from vistapass.platform.console.context import console_context
from vistapass.platform.console.pages import Page
from vistapass.platform.identity.errors import Forbidden
from vistapass.platform.identity.principal import Principal, client_ip, resolve_principal
from vistapass.platform.mfa.controllers import fields
from vistapass.platform.tenancy.binding import BoundTenant, control_session
from vistapass.platform.tenancy.dependencies import CurrentTenant, TenantDbSession
from vistapass.platform.tokens import service

PERMISSION = "tokens:manage"
NO_STORE = {"cache-control": "no-store"}  # the page that shows a new secret


async def _principal(request: Request[Any, Any, Any]) -> Principal:
    principal = await resolve_principal(request)
    assert principal is not None  # the guard let only signed-in people through
    return principal


async def _create(
    request: Request[Any, Any, Any], db_session: Any, tenant: BoundTenant
) -> service.Minted:
    principal = await _principal(request)
    if principal.via != "session":
        # A leaked token must not be able to mint its own successors.
        raise Forbidden("Create tokens while signed in, not with a token.", code="session_required")
    form = await fields(request)
    state = request.app.state
    async with control_session(state.db) as control:
        minted = await service.mint(
            control,
            state.authorizer,
            tenant.slug,
            principal.user_id,
            tenant.id,
            form.get("name", ""),
            form.get("role", ""),
        )
        # Before the token's commit: a failed audit leaves no unrecorded token behind.
        await record(
            db_session,
            Actor.of(principal, client_ip(request)),
            "token.created",
            f"api_token:{minted.token.id}",
            after={"name": minted.token.name, "role": minted.token.role},
        )
    return minted


async def _revoke(
    request: Request[Any, Any, Any], db_session: Any, tenant: BoundTenant, token_id: uuid.UUID
) -> None:
    principal = await _principal(request)
    async with control_session(request.app.state.db) as control:
        revoked = await service.revoke(control, principal.user_id, tenant.id, token_id)
        if revoked is not None:
            await record(
                db_session,
                Actor.of(principal, client_ip(request)),
                "token.revoked",
                f"api_token:{token_id}",
                before={"name": revoked.name, "role": revoked.role},
            )


async def _listing(request: Request[Any, Any, Any], tenant: BoundTenant) -> dict[str, Any]:
    principal = await _principal(request)
    async with request.app.state.db.session() as control:
        tokens = await service.list_own(control, principal.user_id, tenant.id)
        role = await service.own_role(control, principal.user_id, tenant.id)
        roles = await service.allowed_roles(
            control, request.app.state.authorizer, tenant.slug, role
        )
    return {"tokens": [service.describe(t) for t in tokens], "allowed_roles": roles}


class TokensConsoleController(Controller):
    """`/p/<slug>/console/tokens`: a person's own tokens at this park."""

    path = "/console/tokens"
    include_in_schema = False

    async def _page(
        self,
        request: Request[Any, Any, Any],
        tenant: BoundTenant,
        status: int = 200,
        **extra: Any,
    ) -> Template:
        listing = await _listing(request, tenant)
        context = await console_context(
            request, tenant.slug, tenant.display_name, **listing, **extra
        )
        return Page("tokens/tokens.html", context=context, status_code=status, headers=NO_STORE)

    @get("/", opt=requires(PERMISSION))
    async def index(self, request: Request[Any, Any, Any], tenant: CurrentTenant) -> Template:
        return await self._page(request, tenant)

    @post("/", opt=requires(PERMISSION), status_code=200)
    async def create(
        self, request: Request[Any, Any, Any], db_session: TenantDbSession, tenant: CurrentTenant
    ) -> Template:
        minted = await _create(request, db_session, tenant)
        return await self._page(
            request, tenant, created=service.describe(minted.token), secret=minted.secret
        )

    @post("/{token_id:uuid}/revoke", opt=requires(PERMISSION))
    async def revoke(
        self,
        db_session: TenantDbSession,
        tenant: CurrentTenant,
        request: Request[Any, Any, Any],
        token_id: FromPath[uuid.UUID],
    ) -> Redirect:
        await _revoke(request, db_session, tenant, token_id)
        return Redirect(f"/p/{tenant.slug}/console/tokens", status_code=303)


class TokensApiController(Controller):
    path = "/api/v1/tokens"
    tags = ["tokens"]

    @get("/", opt=requires(PERMISSION), summary="Your own API tokens at this park")
    async def list_tokens(
        self, request: Request[Any, Any, Any], tenant: CurrentTenant
    ) -> dict[str, Any]:
        return await _listing(request, tenant)

    @post("/", opt=requires(PERMISSION), summary="Create a token (its secret is shown once)")
    async def create(
        self, request: Request[Any, Any, Any], db_session: TenantDbSession, tenant: CurrentTenant
    ) -> dict[str, Any]:
        minted = await _create(request, db_session, tenant)
        return {**service.describe(minted.token), "token": minted.secret}

    @delete("/{token_id:uuid}", opt=requires(PERMISSION), summary="Revoke one of your tokens")
    async def revoke(
        self,
        request: Request[Any, Any, Any],
        db_session: TenantDbSession,
        tenant: CurrentTenant,
        token_id: FromPath[uuid.UUID],
    ) -> None:
        await _revoke(request, db_session, tenant, token_id)


TOKEN_ROUTES: list[Any] = [TokensConsoleController, TokensApiController]
