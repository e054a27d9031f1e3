"""`/invitations/accept`: the link an invited person opens (public; the token is the key)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from litestar import Controller, Request, get, post
from litestar.params import FromQuery, URLEncodedBody
from litestar.response import Redirect, Template

from vistapass.platform.audit.service import Actor, record
from vistapass.platform.authz.permissions import public
from vistapass.platform.console.context import console_context
from vistapass.platform.console.pages import Page
from vistapass.platform.errors import VistapassError
from vistapass.platform.http.exceptions import wants_html
from vistapass.platform.identity.errors import InvalidToken, NotAuthenticated
from vistapass.platform.identity.principal import (
    Principal,
    client_ip,
    resolve_principal,
    session_store,
)
from vistapass.platform.identity.service import create_user, find_user, roles_changed
from vistapass.platform.identity.sessions import SESSION_COOKIE, SessionData
from vistapass.platform.models import User
from vistapass.platform.models.base import utcnow
from vistapass.platform.staff import service
from vistapass.platform.tenancy.binding import control_session, tenant_session

ACCEPT_PATH = "/invitations/accept"
# Attempts to accept per client address and hour. Each may hash a new password, and
# only a person with a fresh link has any business here, so a few dozen is plenty.
ACCEPTS_PER_HOUR = 20
ACCEPT_WINDOW_SECONDS = 3600


class TooManyAttempts(VistapassError):
    status_code = 429
    code = "too_many_attempts"


async def limit_attempts(request: Request[Any, Any, Any]) -> None:
    """Count this attempt against the client's address; 429 past `ACCEPTS_PER_HOUR`."""
    ip = client_ip(request)
    if ip is None:
        return
    redis = request.app.state.redis
    key = f"{request.app.state.settings.redis_namespace}:invitations:ip:{ip}"
    count = await redis.incr(key)
    if count == 1:
        await redis.expire(key, ACCEPT_WINDOW_SECONDS)
    if count > ACCEPTS_PER_HOUR:
        retry_after = max(1, int(await redis.ttl(key)))
        error = TooManyAttempts(
            "Too many attempts to accept an invitation from your address; try again later.",
            details={"retry_after": retry_after},
        )
        error.headers = {"Retry-After": str(retry_after)}
        raise error


@dataclass
class AcceptIn:
    token: str
    name: str = ""
    password: str = ""


def signed_in(principal: Principal | None) -> Principal | None:
    """Only a full session counts: a token client or a half-finished MFA login does not."""
    if principal is None or principal.mfa_pending or principal.via != "session":
        return None
    return principal


async def _view(
    request: Request[Any, Any, Any], token: str, *, error: VistapassError | None = None
) -> Template:
    principal = signed_in(await resolve_principal(request))
    state = "invalid"
    invited: service.OpenInvitation | None = None
    status = 200
    try:
        async with request.app.state.db.session() as session:
            invited = await service.open_invitation(session, token)
            has_account = await find_user(session, invited.invitation.email) is not None
    except InvalidToken as exc:
        error, status = exc, exc.status_code
    if invited is not None:
        email = invited.invitation.email
        if principal is not None and principal.email != email:
            state, status = "other_email", 403
        elif principal is not None:
            state = "accept"
        elif has_account:
            state = "login"
        else:
            state = "create"
    if error is not None:
        status = error.status_code
    here = f"{ACCEPT_PATH}?token={quote(token)}"
    context = await console_context(
        request, None, None, invited=invited, state=state, error=error, token=token,
        login_url=f"/login?next={quote(here, safe='')}",
    )  # fmt: skip
    return Page("staff/accept.html", context=context, status_code=status)


def _session_cookie(request: Request[Any, Any, Any], response: Redirect, session_id: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.app.state.settings.is_production,
    )


async def accept_invitation(
    request: Request[Any, Any, Any], data: AcceptIn
) -> tuple[str, str | None]:
    """Accept; returns the park's slug and a new session id when an account was made."""
    db = request.app.state.db
    principal = signed_in(await resolve_principal(request))
    async with db.session() as session:
        slug = (await service.open_invitation(session, data.token)).park_slug
    new_session: SessionData | None = None
    async with tenant_session(db, slug) as park, control_session(db) as control:
        # Locked and checked again: two clicks on one link make one membership.
        invitation = (await service.open_invitation(control, data.token, lock=True)).invitation
        if principal is not None:
            user = await control.get(User, principal.user_id)
            if user is None:
                raise NotAuthenticated("Sign in first.")
        elif await find_user(control, invitation.email) is not None:
            raise NotAuthenticated(
                "An account with this e-mail exists; sign in first.",
                details={"login": f"/login?next={quote(ACCEPT_PATH)}"},
            )
        else:
            user = await create_user(control, invitation.email, data.name, data.password)
            # The link arrived at this address, which proves it is theirs.
            user.email_verified_at = utcnow()
            new_session = SessionData(str(user.id), user.email, user.name, user.is_platform_admin)
        membership = await service.accept(control, invitation, user)
        roles_changed(control, request.app.state.authorizer)
        await record(
            park,
            Actor(user.id, user.email, client_ip(request)),
            "staff.joined",
            f"member:{user.email}",
            after={"role": membership.role, "invitation": invitation.id},
        )
    session_id = await session_store(request).create(new_session) if new_session else None
    return slug, session_id


class InvitationController(Controller):
    path = ACCEPT_PATH
    include_in_schema = False

    @get("/", opt=public())
    async def show(self, request: Request[Any, Any, Any], token: FromQuery[str] = "") -> Template:
        return await _view(request, token)

    @post("/", opt=public())
    async def accept(
        self, request: Request[Any, Any, Any], data: URLEncodedBody[AcceptIn]
    ) -> Template | Redirect:
        try:
            await limit_attempts(request)
            slug, session_id = await accept_invitation(request, data)
        except VistapassError as exc:
            # Token and e-mail errors are answered as such; a weak password or a
            # missing name is shown on the form so the person can fix it.
            if not wants_html(request) or exc.code in (
                "invalid_token",
                "not_authenticated",
                "too_many_attempts",
            ):
                raise
            return await _view(request, data.token, error=exc)
        response = Redirect(f"/p/{slug}/console/", status_code=303)
        if session_id is not None:
            _session_cookie(request, response, session_id)
        return response
