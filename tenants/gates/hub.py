"""`/gate/v1/`: what park edges and online scanners call (the contract: docs/gate-hub-api.md).

These routes are on the platform, not under `/p/<slug>/`: the bearer token
names its park, and its credential must exist in that park's schema. The
app-wide guard lets them through as public; `gate_session` is their check.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromQuery, JSONBody
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from vistapass.platform.authz.permissions import public
from vistapass.platform.console.i18n import current_language
from vistapass.platform.db.raw import Statement
from vistapass.platform.models.base import utcnow
from vistapass.platform.tenancy.binding import BoundTenant, bind_tenant_then, transaction
from vistapass.platform.tenancy.errors import TenantNotFound
from vistapass.tenants.checkin.reads import Prefetch
from vistapass.tenants.checkin.service import Presented, scan
from vistapass.tenants.checkin.views import decision_json
from vistapass.tenants.gates import credentials, ingest, live, sync
from vistapass.tenants.gates.credentials import Caller
from vistapass.tenants.gates.errors import (
    GateRequestInvalid,
    InvalidCredential,
    WrongCredentialKind,
)
from vistapass.tenants.gates.schemas import EventsIn, RedeemIn, StatusIn
from vistapass.tenants.models import GateCredential
from vistapass.tenants.orders.context import selling_for

EDGE = ("edge",)
ANY_KIND = ("edge", "device")
MAX_NONCE = 100
REDEEM_NONCE = "redeem:"
SEEN_EVERY = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class GateCall:
    session: AsyncSession
    credential: Caller
    slug: str
    prefetched: Prefetch | None = None


@asynccontextmanager
async def gate_session(
    request: Request[Any, Any, Any],
    kinds: tuple[str, ...],
    prefetch: Callable[[BoundTenant], Prefetch | None] | None = None,
) -> AsyncIterator[GateCall]:
    """The caller's park session (committed on success) and its live credential.

    `prefetch`: a scan's ticket to lock in the binding's round trip (see
    `checkin.reads.Prefetch`); it is on the call, with its rows.
    """
    token = credentials.bearer(request.headers.get("authorization", ""))
    ahead: list[Prefetch] = []  # set while binding, once the park's id is known

    def ticket_statements(tenant: BoundTenant) -> list[Statement]:
        wanted = prefetch(tenant) if prefetch is not None else None
        if wanted is None:
            return []
        ahead.append(wanted)
        return list(wanted.statements())

    async with transaction(request.app.state.db.session()) as session:
        try:
            # The credential is looked up in the round trip that binds the park.
            _, (found, *ticket_rows) = await bind_tenant_then(
                session, token.slug, credentials.lookup(token), then_for=ticket_statements
            )
        except TenantNotFound:
            # An unknown park looks like any other bad token: nothing to probe.
            raise InvalidCredential("This gate credential is unknown or revoked.") from None
        credential = credentials.check(token, found)
        if ahead:
            ahead[0].rows = ticket_rows
        if credential.kind not in kinds:
            raise WrongCredentialKind(
                f"This call needs an {' or '.join(kinds)} credential.",
                details={"kind": credential.kind},
            )
        await _seen(session, credential)
        yield GateCall(session, credential, token.slug, ahead[0] if ahead else None)


async def _seen(session: AsyncSession, credential: Caller) -> None:
    """Note the call on the credential, at most once a minute.

    Scanners redeem many times a second through one credential: a write on
    every call would queue them all behind that one row's lock.
    """
    now = utcnow()
    if credential.last_seen_at is None or now - credential.last_seen_at > SEEN_EVERY:
        await session.execute(
            update(GateCredential)
            .where(GateCredential.id == credential.id)
            .values(last_seen_at=now)
        )


def redeem_nonce(nonce: str) -> str:
    """The admission nonce of an online redeem, apart from the edges' `edge:` ones.

    A nonce that would not fit with the prefix is replaced by its hash, so the
    same nonce always maps to the same key.
    """
    if len(REDEEM_NONCE) + len(nonce) <= MAX_NONCE:
        return REDEEM_NONCE + nonce
    return REDEEM_NONCE + hashlib.sha256(nonce.encode()).hexdigest()


def _check_events(data: EventsIn) -> None:
    for index, event in enumerate(data.events):
        if event.counted and not (event.ok and event.direction == "entry"):
            raise GateRequestInvalid(
                "Only an accepted entry can be counted.",
                code="invalid_event",
                details={"index": index, "id": str(event.id)},
            )


class GateHubController(Controller):
    path = "/gate/v1"
    tags = ["gate hub"]

    @get("/sync", opt=public(), summary="Keys, tickets, devices and settings for an edge")
    async def sync(
        self, request: Request[Any, Any, Any], cursor: FromQuery[str | None] = None
    ) -> dict[str, Any]:
        async with gate_session(request, EDGE) as call:
            answer = await sync.pull(
                call.session,
                selling_for(request.app.state).wrapper,
                call.slug,
                call.credential,
                cursor,
                utcnow(),
            )
        return answer

    @post("/events", opt=public(), status_code=200, summary="An edge's scans, stored once each")
    async def events(
        self, request: Request[Any, Any, Any], data: JSONBody[EventsIn]
    ) -> dict[str, int]:
        _check_events(data)
        async with gate_session(request, EDGE) as call:
            result = await ingest.ingest(call.session, call.credential.id, data.events)
            if result.stored:
                live.announce(call.session, request.app.state)
        return {
            "stored": result.stored,
            "duplicates": result.duplicates,
            "conflicts": result.conflicts,
        }

    @post("/status", opt=public(), status_code=204, summary="An edge's health report")
    async def status(self, request: Request[Any, Any, Any], data: JSONBody[StatusIn]) -> None:
        status = {
            "online": data.online,
            "outbox": data.outbox,
            "version": data.version,
            "last_sync_at": data.last_sync_at.isoformat() if data.last_sync_at else None,
            "devices": [{"id": d.id, "online": d.online} for d in data.devices],
        }
        async with gate_session(request, EDGE) as call:
            await call.session.execute(
                update(GateCredential)
                .where(GateCredential.id == call.credential.id)
                .values(last_seen_at=utcnow(), status=status)
            )

    @post("/redeem", opt=public(), status_code=200, summary="Online validation by a scanner")
    async def redeem(
        self, request: Request[Any, Any, Any], data: JSONBody[RedeemIn]
    ) -> dict[str, Any]:
        now = utcnow()

        def prefetch(tenant: BoundTenant) -> Prefetch | None:
            return Prefetch.of(tenant.id, data.code, now)

        async with gate_session(request, ANY_KIND, prefetch) as call:
            decision = await scan(
                call.session,
                selling_for(request.app.state),
                code=data.code,
                direction=data.direction,
                device=call.credential.name,
                nonce=redeem_nonce(data.nonce),
                now=now,
                zone=data.zone,
                document=Presented.of(data.document_type, data.document_number),
                commit=True,
                prefetched=call.prefetched,
            )
            if decision.ok and not decision.replayed:
                live.announce(call.session, request.app.state)
        return decision_json(decision, current_language.get())


GATE_HUB_ROUTES: list[Any] = [GateHubController]
