"""Timed-entry pricing: property tests over random valid configs and baskets."""

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
from vistapass.plugins.pricing.time_slot import TimeSlot

# No example database: the suite leaves nothing behind in the working tree.
PROPERTY = settings(database=None, deadline=None, max_examples=150)

MODE = TimeSlot()
UNITS = ("adult", "child", "senior", "student")
MONEY = st.integers(min_value=0, max_value=200_000)
PCT = st.integers(min_value=1, max_value=1000)
DAY = Day(date=date(2026, 11, 28), kind=DayKind.WEEKEND)


@st.composite
def raw_slots(draw: Any) -> list[dict[str, Any]]:
    starts = draw(
        st.lists(
            st.integers(min_value=0, max_value=23 * 60 + 58), min_size=1, max_size=6, unique=True
        )
    )
    slots = []
    for start in sorted(starts):
        end = draw(st.integers(min_value=start + 1, max_value=23 * 60 + 59))
        slots.append(
            {
                "code": f"{start // 60:02d}:{start % 60:02d}",
                "start": f"{start // 60:02d}:{start % 60:02d}",
                "end": f"{end // 60:02d}:{end % 60:02d}",
                "capacity": draw(st.integers(min_value=1, max_value=2000)),
                "peak": draw(st.booleans()),
            }
        )
    return slots


@st.composite
def raw_configs(draw: Any) -> dict[str, Any]:
    units = draw(st.lists(st.sampled_from(UNITS), min_size=1, unique=True))

    def some_prices() -> dict[str, int]:
        chosen = draw(st.lists(st.sampled_from(units), unique=True))
        return {unit: draw(MONEY) for unit in chosen}

    floor = some_prices()
    ceiling = {u: p + draw(MONEY) for u, p in some_prices().items()}
    # A ceiling below a floor is invalid; lift such ceilings onto the floor.
    ceiling = {u: max(p, floor.get(u, 0)) for u, p in ceiling.items()}
    return {
        "prices": {unit: draw(MONEY) for unit in units},
        "slots": draw(raw_slots()),
        "peak_multiplier_pct": draw(PCT),
        "off_peak_multiplier_pct": draw(PCT),
        "peak_prices": some_prices(),
        "off_peak_prices": some_prices(),
        "floor": floor,
        "ceiling": ceiling,
        "reentry_allowed": draw(st.booleans()),
        "zones": draw(st.lists(st.sampled_from(["north", "south"]), unique=True)),
    }


@st.composite
def requests(draw: Any) -> QuoteRequest:
    config = MODE.validate_config(draw(raw_configs()))
    slot = draw(st.sampled_from(config["slots"]))
    units = draw(st.lists(st.sampled_from(sorted(config["prices"])), min_size=1, unique=True))
    budget = slot["capacity"]
    lines = []
    for unit in units:
        if budget == 0:
            break
        quantity = draw(st.integers(min_value=1, max_value=min(99, budget)))
        budget -= quantity
        lines.append(BasketLine(unit, quantity))
    return QuoteRequest(
        config=config,
        lines=tuple(lines),
        day=Day(date=draw(st.dates()), kind=draw(st.sampled_from(list(DayKind)))),
        channel="web",
        currency="CNY",
        slot=slot["code"],
    )


def expected_unit_price(request: QuoteRequest, unit: str) -> int:
    """The documented rule, written out independently of the plugin."""
    config = request.config
    slot = next(s for s in config["slots"] if s["code"] == request.slot)
    tier = "peak" if slot["peak"] else "off_peak"
    base = config["prices"][unit]
    price = config[f"{tier}_prices"].get(unit)
    if price is None:
        price = round_half_up(base * config[f"{tier}_multiplier_pct"], 100)
    price = max(price, config["floor"].get(unit, 0))
    return min(price, config["ceiling"].get(unit, price))


def round_half_up(numerator: int, denominator: int) -> int:
    quotient, remainder = divmod(numerator, denominator)
    return quotient + (1 if 2 * remainder >= denominator else 0)


@PROPERTY
@given(requests())
def test_totals_add_up_within_bounds_and_never_negative(request: QuoteRequest) -> None:
    quote = MODE.quote(request)
    config = request.config
    assert [(line.unit, line.quantity) for line in quote.lines] == [
        (line.unit, line.quantity) for line in request.lines
    ]
    for line in quote.lines:
        assert line.base_price == config["prices"][line.unit]
        assert line.unit_price == line.base_price + sum(a.amount for a in line.adjustments)
        assert line.unit_price == expected_unit_price(request, line.unit)
        assert line.total == line.unit_price * line.quantity
        assert config["floor"].get(line.unit, 0) <= line.unit_price
        assert line.unit_price <= config["ceiling"].get(line.unit, line.unit_price)
        assert all(a.amount != 0 and a.code and a.reason for a in line.adjustments)
        assert {a.code for a in line.adjustments} <= {"peak", "off_peak", "price_bound"}
    assert quote.total == sum(line.total for line in quote.lines) + sum(
        a.amount for a in quote.adjustments
    )
    assert quote.total >= 0


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
def test_one_entitlement_per_person_for_the_slot_and_date(request: QuoteRequest) -> None:
    entitlements = MODE.entitlements(request)
    slot = next(s for s in request.config["slots"] if s["code"] == request.slot)
    assert len(entitlements) == sum(line.quantity for line in request.lines)
    for line in request.lines:
        assert sum(e.unit == line.unit for e in entitlements) == line.quantity
    for e in entitlements:
        assert e.valid_from == e.valid_to == request.day.date
        assert e.slot == request.slot
        assert e.extras == {"slot_start": slot["start"], "slot_end": slot["end"]}
        assert (e.entries_per_day, e.entries_total) == (1, 1)
        assert e.reentry_allowed is request.config["reentry_allowed"]


CONFIG = MODE.validate_config(
    {
        "prices": {"adult": 8000, "child": 4000},
        "slots": [
            {"code": "09:00", "start": "09:00", "end": "11:00", "capacity": 500, "peak": True},
            {"code": "15:00", "start": "15:00", "end": "17:00", "capacity": 3},
        ],
        "peak_multiplier_pct": 150,
        "off_peak_multiplier_pct": 80,
        "peak_prices": {"child": 4500},
        "floor": {"adult": 7000},
        "ceiling": {"adult": 11000},
    }
)


def basket(*lines: BasketLine, slot: str | None = "09:00", is_open: bool = True) -> QuoteRequest:
    return QuoteRequest(
        config=CONFIG,
        lines=lines,
        day=Day(date=DAY.date, kind=DAY.kind, is_open=is_open),
        channel="web",
        currency="CNY",
        slot=slot,
    )


def test_worked_example_peak_and_off_peak() -> None:
    peak = MODE.quote(basket(BasketLine("adult", 2), BasketLine("child", 1)))
    adult, child = peak.lines
    # 8000 x 150 % = 12000, held at the 11000 ceiling.
    assert [(a.code, a.amount) for a in adult.adjustments] == [
        ("peak", 4000),
        ("price_bound", -1000),
    ]
    assert [(a.code, a.amount) for a in child.adjustments] == [("peak", 500)]
    assert peak.total == 2 * 11000 + 4500
    off_peak = MODE.quote(basket(BasketLine("adult", 1), BasketLine("child", 1), slot="15:00"))
    # 8000 x 80 % = 6400, raised to the 7000 floor; the child has no bound: 3200.
    assert [line.unit_price for line in off_peak.lines] == [7000, 3200]
    assert [a.code for a in off_peak.lines[0].adjustments] == ["off_peak", "price_bound"]


@pytest.mark.parametrize(
    ("request_", "code"),
    [
        (basket(BasketLine("adult", 1), slot=None), "slot_required"),
        (basket(BasketLine("adult", 1), slot="10:00"), "unknown_slot"),
        (basket(BasketLine("adult", 2), BasketLine("child", 2), slot="15:00"), "slot_capacity"),
        (basket(), "empty_basket"),
        (basket(BasketLine("adult", 1), BasketLine("adult", 1)), "duplicate_unit"),
        (basket(BasketLine("adult", 1), is_open=False), "closed_day"),
    ],
)
def test_bad_baskets_are_rejected(request_: QuoteRequest, code: str) -> None:
    for call in (MODE.validate_basket, MODE.quote, MODE.entitlements):
        with pytest.raises(BasketRejected) as caught:
            call(request_)
        assert caught.value.code == code


@PROPERTY
@given(st.integers(max_value=0) | st.integers(min_value=100))
def test_zero_negative_or_absurd_quantities_are_rejected(quantity: int) -> None:
    with pytest.raises(BasketRejected) as caught:
        MODE.quote(basket(BasketLine("adult", quantity)))
    assert caught.value.code == "invalid_quantity"


@PROPERTY
@given(st.text(min_size=1, max_size=12).filter(lambda u: u not in ("adult", "child")))
def test_unknown_units_are_rejected(unit: str) -> None:
    with pytest.raises(BasketRejected) as caught:
        MODE.quote(basket(BasketLine(unit, 1)))
    assert caught.value.code == "unknown_unit"


def slot(**changes: Any) -> list[dict[str, Any]]:
    good = {"code": "a", "start": "09:00", "end": "10:00", "capacity": 10}
    return [{**good, **changes}]


# (field, a value that breaks its rule) for every field of the form.
BAD_VALUES = {
    "prices": [{}, {"adult": -1}, {"adult": 2.5}, {"adult": False}, "8000"],
    "slots": [
        [],
        "09:00",
        slot(start="10:00", end="10:00"),
        slot(start="11:00", end="10:00"),
        slot(start="9:00"),
        slot(end="24:00"),
        slot(capacity=0),
        slot(capacity=-5),
        slot(capacity=True),
        slot(code=""),
        slot(peak="yes"),
        slot(colour="red"),
        [*slot(), *slot()],
    ],
    "peak_multiplier_pct": [0, 1001, -100, 1.5, "150", None],
    "off_peak_multiplier_pct": [0, 1001, True],
    "peak_prices": [{"nobody": 1}, {"adult": -1}],
    "off_peak_prices": [{"nobody": 1}, []],
    "floor": [{"adult": 20001}, {"nobody": 1}],
    "ceiling": [{"adult": -1}, {"nobody": 1}],
    "reentry_allowed": ["no"],
    "zones": [["north", "north"], "north"],
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
    # A known unit and bounds that only the bad value can break.
    raw["prices"].setdefault("adult", 100)
    raw["floor"] = {"adult": 0}
    raw["ceiling"] = {"adult": 20000}
    with pytest.raises(InvalidConfig) as caught:
        MODE.validate_config({**raw, field: value})
    assert caught.value.details["field"] == field
    assert caught.value.code == "invalid_config"


def test_missing_required_fields_and_unknown_settings_are_refused() -> None:
    for raw, field in (
        ({"slots": slot()}, "prices"),
        ({"prices": {"adult": 1}}, "slots"),
        ({"prices": {"adult": 1}, "slots": slot(), "peak_price": {}}, "peak_price"),
    ):
        with pytest.raises(InvalidConfig) as caught:
            MODE.validate_config(raw)
        assert caught.value.details["field"] == field


def test_the_registry_finds_the_mode() -> None:
    mode = get_mode("time_slot")
    assert isinstance(mode, TimeSlot)
    assert isinstance(mode, PricingMode)
    assert mode.key == "time_slot"
    assert mode.name_zh
    assert mode.name_en
    minimal = MODE.validate_config({"prices": {"adult": 1}, "slots": slot()})
    assert {f.name for f in mode.config_fields} == set(minimal)
