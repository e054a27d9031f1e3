"""The outermost ASGI layer: request ids, access logs, and tenant routing by host.

It runs before Litestar routes the request (Litestar's own middleware runs after
routing), which is what host-based tenancy needs: a request for
`demo.<base domain>/x` or a park's custom domain is routed as `/p/demo/x`, so
every park-facing route is declared once under `/p/{tenant_slug}/`.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from vistapass.platform.errors import error_body
from vistapass.platform.logging import BoundOnce
from vistapass.platform.tenancy.naming import RESERVED_SLUGS, is_valid_slug

access_log = BoundOnce("vistapass.http")

REQUEST_ID_PATTERN = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
# Paths that belong to the platform on any host.
PLATFORM_PATHS = (
    "/healthz", "/readyz", "/schema", "/storage/", "/static/", "/lang/", "/login", "/logout",
    "/signup", "/console", "/account", "/admin", "/dev/", "/invitations", "/verify-email",
    "/reset-password", "/api/v1/signup", "/api/v1/auth", "/api/v1/account", "/api/v1/platform",
    "/webhooks/", "/gate/",
)  # fmt: skip

DomainLookup = Callable[[str], Awaitable[str | None]]


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return ""


def host_of(scope: Scope) -> str:
    host = _header(scope, b"host").strip().lower()
    if host.startswith("["):  # IPv6 literal
        return host.split("]")[0] + "]"
    return host.rsplit(":", 1)[0] if ":" in host else host


def _is_ip(host: str) -> bool:
    return host.startswith("[") or bool(re.fullmatch(r"[0-9.]+", host))


async def send_error(
    send: Send, status: int, code: str, message: str, details: dict[str, Any]
) -> None:
    body = json.dumps(error_body(code, message, details)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class TenantHostRouting:
    """Maps `<slug>.<base domain>` and verified custom domains onto `/p/<slug>/`."""

    def __init__(self, app: ASGIApp, base_domain: str, lookup_domain: DomainLookup) -> None:
        self.app = app
        self.base_domain = base_domain
        self.lookup_domain = lookup_domain

    async def slug_for_host(self, host: str) -> tuple[str | None, bool]:
        """(slug, is_tenant_host). A tenant host whose park is unknown gives (None, True)."""
        base = self.base_domain
        if not host or host == base or _is_ip(host) or host == "localhost":
            return None, False
        if host.endswith("." + base):
            label = host[: -len(base) - 1]
            if label in RESERVED_SLUGS:
                return None, False
            # The label becomes part of the routed path: only a well-formed slug may.
            return (label if is_valid_slug(label) else None), True
        return await self.lookup_domain(host), True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope["path"].startswith(PLATFORM_PATHS):
            await self.app(scope, receive, send)
            return
        host = host_of(scope)
        slug, tenant_host = await self.slug_for_host(host)
        if not tenant_host:
            await self.app(scope, receive, send)
            return
        if slug is None:
            await send_error(
                send, 404, "tenant_not_found", f"No park is served at {host}.", {"host": host}
            )
            return
        path: str = scope["path"]
        if path.startswith("/p/"):
            path_slug = path.split("/", 3)[2]
            if path_slug != slug:
                await send_error(
                    send,
                    400,
                    "tenant_mismatch",
                    "The host and the path name different parks.",
                    {"host_tenant": slug, "path_tenant": path_slug},
                )
                return
            await self.app(scope, receive, send)
            return
        prefix = f"/p/{slug}"
        scope = {
            **scope,
            "path": prefix + path,
            "raw_path": prefix.encode() + scope.get("raw_path", path.encode()),
        }
        scope.setdefault("state", {})["tenant_host"] = host
        await self.app(scope, receive, send)


class RequestContext:
    """Gives each request an id (kept from a sane `X-Request-ID`), binds it to the logs."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, b"x-request-id")
        request_id = incoming if REQUEST_ID_PATTERN.fullmatch(incoming) else uuid.uuid4().hex
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            access_log.get().info(
                "request",
                method=scope["method"],
                path=scope["path"],
                status=status,
                ms=round((time.perf_counter() - started) * 1000, 1),
            )
            structlog.contextvars.clear_contextvars()


def park_base(scope_state: dict[str, object] | None, slug: str) -> str:
    """The prefix of a park's links as its visitor sees them: `/p/<slug>` when the
    request came in under that path, "" when it came to the park's own host (which
    TenantHostRouting marks in the scope's state)."""
    return "" if (scope_state or {}).get("tenant_host") else f"/p/{slug}"
