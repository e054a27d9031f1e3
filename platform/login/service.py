"""Checking a password, auditing the attempt, and resetting a forgotten password.

The HTTP layer owns cookies and sessions; this module owns the rules: an
unknown e-mail costs the same time and gets the same answer as a wrong
password, a locked account is refused before any password is checked, and a
reset link works once, for one hour.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from vistapass.platform.audit.service import Actor, record
from vistapass.platform.db import Database
from vistapass.platform.errors import VistapassError
from vistapass.platform.identity.errors import InvalidToken
from vistapass.platform.identity.passwords import check_policy, hash_password, verify_password
from vistapass.platform.identity.secrets import new_token, token_hash
from vistapass.platform.identity.service import InvalidEmail, find_user, normalise_email
from vistapass.platform.identity.sessions import SessionStore
from vistapass.platform.logging import get_logger
from vistapass.platform.login.ratelimit import LoginLimiter
from vistapass.platform.mail.service import Mail, send_mail
from vistapass.platform.models import Membership, OneTimeToken, Tenant, User
from vistapass.platform.models.base import utcnow
from vistapass.platform.settings import Settings
from vistapass.platform.tenancy.binding import control_session, tenant_session
from vistapass.platform.tenancy.errors import TenantNotFound

log = get_logger(__name__)

RESET_PURPOSE = "reset_password"
RESET_MAILS_PER_LIFETIME = 3  # reset mails per account within a link's lifetime (an hour)
RESET_LIFETIME = timedelta(hours=1)
SIGN_IN = "auth.sign_in"
SIGN_IN_FAILED = "auth.sign_in_failed"
PASSWORD_RESET = "auth.password_reset"  # noqa: S105 an audit action, not a secret


class InvalidCredentials(VistapassError):
    status_code = 401
    code = "invalid_credentials"

    def __init__(self, message: str, *, audit: Callable[[], Awaitable[None]] | None = None) -> None:
        super().__init__(message)
        # Written after the answer has gone out (see controllers): an audit write
        # only for existing accounts would otherwise make them answer more slowly.
        self.audit = audit


class TooManyAttempts(VistapassError):
    status_code = 429
    code = "too_many_attempts"

    def __init__(self, retry_after: int) -> None:
        # The wait goes in the Retry-After header only: the body stays the same for
        # every locked attempt, whether or not the account exists.
        super().__init__("Too many failed sign-in attempts. Try again later.")
        self.retry_after = retry_after


# One message for a wrong password and an unknown e-mail: the answer must not
# tell an attacker which addresses have accounts.
BAD_CREDENTIALS = "The e-mail or password is not correct."


@dataclass(frozen=True, slots=True)
class SignedIn:
    """What the session needs about the person, read before the transaction closed."""

    user_id: uuid.UUID
    email: str
    name: str
    is_platform_admin: bool
    mfa_pending: bool

    def public(self) -> dict[str, object]:
        return {
            "id": str(self.user_id),
            "email": self.email,
            "name": self.name,
            "is_platform_admin": self.is_platform_admin,
        }


def login_key(email: str) -> str:
    """The e-mail as accounts are stored; a malformed one still gets its own counter."""
    try:
        return normalise_email(email)
    except InvalidEmail:
        return email.strip().lower()


async def park_slugs(db: Database, user_id: uuid.UUID) -> list[str]:
    async with control_session(db) as session:
        rows = await session.scalars(
            select(Tenant.slug)
            .join(Membership, Membership.tenant_id == Tenant.id)
            .where(Membership.user_id == user_id)
            .order_by(Tenant.slug)
        )
        return list(rows)


async def audit_everywhere(
    db: Database, user_id: uuid.UUID, email: str, ip: str | None, action: str, **after: object
) -> None:
    """Record `action` in the audit log of every park the person works at.

    Suspended parks too: their owners still need to see who tried to get in.
    """
    actor = Actor(user_id, email, ip)
    for slug in await park_slugs(db, user_id):
        try:
            async with tenant_session(db, slug, allow_suspended=True) as session:
                await record(session, actor, action, f"user:{email}", after=after or None)
        except TenantNotFound:
            continue  # still being provisioned: it has no audit log yet


async def authenticate(
    db: Database, limiter: LoginLimiter, email: str, password: str, ip: str | None
) -> SignedIn:
    """The person behind `email` and `password`, or InvalidCredentials / TooManyAttempts."""
    key = login_key(email)
    wait = await limiter.retry_after(key, ip)
    if wait is not None:
        log.info("sign-in refused while locked", ip=ip, retry_after=wait)
        raise TooManyAttempts(wait)
    signed_in: SignedIn | None = None
    user_id: uuid.UUID | None = None
    async with control_session(db) as session:
        user = await find_user(session, key)
        stored = (user.password_hash or None) if user is not None else None
        # argon2 takes tens of milliseconds of CPU: keep it off the event loop.
        ok, new_hash = await asyncio.to_thread(verify_password, stored, password)
        if user is not None:
            user_id = user.id
            if ok:
                if new_hash is not None:
                    user.password_hash = new_hash
                signed_in = SignedIn(
                    user.id,
                    user.email,
                    user.name,
                    user.is_platform_admin,
                    mfa_pending=user.totp_enabled_at is not None,
                )
    if signed_in is None:
        await limiter.record_failure(key, ip)
        if user_id is None:
            log.info("sign-in failed for an unknown e-mail", email=key, ip=ip)
            raise InvalidCredentials(BAD_CREDENTIALS)
        log.info("sign-in failed", user_id=str(user_id), ip=ip)
        raise InvalidCredentials(
            BAD_CREDENTIALS, audit=partial(audit_everywhere, db, user_id, key, ip, SIGN_IN_FAILED)
        )
    await limiter.clear_account(key)
    log.info("signed in", user_id=str(signed_in.user_id), ip=ip)
    await audit_everywhere(
        db,
        signed_in.user_id,
        signed_in.email,
        ip,
        SIGN_IN,
        mfa_pending=signed_in.mfa_pending,
    )
    return signed_in


def reset_link(settings: Settings, token: str) -> str:
    return f"{settings.url}/reset-password/confirm?token={token}"


async def request_reset(db: Database, settings: Settings, email: str, ip: str | None) -> None:
    """Mail a reset link when the account exists; the caller answers the same either way."""
    email = normalise_email(email)
    async with control_session(db) as session:
        user = await find_user(session, email)
        if user is None:
            log.info("password reset asked for an unknown e-mail", email=email, ip=ip)
            return
        # Live links are the ones sent within their lifetime: past the limit nothing
        # is sent (the answer stays the same), so nobody can flood an inbox with them.
        live = await session.scalar(
            select(func.count())
            .select_from(OneTimeToken)
            .where(
                OneTimeToken.user_id == user.id,
                OneTimeToken.purpose == RESET_PURPOSE,
                OneTimeToken.expires_at > utcnow(),
            )
        )
        if (live or 0) >= RESET_MAILS_PER_LIFETIME:
            log.warning("password reset mail limit reached", user_id=str(user.id), ip=ip)
            return
        token = new_token()
        session.add(
            OneTimeToken(
                user_id=user.id,
                purpose=RESET_PURPOSE,
                token_hash=token_hash(token),
                expires_at=utcnow() + RESET_LIFETIME,
            )
        )
        link = reset_link(settings, token)
        send_mail(
            session,
            Mail(
                to=user.email,
                subject="Reset your Vistapass password",
                text=(
                    f"Hello {user.name},\n\n"
                    "Someone (we hope you) asked to reset the password of your Vistapass "
                    f"account. Open this link within an hour to choose a new one:\n\n{link}\n\n"
                    "If you did not ask for this, ignore this message: your password stays "
                    "as it is.\n"
                ),
            ),
        )
        log.info("password reset link sent", user_id=str(user.id), ip=ip)


def invalid_reset_token() -> InvalidToken:
    return InvalidToken("This reset link is invalid, used or expired. Ask for a new one.")


async def _usable_token(db_session: AsyncSession, token: str) -> OneTimeToken | None:
    if not token or len(token) > 200:
        return None
    return await db_session.scalar(
        select(OneTimeToken)
        .where(
            OneTimeToken.token_hash == token_hash(token),
            OneTimeToken.purpose == RESET_PURPOSE,
            OneTimeToken.used_at.is_(None),
            OneTimeToken.expires_at > utcnow(),
        )
        .with_for_update()
    )


async def reset_token_is_valid(db: Database, token: str) -> bool:
    async with control_session(db) as session:
        return await _usable_token(session, token) is not None


async def confirm_reset(
    db: Database,
    sessions: SessionStore,
    limiter: LoginLimiter,
    token: str,
    password: str,
    ip: str | None,
) -> None:
    """Set the new password, spend the link, and sign the person out everywhere."""
    async with control_session(db) as session:
        row = await _usable_token(session, token)
        user = await session.get(User, row.user_id) if row is not None else None
        if user is None:
            raise invalid_reset_token()
        check_policy(password, email=user.email, name=user.name)
        user.password_hash = await asyncio.to_thread(hash_password, password)
        # Every other reset link of this person dies with this one.
        await session.execute(
            update(OneTimeToken)
            .where(
                OneTimeToken.user_id == user.id,
                OneTimeToken.purpose == RESET_PURPOSE,
                OneTimeToken.used_at.is_(None),
            )
            .values(used_at=utcnow())
        )
        user_id, email = user.id, user.email
    await sessions.destroy_all_for(str(user_id))
    # Whoever locked the account by guessing no longer keeps its owner out.
    await limiter.clear_account(email)
    log.info("password reset", user_id=str(user_id), ip=ip)
    await audit_everywhere(db, user_id, email, ip, PASSWORD_RESET)
