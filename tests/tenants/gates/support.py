"""Gate credentials, tickets and edge events for the hub's tests.

Test modules import the fixtures from here (not from a conftest), as the
check-in tests do, so suites sharing a folder never collide.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from litestar.testing import TestClient

from tests.conftest import run
from tests.tenants.catalog.helpers import park_today
from tests.tenants.checkin.support import at, csrf, sell, with_selling
from tests.tenants.orders.conftest import client, sale_park
from vistapass.platform.db import Database
from vistapass.platform.models.base import utcnow
from vistapass.platform.settings import Settings
from vistapass.platform.tenancy.binding import tenant_session
from vistapass.tenants.gates import credentials

__all__ = ["at", "client", "csrf", "park_today", "sale_park"]


def mint(settings: Settings, slug: str, kind: str = "edge", name: str = "Main gate") -> str:
    """A credential of `kind` at park `slug`, made as the console makes it; its token."""

    async def work(db: Database) -> str:
        async with tenant_session(db, slug) as session:
            return (await credentials.mint(session, slug, kind, name, None)).token

    return run(settings, work)


def sold(settings: Settings, slug: str, adults: int = 1) -> dict[str, Any]:
    """A paid window order of day tickets for the park's today (one entry each)."""
    return with_selling(
        settings, lambda selling: sell(selling, slug, "day-ticket", park_today(), {"adult": adults})
    )


def auth(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def event(
    ticket_id: str | None,
    direction: str = "entry",
    *,
    when: datetime | None = None,
    ok: bool = True,
    counted: bool | None = None,
    offline: bool = True,
    device: str = "lane-1",
) -> dict[str, Any]:
    """One edge event as the edge's outbox sends it, with a fresh id."""
    return {
        "id": str(uuid.uuid4()),
        "ticket_id": ticket_id,
        "direction": direction,
        "ok": ok,
        "code": "ok" if ok else "already_used",
        "counted": (ok and direction == "entry") if counted is None else counted,
        "at": (when or utcnow()).isoformat(),
        "device": device,
        "zone": None,
        "offline": offline,
    }


def post_events(client: TestClient, token: str, events: list[dict[str, Any]]) -> Any:
    return client.post("/gate/v1/events", json={"events": events}, headers=auth(token))
