"""Signing up a park: check everything, provision, make the owner, send the verification link.

Signing up spans several transactions, so `sign_up` opens them itself rather than
leaving that to the edge as other services do. Provisioning must commit before
the owner can become a member, and it runs in transactions of its own. Everything
that can be refused is checked first, so a bad request leaves nothing behind.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from vistapass.platform.audit.service import Actor, record
from vistapass.platform.authz.enforcer import Authorizer
from vistapass.platform.db import Database
from vistapass.platform.errors import VistapassError
from vistapass.platform.identity.errors import InvalidToken
from vistapass.platform.identity.passwords import check_policy
from vistapass.platform.identity.secrets import new_token, token_hash
from vistapass.platform.identity.service import (
    EmailTaken,
    add_membership,
    create_user,
    find_user,
    normalise_email,
)
from vistapass.platform.logging import get_logger
from vistapass.platform.mail.service import Mail, send_mail
from vistapass.platform.models import OneTimeToken, Role, TenantStatus, User
from vistapass.platform.models.base import utcnow
from vistapass.platform.settings import Settings
from vistapass.platform.tenancy import repository
from vistapass.platform.tenancy.binding import control_session, forget_tenant, tenant_session
from vistapass.platform.tenancy.errors import InvalidSlug, SlugReserved, TenantExists
from vistapass.platform.tenancy.naming import validate_slug
from vistapass.platform.tenancy.provisioning import provision_tenant

log = get_logger(__name__)

VERIFY_EMAIL = "verify_email"
VERIFY_TTL = timedelta(hours=48)
NAME_MAX_LENGTH = 100
TAKEN = "taken"


class ParkNameRequired(VistapassError):
    status_code = 422
    code = "park_name_required"


class NameTooLong(VistapassError):
    status_code = 422
    code = "name_too_long"


@dataclass(frozen=True, slots=True)
class SignupForm:
    park_name: str
    slug: str
    owner_name: str
    email: str
    password: str


@dataclass(frozen=True, slots=True)
class SignedUp:
    slug: str
    park_name: str
    user_id: uuid.UUID
    email: str
    name: str


def normalise_slug(slug: str) -> str:
    return slug.strip().lower()


async def slug_problem(session: AsyncSession, slug: str) -> str | None:
    """Why `slug` cannot be signed up (`invalid_slug`, `slug_reserved`, `taken`), or None."""
    try:
        validate_slug(slug)
    except (InvalidSlug, SlugReserved) as exc:
        return exc.code
    # A park still provisioning holds its slug too.
    return TAKEN if await repository.get_by_slug(session, slug) is not None else None


def _checked_name(value: str, field: str, missing: VistapassError) -> str:
    name = " ".join(value.split())
    if not name:
        raise missing
    if len(name) > NAME_MAX_LENGTH:
        raise NameTooLong(
            f"Use at most {NAME_MAX_LENGTH} characters.",
            details={"field": field, "max": NAME_MAX_LENGTH},
        )
    return name


async def check_signup(session: AsyncSession, form: SignupForm) -> SignupForm:
    """Refuse anything that would fail later; returns the form normalised."""
    park_name = _checked_name(form.park_name, "park_name", ParkNameRequired("Name your park."))
    owner_name = _checked_name(
        form.owner_name,
        "owner_name",
        VistapassError("Tell us your name.", code="name_required", status_code=422),
    )
    slug = validate_slug(normalise_slug(form.slug))
    email = normalise_email(form.email)
    check_policy(form.password, email=email, name=owner_name)
    if await find_user(session, email) is not None:
        raise EmailTaken("An account with this e-mail already exists.", details={"email": email})
    if await repository.get_by_slug(session, slug) is not None:
        raise TenantExists(f"A park with the slug '{slug}' already exists.", details={"slug": slug})
    return SignupForm(park_name, slug, owner_name, email, form.password)


# Chinese first (most parks), then English; Chinese punctuation is intended.
VERIFY_SUBJECT = "请验证您的邮箱 / Verify your e-mail · Vistapass"
VERIFY_TEXT = """{name}，您好：

您已在 Vistapass 注册景区“{park}”。请在 48 小时内打开以下链接，验证您的邮箱：
{link}

Hello {name},

You signed up the park "{park}" on Vistapass. Open this link within 48 hours
to verify your e-mail address:
{link}

如果这不是您本人的操作，请忽略此邮件。
If this was not you, ignore this e-mail.
"""


def verification_mail(settings: Settings, to: str, name: str, park_name: str, token: str) -> Mail:
    link = f"{settings.url}/verify-email?token={token}"
    text = VERIFY_TEXT.format(name=name, park=park_name, link=link)
    return Mail(to=to, subject=VERIFY_SUBJECT, text=text)


async def issue_verification(
    session: AsyncSession, settings: Settings, user: User, park_name: str
) -> str:
    """A single-use link valid for 48 hours, mailed once the transaction commits."""
    token = new_token()
    session.add(
        OneTimeToken(
            user_id=user.id,
            purpose=VERIFY_EMAIL,
            token_hash=token_hash(token),
            expires_at=utcnow() + VERIFY_TTL,
        )
    )
    await session.flush()
    send_mail(session, verification_mail(settings, user.email, user.name, park_name, token))
    return token


async def verify_email(session: AsyncSession, token: str) -> uuid.UUID:
    """Mark the link used and the address verified; InvalidToken for any bad link."""
    if not token or len(token) > 200:
        raise InvalidToken("This link is invalid, already used or expired.")
    now = utcnow()
    # One conditional update: two clicks at once cannot both use the link.
    user_id = await session.scalar(
        update(OneTimeToken)
        .where(
            OneTimeToken.token_hash == token_hash(token),
            OneTimeToken.purpose == VERIFY_EMAIL,
            OneTimeToken.used_at.is_(None),
            OneTimeToken.expires_at > now,
        )
        .values(used_at=now)
        .returning(OneTimeToken.user_id)
        .execution_options(synchronize_session=False)
    )
    if user_id is None:
        raise InvalidToken("This link is invalid, already used or expired.")
    await session.execute(
        update(User)
        .where(User.id == user_id, User.email_verified_at.is_(None))
        .values(email_verified_at=now)
        .execution_options(synchronize_session=False)
    )
    return user_id


def _is_email_conflict(exc: IntegrityError) -> bool:
    diag = getattr(exc.orig, "diag", None)
    return getattr(diag, "constraint_name", None) == "uq_users_email"


async def _create_owner(
    db: Database,
    authorizer: Authorizer,
    settings: Settings,
    form: SignupForm,
    ip: str | None,
    locale: str | None,
) -> SignedUp:
    async with control_session(db) as session:
        tenant = await repository.get_by_slug(session, form.slug)
        assert tenant is not None  # provisioned a moment ago
        user = await create_user(session, form.email, form.owner_name, form.password)
        if locale:
            user.locale = locale
        await add_membership(session, authorizer, user.id, tenant.id, Role.OWNER)
        await issue_verification(session, settings, user, form.park_name)
        # Inside the owner's transaction: if the audit entry fails, no owner is made.
        async with tenant_session(db, form.slug) as park:
            await record(
                park,
                Actor(user.id, user.email, ip),
                "park.created",
                f"park:{form.slug}",
                after={"slug": form.slug, "display_name": form.park_name, "owner": user.email},
            )
        return SignedUp(form.slug, form.park_name, user.id, user.email, user.name)


async def _set_aside(db: Database, slug: str) -> None:
    """Suspend a park whose owner could not be made: never live without an owner."""
    try:
        async with control_session(db) as session:
            tenant = await repository.get_by_slug(session, slug)
            if tenant is not None:
                await repository.set_status(session, tenant, TenantStatus.SUSPENDED)
    except Exception:
        log.exception("could not suspend a park left without an owner", slug=slug)
        return
    forget_tenant(slug)
    log.warning("park suspended: its sign-up failed after provisioning", slug=slug)


async def sign_up(
    db: Database,
    authorizer: Authorizer,
    settings: Settings,
    form: SignupForm,
    *,
    ip: str | None = None,
    locale: str | None = None,
) -> SignedUp:
    async with control_session(db) as session:
        form = await check_signup(session, form)
    provisioned = await provision_tenant(db, form.slug, form.park_name)
    if provisioned.resumed:
        # The slug was free when checked, so another sign-up registered it since: theirs.
        raise TenantExists(
            f"A park with the slug '{form.slug}' already exists.", details={"slug": form.slug}
        )
    try:
        return await _create_owner(db, authorizer, settings, form, ip, locale)
    except EmailTaken as exc:
        await _set_aside(db, form.slug)
        raise _race_lost(form) from exc
    except IntegrityError as exc:
        await _set_aside(db, form.slug)
        if _is_email_conflict(exc):
            raise _race_lost(form) from exc
        raise
    except BaseException:
        await _set_aside(db, form.slug)
        raise


def _race_lost(form: SignupForm) -> EmailTaken:
    # Another sign-up took the e-mail between the check and the owner's creation.
    return EmailTaken(
        f"An account with this e-mail was created a moment ago, so the park "
        f"'{form.slug}' was not opened. Sign in with that account instead.",
        details={"email": form.email, "slug": form.slug, "park_status": "suspended"},
    )
