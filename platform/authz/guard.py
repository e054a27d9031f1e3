"""The app-wide guard: every route declares what it needs, and this checks it."""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from vistapass.platform.authz.enforcer import authorize
from vistapass.platform.authz.permissions import (
    PERMISSION_KEY,
    PLATFORM_DOMAIN,
    PUBLIC,
    SIGNED_IN,
)
from vistapass.platform.identity.errors import CsrfFailed, Forbidden, NotAuthenticated
from vistapass.platform.identity.principal import resolve_principal
from vistapass.platform.identity.secrets import same
from vistapass.platform.mfa.service import enforce_mfa

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CSRF_COOKIE = "csrftoken"
CSRF_HEADER = "x-csrftoken"
# Litestar's own OpenAPI routes.
EXEMPT_PREFIXES = ("/schema",)


def declared_permission(handler: BaseRouteHandler) -> str | None:
    return handler.opt.get(PERMISSION_KEY)


def is_api_path(path: str) -> bool:
    return path.startswith("/api/") or (path.startswith("/p/") and "/api/" in path)


def check_api_csrf(connection: ASGIConnection[Any, Any, Any, Any]) -> None:
    """Cookie-authenticated API writes must echo the CSRF cookie in a header.

    Console forms are covered by Litestar's CSRF middleware; API paths are left out
    of it so that token-authenticated clients need no cookie.
    """
    cookie = connection.cookies.get(CSRF_COOKIE, "")
    header = connection.headers.get(CSRF_HEADER, "")
    if not cookie or not header or not same(cookie, header):
        raise CsrfFailed("This request lacks a valid CSRF token.")


async def authorization_guard(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    if connection.scope["path"].startswith(EXEMPT_PREFIXES):
        return
    permission = declared_permission(handler)
    if permission is None:
        raise Forbidden("This route declares no permission, so nobody may use it.")
    if permission == PUBLIC:
        return
    principal = await resolve_principal(connection)
    if principal is None or principal.mfa_pending:
        raise NotAuthenticated("Sign in first.")
    # Production only, tested first so that elsewhere this costs one attribute read.
    if connection.app.state.settings.is_production and principal.via == "session":
        await enforce_mfa(connection, principal)
    if (
        principal.via == "session"
        and connection.scope.get("method") in UNSAFE_METHODS
        and is_api_path(connection.scope["path"])
    ):
        check_api_csrf(connection)
    if permission == SIGNED_IN:
        return
    park = connection.path_params.get("tenant_slug", PLATFORM_DOMAIN)
    await authorize(connection.app.state.authorizer, principal, park, permission)
