"""Retention: audit entries older than N days are removed, park by park.

The park's own role cannot delete from its audit log (see provisioning's
`grant_tables`), so the purge runs as the app's database owner on a plain
connection bound to each park's schema. What remains still verifies:
`verify_chain` takes the oldest kept entry as the anchor. Each purge that
removed something is itself recorded in that park's log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, delete, text

from vistapass.platform.audit.service import Actor, record
from vistapass.platform.db import Database
from vistapass.platform.db.migrations import tenant_connection
from vistapass.platform.models import TenantStatus
from vistapass.platform.models.base import utcnow
from vistapass.platform.tenancy.admin import list_parks
from vistapass.platform.tenancy.binding import tenant_session
from vistapass.tenants.models import AuditEntry

PURGE_ACTOR = Actor(None, "vistapass audit purge", None)


@dataclass(frozen=True, slots=True)
class Purged:
    slug: str
    removed: int


def delete_older_than(connection: Connection, schema: str, cutoff: datetime) -> int:
    """Delete the park's entries from before `cutoff`, as the owner, in the caller's transaction."""
    # The same lock `record` takes: no append chains off an entry being removed.
    connection.execute(
        text("SELECT pg_advisory_xact_lock(hashtext('vistapass.audit'), hashtext(:schema))"),
        {"schema": schema},
    )
    result = tenant_connection(connection, schema).execute(
        delete(AuditEntry).where(AuditEntry.at < cutoff)
    )
    return result.rowcount or 0


async def purge(db: Database, days: int, now: datetime | None = None) -> list[Purged]:
    """Remove entries older than `days` in every park; one transaction per park."""
    if days < 1:
        raise ValueError("retention is at least one day")
    cutoff = (now or utcnow()) - timedelta(days=days)
    done: list[Purged] = []
    for park in await list_parks(db):
        if park.status == TenantStatus.PROVISIONING:
            continue
        removed = await db.in_sync_transaction(delete_older_than, park.schema_name, cutoff)
        if removed:
            async with tenant_session(db, park.slug, allow_suspended=True) as session:
                await record(
                    session,
                    PURGE_ACTOR,
                    "audit.purged",
                    "audit_log",
                    after={"removed": removed, "older_than": cutoff.isoformat(), "days": days},
                )
        done.append(Purged(park.slug, removed))
    return done
