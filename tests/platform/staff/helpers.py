"""Shared by the staff tests: a client, the dev mailbox, invitation links."""

from __future__ import annotations

import json
import re

import dramatiq
import psycopg
import pytest
import redis
from litestar.testing import TestClient

import vistapass.platform.mail.tasks  # noqa: F401 registers `mail.send` for the worker
from vistapass.platform.mail.tasks import mailbox_key
from vistapass.platform.settings import Settings
from vistapass.platform.tenancy.naming import schema_for

PASSWORD = "lantern orchard 93 quietly"
TOKEN = re.compile(r"/invitations/accept\?token=([A-Za-z0-9_-]+)")


def csrf(client: TestClient) -> dict[str, str]:
    return {"x-csrftoken": client.cookies.get("csrftoken") or ""}


def api(client: TestClient) -> dict[str, str]:
    return {**csrf(client), "accept": "application/json"}


@pytest.fixture
def deliver_env(migrated: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    # The mail actor reads its settings from the environment, as a worker process would.
    monkeypatch.setenv("VISTAPASS_SMTP_HOST", "")
    return migrated


def deliver_mail(client: TestClient) -> None:
    """Run the queued jobs in-process until the queue is empty."""
    worker = dramatiq.Worker(client.app.state.broker, worker_threads=1)
    worker.start()
    try:
        client.app.state.broker.join("default", timeout=10000)
    finally:
        worker.stop()


def mails_to(settings: Settings, address: str) -> list[dict[str, str]]:
    with redis.Redis.from_url(settings.redis_url) as conn:
        raw = conn.lrange(mailbox_key(settings), 0, -1)
    return [m for m in (json.loads(r) for r in raw) if m["to"] == address]


def invitation_token(client: TestClient, settings: Settings, address: str) -> str:
    """The token of the newest invitation mailed to `address`."""
    deliver_mail(client)
    found = mails_to(settings, address)
    assert found, f"no mail to {address}"
    match = TOKEN.search(found[0]["text"])
    assert match is not None
    return match.group(1)


def audit_actions(
    conn: psycopg.Connection, slug: str
) -> list[tuple[str, str, dict | None, dict | None]]:
    rows = conn.execute(
        f"SELECT action, target, before, after FROM {schema_for(slug)}.audit_log ORDER BY id"
    ).fetchall()
    return [tuple(row) for row in rows]


def membership_role(conn: psycopg.Connection, email: str, slug: str) -> str | None:
    row = conn.execute(
        "SELECT m.role FROM memberships m JOIN users u ON u.id = m.user_id "
        "JOIN tenants t ON t.id = m.tenant_id WHERE u.email = %s AND t.slug = %s",
        (email, slug),
    ).fetchone()
    return row[0] if row else None


def nav_labels(html: str) -> list[str]:
    if "<nav" not in html:
        return []
    nav = html.split("<nav", 1)[1].split("</nav>", 1)[0]
    return [part.split(">", 1)[1].split("<", 1)[0] for part in nav.split("<a ")[1:]]
