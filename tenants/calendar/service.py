"""What kind of day a date is for a park, and whether the park is open.

Three layers, each overriding the one before: the statutory China calendar
(holidays and 调休 working weekends, from the `holidays` package), the park's
usual week (`opening_hours`), and the operator's word on one date (`calendar_days`).
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

import holidays
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from vistapass.platform.errors import VistapassError
from vistapass.platform.plugin_api import Day, DayKind
from vistapass.tenants.models import CalendarDay, OpeningHours

MAX_RANGE_DAYS = 400


class InvalidRange(VistapassError):
    status_code = 422
    code = "invalid_range"


@lru_cache(maxsize=16)
def _statutory(year: int) -> holidays.HolidayBase:
    # Built once per year and process: the statutory calendar is fixed data.
    return holidays.China(years=year)


def statutory_day(day: date) -> tuple[DayKind, str | None]:
    """The kind of day the state calendar makes `day`, with the holiday's name."""
    calendar = _statutory(day.year)
    name = calendar.get(day)
    if name is not None:
        return DayKind.HOLIDAY, name
    if day in calendar.weekend_workdays:  # 调休: a weekend worked to bridge a holiday
        return DayKind.WEEKDAY, None
    if day.weekday() >= 5:
        return DayKind.WEEKEND, None
    return DayKind.WEEKDAY, None


def resolve_day(day: date, usual_week: dict[int, bool], override: CalendarDay | None) -> Day:
    """Combine the three layers for one date (pure, so ranges share the loaded rows)."""
    kind, holiday_name = statutory_day(day)
    # A weekday with no opening_hours row is open: the migration seeds all seven.
    is_open = usual_week.get(day.weekday(), True)
    if override is not None:
        if override.is_open is not None:
            is_open = override.is_open
        if override.kind is not None:
            kind = DayKind(override.kind)
            # The operator's note names a holiday they declared; other kinds have no name.
            holiday_name = (override.note or holiday_name) if kind is DayKind.HOLIDAY else None
    return Day(date=day, kind=kind, is_open=is_open, holiday_name=holiday_name)


async def _usual_week(session: AsyncSession) -> dict[int, bool]:
    rows = await session.execute(select(OpeningHours.weekday, OpeningHours.is_open))
    return {weekday: is_open for weekday, is_open in rows}


async def day_info(session: AsyncSession, day: date) -> Day:
    """The calendar's word on `day` for the park bound to `session`."""
    override = await session.get(CalendarDay, day)
    return resolve_day(day, await _usual_week(session), override)


async def days(session: AsyncSession, start: date, end: date) -> list[Day]:
    """Every date from `start` to `end` inclusive (at most MAX_RANGE_DAYS of them)."""
    if end < start:
        raise InvalidRange(
            "The range ends before it starts.",
            details={"start": start.isoformat(), "end": end.isoformat()},
        )
    length = (end - start).days + 1
    if length > MAX_RANGE_DAYS:
        raise InvalidRange(
            f"A range may span at most {MAX_RANGE_DAYS} days, not {length}.",
            details={"start": start.isoformat(), "end": end.isoformat(), "max": MAX_RANGE_DAYS},
        )
    usual_week = await _usual_week(session)
    overrides = {
        row.day: row
        for row in await session.scalars(
            select(CalendarDay).where(CalendarDay.day >= start, CalendarDay.day <= end)
        )
    }
    return [
        resolve_day(
            start + timedelta(days=offset),
            usual_week,
            overrides.get(start + timedelta(days=offset)),
        )
        for offset in range(length)
    ]
