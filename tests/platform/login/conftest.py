"""A client per test, with the sign-in counters of earlier tests wiped first.

Every TestClient request comes from the same address ("testclient"), so without
the wipe the per-address counter would add up failures across the whole run.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from litestar.testing import TestClient
from sqlalchemy import select

from vistapass.platform.app import create_app
from vistapass.platform.db import Database
from vistapass.platform.settings import Settings
from vistapass.platform.tenancy.binding import tenant_session
from vistapass.tenants.models import AuditEntry


def wipe_login_counters(settings: Settings) -> None:
    client = redis.Redis.from_url(settings.redis_url)
    try:
        for key in client.scan_iter(match=f"{settings.redis_namespace}:login:*"):
            client.delete(key)
    finally:
        client.close()


@pytest.fixture
def client(migrated: Settings) -> Iterator[TestClient]:
    wipe_login_counters(migrated)
    with TestClient(create_app(migrated), base_url="http://vistapass.test") as test_client:
        yield test_client
    wipe_login_counters(migrated)


def csrf(client: TestClient) -> dict[str, str]:
    """The header a console form (or a cookie-session API call) must carry."""
    if not client.cookies.get("csrftoken"):
        client.get("/healthz")
    return {"x-csrftoken": client.cookies.get("csrftoken") or ""}


def audit_entries(db_run, slug: str, email: str) -> list[AuditEntry]:
    async def read(db: Database) -> list[AuditEntry]:
        async with tenant_session(db, slug) as session:
            rows = await session.scalars(
                select(AuditEntry)
                .where(AuditEntry.target == f"user:{email}")
                .order_by(AuditEntry.id)
            )
            entries = list(rows)
            session.expunge_all()
            return entries

    return db_run(read)
