"""A park's staff: the console page, its JSON twin, and the invitation links.

Staff rows live in the control plane and the audit log in the park's schema, so
each change runs in a control transaction nested inside the request's park
transaction: the audit entry is written first, the control plane commits, then
the park. A failed control commit rolls the audit entry back with it.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath, JSONBody, URLEncodedBody
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from vistapass.platform.audit.service import Actor, record
from vistapass.platform.authz.permissions import requires
from vistapass.platform.console.context import console_context
from vistapass.platform.console.pages import Page
from vistapass.platform.errors import VistapassError
from vistapass.platform.http.exceptions import wants_html
from vistapass.platform.identity.principal import Principal, client_ip, resolve_principal
from vistapass.platform.identity.service import roles_changed
from vistapass.platform.staff import service
from vistapass.platform.tenancy.binding import BoundTenant, control_session
from vistapass.platform.tenancy.dependencies import CurrentTenant, TenantDbSession


@dataclass
class InviteIn:
    email: str
    role: str


@dataclass
class RoleIn:
    role: str


def member_id(value: str) -> uuid.UUID:
    # Ids are matched as strings and parsed here, so a malformed one is the same
    # 404 as an unknown one, and only after the guard has checked the permission.
    try:
        return uuid.UUID(value)
    except ValueError:
        raise service.MembershipNotFound(
            "No such member at this park.", details={"membership_id": value}
        ) from None


def invite_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise service.InvitationNotFound(
            "No open invitation with this id.", details={"invitation_id": value}
        ) from None


async def _actor(request: Request[Any, Any, Any]) -> tuple[Principal, Actor]:
    principal = await resolve_principal(request)
    assert principal is not None  # the guard let only permitted people through
    return principal, Actor.of(principal, client_ip(request))


async def staff_listing(request: Request[Any, Any, Any], tenant: BoundTenant) -> dict[str, Any]:
    async with request.app.state.db.session() as session:
        members = await service.list_members(session, tenant.id)
        invitations = await service.list_pending_invitations(session, tenant.id)
    return {"members": members, "invitations": invitations}


async def do_invite(
    request: Request[Any, Any, Any], db_session: AsyncSession, tenant: BoundTenant, data: InviteIn
) -> service.Invitation:
    principal, actor = await _actor(request)
    async with control_session(request.app.state.db) as session:
        invitation, replaced = await service.invite(
            session,
            tenant.id,
            tenant.display_name,
            data.email,
            data.role,
            invited_by=principal.user_id,
            inviter_label=principal.name,
            base_url=request.app.state.settings.url,
        )
        for old in replaced:
            await record(
                db_session,
                actor,
                "staff.invitation_revoked",
                f"invitation:{old}",
                before={"email": invitation.email},
                after={"replaced_by": invitation.id},
            )
        await record(
            db_session,
            actor,
            "staff.invited",
            f"invitation:{invitation.id}",
            after={"email": invitation.email, "role": invitation.role},
        )
    return invitation


async def do_change_role(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    tenant: BoundTenant,
    membership_id: str,
    role: str,
) -> dict[str, str]:
    parsed = member_id(membership_id)
    _, actor = await _actor(request)
    async with control_session(request.app.state.db) as session:
        email, before, after = await service.change_role(session, tenant.id, parsed, role)
        if before != after:
            roles_changed(session, request.app.state.authorizer)
            await record(db_session, actor, "staff.role_changed", f"member:{email}",
                         before={"role": before}, after={"role": after})  # fmt: skip
    return {"membership_id": str(parsed), "email": email, "role": after}


async def do_remove(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    tenant: BoundTenant,
    membership_id: str,
) -> dict[str, str]:
    parsed = member_id(membership_id)
    _, actor = await _actor(request)
    async with control_session(request.app.state.db) as session:
        email, role = await service.remove_member(session, tenant.id, parsed)
        roles_changed(session, request.app.state.authorizer)
        await record(db_session, actor, "staff.removed", f"member:{email}", before={"role": role})
    return {"membership_id": str(parsed), "email": email}


async def do_revoke(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    tenant: BoundTenant,
    invitation_id: str,
) -> dict[str, str]:
    parsed = invite_id(invitation_id)
    _, actor = await _actor(request)
    async with control_session(request.app.state.db) as session:
        invitation = await service.revoke_invitation(session, tenant.id, parsed)
        await record(db_session, actor, "staff.invitation_revoked", f"invitation:{invitation.id}",
                     before={"email": invitation.email, "role": invitation.role})  # fmt: skip
    return {"invitation_id": str(parsed), "email": invitation.email}


class StaffConsoleController(Controller):
    """`/p/<slug>/console/staff`: the page and its forms (post, then redirect back)."""

    path = "/console/staff"
    include_in_schema = False

    async def _page(
        self,
        request: Request[Any, Any, Any],
        tenant: BoundTenant,
        *,
        error: VistapassError | None = None,
    ) -> Template:
        listing = await staff_listing(request, tenant)
        principal = await resolve_principal(request)
        # console_context refreshed the policy just before; forms show only to managers.
        context = await console_context(
            request, tenant.slug, tenant.display_name, roles_all=service.ROLES, error=error,
            notice=request.query_params.get("done"), **listing,
        )  # fmt: skip
        context["can_manage"] = principal is not None and request.app.state.authorizer.allows(
            principal, tenant.slug, "staff:manage"
        )
        status = error.status_code if error is not None else 200
        return Page("staff/staff.html", context=context, status_code=status)

    async def _submit(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        tenant: BoundTenant,
        action: Callable[[], Awaitable[Any]],
        done: str,
    ) -> Template | Redirect:
        # The park's transaction is the request's: a failed change must leave its
        # audit entry out too, so errors are shown on the page but rolled back.
        savepoint = await db_session.begin_nested()
        try:
            await action()
        except VistapassError as exc:
            await savepoint.rollback()
            if not wants_html(request):
                raise
            return await self._page(request, tenant, error=exc)
        return Redirect(f"/p/{tenant.slug}/console/staff?done={done}", status_code=303)

    @get("/", opt=requires("staff:read"))
    async def page(self, request: Request[Any, Any, Any], tenant: CurrentTenant) -> Template:
        return await self._page(request, tenant)

    @post("/invite", opt=requires("staff:manage"))
    async def invite(
        self,
        request: Request[Any, Any, Any],
        db_session: TenantDbSession,
        tenant: CurrentTenant,
        data: URLEncodedBody[InviteIn],
    ) -> Template | Redirect:
        return await self._submit(
            request, db_session, tenant,
            lambda: do_invite(request, db_session, tenant, data), "invited",
        )  # fmt: skip

    @post("/{membership_id:str}/role", opt=requires("staff:manage"))
    async def change_role(
        self,
        request: Request[Any, Any, Any],
        db_session: TenantDbSession,
        tenant: CurrentTenant,
        membership_id: FromPath[str],
        data: URLEncodedBody[RoleIn],
    ) -> Template | Redirect:
        return await self._submit(
            request, db_session, tenant,
            lambda: do_change_role(request, db_session, tenant, membership_id, data.role),
            "role_changed",
        )  # fmt: skip

    @post("/{membership_id:str}/remove", opt=requires("staff:manage"))
    async def remove(
        self,
        request: Request[Any, Any, Any],
        db_session: TenantDbSession,
        tenant: CurrentTenant,
        membership_id: FromPath[str],
    ) -> Template | Redirect:
        return await self._submit(
            request, db_session, tenant,
            lambda: do_remove(request, db_session, tenant, membership_id), "removed",
        )  # fmt: skip

    @post("/invitations/{invitation_id:str}/revoke", opt=requires("staff:manage"))
    async def revoke(
        self,
        request: Request[Any, Any, Any],
        db_session: TenantDbSession,
        tenant: CurrentTenant,
        invitation_id: FromPath[str],
    ) -> Template | Redirect:
        return await self._submit(
            request, db_session, tenant,
            lambda: do_revoke(request, db_session, tenant, invitation_id), "revoked",
        )  # fmt: skip


class StaffApiController(Controller):
    """`/p/<slug>/api/v1/staff`: the same operations for scripts and the SPA."""

    path = "/api/v1/staff"
    tags = ["staff"]

    @get("/", opt=requires("staff:read"), summary="Members and pending invitations")
    async def listing(
        self, request: Request[Any, Any, Any], tenant: CurrentTenant
    ) -> dict[str, Any]:
        listing = await staff_listing(request, tenant)
        return {
            "members": [m.as_dict() for m in listing["members"]],
            "invitations": [i.as_dict() for i in listing["invitations"]],
        }

    @post("/invite", opt=requires("staff:manage"), summary="Invite someone by e-mail")
    async def invite(
        self,
        request: Request[Any, Any, Any],
        db_session: TenantDbSession,
        tenant: CurrentTenant,
        data: JSONBody[InviteIn],
    ) -> dict[str, Any]:
        invitation = await do_invite(request, db_session, tenant, data)
        return service.InvitationRow(
            invitation.id, invitation.email, invitation.role, invitation.expires_at
        ).as_dict()

    @post("/{membership_id:str}/role", opt=requires("staff:manage"), status_code=200,
          summary="Change a member's role")  # fmt: skip
    async def change_role(
        self,
        request: Request[Any, Any, Any],
        db_session: TenantDbSession,
        tenant: CurrentTenant,
        membership_id: FromPath[str],
        data: JSONBody[RoleIn],
    ) -> dict[str, str]:
        return await do_change_role(request, db_session, tenant, membership_id, data.role)

    @post("/{membership_id:str}/remove", opt=requires("staff:manage"), status_code=200,
          summary="Remove a member from the park")  # fmt: skip
    async def remove(
        self,
        request: Request[Any, Any, Any],
        db_session: TenantDbSession,
        tenant: CurrentTenant,
        membership_id: FromPath[str],
    ) -> dict[str, str]:
        return await do_remove(request, db_session, tenant, membership_id)

    @post("/invitations/{invitation_id:str}/revoke", opt=requires("staff:manage"),
          status_code=200, summary="Revoke a pending invitation")  # fmt: skip
    async def revoke(
        self,
        request: Request[Any, Any, Any],
        db_session: TenantDbSession,
        tenant: CurrentTenant,
        invitation_id: FromPath[str],
    ) -> dict[str, str]:
        return await do_revoke(request, db_session, tenant, invitation_id)
