"""The quote service with a fixed "today": the calendar reaches the pricing mode."""

from __future__ import annotations

from datetime import date

import pytest

from tests.tenants.catalog.helpers import add_product, set_day
from vistapass.platform.plugin_api import BasketLine, DayKind
from vistapass.platform.pricing_registry import get_mode
from vistapass.platform.tenancy.binding import tenant_session
from vistapass.tenants.catalog.quote import QuoteError, quote_basket

pytestmark = pytest.mark.usefixtures("flat_fee")

BEFORE_NATIONAL_DAY = date(2026, 9, 1)


def quote(db_run, slug: str, code: str, visit: date, channel: str = "web"):
    async def work(db):
        async with tenant_session(db, slug) as session:
            return await quote_basket(
                session,
                product_code=code,
                visit_date=visit,
                slot=None,
                channel=channel,
                lines=[BasketLine("adult", 2)],
                today=BEFORE_NATIONAL_DAY,
            )

    return db_run(work)


def test_holiday_prices_apply_on_national_day(quote_park, db_run) -> None:
    config = get_mode("per_visit").validate_config(
        {"prices": {"adult": 10000}, "holiday_prices": {"adult": 15000}}
    )
    code = db_run(lambda db: add_product(db, quote_park, mode="per_visit", config=dict(config)))
    _, request, holiday, entitlements = quote(db_run, quote_park, code, date(2026, 10, 1))
    assert request.day.kind is DayKind.HOLIDAY
    assert request.currency == "CNY"
    assert holiday.total == 30000
    assert len(entitlements) == 2
    # A Tuesday with no statutory holiday: the weekday price.
    _, request, weekday, _ = quote(db_run, quote_park, code, date(2026, 9, 15))
    assert request.day.kind is DayKind.WEEKDAY
    assert weekday.total == 20000


def test_a_closed_day_is_refused_before_pricing(quote_park, db_run) -> None:
    code = db_run(lambda db: add_product(db, quote_park))
    db_run(lambda db: set_day(db, quote_park, date(2026, 9, 16), is_open=False))
    with pytest.raises(QuoteError) as caught:
        quote(db_run, quote_park, code, date(2026, 9, 16))
    assert caught.value.code == "park_closed"
    _, _, flat, _ = quote(db_run, quote_park, code, date(2026, 9, 17))
    assert flat.total == 16000
