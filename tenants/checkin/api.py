"""The check-in API under `/p/<slug>/api/v1/checkin/`: scan, search, read QR codes from images.

`POST scans` is the online redeem: idempotent by the client's `nonce`, with
entry and exit, decided by the same rules as the gates (`rules.decide`). It
answers 200 with the decision whether the ticket was admitted or not; only a
request that is not a scan at all (unknown direction, a mistyped ID document)
gets an error. `PUT`/`DELETE tickets/<id>/card` bind a card or wristband to a
ticket for card-reading gates (`cards`).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, delete, get, post, put
from litestar.params import FromPath, FromQuery, JSONBody

from vistapass.platform.authz.permissions import requires
from vistapass.platform.console.i18n import current_language
from vistapass.platform.identity.principal import resolve_principal
from vistapass.platform.models.base import utcnow
from vistapass.platform.tenancy.dependencies import TenantDbSession
from vistapass.tenants.catalog.api import request_actor
from vistapass.tenants.checkin.cards import bind_card, unbind_card
from vistapass.tenants.checkin.frames import MAX_FRAME_BYTES, read_codes_async
from vistapass.tenants.checkin.search import search
from vistapass.tenants.checkin.service import Presented, park_clock, scan
from vistapass.tenants.checkin.views import decision_json, search_json
from vistapass.tenants.gates.live import announce
from vistapass.tenants.orders.context import selling_for

SCAN = requires("checkin:scan")
# Room for multipart framing around the largest image read_codes accepts.
FRAME_BODY_LIMIT = MAX_FRAME_BYTES + 64 * 1024


class ScanIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    # Bounds match the admissions columns: a longer value is a 400, not a database error.
    code: Annotated[str, msgspec.Meta(max_length=2000)]
    direction: str = "entry"  # anything but entry/exit is a 422 invalid_direction
    device: Annotated[str, msgspec.Meta(max_length=100)] = ""
    # Send a fresh nonce per scan; resend it only on a retry.
    nonce: Annotated[str, msgspec.Meta(min_length=1, max_length=100)] | None = None
    zone: Annotated[str, msgspec.Meta(max_length=60)] | None = None
    # An ID document shown with a named ticket.
    document_type: Annotated[str, msgspec.Meta(max_length=20)] | None = None
    document_number: Annotated[str, msgspec.Meta(max_length=40)] | None = None


class CardIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    card: Annotated[str, msgspec.Meta(max_length=40)]


class CheckinApiController(Controller):
    path = "/api/v1/checkin"
    tags = ["checkin"]

    @post(
        "/scans",
        summary="Check a ticket in or out (idempotent by nonce)",
        opt=SCAN,
        status_code=200,
    )
    async def scan(
        self, request: Request[Any, Any, Any], db_session: TenantDbSession, data: JSONBody[ScanIn]
    ) -> dict[str, Any]:
        principal = await resolve_principal(request)
        decision = await scan(
            db_session,
            selling_for(request.app.state),
            code=data.code,
            direction=data.direction,
            device=data.device,
            nonce=data.nonce,
            now=utcnow(),
            zone=data.zone,
            document=Presented.of(data.document_type, data.document_number),
            staff_user_id=principal.user_id if principal else None,
        )
        if decision.ok and not decision.replayed:
            announce(db_session, request.app.state)  # live occupancy, after the commit
        return decision_json(decision, current_language.get())

    @get("/search", summary="Orders by code, contact name or phone, with ticket states", opt=SCAN)
    async def search(self, db_session: TenantDbSession, q: FromQuery[str] = "") -> dict[str, Any]:
        today = (await park_clock(db_session, utcnow())).today
        orders = await search(db_session, q, today)
        return {"query": q, "orders": search_json(orders, current_language.get())}

    @post(
        "/frames",
        summary="The QR codes in a camera frame or photo (JPEG, PNG or WebP body)",
        opt=SCAN,
        status_code=200,
        request_max_body_size=FRAME_BODY_LIMIT,
    )
    async def frames(self, request: Request[Any, Any, Any]) -> dict[str, Any]:
        return {"codes": await read_codes_async(await request.body())}

    @put("/tickets/{ticket_id:uuid}/card", summary="Bind a card or wristband to a ticket", opt=SCAN)
    async def bind_card(
        self,
        request: Request[Any, Any, Any],
        db_session: TenantDbSession,
        ticket_id: FromPath[uuid.UUID],
        data: JSONBody[CardIn],
    ) -> dict[str, Any]:
        ticket = await bind_card(db_session, await request_actor(request), ticket_id, data.card)
        return {"ticket": str(ticket.id), "card": ticket.card}

    @delete(
        "/tickets/{ticket_id:uuid}/card",
        summary="Take a ticket's card off",
        opt=SCAN,
        status_code=200,
    )
    async def unbind_card(
        self,
        request: Request[Any, Any, Any],
        db_session: TenantDbSession,
        ticket_id: FromPath[uuid.UUID],
    ) -> dict[str, Any]:
        ticket = await unbind_card(db_session, await request_actor(request), ticket_id)
        return {"ticket": str(ticket.id), "card": ticket.card}
