"""Who works at a park: members, their roles, and invitations to join.

Memberships and invitations are control-plane rows, so every function here takes
a control session (`control_session`); the park's audit entries are written by
the caller in the park's own session.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from vistapass.platform.errors import Conflict, NotFound, VistapassError
from vistapass.platform.identity.errors import InvalidToken
from vistapass.platform.identity.secrets import new_token, token_hash
from vistapass.platform.identity.service import normalise_email
from vistapass.platform.mail.service import Mail, send_mail
from vistapass.platform.models import Invitation, Membership, Role, Tenant, User
from vistapass.platform.models.base import utcnow

INVITATION_LIFETIME = timedelta(days=7)
ROLES = tuple(role.value for role in Role)


class AlreadyMember(Conflict):
    code = "already_member"


class LastOwner(Conflict):
    code = "last_owner"


class InvalidRole(VistapassError):
    status_code = 422
    code = "invalid_role"


class MembershipNotFound(NotFound):
    code = "membership_not_found"


class InvitationNotFound(NotFound):
    code = "invitation_not_found"


class InvitationForAnotherEmail(VistapassError):
    status_code = 403
    code = "invitation_for_another_email"


@dataclass(frozen=True, slots=True)
class MemberRow:
    membership_id: uuid.UUID
    user_id: uuid.UUID
    name: str
    email: str
    role: str
    since: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "membership_id": str(self.membership_id),
            "user_id": str(self.user_id),
            "name": self.name,
            "email": self.email,
            "role": self.role,
            "since": self.since.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class InvitationRow:
    invitation_id: uuid.UUID
    email: str
    role: str
    expires_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "invitation_id": str(self.invitation_id),
            "email": self.email,
            "role": self.role,
            "expires_at": self.expires_at.isoformat(),
        }


def checked_role(role: str) -> Role:
    if role not in ROLES:
        raise InvalidRole(f"'{role}' is not a role.", details={"role": role, "roles": list(ROLES)})
    return Role(role)


async def list_members(session: AsyncSession, tenant_id: uuid.UUID) -> list[MemberRow]:
    rows = await session.execute(
        select(Membership, User.name, User.email)
        .join(User, User.id == Membership.user_id)
        .where(Membership.tenant_id == tenant_id)
        .order_by(User.name, User.email)
    )
    return [
        MemberRow(m.id, m.user_id, name, email, m.role, m.created_at) for m, name, email in rows
    ]


async def list_pending_invitations(
    session: AsyncSession, tenant_id: uuid.UUID
) -> list[InvitationRow]:
    rows = await session.scalars(
        select(Invitation)
        .where(
            Invitation.tenant_id == tenant_id,
            Invitation.accepted_at.is_(None),
            Invitation.revoked_at.is_(None),
            Invitation.expires_at > utcnow(),
        )
        .order_by(Invitation.created_at)
    )
    return [InvitationRow(i.id, i.email, i.role, i.expires_at) for i in rows]


def invitation_mail(
    to: str, park_name: str, role: str, inviter: str, link: str, expires_at: datetime
) -> Mail:
    until = expires_at.strftime("%Y-%m-%d %H:%M UTC")
    text = (
        f"{inviter} 邀请您以「{role}」身份加入 {park_name}。\n"
        f"请在 {until} 前打开以下链接接受邀请:\n{link}\n\n"
        f"{inviter} invited you to join {park_name} as {role}.\n"
        f"Open this link before {until} to accept:\n{link}\n"
    )
    return Mail(to=to, subject=f"加入 {park_name} / Join {park_name} on Vistapass", text=text)


async def invite(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    park_name: str,
    email: str,
    role: str,
    *,
    invited_by: uuid.UUID | None,
    inviter_label: str,
    base_url: str,
) -> tuple[Invitation, list[uuid.UUID]]:
    """Create an invitation and mail its link; returns it and the ids it replaced."""
    address = normalise_email(email)
    wanted = checked_role(role)
    member = await session.scalar(
        select(Membership.id)
        .join(User, User.id == Membership.user_id)
        .where(Membership.tenant_id == tenant_id, User.email == address)
    )
    if member is not None:
        raise AlreadyMember(f"{address} already works at this park.", details={"email": address})
    # One open invitation per address: a new one replaces (revokes) the old.
    replaced = list(
        await session.scalars(
            select(Invitation)
            .where(
                Invitation.tenant_id == tenant_id,
                Invitation.email == address,
                Invitation.accepted_at.is_(None),
                Invitation.revoked_at.is_(None),
            )
            .with_for_update()
        )
    )
    now = utcnow()
    for old in replaced:
        old.revoked_at = now
    token = new_token()
    invitation = Invitation(
        tenant_id=tenant_id,
        email=address,
        role=wanted.value,
        token_hash=token_hash(token),
        invited_by=invited_by,
        expires_at=now + INVITATION_LIFETIME,
    )
    session.add(invitation)
    await session.flush()
    link = f"{base_url.rstrip('/')}/invitations/accept?token={token}"
    send_mail(
        session,
        invitation_mail(
            address, park_name, wanted.value, inviter_label, link, invitation.expires_at
        ),
    )
    return invitation, [old.id for old in replaced]


async def _membership(
    session: AsyncSession, tenant_id: uuid.UUID, membership_id: uuid.UUID
) -> tuple[Membership, str]:
    row = (
        await session.execute(
            select(Membership, User.email)
            .join(User, User.id == Membership.user_id)
            .where(Membership.id == membership_id, Membership.tenant_id == tenant_id)
            .with_for_update(of=Membership)
        )
    ).first()
    if row is None:
        raise MembershipNotFound(
            "No such member at this park.", details={"membership_id": str(membership_id)}
        )
    return row[0], row[1]


async def _ensure_another_owner(
    session: AsyncSession, tenant_id: uuid.UUID, membership: Membership
) -> None:
    """Refuse to leave the park without an owner.

    The owners' rows are locked, so two owners demoting each other at once are
    serialised and the second one sees that only one owner is left.
    """
    if membership.role != Role.OWNER:
        return
    owners = list(
        await session.scalars(
            select(Membership.id)
            .where(Membership.tenant_id == tenant_id, Membership.role == Role.OWNER)
            .with_for_update()
        )
    )
    if [owner for owner in owners if owner != membership.id] == []:
        raise LastOwner(
            "A park needs at least one owner; make someone else owner first.",
            details={"membership_id": str(membership.id)},
        )


async def change_role(
    session: AsyncSession, tenant_id: uuid.UUID, membership_id: uuid.UUID, role: str
) -> tuple[str, str, str]:
    """(email, role before, role after)."""
    wanted = checked_role(role)
    membership, email = await _membership(session, tenant_id, membership_id)
    before = membership.role
    if before != wanted.value and wanted != Role.OWNER:
        await _ensure_another_owner(session, tenant_id, membership)
    membership.role = wanted.value
    await session.flush()
    return email, before, wanted.value


async def remove_member(
    session: AsyncSession, tenant_id: uuid.UUID, membership_id: uuid.UUID
) -> tuple[str, str]:
    """(email, role it had)."""
    membership, email = await _membership(session, tenant_id, membership_id)
    await _ensure_another_owner(session, tenant_id, membership)
    role = membership.role
    await session.delete(membership)
    await session.flush()
    return email, role


async def revoke_invitation(
    session: AsyncSession, tenant_id: uuid.UUID, invitation_id: uuid.UUID
) -> Invitation:
    invitation = await session.scalar(
        select(Invitation)
        .where(
            Invitation.id == invitation_id,
            Invitation.tenant_id == tenant_id,
            Invitation.accepted_at.is_(None),
            Invitation.revoked_at.is_(None),
        )
        .with_for_update()
    )
    if invitation is None:
        raise InvitationNotFound(
            "No open invitation with this id.", details={"invitation_id": str(invitation_id)}
        )
    invitation.revoked_at = utcnow()
    await session.flush()
    return invitation


@dataclass(frozen=True, slots=True)
class OpenInvitation:
    invitation: Invitation
    park_slug: str
    park_name: str


async def open_invitation(
    session: AsyncSession, token: str | None, *, lock: bool = False
) -> OpenInvitation:
    """The invitation behind a link; one answer for unknown, used, revoked or expired."""
    query = (
        select(Invitation, Tenant.slug, Tenant.display_name)
        .join(Tenant, Tenant.id == Invitation.tenant_id)
        .where(Invitation.token_hash == token_hash(token or ""))
    )
    if lock:
        query = query.with_for_update(of=Invitation)
    row = (await session.execute(query)).first() if token else None
    if row is None:
        raise InvalidToken("This invitation link is not valid.")
    invitation, slug, name = row
    if (
        invitation.accepted_at is not None
        or invitation.revoked_at is not None
        or invitation.expires_at <= utcnow()
    ):
        raise InvalidToken("This invitation link is not valid.")
    return OpenInvitation(invitation, slug, name)


async def accept(session: AsyncSession, invitation: Invitation, user: User) -> Membership:
    """Make `user` a member with the invited role and close the invitation."""
    if user.email != invitation.email:
        raise InvitationForAnotherEmail(
            "This invitation was sent to another e-mail address.",
            details={"invited": invitation.email},
        )
    existing = await session.scalar(
        select(func.count())
        .select_from(Membership)
        .where(Membership.tenant_id == invitation.tenant_id, Membership.user_id == user.id)
    )
    if existing:
        raise AlreadyMember("You already work at this park.", details={"email": user.email})
    membership = Membership(user_id=user.id, tenant_id=invitation.tenant_id, role=invitation.role)
    session.add(membership)
    invitation.accepted_at = utcnow()
    invitation.accepted_by = user.id
    await session.flush()
    return membership
