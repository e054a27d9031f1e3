"""Reading the park's audit log: the console page, the CSV export and the JSON API.

Reading is not itself recorded (it would bury the log in its own reads); an
export is, since it takes the log out of the park's hands.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from litestar import Controller, Request, get
from litestar.response import Stream, Template
from sqlalchemy import ColumnElement, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from vistapass.platform.audit.service import Actor, record
from vistapass.platform.authz.permissions import requires
from vistapass.platform.console.context import console_context
from vistapass.platform.console.pages import Page
from vistapass.platform.errors import VistapassError
from vistapass.platform.identity.principal import client_ip, resolve_principal
from vistapass.platform.storage import content_disposition
from vistapass.platform.tenancy.binding import tenant_session
from vistapass.platform.tenancy.dependencies import CurrentTenant, TenantDbSession
from vistapass.tenants.models import AuditEntry
from vistapass.tenants.park.service import get_profile

PAGE_SIZE = 50
API_MAX_LIMIT = 200
EXPORT_BATCH = 500
CSV_COLUMNS = ("id", "at", "actor", "ip", "action", "target", "before", "after", "hash")
# Spreadsheets run a cell starting with these as a formula (CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class InvalidFilter(VistapassError):
    status_code = 422
    code = "invalid_filter"


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _parse_date(value: str | None, name: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidFilter(
            "Dates look like 2026-11-26.", details={"field": name, "value": value[:40]}
        ) from None


def _parse_id(value: str | None, name: str) -> int | None:
    if not value:
        return None
    if not value.isdigit() or len(value) > 18:
        raise InvalidFilter("A cursor is a whole number.", details={"field": name})
    return int(value)


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """The filters of the page, the export and the API, read the same way by all three.

    `action` is exact, or a prefix when it ends with '.' or '*' (`staff.` or `staff.*`);
    `actor` is a case-insensitive substring; dates are whole days in the park's zone.
    """

    action: str = ""
    actor: str = ""
    date_from: date | None = None
    date_to: date | None = None

    @classmethod
    def from_query(cls, query: Any) -> AuditFilter:
        found = cls(
            action=(query.get("action") or "").strip()[:64],
            actor=(query.get("actor") or "").strip()[:200],
            date_from=_parse_date(query.get("from"), "from"),
            date_to=_parse_date(query.get("to"), "to"),
        )
        if found.date_from and found.date_to and found.date_from > found.date_to:
            raise InvalidFilter("The start date is after the end date.", details={"field": "from"})
        return found

    def conditions(self, zone: ZoneInfo) -> list[ColumnElement[bool]]:
        where: list[ColumnElement[bool]] = []
        if self.action.endswith(("*", ".")):
            prefix = _escape_like(self.action.rstrip("*"))
            where.append(AuditEntry.action.like(prefix + "%", escape="\\"))
        elif self.action:
            where.append(AuditEntry.action == self.action)
        if self.actor:
            where.append(AuditEntry.actor.ilike(f"%{_escape_like(self.actor)}%", escape="\\"))
        if self.date_from:
            where.append(AuditEntry.at >= datetime.combine(self.date_from, time.min, zone))
        if self.date_to:
            end = datetime.combine(self.date_to + timedelta(days=1), time.min, zone)
            where.append(AuditEntry.at < end)
        return where

    def as_query(self) -> dict[str, str]:
        query = {"action": self.action, "actor": self.actor}
        query["from"] = self.date_from.isoformat() if self.date_from else ""
        query["to"] = self.date_to.isoformat() if self.date_to else ""
        return {k: v for k, v in query.items() if v}


@dataclass(frozen=True, slots=True)
class AuditPage:
    entries: list[AuditEntry]
    has_newer: bool
    has_older: bool


async def read_page(
    session: AsyncSession,
    where: list[ColumnElement[bool]],
    *,
    before: int | None = None,
    after: int | None = None,
    limit: int = PAGE_SIZE,
) -> AuditPage:
    """Newest first, keyset by id: `before` pages back in time, `after` forward."""
    query = select(AuditEntry).where(*where)
    if after is not None:
        rows = list(
            await session.scalars(
                query.where(AuditEntry.id > after).order_by(AuditEntry.id).limit(limit)
            )
        )
        rows.reverse()
    else:
        if before is not None:
            query = query.where(AuditEntry.id < before)
        rows = list(await session.scalars(query.order_by(AuditEntry.id.desc()).limit(limit)))
    if not rows:
        return AuditPage([], has_newer=before is not None, has_older=after is not None)
    newer = await session.scalar(select(exists().where(*where, AuditEntry.id > rows[0].id)))
    older = await session.scalar(select(exists().where(*where, AuditEntry.id < rows[-1].id)))
    return AuditPage(rows, has_newer=bool(newer), has_older=bool(older))


def entry_json(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "at": entry.at.astimezone(UTC).isoformat(),
        "actor_id": str(entry.actor_id) if entry.actor_id else None,
        "actor": entry.actor,
        "ip": entry.ip,
        "action": entry.action,
        "target": entry.target,
        "before": entry.before,
        "after": entry.after,
        "prev_hash": entry.prev_hash,
        "hash": entry.hash,
    }


def _pretty(value: dict[str, Any] | None) -> str | None:
    """Readable JSON for the page (Chinese as itself; the template escapes it)."""
    if value is None:
        return None
    return json.dumps(value, ensure_ascii=False, sort_keys=True, indent=1)


def _cell(value: str | None) -> str:
    text = value or ""
    return "'" + text if text.startswith(FORMULA_START) else text


def csv_row(entry: AuditEntry) -> list[Any]:
    def as_json(value: dict[str, Any] | None) -> str:
        return "" if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)

    return [
        entry.id,
        entry.at.astimezone(UTC).isoformat(),
        _cell(entry.actor),
        entry.ip or "",
        _cell(entry.action),
        _cell(entry.target),
        as_json(entry.before),
        as_json(entry.after),
        entry.hash,
    ]


def _csv_line(values: list[Any] | tuple[Any, ...]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(values)
    return buffer.getvalue()


async def export_csv(
    request: Request[Any, Any, Any], slug: str, found: AuditFilter, zone: ZoneInfo, upto: int
) -> AsyncIterator[bytes]:
    """The rows, oldest first, in batches from a session of its own.

    The request's session has committed by the time the body streams, so the
    export reads in a fresh one, bounded by `upto` so what it returns is the log
    as it stood when the export was asked for.
    """
    # A BOM, so spreadsheet programs read the Chinese text as UTF-8.
    yield ("\ufeff" + _csv_line(CSV_COLUMNS)).encode()
    last_id = 0
    while True:
        async with tenant_session(request.app.state.db, slug) as session:
            rows = list(
                await session.scalars(
                    select(AuditEntry)
                    .where(*found.conditions(zone), AuditEntry.id > last_id, AuditEntry.id < upto)
                    .order_by(AuditEntry.id)
                    .limit(EXPORT_BATCH)
                )
            )
        if not rows:
            return
        yield "".join(_csv_line(csv_row(row)) for row in rows).encode()
        last_id = rows[-1].id


class AuditController(Controller):
    include_in_schema = False

    @get("/console/audit", opt=requires("audit:read"))
    async def page(
        self, request: Request[Any, Any, Any], db_session: TenantDbSession, tenant: CurrentTenant
    ) -> Template:
        profile = await get_profile(db_session)
        zone = ZoneInfo(profile.time_zone)
        error: InvalidFilter | None = None
        try:
            found = AuditFilter.from_query(request.query_params)
            before = _parse_id(request.query_params.get("before"), "before")
            after = _parse_id(request.query_params.get("after"), "after")
        except InvalidFilter as exc:
            error, found, before, after = exc, AuditFilter(), None, None
        result = await read_page(db_session, found.conditions(zone), before=before, after=after)
        query = found.as_query()
        context = await console_context(
            request,
            tenant.slug,
            profile.display_name,
            entries=[
                {
                    "entry": e,
                    "local": e.at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S"),
                    "before": _pretty(e.before),
                    "after": _pretty(e.after),
                }
                for e in result.entries
            ],
            found=found,
            error=error,
            time_zone=profile.time_zone,
            newer_url=(
                "?" + urlencode({**query, "after": result.entries[0].id})
                if result.has_newer and result.entries
                else None
            ),
            older_url=(
                "?" + urlencode({**query, "before": result.entries[-1].id})
                if result.has_older and result.entries
                else None
            ),
            newest_url="?" + urlencode(query),
            csv_url="audit.csv" + ("?" + urlencode(query) if query else ""),
        )
        return Page("audit/log.html", context=context, status_code=422 if error else 200)

    @get("/console/audit.csv", opt=requires("audit:read"))
    async def export(
        self, request: Request[Any, Any, Any], db_session: TenantDbSession, tenant: CurrentTenant
    ) -> Stream:
        profile = await get_profile(db_session)
        found = AuditFilter.from_query(request.query_params)
        actor = Actor.of(await resolve_principal(request), client_ip(request))
        marker = await record(
            db_session, actor, "audit.exported", "audit_log", after={"filters": found.as_query()}
        )
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        return Stream(
            export_csv(request, tenant.slug, found, ZoneInfo(profile.time_zone), marker.id),
            media_type="text/csv",  # Litestar adds the charset to text types
            headers={
                "Content-Disposition": content_disposition(f"audit-{tenant.slug}-{stamp}.csv"),
                "Cache-Control": "no-store",
            },
        )


class AuditApiController(Controller):
    path = "/api/v1/audit"
    tags = ["audit"]

    @get("/", summary="The park's audit log, newest first", opt=requires("audit:read"))
    async def list_entries(
        self, request: Request[Any, Any, Any], db_session: TenantDbSession
    ) -> dict[str, Any]:
        profile = await get_profile(db_session)
        found = AuditFilter.from_query(request.query_params)
        before = _parse_id(request.query_params.get("before"), "before")
        limit = _parse_id(request.query_params.get("limit"), "limit") or PAGE_SIZE
        if not 1 <= limit <= API_MAX_LIMIT:
            raise InvalidFilter(f"The limit is 1 to {API_MAX_LIMIT}.", details={"field": "limit"})
        where = found.conditions(ZoneInfo(profile.time_zone))
        result = await read_page(db_session, where, before=before, limit=limit)
        return {
            "items": [entry_json(e) for e in result.entries],
            "next_before": result.entries[-1].id if result.has_older else None,
            "time_zone": profile.time_zone,
        }


AUDIT_ROUTES = [AuditController, AuditApiController]
