"""`/signup` (page and form), `/api/v1/signup` (JSON) and `/verify-email` (the mailed link)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from litestar import Controller, MediaType, Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.params import FromQuery, JSONBody
from litestar.response import Redirect, Template

from vistapass.platform.authz.permissions import public
from vistapass.platform.console.context import console_context
from vistapass.platform.console.i18n import current_language, gettext_current
from vistapass.platform.console.pages import Page
from vistapass.platform.errors import VistapassError
from vistapass.platform.http.exceptions import wants_html
from vistapass.platform.identity.errors import InvalidToken
from vistapass.platform.identity.principal import client_ip, session_store
from vistapass.platform.identity.sessions import SESSION_COOKIE, SessionData
from vistapass.platform.settings import Settings
from vistapass.platform.signup import service
from vistapass.platform.signup.ratelimit import SignupLimiter
from vistapass.platform.signup.schemas import (
    EmailVerified,
    OwnerOut,
    ParkOut,
    SignupIn,
    SignupOut,
    SlugAvailability,
)
from vistapass.platform.tenancy.binding import control_session

FIELDS = ("park_name", "slug", "owner_name", "email", "password")
# Which form field an error is about, to mark it and put the message next to it.
FIELD_OF_CODE = {
    "park_name_required": "park_name",
    "name_required": "owner_name",
    "invalid_slug": "slug",
    "slug_reserved": "slug",
    "tenant_exists": "slug",
    "invalid_email": "email",
    "email_taken": "email",
    "weak_password": "password",
}
# English message ids, shown through gettext in the page's language.
MESSAGES = {
    "park_name_required": "Name your park.",
    "name_required": "Tell us your name.",
    "name_too_long": "Use at most 100 characters.",
    "invalid_slug": (
        "A park address is 3 to 40 characters: lowercase letters, digits and single "
        "hyphens, starting and ending with a letter or digit."
    ),
    "slug_reserved": "This address is reserved; choose another.",
    "tenant_exists": "This address is already taken; choose another.",
    "invalid_email": "Enter a valid e-mail address.",
    "email_taken": "An account with this e-mail already exists. Sign in instead.",
}
PASSWORD_MESSAGES = {
    "length": "Use between 10 and 128 characters.",
    "common": "This password is among the most common ones; choose another.",
    "personal": "The password must not contain your name or e-mail.",
}
RACE_LOST = (
    "An account with this e-mail was created a moment ago, so the park was not opened. "
    "Sign in with that account instead."
)


def console_path(slug: str) -> str:
    return f"/p/{slug}/console/"


def error_view(exc: VistapassError) -> dict[str, str | None]:
    """The error as the form shows it: which field, and a message in the page's language."""
    if exc.code == "weak_password":
        message = PASSWORD_MESSAGES.get(str(exc.details.get("rule")), exc.message)
    elif exc.code == "email_taken" and exc.details.get("park_status"):
        message = RACE_LOST
    else:
        message = MESSAGES.get(exc.code, exc.message)
    field = FIELD_OF_CODE.get(exc.code) or exc.details.get("field")
    return {"code": exc.code, "field": field, "message": gettext_current(message)}


def _form(data: Mapping[str, Any]) -> service.SignupForm:
    return service.SignupForm(**{name: str(data.get(name) or "") for name in FIELDS})


async def _sign_up(request: Request[Any, Any, Any], form: service.SignupForm) -> service.SignedUp:
    state = request.app.state
    ip = client_ip(request)
    limiter = SignupLimiter(
        state.redis, state.settings.redis_namespace, state.settings.signups_per_ip_per_hour
    )
    await limiter.check(ip)
    signed = await service.sign_up(
        state.db,
        state.authorizer,
        state.settings,
        form,
        ip=ip,
        locale=current_language.get(),
    )
    await limiter.record(ip)
    return signed


async def start_session(request: Request[Any, Any, Any], signed: service.SignedUp) -> Cookie:
    """Sign the new owner in; any session the browser held before is ended."""
    store = session_store(request)
    previous = request.cookies.get(SESSION_COOKIE)
    if previous:
        await store.destroy(previous)
    session_id = await store.create(
        SessionData(str(signed.user_id), signed.email, signed.name, False)
    )
    settings: Settings = request.app.state.settings
    return Cookie(
        key=SESSION_COOKIE,
        value=session_id,
        path="/",
        httponly=True,
        samesite="lax",
        secure=settings.is_production,
    )


async def _page(
    request: Request[Any, Any, Any],
    values: Mapping[str, str] | None = None,
    error: dict[str, str | None] | None = None,
    status_code: int = 200,
) -> Template:
    typed = {name: (values or {}).get(name, "") for name in FIELDS if name != "password"}
    context = await console_context(request, None, values=typed, error=error)
    return Page("signup/signup.html", context=context, status_code=status_code)


def _typed(form: service.SignupForm) -> dict[str, str]:
    return {name: getattr(form, name) for name in FIELDS if name != "password"}


class SignupPageController(Controller):
    """The sign-up page and its form, and the verification link's landing page."""

    include_in_schema = False

    @get("/signup", opt=public())
    async def page(self, request: Request[Any, Any, Any]) -> Template:
        return await _page(request)

    @post("/signup", opt=public())
    async def submit(self, request: Request[Any, Any, Any]) -> Template | Redirect:
        form = _form(await request.form())
        try:
            signed = await _sign_up(request, form)
        except VistapassError as exc:
            if exc.status_code >= 500:
                raise
            return await _page(request, _typed(form), error_view(exc), exc.status_code)
        response = Redirect(console_path(signed.slug), status_code=303)
        response.set_cookie(await start_session(request, signed))
        return response

    @get("/verify-email", opt=public())
    async def verify(
        self, request: Request[Any, Any, Any], token: FromQuery[str] = ""
    ) -> Template | EmailVerified:
        html = wants_html(request)
        try:
            async with control_session(request.app.state.db) as session:
                user_id = await service.verify_email(session, token)
        except InvalidToken:
            if not html:
                raise
            context = await console_context(request, None, verified=False)
            return Page("signup/verify_email.html", context=context, status_code=400)
        if not html:
            return EmailVerified(user_id=user_id, email_verified=True)
        context = await console_context(request, None, verified=True)
        return Page("signup/verify_email.html", context=context)


class SignupApiController(Controller):
    path = "/api/v1/signup"
    tags = ["signup"]

    @post("/", opt=public(), status_code=201, summary="Sign up a park and its owner")
    async def sign_up(
        self, request: Request[Any, Any, Any], data: JSONBody[SignupIn]
    ) -> Response[SignupOut]:
        """Creates the park and its owner, mails a verification link and signs the owner in.

        Only `application/json` is accepted: a cross-site page cannot send that
        without a CORS preflight, so it cannot sign a visitor into an account of its own.
        """
        media_type, _ = request.content_type
        if media_type != MediaType.JSON:
            raise VistapassError(
                "Send the sign-up as application/json.",
                code="unsupported_media_type",
                status_code=415,
            )
        signed = await _sign_up(request, _form({name: getattr(data, name) for name in FIELDS}))
        settings: Settings = request.app.state.settings
        body = SignupOut(
            park=ParkOut(slug=signed.slug, console_url=settings.url + console_path(signed.slug)),
            user=OwnerOut(id=signed.user_id, email=signed.email, email_verified=False),
        )
        return Response(body, status_code=201, cookies=[await start_session(request, signed)])

    @get("/slug-available", opt=public(), summary="Whether a park address can be signed up")
    async def slug_available(
        self, request: Request[Any, Any, Any], slug: FromQuery[str] = ""
    ) -> SlugAvailability:
        slug = service.normalise_slug(slug)[:100]
        async with control_session(request.app.state.db) as session:
            reason = await service.slug_problem(session, slug)
        return SlugAvailability(slug=slug, available=reason is None, reason=reason)


SIGNUP_ROUTES = [SignupPageController, SignupApiController]
