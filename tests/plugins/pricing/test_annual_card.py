"""Annual card pricing: validated configs, per-person real-name cards, year-long entitlements."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vistapass.platform.plugin_api import (
    BasketLine,
    BasketRejected,
    Day,
    DayKind,
    InvalidConfig,
    PricingMode,
    QuoteRequest,
)
from vistapass.platform.pricing_registry import get_mode
from vistapass.plugins.pricing.annual_card import AnnualCard

MODE = AnnualCard()
UNITS = ("adult", "senior", "student", "child", "free")
VALIDITIES = ("365_from_first_entry", "365_from_purchase", "calendar_year")

prices_st = st.dictionaries(
    st.sampled_from(UNITS), st.integers(0, 10_000_000), min_size=1, max_size=len(UNITS)
)
dates_st = st.lists(st.dates(date(2020, 1, 1), date(2040, 12, 31)).map(date.isoformat), max_size=5)


@st.composite
def configs(draw: st.DrawFn) -> dict[str, Any]:
    prices = draw(prices_st)
    renewal_units = draw(st.lists(st.sampled_from(sorted(prices)), unique=True))
    return {
        "prices": prices,
        "validity": draw(st.sampled_from(VALIDITIES)),
        "entries_per_day": draw(st.none() | st.integers(1, 99)),
        "member_discount_pct": draw(st.integers(0, 100)),
        "priority_lane": draw(st.booleans()),
        "member_only_dates": draw(dates_st),
        "face": draw(st.sampled_from(("optional", "required"))),
        "renewal_price": {unit: draw(st.integers(0, 10_000_000)) for unit in renewal_units},
        "renewal_grace_days": draw(st.integers(0, 365)),
        "blackout_dates": draw(dates_st),
    }


@st.composite
def requests(draw: st.DrawFn) -> QuoteRequest:
    config = MODE.validate_config(draw(configs()))
    units = draw(st.lists(st.sampled_from(sorted(config["prices"])), min_size=1, unique=True))
    lines = tuple(BasketLine(unit, draw(st.integers(1, 99))) for unit in units)
    day = Day(
        date=draw(st.dates(date(2000, 1, 1), date(2100, 12, 31))),
        kind=draw(st.sampled_from(DayKind)),
        is_open=draw(st.booleans()),
    )
    return QuoteRequest(
        config=config,
        lines=lines,
        day=day,
        channel=draw(st.sampled_from(("web", "window", "ota:ctrip"))),
        currency="CNY",
    )


def request_for(lines: tuple[BasketLine, ...], *, slot: str | None = None) -> QuoteRequest:
    config = MODE.validate_config({"prices": {"adult": 39800, "senior": 19900}})
    return QuoteRequest(
        config=config,
        lines=lines,
        day=Day(date(2026, 12, 1), DayKind.WEEKDAY),
        channel="web",
        currency="CNY",
        slot=slot,
    )


@given(requests())
def test_total_is_the_sum_of_lines_never_negative_and_deterministic(
    req: QuoteRequest,
) -> None:
    MODE.validate_basket(req)
    quote = MODE.quote(req)
    assert quote.currency == "CNY"
    assert quote.total == sum(line.total for line in quote.lines) + sum(
        adjustment.amount for adjustment in quote.adjustments
    )
    assert quote.total >= 0
    expected = sum(req.config["prices"][line.unit] * line.quantity for line in req.lines)
    assert quote.total == expected
    assert [(line.unit, line.quantity) for line in quote.lines] == [
        (line.unit, line.quantity) for line in req.lines
    ]
    assert MODE.quote(req) == quote
    assert MODE.entitlements(req) == MODE.entitlements(req)


@given(requests())
def test_one_real_name_card_per_person_valid_for_the_configured_period(
    req: QuoteRequest,
) -> None:
    config = req.config
    cards = MODE.entitlements(req)
    assert len(cards) == sum(line.quantity for line in req.lines)
    start = req.day.date
    for card in cards:
        assert card.real_name_required is True
        assert card.face_required is (config["face"] == "required")
        assert card.valid_from == start
        if config["validity"] == "calendar_year":
            assert card.valid_to == date(start.year, 12, 31)
        else:
            assert card.valid_to - card.valid_from == timedelta(days=364)
            assert card.extras["validity_days"] == 365
        expected_activation = (
            "first_entry" if config["validity"] == "365_from_first_entry" else "purchase"
        )
        assert card.extras["activation"] == expected_activation
        assert card.extras["validity"] == config["validity"]
        assert card.entries_per_day == config["entries_per_day"]
        assert card.entries_total is None
        assert card.reentry_allowed is (config["entries_per_day"] is None)
        assert card.extras["blackout_dates"] == config["blackout_dates"]
        assert card.extras["member_only_dates"] == config["member_only_dates"]
        assert card.extras["priority_lane"] == config["priority_lane"]
        assert card.extras["member_discount_pct"] == config["member_discount_pct"]
        assert card.extras["renewal_price"] == config["renewal_price"].get(card.unit)
        json.dumps(dict(card.extras))  # extras are stored as JSON


@given(configs())
def test_validated_config_is_json_and_validating_again_changes_nothing(
    raw: dict[str, Any],
) -> None:
    config = MODE.validate_config(raw)
    assert json.loads(json.dumps(config)) == config
    assert MODE.validate_config(config) == config
    assert config["member_only_dates"] == sorted(set(raw["member_only_dates"]))


def test_defaults_fill_a_minimal_config() -> None:
    config = MODE.validate_config({"prices": {"adult": 39800}})
    assert config["validity"] == "365_from_purchase"
    assert config["entries_per_day"] is None
    assert config["face"] == "optional"
    assert config["renewal_price"] == {}
    assert config["blackout_dates"] == []


def test_a_card_bought_on_a_blackout_date_starts_that_day() -> None:
    config = MODE.validate_config({"prices": {"adult": 39800}, "blackout_dates": ["2026-10-01"]})
    req = QuoteRequest(
        config=config,
        lines=(BasketLine("adult", 2),),
        day=Day(date(2026, 10, 1), DayKind.HOLIDAY),
        channel="web",
        currency="CNY",
    )
    cards = MODE.entitlements(req)
    assert [card.valid_from for card in cards] == [date(2026, 10, 1)] * 2
    assert MODE.quote(req).total == 2 * 39800


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({}, "prices"),
        ({"prices": {}}, "prices"),
        ({"prices": {"adult": -1}}, "prices"),
        ({"prices": {"adult": True}}, "prices"),
        ({"prices": {"adult": 1.5}}, "prices"),
        ({"prices": {"Adult!": 100}}, "prices"),
        ({"prices": {"adult": 1}, "validity": "forever"}, "validity"),
        ({"prices": {"adult": 1}, "entries_per_day": 0}, "entries_per_day"),
        ({"prices": {"adult": 1}, "member_discount_pct": 101}, "member_discount_pct"),
        ({"prices": {"adult": 1}, "priority_lane": "yes"}, "priority_lane"),
        ({"prices": {"adult": 1}, "face": "sometimes"}, "face"),
        ({"prices": {"adult": 1}, "renewal_price": {"senior": 100}}, "renewal_price"),
        ({"prices": {"adult": 1}, "renewal_price": {"adult": -5}}, "renewal_price"),
        ({"prices": {"adult": 1}, "renewal_grace_days": -1}, "renewal_grace_days"),
        ({"prices": {"adult": 1}, "blackout_dates": ["2026-02-30"]}, "blackout_dates"),
        ({"prices": {"adult": 1}, "member_only_dates": "2026-12-24"}, "member_only_dates"),
        ({"prices": {"adult": 1}, "colour": "gold"}, "colour"),
    ],
)
def test_invalid_config_names_the_field(raw: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidConfig) as caught:
        MODE.validate_config(raw)
    assert caught.value.details["field"] == field
    assert field in caught.value.message


@given(st.integers().filter(lambda n: not 1 <= n <= 99))
def test_absurd_quantities_are_refused(quantity: int) -> None:
    with pytest.raises(BasketRejected) as caught:
        MODE.quote(request_for((BasketLine("adult", quantity),)))
    assert caught.value.code == "invalid_quantity"


@pytest.mark.parametrize(
    ("lines", "slot", "code"),
    [
        ((), None, "empty_basket"),
        ((BasketLine("child", 1),), None, "unknown_unit"),
        ((BasketLine("adult", 1), BasketLine("adult", 1)), None, "duplicate_unit"),
        ((BasketLine("adult", 2, ages=(30,)),), None, "ages_mismatch"),
        ((BasketLine("adult", 1),), "09:00", "unknown_slot"),
    ],
)
def test_bad_baskets_are_refused_with_a_code(
    lines: tuple[BasketLine, ...], slot: str | None, code: str
) -> None:
    req = request_for(lines, slot=slot)
    for method in (MODE.validate_basket, MODE.quote, MODE.entitlements):
        with pytest.raises(BasketRejected) as caught:
            method(req)
        assert caught.value.code == code


def test_a_purchase_date_whose_year_would_overflow_the_calendar_is_refused() -> None:
    req = request_for((BasketLine("adult", 1),))
    late = QuoteRequest(
        config=req.config,
        lines=req.lines,
        day=Day(date(9999, 6, 1), DayKind.WEEKDAY),
        channel="web",
        currency="CNY",
    )
    with pytest.raises(BasketRejected) as caught:
        MODE.entitlements(late)
    assert caught.value.code == "date_out_of_range"


def test_the_registry_finds_the_annual_card() -> None:
    mode = get_mode("annual_card")
    assert isinstance(mode, AnnualCard)
    assert isinstance(mode, PricingMode)
    assert mode.key == "annual_card"
    assert mode.name_zh
    assert mode.name_en
    assert {field.name for field in mode.config_fields} == set(
        MODE.validate_config({"prices": {"adult": 1}})
    )
