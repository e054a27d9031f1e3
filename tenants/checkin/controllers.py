"""The staff check-in page, `/p/<slug>/console/checkin`, for a phone or tablet at the gate.

It works as plain forms (type or paste a code, upload a photo, search by order
code or name, check a found ticket in or out), and its script adds the camera
and answers without reloading, through the check-in API. Both paths decide
through `service.scan`, the gates' rules.
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from litestar import Controller, Request, get, post
from litestar.datastructures import UploadFile
from litestar.params import FromQuery
from litestar.response import Template

from vistapass.platform.console.context import console_context
from vistapass.platform.console.i18n import current_language, gettext_current
from vistapass.platform.console.pages import Page
from vistapass.platform.errors import VistapassError
from vistapass.platform.identity.principal import resolve_principal
from vistapass.platform.models.base import utcnow
from vistapass.platform.tenancy.dependencies import CurrentTenant, TenantDbSession
from vistapass.tenants.catalog.api import request_actor
from vistapass.tenants.checkin.api import FRAME_BODY_LIMIT, SCAN, CheckinApiController
from vistapass.tenants.checkin.cards import bind_card, unbind_card
from vistapass.tenants.checkin.frames import read_codes_async
from vistapass.tenants.checkin.rules import DIRECTIONS
from vistapass.tenants.checkin.search import search
from vistapass.tenants.checkin.service import Decision, park_clock, recent, scan
from vistapass.tenants.checkin.views import clock, decision_json, search_json
from vistapass.tenants.gates.live import announce
from vistapass.tenants.orders.context import selling_for
from vistapass.tenants.park.service import get_profile
from vistapass.tenants.tickets.codec import PREFIX

# The page's script shows these itself; everything else it gets translated from the API.
SCRIPT_TEXTS = (
    "Checking…",
    "Admit",
    "Refuse",
    "No QR code found in the picture.",
    "The camera could not be started. Use a photo or type the code.",
    "Point the camera at the ticket's QR code.",
    "Camera stopped.",
    "The server could not be reached. Try again.",
    "No orders found.",
    "Check in",
    "Check out",
    "Inside now",
    "Product",
    "Order",
    "Ticket",
    "Valid",
    "Slot",
    "Entries used",
    "unlimited",
    "Named ticket: check the ID document.",
    "Entry",
    "Exit",
    "Card or wristband",
    "Bind card",
    "Card {card} is bound to ticket {number}.",
    "Ticket {number} has no card now.",
)


def _direction(value: str | None) -> str:
    return value if value in DIRECTIONS else "entry"


def _recent_rows(decisions: list[Decision], time_zone: str, language: str) -> list[dict[str, Any]]:
    return [{**decision_json(d, language), "time": clock(d.at, time_zone)} for d in decisions]


class CheckinConsoleController(Controller):
    path = "/console/checkin"
    include_in_schema = False

    async def _page(
        self,
        request: Request[Any, Any, Any],
        db_session: TenantDbSession,
        slug: str,
        *,
        direction: str,
        query: str = "",
        decision: Decision | None = None,
        error: str | None = None,
        card_notice: dict[str, Any] | None = None,
        status_code: int = 200,
    ) -> Template:
        profile = await get_profile(db_session)
        language = current_language.get()
        orders = None
        if query:
            today = (await park_clock(db_session, utcnow())).today
            orders = search_json(await search(db_session, query, today), language)
        context = await console_context(
            request,
            slug,
            profile.display_name,
            direction=direction,
            query=query,
            orders=orders,
            decision=decision_json(decision, language) if decision else None,
            error=error,
            card_notice=card_notice,
            recent=_recent_rows(await recent(db_session), profile.time_zone, language),
            api=f"/p/{slug}/api/v1/checkin",
            script_texts={text: gettext_current(text) for text in SCRIPT_TEXTS},
            # Each form carries its own nonce: submitted twice, it is decided once.
            nonce=lambda: secrets.token_urlsafe(12),
        )
        return Page("checkin/checkin.html", context=context, status_code=status_code)

    @get("/", opt=SCAN)
    async def index(
        self,
        request: Request[Any, Any, Any],
        db_session: TenantDbSession,
        tenant: CurrentTenant,
        q: FromQuery[str] = "",
        direction: FromQuery[str] = "entry",
    ) -> Template:
        return await self._page(
            request, db_session, tenant.slug, direction=_direction(direction), query=q.strip()
        )

    @post("/", opt=SCAN, status_code=200, request_max_body_size=FRAME_BODY_LIMIT)
    async def submit(
        self, request: Request[Any, Any, Any], db_session: TenantDbSession, tenant: CurrentTenant
    ) -> Template:
        """A typed or pasted code, a photo of a ticket, or a ticket from the search."""
        form = await request.form()
        direction = _direction(str(form.get("direction") or ""))
        code = str(form.get("code") or "").strip()
        query = str(form.get("q") or "").strip()
        photo = form.get("photo")
        page = {"direction": direction, "query": query}
        try:
            if isinstance(photo, UploadFile) and photo.filename:
                codes = await read_codes_async(await photo.read())
                if not codes:
                    return await self._page(
                        request,
                        db_session,
                        tenant.slug,
                        **page,
                        error=gettext_current("No QR code found in the picture."),
                        status_code=422,
                    )
                code = codes[0]
            if not code.upper().startswith(PREFIX):
                # Not a ticket code: an order number, a name or a phone number to look up.
                page["query"] = code
                return await self._page(request, db_session, tenant.slug, **page)
            principal = await resolve_principal(request)
            decision = await scan(
                db_session,
                selling_for(request.app.state),
                code=code,
                direction=direction,
                device="console",
                nonce=str(form.get("nonce") or "") or None,
                now=utcnow(),
                staff_user_id=principal.user_id if principal else None,
            )
            if decision.ok and not decision.replayed:
                announce(db_session, request.app.state)  # live occupancy, after the commit
        except VistapassError as exc:
            if exc.status_code >= 500:
                raise
            return await self._page(
                request,
                db_session,
                tenant.slug,
                **page,
                error=gettext_current(exc.message),
                status_code=exc.status_code,
            )
        return await self._page(request, db_session, tenant.slug, **page, decision=decision)

    @post("/card", opt=SCAN, status_code=200)
    async def card(
        self, request: Request[Any, Any, Any], db_session: TenantDbSession, tenant: CurrentTenant
    ) -> Template:
        """Bind the card typed (or read by a desk reader) to a ticket from the search;
        an empty field takes the ticket's card off."""
        form = await request.form()
        page = {
            "direction": _direction(str(form.get("direction") or "")),
            "query": str(form.get("q") or "").strip(),
        }
        card = str(form.get("card") or "").strip()
        try:
            ticket_id = uuid.UUID(str(form.get("ticket") or ""))
        except ValueError:
            notice = {"ok": False, "text": gettext_current("No such ticket.")}
            return await self._page(
                request, db_session, tenant.slug, **page, card_notice=notice, status_code=422
            )
        actor = await request_actor(request)
        try:
            if card:
                ticket = await bind_card(db_session, actor, ticket_id, card)
                text = gettext_current("Card {card} is bound to ticket {number}.")
            else:
                ticket = await unbind_card(db_session, actor, ticket_id)
                text = gettext_current("Ticket {number} has no card now.")
        except VistapassError as exc:
            if exc.status_code >= 500:
                raise
            notice = {"ok": False, "text": gettext_current(exc.message)}
            return await self._page(
                request,
                db_session,
                tenant.slug,
                **page,
                card_notice=notice,
                status_code=exc.status_code,
            )
        notice = {"ok": True, "text": text.format(card=card, number=ticket.position + 1)}
        return await self._page(request, db_session, tenant.slug, **page, card_notice=notice)


# The API and the page: what platform/core.py mounts per park.
CHECKIN_ROUTES = [CheckinApiController, CheckinConsoleController]
