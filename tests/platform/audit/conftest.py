"""Helpers for audit tests: fresh parks, and entries written with a chosen time."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb
from sqlalchemy.engine import make_url

from tests.conftest import run, unique_slug
from vistapass.platform.audit.service import GENESIS, entry_hash
from vistapass.platform.settings import Settings
from vistapass.platform.tenancy.naming import schema_for
from vistapass.platform.tenancy.provisioning import provision_tenant


def new_park(settings: Settings, prefix: str = "audit") -> str:
    slug = unique_slug(prefix)
    run(settings, lambda db: provision_tenant(db, slug, f"{prefix.title()} Park"))
    return slug


def insert_entry(
    conn: psycopg.Connection,
    slug: str,
    at: datetime,
    action: str,
    *,
    actor: str = "someone@example.com",
    target: str = "thing",
    ip: str | None = "192.0.2.1",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    actor_id: uuid.UUID | None = None,
) -> int:
    """Append an entry as the owner with a correct hash, so the chain stays valid
    while `at` can be any time (record() always stamps now)."""
    table = sql.Identifier(schema_for(slug), "audit_log")
    with conn.transaction():
        prev = conn.execute(
            sql.SQL("SELECT hash FROM {} ORDER BY id DESC LIMIT 1").format(table)
        ).fetchone()
        prev_hash = prev[0] if prev else GENESIS
        digest = entry_hash(prev_hash, at, actor_id, actor, ip, action, target, before, after)
        row = conn.execute(
            sql.SQL(
                "INSERT INTO {} (at, actor_id, actor, ip, action, target, before, after,"
                " prev_hash, hash) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id"
            ).format(table),
            (
                at,
                actor_id,
                actor,
                ip,
                action,
                target,
                Jsonb(before) if before is not None else None,
                Jsonb(after) if after is not None else None,
                prev_hash,
                digest,
            ),
        ).fetchone()
    assert row is not None
    return int(row[0])


def owner_connect(settings: Settings) -> psycopg.Connection:
    """A connection as the app's own database user (what `admin_conn` gives per test)."""
    dsn = make_url(settings.database_url).set(drivername="postgresql").render_as_string(False)
    return psycopg.connect(dsn, autocommit=True)
