"""Pages and JSON for two-factor sign-in: enrolment under /account/security, the
second sign-in step at /login/2fa, and their twins under /api/v1."""

from __future__ import annotations

import json
import uuid
from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromQuery
from litestar.response import Redirect, Template

from vistapass.platform.audit.service import Actor
from vistapass.platform.authz.guard import check_api_csrf
from vistapass.platform.authz.permissions import public, signed_in
from vistapass.platform.console.context import console_context
from vistapass.platform.console.controllers import local_path
from vistapass.platform.console.pages import Page
from vistapass.platform.errors import VistapassError
from vistapass.platform.http.exceptions import wants_html
from vistapass.platform.identity.errors import NotAuthenticated
from vistapass.platform.identity.principal import (
    Principal,
    client_ip,
    resolve_principal,
    session_store,
)
from vistapass.platform.identity.secrets import token_hash
from vistapass.platform.identity.sessions import SESSION_COOKIE
from vistapass.platform.mfa import service

NO_STORE = {"cache-control": "no-store"}  # pages showing secrets stay out of caches


async def fields(request: Request[Any, Any, Any]) -> dict[str, str]:
    """A form or a JSON object, as strings; anything else reads as empty."""
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            return {}
        return {k: str(v) for k, v in body.items()} if isinstance(body, dict) else {}
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


async def _principal(request: Request[Any, Any, Any]) -> Principal:
    principal = await resolve_principal(request)
    assert principal is not None  # the guard let only signed-in people through
    return principal


def _actor(request: Request[Any, Any, Any], principal: Principal) -> Actor:
    return Actor.of(principal, client_ip(request))


async def _page(
    request: Request[Any, Any, Any], name: str, status: int = 200, **extra: Any
) -> Template:
    context = await console_context(request, None, **extra)
    return Page(f"mfa/{name}.html", context=context, status_code=status, headers=NO_STORE)


class SecurityController(Controller):
    """`/account/security`: turn the second factor on or off."""

    path = "/account/security"
    include_in_schema = False

    @get("/", opt=signed_in())
    async def show(self, request: Request[Any, Any, Any]) -> Template:
        principal = await _principal(request)
        async with request.app.state.db.session() as session:
            enabled = await service.totp_enabled(session, principal.user_id)
            left = await service.unused_recovery_codes(session, principal.user_id)
            required = await service.mfa_required(
                session, principal.user_id, request.app.state.settings
            )
        return await _page(request, "security", enabled=enabled, codes_left=left, required=required)

    @post("/totp/start", opt=signed_in(), status_code=200)
    async def start(self, request: Request[Any, Any, Any]) -> Template:
        principal = await _principal(request)
        state = request.app.state
        enrolment = await service.start_enrolment(state.db, state.settings, principal)
        return await _page(request, "enrol", enrolment=enrolment)

    @post("/totp/confirm", opt=signed_in(), status_code=200)
    async def confirm(self, request: Request[Any, Any, Any]) -> Template:
        principal = await _principal(request)
        code = (await fields(request)).get("code", "")
        state = request.app.state
        try:
            codes = await service.confirm_enrolment(
                state.db, state.redis, state.settings, principal, code, _actor(request, principal)
            )
        except (service.InvalidCode, service.TooManyAttempts) as exc:
            if not wants_html(request):
                raise
            async with state.db.session() as session:
                enrolment = await service.pending_enrolment(session, state.settings, principal)
            return await _page(
                request, "enrol", exc.status_code, enrolment=enrolment, error=exc.message
            )
        return await _page(request, "recovery_codes", codes=codes)

    @post("/totp/disable", opt=signed_in(), status_code=200)
    async def disable(self, request: Request[Any, Any, Any]) -> Template | Redirect:
        principal = await _principal(request)
        code = (await fields(request)).get("code", "")
        state = request.app.state
        try:
            await service.disable(
                state.db, state.redis, state.settings, principal, code, _actor(request, principal)
            )
        except (service.InvalidCode, service.TooManyAttempts) as exc:
            if not wants_html(request):
                raise
            return await _page(
                request,
                "security",
                exc.status_code,
                enabled=True,
                codes_left=None,
                error=exc.message,
            )
        return Redirect("/account/security", status_code=303)


class TotpApiController(Controller):
    """The same as JSON, for the console's scripts and for API clients signed in by cookie."""

    path = "/api/v1/account/totp"
    tags = ["account"]

    @get("/", opt=signed_in(), summary="Whether two-factor sign-in is on")
    async def status(self, request: Request[Any, Any, Any]) -> dict[str, Any]:
        principal = await _principal(request)
        async with request.app.state.db.session() as session:
            return {
                "enabled": await service.totp_enabled(session, principal.user_id),
                "recovery_codes_left": await service.unused_recovery_codes(
                    session, principal.user_id
                ),
            }

    @post("/start", opt=signed_in(), summary="Start enrolment: a new secret and its QR code")
    async def start(self, request: Request[Any, Any, Any]) -> dict[str, Any]:
        principal = await _principal(request)
        state = request.app.state
        enrolment = await service.start_enrolment(state.db, state.settings, principal)
        return {
            "secret": enrolment.secret,
            "otpauth_uri": enrolment.uri,
            "qr_svg": enrolment.qr_svg,
        }

    @post("/confirm", opt=signed_in(), summary="Confirm with a code; returns recovery codes")
    async def confirm(self, request: Request[Any, Any, Any]) -> dict[str, Any]:
        principal = await _principal(request)
        code = (await fields(request)).get("code", "")
        state = request.app.state
        codes = await service.confirm_enrolment(
            state.db, state.redis, state.settings, principal, code, _actor(request, principal)
        )
        return {"enabled": True, "recovery_codes": codes}

    @post("/disable", opt=signed_in(), summary="Turn two-factor sign-in off (needs a code)")
    async def disable(self, request: Request[Any, Any, Any]) -> dict[str, Any]:
        principal = await _principal(request)
        code = (await fields(request)).get("code", "")
        state = request.app.state
        await service.disable(
            state.db, state.redis, state.settings, principal, code, _actor(request, principal)
        )
        return {"enabled": False}


async def second_step(request: Request[Any, Any, Any], code: str) -> None:
    """Finish signing in the current pending session, or count a wrong code."""
    store = session_store(request)
    session_id = request.cookies.get(SESSION_COOKIE) or ""
    data = await store.get(session_id)
    if data is None or not data.mfa_pending:
        raise NotAuthenticated("Sign in with your password first.")
    state = request.app.state
    namespace = state.settings.redis_namespace
    user_id = uuid.UUID(data.user_id)
    if await service.check_second_factor(state.db, state.redis, state.settings, user_id, code):
        await store.update(session_id, data, mfa_pending=False)
        await state.redis.delete(f"{namespace}:mfa-wrong:{token_hash(session_id)}")
        return
    wrong = await service.count_wrong_code(state.redis, namespace, token_hash(session_id))
    if wrong >= service.MAX_WRONG_CODES:
        # Guessing further would need a fresh password sign-in.
        await store.destroy(session_id)
        raise service.TooManyAttempts("Too many wrong codes. Sign in again.")
    raise service.InvalidCode(
        "That code is not valid.", details={"attempts_left": service.MAX_WRONG_CODES - wrong}
    )


class SecondStepController(Controller):
    """`/login/2fa`: the code after the password, for people with TOTP on."""

    path = "/login/2fa"
    include_in_schema = False

    @get("/", opt=public())
    async def form(
        self, request: Request[Any, Any, Any], next: FromQuery[str | None] = None
    ) -> Template | Redirect:
        data = await session_store(request).get(request.cookies.get(SESSION_COOKIE))
        if data is None or not data.mfa_pending:
            return Redirect("/login")
        return await _page(request, "second_step", next=local_path(next), principal=None)

    @post("/", opt=public(), status_code=200)
    async def submit(
        self, request: Request[Any, Any, Any], next: FromQuery[str | None] = None
    ) -> Template | Redirect:
        form = await fields(request)
        target = local_path(form.get("next") or next)
        try:
            await second_step(request, form.get("code", ""))
        except NotAuthenticated:
            if not wants_html(request):
                raise
            return Redirect("/login", status_code=303)
        except VistapassError as exc:
            if not wants_html(request):
                raise
            return await _page(
                request,
                "second_step",
                exc.status_code,
                next=target,
                error=exc.message,
                principal=None,
            )
        return Redirect(target, status_code=303)


@post(
    "/api/v1/auth/2fa", opt=public(), tags=["auth"], summary="Second sign-in step", status_code=200
)
async def api_second_step(request: Request[Any, Any, Any]) -> dict[str, Any]:
    # Public (the session is not signed in yet), so the guard did not check CSRF: do it here.
    check_api_csrf(request)
    await second_step(request, (await fields(request)).get("code", ""))
    return {"signed_in": True}


MFA_ROUTES: list[Any] = [
    SecurityController,
    TotpApiController,
    SecondStepController,
    api_second_step,
]
