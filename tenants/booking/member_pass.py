"""The visitor's member pass on the booking site: the cookie, and the card behind it.

Kept apart from the member pages (`member.py`) so that step 1 and step 2 can ask
"is this visitor a member?" without importing the after-sale pages they precede.
The pass only names a card; `current_card` checks that card every time.
"""

from __future__ import annotations

import time
import uuid
from datetime import date
from typing import Any

from litestar import Request
from litestar.datastructures import Cookie
from sqlalchemy.ext.asyncio import AsyncSession

from vistapass.tenants.booking.site import base_path
from vistapass.tenants.catalog.membership import MEMBER_COOKIE, MemberCard, load_card, read_pass
from vistapass.tenants.orders.context import selling_for


def member_id(request: Request[Any, Any, Any], slug: str) -> uuid.UUID | None:
    """The card the visitor's pass names, if the pass is genuine; the card is not checked."""
    settings = selling_for(request.app.state).settings
    return read_pass(settings, slug, request.cookies.get(MEMBER_COOKIE), int(time.time()))


async def current_card(
    request: Request[Any, Any, Any], session: AsyncSession, slug: str, today: date
) -> MemberCard | None:
    """The signed-in member's card, checked now; None for a visitor who is not one."""
    ticket_id = member_id(request, slug)
    return await load_card(session, ticket_id, today) if ticket_id is not None else None


def member_cookie(request: Request[Any, Any, Any], slug: str, value: str, max_age: int) -> Cookie:
    """The pass as an HttpOnly, SameSite=Lax cookie; an empty value and 0 sign out."""
    settings = selling_for(request.app.state).settings
    # Scoped to the park: on /p/<slug>/ two parks' cards never overwrite each other.
    return Cookie(
        key=MEMBER_COOKIE,
        value=value,
        path=base_path(request, slug) or "/",
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=settings.is_production,
    )
