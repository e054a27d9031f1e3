"""Enrolling, checking and removing a person's second factor, and who must have one."""

from __future__ import annotations

import uuid
from typing import Any

from litestar.connection import ASGIConnection
from redis.asyncio import Redis
from sqlalchemy import delete, exists, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from vistapass.platform.audit.service import Actor, record
from vistapass.platform.db import Database
from vistapass.platform.errors import Conflict, VistapassError
from vistapass.platform.identity.errors import Forbidden
from vistapass.platform.identity.principal import Principal
from vistapass.platform.identity.secrets import SecretBox
from vistapass.platform.mfa import totp
from vistapass.platform.models import Membership, RecoveryCode, Role, Tenant, TenantStatus, User
from vistapass.platform.models.base import utcnow
from vistapass.platform.settings import Settings, get_settings
from vistapass.platform.tenancy.binding import control_session, tenant_session

# Roles that move money or own the park: their accounts need a second factor.
MFA_ROLES = (Role.OWNER.value, Role.FINANCE.value)
# Where a person who must enrol can still go: to enrol, or to leave.
MFA_EXEMPT_PATHS = (
    "/account/security",
    "/logout",
    "/login",
    "/api/v1/account/totp",
    "/api/v1/auth/",
)
MAX_WRONG_CODES = 5


class InvalidCode(VistapassError):
    status_code = 400
    code = "invalid_code"


class TooManyAttempts(VistapassError):
    status_code = 429
    code = "too_many_attempts"


class TotpAlreadyEnabled(Conflict):
    code = "totp_already_enabled"


class TotpNotStarted(Conflict):
    code = "totp_not_started"


class TotpNotEnabled(Conflict):
    code = "totp_not_enabled"


async def mfa_required(
    db_session_or_conn: AsyncSession | AsyncConnection,
    user_id: uuid.UUID,
    settings: Settings | None = None,
) -> bool:
    """True in production for an owner or finance person (at any park) without TOTP."""
    if not (settings or get_settings()).is_production:
        return False
    # One indexed query: this runs on every production request of such a person.
    needs = select(User.id).where(
        User.id == user_id,
        User.totp_enabled_at.is_(None),
        exists().where(Membership.user_id == User.id, Membership.role.in_(MFA_ROLES)),
    )
    return await db_session_or_conn.scalar(needs) is not None


async def enforce_mfa(connection: ASGIConnection[Any, Any, Any, Any], principal: Principal) -> None:
    """The guard's hook (production only): refuse everything but enrolling and leaving."""
    if connection.scope["path"].startswith(MFA_EXEMPT_PATHS):
        return
    async with connection.app.state.db.session() as session:
        required = await mfa_required(session, principal.user_id, connection.app.state.settings)
    if required:
        raise Forbidden(
            "Two-factor authentication is required for your role.",
            code="mfa_required",
            details={"enrol_at": "/account/security"},
        )


def _box(settings: Settings) -> SecretBox:
    return SecretBox(settings.effective_secret_key())


async def totp_enabled(session: AsyncSession, user_id: uuid.UUID) -> bool:
    enabled_at = await session.scalar(select(User.totp_enabled_at).where(User.id == user_id))
    return enabled_at is not None


async def _user(session: AsyncSession, user_id: uuid.UUID) -> User:
    user = await session.get(User, user_id, with_for_update=True)
    if user is None:  # deleted while signed in
        raise Forbidden("This account no longer exists.")
    return user


async def start_enrolment(db: Database, settings: Settings, principal: Principal) -> totp.Enrolment:
    """A fresh secret, stored sealed but not yet in force until a code confirms it."""
    async with control_session(db) as session:
        user = await _user(session, principal.user_id)
        if user.totp_enabled_at is not None:
            raise TotpAlreadyEnabled("Two-factor authentication is already on.")
        enrolment = totp.new_enrolment(user.email)
        user.totp_secret = _box(settings).seal(enrolment.secret)
    return enrolment


async def pending_enrolment(
    session: AsyncSession, settings: Settings, principal: Principal
) -> totp.Enrolment | None:
    """A started enrolment's QR code again (after a mistyped code), or None."""
    sealed = await session.scalar(
        select(User.totp_secret).where(User.id == principal.user_id, User.totp_enabled_at.is_(None))
    )
    if not sealed:
        return None
    return totp.enrolment_for(_box(settings).open(sealed), principal.email)


async def _code_accepted(
    redis: Redis, settings: Settings, user: User, code: str, *, claim: bool = True
) -> bool:
    if not user.totp_secret:
        return False
    step = totp.matching_step(_box(settings).open(user.totp_secret), code)
    if step is None:
        return False
    return not claim or await totp.claim_step(redis, settings.redis_namespace, str(user.id), step)


async def _audit_in_every_park(
    db: Database, user_id: uuid.UUID, actor: Actor, action: str, after: dict[str, Any]
) -> None:
    """Each park the person works at keeps its own record of their account's security."""
    async with db.session() as session:
        slugs = list(
            await session.scalars(
                select(Tenant.slug)
                .join(Membership, Membership.tenant_id == Tenant.id)
                .where(
                    Membership.user_id == user_id,
                    Tenant.status.in_((TenantStatus.ACTIVE, TenantStatus.SUSPENDED)),
                )
                .order_by(Tenant.slug)
            )
        )
    for slug in slugs:
        async with tenant_session(db, slug, allow_suspended=True) as park_session:
            await record(park_session, actor, action, f"user:{user_id}", after=after)


# Wrong codes allowed per account when turning TOTP on or off, within this window:
# a signed-in session (or a stolen cookie) must not try a million codes.
WRONG_CODE_WINDOW_S = 15 * 60
CLOCK_HINT = "That code is not valid. Check your device's clock and try again."


async def _check_limited(
    redis: Redis, settings: Settings, user: User, code: str, wrong_message: str
) -> None:
    """`code` is current, or InvalidCode; TooManyAttempts after MAX_WRONG_CODES wrong ones."""
    key = f"{settings.redis_namespace}:totp-wrong:{user.id}"
    if int(await redis.get(key) or 0) >= MAX_WRONG_CODES:
        # Refused without looking at the code, so that guessing stops here.
        wait = max(1, int(await redis.ttl(key)))
        raise TooManyAttempts(
            "Too many wrong codes. Try again later.", details={"retry_after": wait}
        ).with_headers({"Retry-After": str(wait)})
    if await _code_accepted(redis, settings, user, code):
        await redis.delete(key)
        return
    wrong = int(await redis.incr(key))
    if wrong == 1:
        await redis.expire(key, WRONG_CODE_WINDOW_S)
    raise InvalidCode(wrong_message, details={"attempts_left": max(0, MAX_WRONG_CODES - wrong)})


async def confirm_enrolment(
    db: Database, redis: Redis, settings: Settings, principal: Principal, code: str, actor: Actor
) -> list[str]:
    """Turn TOTP on if `code` matches the pending secret; returns recovery codes (shown once)."""
    async with control_session(db) as session:
        user = await _user(session, principal.user_id)
        if user.totp_enabled_at is not None:
            raise TotpAlreadyEnabled("Two-factor authentication is already on.")
        if not user.totp_secret:
            raise TotpNotStarted("Start setting up two-factor authentication first.")
        await _check_limited(redis, settings, user, code, CLOCK_HINT)
        user.totp_enabled_at = utcnow()
        codes = totp.new_recovery_codes()
        await session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
        session.add_all(
            RecoveryCode(user_id=user.id, code_hash=totp.recovery_hash(c)) for c in codes
        )
        await session.flush()
        # Inside the account's transaction: if the audit fails, TOTP stays off.
        await _audit_in_every_park(db, user.id, actor, "auth.totp_enabled", {"totp": True})
    return codes


async def disable(
    db: Database, redis: Redis, settings: Settings, principal: Principal, code: str, actor: Actor
) -> None:
    async with control_session(db) as session:
        user = await _user(session, principal.user_id)
        if user.totp_enabled_at is None:
            raise TotpNotEnabled("Two-factor authentication is not on.")
        await _check_limited(redis, settings, user, code, "That code is not valid.")
        user.totp_enabled_at = None
        user.totp_secret = None
        await session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
        await session.flush()
        await _audit_in_every_park(db, user.id, actor, "auth.totp_disabled", {"totp": False})


async def check_second_factor(
    db: Database, redis: Redis, settings: Settings, user_id: uuid.UUID, code: str
) -> bool:
    """A current, unused TOTP code, or an unused recovery code (then spent)."""
    async with control_session(db) as session:
        user = await session.get(User, user_id)
        if user is None or user.totp_enabled_at is None:
            return False
        cleaned = totp.clean_code(code)
        if len(cleaned) == 6 and cleaned.isdigit():
            return await _code_accepted(redis, settings, user, cleaned)
        # Spent in one statement: two requests racing with the same code cannot both win.
        spent = await session.execute(
            update(RecoveryCode)
            .where(
                RecoveryCode.user_id == user_id,
                RecoveryCode.code_hash == totp.recovery_hash(cleaned),
                RecoveryCode.used_at.is_(None),
            )
            .values(used_at=utcnow())
            .returning(RecoveryCode.id)
        )
        return spent.first() is not None


async def count_wrong_code(redis: Redis, namespace: str, session_key: str) -> int:
    """Wrong codes given in this pending session so far (the key dies with the session)."""
    key = f"{namespace}:mfa-wrong:{session_key}"
    wrong = int(await redis.incr(key))
    await redis.expire(key, 3600)
    return wrong


async def unused_recovery_codes(session: AsyncSession, user_id: uuid.UUID) -> int:
    rows = await session.scalars(
        select(RecoveryCode.id).where(
            RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None)
        )
    )
    return len(list(rows))
