"""Per-visit pricing: property tests over random valid configs and baskets."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
from hypothesis import given, settings
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
from vistapass.plugins.pricing.per_visit import PerVisit

# No example database: the suite leaves nothing behind in the working tree.
PROPERTY = settings(database=None, deadline=None, max_examples=150)

MODE = PerVisit()
UNITS = ("adult", "child", "senior", "student", "free")
CHANNELS = ("web", "window", "ota:ctrip", "ota:meituan")
DATES = st.dates(min_value=date(2026, 1, 1), max_value=date(2027, 12, 31))
MONEY = st.integers(min_value=0, max_value=200_000)


def subset_prices(draw: Any, units: list[str], *, min_size: int = 0) -> dict[str, int]:
    chosen = draw(st.lists(st.sampled_from(units), min_size=min_size, unique=True))
    return {unit: draw(MONEY) for unit in chosen}


@st.composite
def raw_configs(draw: Any) -> dict[str, Any]:
    units = draw(st.lists(st.sampled_from(UNITS), min_size=1, unique=True))
    dates = draw(st.lists(DATES, max_size=4, unique=True))
    channels = draw(st.lists(st.sampled_from(CHANNELS), max_size=3, unique=True))
    return {
        "prices": {unit: draw(MONEY) for unit in units},
        "weekend_prices": subset_prices(draw, units),
        "holiday_prices": subset_prices(draw, units),
        "date_prices": {d.isoformat(): subset_prices(draw, units, min_size=1) for d in dates},
        "channel_prices": {c: subset_prices(draw, units, min_size=1) for c in channels},
        "reentry_allowed": draw(st.booleans()),
        "zones": draw(st.lists(st.sampled_from(["north", "south", "aquarium"]), unique=True)),
    }


@st.composite
def requests(draw: Any) -> QuoteRequest:
    config = MODE.validate_config(draw(raw_configs()))
    units = draw(st.lists(st.sampled_from(sorted(config["prices"])), min_size=1, unique=True))
    lines = tuple(BasketLine(u, draw(st.integers(min_value=1, max_value=99))) for u in units)
    # Often a date with an override, so the date layer is exercised, not just generated.
    overridden = [date.fromisoformat(d) for d in config["date_prices"]]
    visit = draw(st.sampled_from(overridden) | DATES if overridden else DATES)
    day = Day(date=visit, kind=draw(st.sampled_from(list(DayKind))))
    channel = draw(st.sampled_from(CHANNELS))
    return QuoteRequest(config=config, lines=lines, day=day, channel=channel, currency="CNY")


def expected_unit_price(request: QuoteRequest, unit: str) -> int:
    """The documented rule, written out independently of the plugin."""
    config = request.config
    base = config["prices"][unit]
    day_price = base
    dated = config["date_prices"].get(request.day.date.isoformat(), {})
    if unit in dated:
        day_price = dated[unit]
    elif request.day.kind is DayKind.HOLIDAY and unit in config["holiday_prices"]:
        day_price = config["holiday_prices"][unit]
    elif request.day.kind in (DayKind.HOLIDAY, DayKind.WEEKEND):
        day_price = config["weekend_prices"].get(unit, base)
    channel_price = config["channel_prices"].get(request.channel, {}).get(unit, base)
    return max(0, channel_price + day_price - base)


@PROPERTY
@given(requests())
def test_totals_add_up_and_are_never_negative(request: QuoteRequest) -> None:
    quote = MODE.quote(request)
    assert quote.currency == "CNY"
    assert [line.unit for line in quote.lines] == [line.unit for line in request.lines]
    assert [line.quantity for line in quote.lines] == [line.quantity for line in request.lines]
    for line in quote.lines:
        assert line.base_price == request.config["prices"][line.unit]
        assert line.unit_price == line.base_price + sum(a.amount for a in line.adjustments)
        assert line.total == line.unit_price * line.quantity
        assert line.unit_price >= 0
        assert all(a.amount != 0 and a.code and a.reason for a in line.adjustments)
    assert quote.total == sum(line.total for line in quote.lines) + sum(
        a.amount for a in quote.adjustments
    )
    assert quote.total >= 0


@PROPERTY
@given(requests())
def test_prices_follow_date_holiday_weekend_channel_precedence(request: QuoteRequest) -> None:
    quote = MODE.quote(request)
    iso = request.day.date.isoformat()
    for line in quote.lines:
        assert line.unit_price == expected_unit_price(request, line.unit)
        codes = {a.code for a in line.adjustments}
        if line.unit in request.config["date_prices"].get(iso, {}):
            assert codes - {f"date:{iso}", f"channel:{request.channel}", "not_below_zero"} == set()


@PROPERTY
@given(requests())
def test_quote_and_entitlements_are_deterministic(request: QuoteRequest) -> None:
    assert MODE.quote(request) == MODE.quote(request)
    assert MODE.entitlements(request) == MODE.entitlements(request)


@PROPERTY
@given(raw_configs())
def test_validated_config_is_json_and_stable(raw: dict[str, Any]) -> None:
    config = MODE.validate_config(raw)
    assert json.loads(json.dumps(config)) == config
    assert MODE.validate_config(config) == config


@PROPERTY
@given(requests())
def test_one_entitlement_per_person_for_the_visit_date_only(request: QuoteRequest) -> None:
    entitlements = MODE.entitlements(request)
    assert len(entitlements) == sum(line.quantity for line in request.lines)
    for line in request.lines:
        assert sum(e.unit == line.unit for e in entitlements) == line.quantity
    for e in entitlements:
        assert e.valid_from == e.valid_to == request.day.date
        assert (e.entries_per_day, e.entries_total) == (1, 1)
        assert e.reentry_allowed is request.config["reentry_allowed"]
        assert list(e.zones) == request.config["zones"]


CONFIG = MODE.validate_config(
    {
        "prices": {"adult": 12000, "child": 6000},
        "weekend_prices": {"adult": 14000},
        "holiday_prices": {"adult": 16000},
        "date_prices": {"2026-10-01": {"adult": 15000}},
        "channel_prices": {"ota:ctrip": {"adult": 11500}},
    }
)


@pytest.mark.parametrize(
    ("visit", "kind", "channel", "adult", "child", "codes"),
    [
        (date(2026, 11, 25), DayKind.WEEKDAY, "web", 12000, 6000, []),
        (date(2026, 11, 28), DayKind.WEEKEND, "web", 14000, 6000, ["weekend"]),
        (date(2026, 5, 1), DayKind.HOLIDAY, "web", 16000, 6000, ["holiday"]),
        (date(2026, 10, 1), DayKind.HOLIDAY, "web", 15000, 6000, ["date:2026-10-01"]),
        (date(2026, 11, 25), DayKind.WEEKDAY, "ota:ctrip", 11500, 6000, ["channel:ota:ctrip"]),
        (
            date(2026, 11, 28),
            DayKind.WEEKEND,
            "ota:ctrip",
            13500,
            6000,
            ["channel:ota:ctrip", "weekend"],
        ),
    ],
)
def test_worked_examples(
    visit: date, kind: DayKind, channel: str, adult: int, child: int, codes: list[str]
) -> None:
    request = QuoteRequest(
        config=CONFIG,
        lines=(BasketLine("adult", 2), BasketLine("child", 1)),
        day=Day(date=visit, kind=kind),
        channel=channel,
        currency="CNY",
    )
    quote = MODE.quote(request)
    assert [line.unit_price for line in quote.lines] == [adult, child]
    assert [a.code for a in quote.lines[0].adjustments] == codes
    assert quote.total == 2 * adult + child


def test_holiday_without_holiday_price_is_charged_the_weekend_price() -> None:
    config = MODE.validate_config({"prices": {"adult": 100}, "weekend_prices": {"adult": 150}})
    request = QuoteRequest(
        config=config,
        lines=(BasketLine("adult", 1),),
        day=Day(date=date(2026, 10, 2), kind=DayKind.HOLIDAY),
        channel="web",
        currency="CNY",
    )
    assert MODE.quote(request).total == 150


def test_deep_channel_discount_on_a_cheap_day_stops_at_zero() -> None:
    config = MODE.validate_config(
        {
            "prices": {"adult": 10000},
            "weekend_prices": {"adult": 2000},
            "channel_prices": {"partner": {"adult": 1000}},
        }
    )
    request = QuoteRequest(
        config=config,
        lines=(BasketLine("adult", 3),),
        day=Day(date=date(2026, 11, 28), kind=DayKind.WEEKEND),
        channel="partner",
        currency="CNY",
    )
    quote = MODE.quote(request)
    assert quote.total == 0
    assert quote.lines[0].adjustments[-1].code == "not_below_zero"


def basket(*lines: BasketLine, is_open: bool = True) -> QuoteRequest:
    return QuoteRequest(
        config=CONFIG,
        lines=lines,
        day=Day(date=date(2026, 11, 25), kind=DayKind.WEEKDAY, is_open=is_open),
        channel="web",
        currency="CNY",
    )


@PROPERTY
@given(st.integers(max_value=0) | st.integers(min_value=100))
def test_zero_negative_or_absurd_quantities_are_rejected(quantity: int) -> None:
    request = basket(BasketLine("adult", quantity))
    for call in (MODE.validate_basket, MODE.quote, MODE.entitlements):
        with pytest.raises(BasketRejected) as caught:
            call(request)
        assert caught.value.code == "invalid_quantity"


@PROPERTY
@given(st.text(min_size=1, max_size=12).filter(lambda u: u not in ("adult", "child")))
def test_unknown_units_are_rejected(unit: str) -> None:
    with pytest.raises(BasketRejected) as caught:
        MODE.quote(basket(BasketLine(unit, 1)))
    assert caught.value.code == "unknown_unit"


@pytest.mark.parametrize(
    ("request_", "code"),
    [
        (basket(), "empty_basket"),
        (basket(BasketLine("adult", 1), BasketLine("adult", 2)), "duplicate_unit"),
        (basket(BasketLine("adult", 1), is_open=False), "closed_day"),
    ],
)
def test_other_bad_baskets_are_rejected(request_: QuoteRequest, code: str) -> None:
    with pytest.raises(BasketRejected) as caught:
        MODE.quote(request_)
    assert caught.value.code == code


# (field, a value that breaks its rule) for every field of the form.
BAD_VALUES = {
    "prices": [
        {},
        [],
        {"adult": -1},
        {"adult": 1.5},
        {"adult": True},
        {"Adult": 1},
        {"adult": 100_000_001},
        {"adult": "12000"},
    ],
    "weekend_prices": [{"nobody": 100}, {"adult": -5}, "cheap"],
    "holiday_prices": [{"nobody": 100}, {"adult": None}],
    "date_prices": [
        {"2026-13-01": {"adult": 1}},
        {"tomorrow": {"adult": 1}},
        {"2026-10-01": {}},
        {"2026-10-01": {"nobody": 1}},
        [],
    ],
    "channel_prices": [
        {"": {"adult": 1}},
        {"OTA CTRIP": {"adult": 1}},
        {"web": {"nobody": 1}},
        {"web": {}},
        "web",
    ],
    "reentry_allowed": ["yes", 1, None],
    "zones": ["north", [1], ["north", "north"], [""]],
}


@PROPERTY
@given(
    raw_configs(),
    st.sampled_from(sorted(BAD_VALUES)).flatmap(
        lambda f: st.tuples(st.just(f), st.sampled_from(BAD_VALUES[f]))
    ),
)
def test_invalid_configs_name_the_field(raw: dict[str, Any], bad: tuple[str, Any]) -> None:
    field, value = bad
    # Price every unit a bad value may name, so the value is refused for its own rule.
    raw["prices"].setdefault("adult", 100)
    with pytest.raises(InvalidConfig) as caught:
        MODE.validate_config({**raw, field: value})
    assert caught.value.details["field"] == field
    assert caught.value.code == "invalid_config"


def test_missing_prices_and_unknown_settings_are_refused() -> None:
    with pytest.raises(InvalidConfig) as caught:
        MODE.validate_config({"weekend_prices": {}})
    assert caught.value.details["field"] == "prices"
    with pytest.raises(InvalidConfig) as caught:
        MODE.validate_config({"prices": {"adult": 1}, "weekend_price": {"adult": 2}})
    assert caught.value.details["field"] == "weekend_price"


def test_the_registry_finds_the_mode() -> None:
    mode = get_mode("per_visit")
    assert isinstance(mode, PerVisit)
    assert isinstance(mode, PricingMode)
    assert mode.key == "per_visit"
    assert mode.name_zh
    assert mode.name_en
    assert {f.name for f in mode.config_fields} == set(MODE.validate_config({"prices": {"a": 1}}))
