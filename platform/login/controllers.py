"""Sign-in, sign-out and password reset: console pages and their JSON twins.

All of it is public except signing out. Forms are covered by the CSRF
middleware; the JSON routes sit under /api/ (exempt from it), so the JSON
sign-in insists on an `application/json` body, which a cross-site page cannot
send without a CORS preflight (no login CSRF).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from litestar import Controller, MediaType, Request, Response, get, post
from litestar.background_tasks import BackgroundTask
from litestar.params import FromQuery, JSONBody, URLEncodedBody
from litestar.response import Redirect, Template

from vistapass.platform.authz.permissions import public, signed_in
from vistapass.platform.console.context import console_context
from vistapass.platform.console.controllers import local_path
from vistapass.platform.console.pages import Page
from vistapass.platform.errors import VistapassError, error_body
from vistapass.platform.http.exceptions import wants_html
from vistapass.platform.identity.principal import client_ip, resolve_principal, session_store
from vistapass.platform.identity.sessions import SESSION_COOKIE, SessionData
from vistapass.platform.login import service
from vistapass.platform.login.ratelimit import limiter_for
from vistapass.platform.login.service import InvalidCredentials, SignedIn, TooManyAttempts

AnyRequest = Request[Any, Any, Any]
RESET_SENT = (
    "If an account exists for this e-mail, we have sent it a link to reset the password. "
    "The link works for one hour."
)


@dataclass
class LoginForm:
    email: str = ""
    password: str = ""
    next: str = ""


@dataclass
class LoginRequest:
    email: str
    password: str


@dataclass
class ResetForm:
    email: str = ""


@dataclass
class ResetRequest:
    email: str


@dataclass
class ConfirmForm:
    token: str = ""
    password: str = ""
    password_again: str = ""


@dataclass
class ConfirmRequest:
    token: str
    password: str


def _error_headers(exc: VistapassError) -> dict[str, str] | None:
    return {"Retry-After": str(exc.retry_after)} if isinstance(exc, TooManyAttempts) else None


def _error_background(exc: VistapassError) -> BackgroundTask | None:
    if isinstance(exc, InvalidCredentials) and exc.audit is not None:
        return BackgroundTask(exc.audit)
    return None


def auth_error(_: AnyRequest, exc: VistapassError) -> Response[Any]:
    """The usual error body, plus Retry-After on a lockout and the deferred audit entry."""
    return Response(
        error_body(exc.code, exc.message, exc.details),
        status_code=exc.status_code,
        media_type=MediaType.JSON,
        headers=_error_headers(exc),
        background=_error_background(exc),
    )


AUTH_ERRORS: dict[Any, Any] = {InvalidCredentials: auth_error, TooManyAttempts: auth_error}


async def _page(
    request: AnyRequest,
    template: str,
    *,
    error: VistapassError | None = None,
    **extra: Any,
) -> Template:
    context = await console_context(request, None, error=error.message if error else None, **extra)
    return Page(
        f"login/{template}",
        context=context,
        status_code=error.status_code if error else 200,
        headers=_error_headers(error) if error else None,
        background=_error_background(error) if error else None,
    )


async def _start_session(request: AnyRequest, person: SignedIn, response: Response[Any]) -> None:
    """A new session id on every sign-in: an id planted before it (fixation) is dropped."""
    store = session_store(request)
    old = request.cookies.get(SESSION_COOKIE)
    if old:
        await store.destroy(old)
    session_id = await store.create(
        SessionData(
            str(person.user_id),
            person.email,
            person.name,
            person.is_platform_admin,
            mfa_pending=person.mfa_pending,
        )
    )
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        httponly=True,
        samesite="lax",
        secure=request.app.state.settings.is_production,
        path="/",
    )


async def _end_session(request: AnyRequest, response: Response[Any]) -> None:
    principal = await resolve_principal(request)
    if principal is not None and principal.session_id:
        await session_store(request).destroy(principal.session_id)
    response.delete_cookie(SESSION_COOKIE, path="/")


async def _authenticate(request: AnyRequest, email: str, password: str) -> SignedIn:
    return await service.authenticate(
        request.app.state.db, limiter_for(request), email, password, client_ip(request)
    )


class LoginPages(Controller):
    """The console's sign-in, sign-out and reset pages."""

    path = "/"
    include_in_schema = False
    exception_handlers = AUTH_ERRORS

    @get("/login", opt=public())
    async def login_page(self, request: AnyRequest, next: FromQuery[str | None] = None) -> Template:
        return await _page(request, "login.html", next=local_path(next), email="")

    @post("/login", opt=public(), status_code=303)
    async def login(
        self, request: AnyRequest, data: URLEncodedBody[LoginForm]
    ) -> Redirect | Template:
        target = local_path(data.next)
        try:
            person = await _authenticate(request, data.email, data.password)
        except (InvalidCredentials, TooManyAttempts) as exc:
            if not wants_html(request):
                raise
            return await _page(request, "login.html", error=exc, next=target, email=data.email)
        if person.mfa_pending:
            response = Redirect(f"/login/2fa?next={quote(target)}", status_code=303)
        else:
            response = Redirect(target, status_code=303)
        await _start_session(request, person, response)
        return response

    @post("/logout", opt=signed_in(), status_code=303)
    async def logout(self, request: AnyRequest) -> Redirect:
        response = Redirect("/login", status_code=303)
        await _end_session(request, response)
        return response

    @get("/reset-password", opt=public())
    async def reset_page(self, request: AnyRequest) -> Template:
        return await _page(request, "reset_request.html", sent=False, email="")

    @post("/reset-password", opt=public(), status_code=200)
    async def reset(self, request: AnyRequest, data: URLEncodedBody[ResetForm]) -> Template:
        try:
            await service.request_reset(
                request.app.state.db, request.app.state.settings, data.email, client_ip(request)
            )
        except VistapassError as exc:  # a malformed address: say so, it reveals nothing
            if not wants_html(request):
                raise
            return await _page(
                request, "reset_request.html", error=exc, sent=False, email=data.email
            )
        return await _page(request, "reset_request.html", sent=True, message=RESET_SENT, email="")

    @get("/reset-password/confirm", opt=public())
    async def confirm_page(self, request: AnyRequest, token: FromQuery[str] = "") -> Template:
        if not await service.reset_token_is_valid(request.app.state.db, token):
            return await _page(
                request, "reset_confirm.html", error=service.invalid_reset_token(), token=""
            )
        return await _page(request, "reset_confirm.html", token=token)

    @post("/reset-password/confirm", opt=public(), status_code=303)
    async def confirm(
        self, request: AnyRequest, data: URLEncodedBody[ConfirmForm]
    ) -> Redirect | Template:
        try:
            if data.password != data.password_again:
                raise VistapassError(
                    "The two passwords are not the same.",
                    code="password_mismatch",
                    status_code=422,
                )
            await service.confirm_reset(
                request.app.state.db,
                session_store(request),
                limiter_for(request),
                data.token,
                data.password,
                client_ip(request),
            )
        except VistapassError as exc:
            if not wants_html(request):
                raise
            token = "" if exc.code == "invalid_token" else data.token
            return await _page(request, "reset_confirm.html", error=exc, token=token)
        response = Redirect("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response


class AuthApi(Controller):
    """`/api/v1/auth/...`: the same for scripts and single-page clients."""

    path = "/api/v1/auth"
    tags = ["auth"]
    exception_handlers = AUTH_ERRORS

    @post("/login", opt=public(), status_code=200)
    async def login(
        self, request: AnyRequest, data: JSONBody[LoginRequest]
    ) -> Response[dict[str, Any]]:
        """Sign in; `{"mfa_required": true}` means the second factor comes next."""
        if request.content_type[0] != MediaType.JSON:
            raise VistapassError(
                "Send the credentials as application/json.",
                code="unsupported_media_type",
                status_code=415,
            )
        person = await _authenticate(request, data.email, data.password)
        body: dict[str, Any] = (
            {"mfa_required": True} if person.mfa_pending else {"user": person.public()}
        )
        response = Response(body, status_code=200)
        await _start_session(request, person, response)
        return response

    @post("/logout", opt=signed_in(), status_code=204)
    async def logout(self, request: AnyRequest) -> Response[None]:
        response = Response(None, status_code=204)
        await _end_session(request, response)
        return response

    @post("/reset-password", opt=public(), status_code=202)
    async def reset(self, request: AnyRequest, data: JSONBody[ResetRequest]) -> dict[str, str]:
        """Always the same answer, so it does not tell who has an account."""
        await service.request_reset(
            request.app.state.db, request.app.state.settings, data.email, client_ip(request)
        )
        return {"message": RESET_SENT}

    @post("/reset-password/confirm", opt=public(), status_code=204)
    async def confirm(self, request: AnyRequest, data: JSONBody[ConfirmRequest]) -> None:
        """Set a new password with the mailed token; every session of the person ends."""
        await service.confirm_reset(
            request.app.state.db,
            session_store(request),
            limiter_for(request),
            data.token,
            data.password,
            client_ip(request),
        )


LOGIN_ROUTES = [LoginPages, AuthApi]
