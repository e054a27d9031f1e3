"""What every console page's template gets: the person, the park, the filtered nav."""

from __future__ import annotations

from typing import Any

from litestar import Request

from vistapass.platform.authz.enforcer import Authorizer
from vistapass.platform.console.i18n import current_language
from vistapass.platform.console.nav import NAV
from vistapass.platform.identity.principal import Principal, resolve_principal


async def console_context(
    request: Request[Any, Any, Any],
    park_slug: str | None,
    park_name: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    principal: Principal | None = await resolve_principal(request)
    authorizer: Authorizer = request.app.state.authorizer
    await authorizer.refresh()
    nav = []
    roles: list[str] = []
    here = request.url.path.rstrip("/")
    if principal is not None and park_slug is not None:
        roles = authorizer.roles_in(principal, park_slug)
        for item in NAV:
            if authorizer.allows(principal, park_slug, item.permission):
                href = f"/p/{park_slug}/console/{item.path}"
                nav.append({"label": item.label, "href": href, "active": here == href.rstrip("/")})
    return {
        "principal": principal,
        "park_slug": park_slug,
        "park_name": park_name,
        "roles": roles,
        "nav": nav,
        "lang": current_language.get(),
        "path": request.url.path,
        **extra,
    }
