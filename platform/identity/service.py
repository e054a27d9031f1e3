"""People and memberships: the rules every identity feature builds on."""

from __future__ import annotations

import uuid

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from vistapass.platform.authz.enforcer import Authorizer
from vistapass.platform.errors import Conflict, VistapassError
from vistapass.platform.identity.passwords import check_policy, hash_password
from vistapass.platform.models import Membership, Role, User
from vistapass.platform.tenancy.binding import after_commit


class InvalidEmail(VistapassError):
    status_code = 422
    code = "invalid_email"


class EmailTaken(Conflict):
    code = "email_taken"


def normalise_email(email: str) -> str:
    """Lower-cased and syntax-checked; no DNS lookup (the mail itself proves it)."""
    try:
        checked = validate_email(email.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidEmail(str(exc), details={"email": email}) from exc
    return checked.normalized.lower()


async def find_user(session: AsyncSession, email: str) -> User | None:
    return await session.scalar(select(User).where(User.email == email.strip().lower()))


async def create_user(session: AsyncSession, email: str, name: str, password: str) -> User:
    email = normalise_email(email)
    name = name.strip()
    if not name:
        raise VistapassError("Tell us your name.", code="name_required", status_code=422)
    check_policy(password, email=email, name=name)
    if await find_user(session, email) is not None:
        raise EmailTaken("An account with this e-mail already exists.", details={"email": email})
    user = User(email=email, name=name, password_hash=hash_password(password))
    session.add(user)
    await session.flush()
    return user


def roles_changed(session: AsyncSession, authorizer: Authorizer) -> None:
    """Every process reloads its policy once this transaction has committed."""
    after_commit(session, authorizer.bump)


async def add_membership(
    session: AsyncSession,
    authorizer: Authorizer,
    user_id: uuid.UUID,
    tenant_id: uuid.UUID,
    role: Role | str,
) -> Membership:
    membership = Membership(user_id=user_id, tenant_id=tenant_id, role=Role(role))
    session.add(membership)
    await session.flush()
    roles_changed(session, authorizer)
    return membership
