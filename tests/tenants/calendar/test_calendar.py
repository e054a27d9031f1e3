"""The park calendar: statutory holidays, 调休 weekends, the usual week and overrides."""

from __future__ import annotations

from datetime import date

import holidays
import pytest
from sqlalchemy import update

from tests.conftest import run, unique_slug
from vistapass.platform.plugin_api import Day, DayKind
from vistapass.platform.tenancy.binding import tenant_session
from vistapass.platform.tenancy.provisioning import provision_tenant
from vistapass.tenants.calendar import service
from vistapass.tenants.models import CalendarDay, OpeningHours

CN_2026 = holidays.China(years=2026)
MAKEUP_SATURDAY = min(d for d in CN_2026.weekend_workdays if d.year == 2026 and d.weekday() == 5)
ORDINARY_SATURDAY = date(2026, 3, 7)


@pytest.fixture(scope="module")
def park(migrated) -> str:
    """A park of this module's own: its week and overrides change nobody else's tests."""
    slug = unique_slug("cal")

    async def prepare(db) -> None:
        await provision_tenant(db, slug, "Calendar Park")
        async with tenant_session(db, slug) as session:
            # Closed on Mondays, as many parks are.
            await session.execute(
                update(OpeningHours).where(OpeningHours.weekday == 0).values(is_open=False)
            )
            session.add_all(
                [
                    CalendarDay(day=date(2026, 3, 10), is_open=False, note="maintenance"),
                    CalendarDay(day=date(2026, 3, 11), kind="holiday", note="Park anniversary"),
                    CalendarDay(day=date(2026, 3, 16), is_open=True, note="open this Monday"),
                    CalendarDay(day=date(2026, 10, 2), kind="weekday"),
                ]
            )

    run(migrated, prepare)
    return slug


def day_info(db_run, slug: str, day: date) -> Day:
    async def work(db) -> Day:
        async with tenant_session(db, slug) as session:
            return await service.day_info(session, day)

    return db_run(work)


def days(db_run, slug: str, start: date, end: date) -> list[Day]:
    async def work(db) -> list[Day]:
        async with tenant_session(db, slug) as session:
            return await service.days(session, start, end)

    return db_run(work)


def test_statutory_holiday(park, db_run) -> None:
    day = day_info(db_run, park, date(2026, 10, 1))
    assert day == Day(date(2026, 10, 1), DayKind.HOLIDAY, True, "National Day")


def test_makeup_saturday_is_a_weekday_and_an_ordinary_one_a_weekend(park, db_run) -> None:
    assert MAKEUP_SATURDAY.weekday() == 5
    assert day_info(db_run, park, MAKEUP_SATURDAY).kind is DayKind.WEEKDAY
    assert ORDINARY_SATURDAY not in CN_2026 and ORDINARY_SATURDAY.weekday() == 5
    assert day_info(db_run, park, ORDINARY_SATURDAY).kind is DayKind.WEEKEND
    assert day_info(db_run, park, date(2026, 3, 12)).kind is DayKind.WEEKDAY


def test_the_usual_week_closes_mondays(park, db_run) -> None:
    monday = day_info(db_run, park, date(2026, 3, 9))
    assert (monday.kind, monday.is_open) == (DayKind.WEEKDAY, False)


def test_overrides_close_open_and_reclassify_days(park, db_run) -> None:
    closed = day_info(db_run, park, date(2026, 3, 10))
    assert (closed.kind, closed.is_open) == (DayKind.WEEKDAY, False)
    anniversary = day_info(db_run, park, date(2026, 3, 11))
    assert anniversary == Day(date(2026, 3, 11), DayKind.HOLIDAY, True, "Park anniversary")
    assert day_info(db_run, park, date(2026, 3, 16)).is_open is True  # a Monday opened
    downgraded = day_info(db_run, park, date(2026, 10, 2))
    assert (downgraded.kind, downgraded.holiday_name) == (DayKind.WEEKDAY, None)


def test_a_range_agrees_with_single_days(park, db_run) -> None:
    start, end = date(2026, 3, 7), date(2026, 3, 16)
    listed = days(db_run, park, start, end)
    assert [d.date for d in listed] == [date(2026, 3, n) for n in range(7, 17)]
    assert listed == [day_info(db_run, park, d.date) for d in listed]
    assert len(days(db_run, park, date(2026, 1, 1), date(2027, 2, 4))) == 400


@pytest.mark.parametrize(
    ("start", "end"),
    [(date(2026, 3, 2), date(2026, 3, 1)), (date(2026, 1, 1), date(2027, 2, 5))],
)
def test_bad_ranges_are_refused(park, db_run, start, end) -> None:
    with pytest.raises(service.InvalidRange) as caught:
        days(db_run, park, start, end)
    assert (caught.value.status_code, caught.value.code) == (422, "invalid_range")
