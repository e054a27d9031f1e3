"""The park's usual week and the operator's overrides for single dates.

The statutory calendar (holidays, 调休 working days) lives in
`vistapass.tenants.calendar`; this module only stores what the operator says.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, time
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from vistapass.platform.audit.service import Actor, record
from vistapass.platform.errors import NotFound, VistapassError
from vistapass.tenants.models.catalog import CalendarDay, OpeningHours

DEFAULT_OPENS = time(8, 30)
DEFAULT_CLOSES = time(17, 30)
DAY_KINDS = ("weekday", "weekend", "holiday")
MAX_NOTE = 500


class InvalidHours(VistapassError):
    status_code = 422
    code = "invalid_hours"


class InvalidDate(VistapassError):
    status_code = 422
    code = "invalid_date"


class CalendarDayNotFound(NotFound):
    code = "calendar_day_not_found"


def parse_day(raw: str) -> date:
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise InvalidDate(
            f"'{raw}' is not a date like 2026-05-01.", details={"field": "day"}
        ) from None


def _time(value: Any, field: str) -> time | None:
    if value is None or value == "":
        return None
    try:
        if not isinstance(value, str):
            raise TypeError
        parsed = time.fromisoformat(value)
    except (TypeError, ValueError):
        raise InvalidHours(f"'{field}' is a time like 08:30.", details={"field": field}) from None
    return parsed.replace(second=0, microsecond=0, tzinfo=None)


def _flag(value: Any, field: str, *, optional: bool) -> bool | None:
    if value is None and optional:
        return None
    if not isinstance(value, bool):
        raise InvalidHours(f"'{field}' is true or false.", details={"field": field})
    return value


def _order(opens: time | None, closes: time | None) -> None:
    if opens is not None and closes is not None and opens >= closes:
        raise InvalidHours("The park must open before it closes.", details={"field": "closes_at"})


def hours_dict(row: OpeningHours) -> dict[str, Any]:
    return {
        "weekday": row.weekday,
        "is_open": row.is_open,
        "opens_at": row.opens_at.strftime("%H:%M"),
        "closes_at": row.closes_at.strftime("%H:%M"),
    }


def day_dict(row: CalendarDay) -> dict[str, Any]:
    return {
        "day": row.day.isoformat(),
        "is_open": row.is_open,
        "opens_at": row.opens_at.strftime("%H:%M") if row.opens_at else None,
        "closes_at": row.closes_at.strftime("%H:%M") if row.closes_at else None,
        "kind": row.kind,
        "note": row.note,
    }


async def opening_hours(session: AsyncSession) -> list[dict[str, Any]]:
    """All seven weekdays (0 = Monday); a weekday never saved has the default hours."""
    rows = {r.weekday: r for r in await session.scalars(select(OpeningHours))}
    week = []
    for weekday in range(7):
        row = rows.get(weekday) or OpeningHours(
            weekday=weekday, is_open=True, opens_at=DEFAULT_OPENS, closes_at=DEFAULT_CLOSES
        )
        week.append(hours_dict(row))
    return week


async def set_opening_hours(session: AsyncSession, actor: Actor, days: Any) -> None:
    """Save the weekdays given (others keep theirs); all are checked before any is saved."""
    if not isinstance(days, list) or not days:
        raise InvalidHours(
            'Send {"days": [{"weekday": 0, "is_open": true, "opens_at": "08:30", '
            '"closes_at": "17:30"}, ...]}.',
            details={"field": "days"},
        )
    wanted: dict[int, dict[str, Any]] = {}
    for raw in days:
        if not isinstance(raw, Mapping):
            raise InvalidHours("Each day is an object.", details={"field": "days"})
        weekday = raw.get("weekday")
        if isinstance(weekday, bool) or not isinstance(weekday, int) or not 0 <= weekday <= 6:
            raise InvalidHours("A weekday is 0 (Monday) to 6.", details={"field": "weekday"})
        opens = _time(raw.get("opens_at"), "opens_at") or DEFAULT_OPENS
        closes = _time(raw.get("closes_at"), "closes_at") or DEFAULT_CLOSES
        _order(opens, closes)
        is_open = _flag(raw.get("is_open", True), "is_open", optional=False)
        wanted[weekday] = {"is_open": is_open, "opens_at": opens, "closes_at": closes}
    before = await opening_hours(session)
    for weekday, values in wanted.items():
        row = await session.get(OpeningHours, weekday)
        if row is None:
            session.add(OpeningHours(weekday=weekday, **values))
        else:
            for field, value in values.items():
                setattr(row, field, value)
    await session.flush()
    after = await opening_hours(session)
    if before != after:
        await record(
            session,
            actor,
            "calendar.updated",
            "opening_hours",
            before={"week": before},
            after={"week": after},
        )


async def list_days(session: AsyncSession, start: date | None = None) -> list[CalendarDay]:
    query = select(CalendarDay).order_by(CalendarDay.day)
    if start is not None:
        query = query.where(CalendarDay.day >= start)
    return list(await session.scalars(query))


async def get_day(session: AsyncSession, raw_day: str) -> CalendarDay:
    day = parse_day(raw_day)
    row = await session.get(CalendarDay, day)
    if row is None:
        raise CalendarDayNotFound(
            f"There is no override for {day.isoformat()}.", details={"day": day.isoformat()}
        )
    return row


async def set_day(
    session: AsyncSession, actor: Actor, raw_day: str, data: Mapping[str, Any]
) -> CalendarDay:
    """Replace the override for one date: every field not sent is cleared."""
    day = parse_day(raw_day)
    unknown = sorted(set(data) - {"is_open", "opens_at", "closes_at", "kind", "note"})
    if unknown:
        raise InvalidHours(
            f"'{unknown[0]}' is not a calendar field.", details={"field": unknown[0]}
        )
    opens = _time(data.get("opens_at"), "opens_at")
    closes = _time(data.get("closes_at"), "closes_at")
    if (opens is None) != (closes is None):
        raise InvalidHours(
            "Give both opening and closing times, or neither.", details={"field": "closes_at"}
        )
    _order(opens, closes)
    kind = data.get("kind") or None
    if kind is not None and kind not in DAY_KINDS:
        raise InvalidHours(
            "A kind of day is weekday, weekend or holiday.", details={"field": "kind"}
        )
    note = data.get("note") or ""
    if not isinstance(note, str) or len(note) > MAX_NOTE:
        raise InvalidHours(f"A note is at most {MAX_NOTE} characters.", details={"field": "note"})
    values = {
        "is_open": _flag(data.get("is_open"), "is_open", optional=True),
        "opens_at": opens,
        "closes_at": closes,
        "kind": kind,
        "note": note.strip(),
    }
    row = await session.get(CalendarDay, day)
    before = day_dict(row) if row is not None else None
    if row is None:
        row = CalendarDay(day=day, **values)
        session.add(row)
    else:
        for field, value in values.items():
            setattr(row, field, value)
    await session.flush()
    after = day_dict(row)
    if before != after:
        await record(
            session,
            actor,
            "calendar.updated",
            f"calendar:{day.isoformat()}",
            before=before,
            after=after,
        )
    return row


async def delete_day(session: AsyncSession, actor: Actor, raw_day: str) -> None:
    row = await get_day(session, raw_day)
    before = day_dict(row)
    await session.delete(row)
    await session.flush()
    await record(session, actor, "calendar.updated", f"calendar:{before['day']}", before=before)
