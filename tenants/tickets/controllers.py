"""What a gate needs to check tickets offline: the park's public keys and revocations.

Public keys are public (anyone may check a ticket's signature); the revocation
list names tickets, so it is for staff and gate credentials only.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from litestar import Controller, get
from litestar.params import FromQuery
from sqlalchemy import select

from vistapass.platform.authz.permissions import public, requires
from vistapass.platform.tenancy.dependencies import TenantDbSession
from vistapass.tenants.keys.signing import public_keys
from vistapass.tenants.models import Ticket

MAX_REVOCATIONS = 50_000


class TicketKeysController(Controller):
    path = "/api/v1/tickets"
    tags = ["tickets"]

    @get("/keys", summary="The park's ticket verification keys (Ed25519)", opt=public())
    async def keys(self, db_session: TenantDbSession) -> dict[str, Any]:
        keys = await public_keys(db_session)
        return {
            "algorithm": "Ed25519",
            "keys": [
                {"id": key_id, "public_key": base64.b64encode(raw).decode()}
                for key_id, raw in sorted(keys.items())
            ],
        }

    @get(
        "/revocations",
        summary="Tickets cancelled or refunded (since a time, for deltas)",
        opt=requires("checkin:scan"),
    )
    async def revocations(
        self, db_session: TenantDbSession, since: FromQuery[datetime | None] = None
    ) -> dict[str, Any]:
        query = select(Ticket.id, Ticket.revoked_at).where(Ticket.revoked_at.is_not(None))
        if since is not None:
            query = query.where(Ticket.revoked_at > since)
        rows = (
            await db_session.execute(query.order_by(Ticket.revoked_at).limit(MAX_REVOCATIONS))
        ).all()
        return {
            "revoked": [str(ticket_id) for ticket_id, _ in rows],
            "until": rows[-1][1].isoformat() if rows else (since.isoformat() if since else None),
            "complete": len(rows) < MAX_REVOCATIONS,
        }


TICKET_ROUTES = [TicketKeysController]
