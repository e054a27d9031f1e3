"""Appending to and verifying a park's audit chain.

Each entry's hash covers its content and the previous entry's hash, so editing
or deleting any entry breaks every hash after it. Appends in one park are
serialised with a transaction-scoped advisory lock, so two requests never chain
off the same predecessor.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from vistapass.platform.identity.principal import Principal
from vistapass.platform.models.base import utcnow
from vistapass.platform.tenancy.binding import current_tenant
from vistapass.tenants.models import AuditEntry

GENESIS = "0" * 64


@dataclass(frozen=True, slots=True)
class Actor:
    id: uuid.UUID | None
    label: str
    ip: str | None

    @classmethod
    def of(cls, principal: Principal | None, ip: str | None) -> Actor:
        if principal is None:
            return cls(None, "anonymous", ip)
        return cls(principal.user_id, principal.label, ip)


def entry_hash(
    prev_hash: str,
    at: datetime,
    actor_id: uuid.UUID | None,
    actor: str,
    ip: str | None,
    action: str,
    target: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> str:
    body = {
        "prev": prev_hash,
        "at": at.astimezone(UTC).isoformat(),
        "actor_id": str(actor_id) if actor_id else None,
        "actor": actor,
        "ip": ip,
        "action": action,
        "target": target,
        "before": before,
        "after": after,
    }
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def jsonable(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """Before/after as JSON would store them (dates and ids as strings)."""
    if value is None:
        return None
    return json.loads(json.dumps(value, default=str))


async def record(
    session: AsyncSession,
    actor: Actor,
    action: str,
    target: str,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append an entry in the session's park, inside the caller's transaction."""
    tenant = current_tenant(session)
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtext('vistapass.audit'), hashtext(:schema))"),
        {"schema": tenant.schema_name},
    )
    prev = await session.scalar(select(AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1))
    at = utcnow()
    before, after = jsonable(before), jsonable(after)
    entry = AuditEntry(
        at=at,
        actor_id=actor.id,
        actor=actor.label,
        ip=actor.ip,
        action=action,
        target=target,
        before=before,
        after=after,
        prev_hash=prev or GENESIS,
        hash=entry_hash(
            prev or GENESIS, at, actor.id, actor.label, actor.ip, action, target, before, after
        ),
    )
    session.add(entry)
    await session.flush()
    return entry


@dataclass(frozen=True, slots=True)
class ChainReport:
    checked: int
    broken_at: int | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.broken_at is None


async def _entries(session: AsyncSession, batch: int = 1000) -> AsyncIterator[AuditEntry]:
    last_id = 0
    while True:
        rows = list(
            await session.scalars(
                select(AuditEntry)
                .where(AuditEntry.id > last_id)
                .order_by(AuditEntry.id)
                .limit(batch)
            )
        )
        if not rows:
            return
        for row in rows:
            yield row
        last_id = rows[-1].id
        session.expunge_all()


async def verify_chain(session: AsyncSession) -> ChainReport:
    """Recompute every hash. The oldest kept entry anchors the chain (retention
    removes older ones), so its own `prev_hash` is taken as given."""
    checked = 0
    prev: str | None = None
    async for entry in _entries(session):
        if prev is not None and entry.prev_hash != prev:
            return ChainReport(checked, entry.id, "does not follow the entry before it")
        expected = entry_hash(
            entry.prev_hash,
            entry.at,
            entry.actor_id,
            entry.actor,
            entry.ip,
            entry.action,
            entry.target,
            entry.before,
            entry.after,
        )
        if expected != entry.hash:
            return ChainReport(checked, entry.id, "its content does not match its hash")
        prev = entry.hash
        checked += 1
    return ChainReport(checked)
