"""Family bundle pricing: only the configured shapes are sold, at the bundle price or
discount, with one single-entry ticket per person."""

from __future__ import annotations

import json
from datetime import date
from fractions import Fraction
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
from vistapass.plugins.pricing.family_bundle import FamilyBundle

MODE = FamilyBundle()
UNITS = ("adult", "child", "senior", "infant")
DAY = Day(date(2026, 12, 5), DayKind.WEEKEND)
FAMILY = {
    "composition": {"adult": {"min": 2, "max": 2}, "child": {"min": 1, "max": 2, "max_age": 12}},
    "unit_prices": {"adult": 12000, "child": 6000},
    "bundle_price": 30000,
}


@st.composite
def rules(draw: st.DrawFn) -> dict[str, int | None]:
    low = draw(st.integers(0, 3))
    return {
        "min": low,
        "max": draw(st.integers(low, low + 3)),
        "max_age": draw(st.none() | st.integers(0, 17)),
    }


@st.composite
def configs(draw: st.DrawFn) -> dict[str, Any]:
    composition = draw(
        st.dictionaries(st.sampled_from(UNITS), rules(), min_size=1, max_size=3).filter(
            lambda found: sum(rule["max"] for rule in found.values()) > 0
        )
    )
    raw: dict[str, Any] = {
        "composition": composition,
        "unit_prices": {unit: draw(st.integers(0, 1_000_000)) for unit in composition},
    }
    if draw(st.booleans()):
        raw["bundle_price"] = draw(st.integers(0, 5_000_000))
    else:
        raw["discount_pct"] = draw(st.integers(0, 100))
    return raw


def request_for(
    config: Any, lines: tuple[BasketLine, ...], *, day: Day = DAY, slot: str | None = None
) -> QuoteRequest:
    return QuoteRequest(
        config=config, lines=lines, day=day, channel="web", currency="CNY", slot=slot
    )


@st.composite
def valid_requests(draw: st.DrawFn) -> QuoteRequest:
    """A basket inside the rules: counts between min and max, ages within limits."""
    config = MODE.validate_config(draw(configs()))
    counts = {
        unit: draw(st.integers(rule["min"], rule["max"]))
        for unit, rule in config["composition"].items()
    }
    if not any(counts.values()):
        counts = {unit: rule["max"] for unit, rule in config["composition"].items() if rule["max"]}
    lines = []
    for unit, count in counts.items():
        if count:
            max_age = config["composition"][unit]["max_age"]
            ages = (
                ()
                if max_age is None
                else tuple(draw(st.integers(0, max_age)) for _ in range(count))
            )
            lines.append(BasketLine(unit, count, ages))
    return request_for(config, tuple(lines))


@given(valid_requests())
def test_total_is_lines_plus_adjustments_never_negative_and_deterministic(
    req: QuoteRequest,
) -> None:
    config = req.config
    MODE.validate_basket(req)
    quote = MODE.quote(req)
    assert quote.total == sum(line.total for line in quote.lines) + sum(
        adjustment.amount for adjustment in quote.adjustments
    )
    assert quote.total >= 0
    assert all(line.base_price == config["unit_prices"][line.unit] for line in quote.lines)
    subtotal = sum(config["unit_prices"][line.unit] * line.quantity for line in req.lines)
    assert quote.subtotal == subtotal
    (adjustment,) = quote.adjustments
    if config["bundle_price"] is not None:
        assert adjustment.code == "bundle_price"
        assert quote.total == config["bundle_price"]
    else:
        assert adjustment.code == "bundle_discount"
        # Half up, computed exactly here, independently of the plugin's integer maths.
        share = Fraction(subtotal * config["discount_pct"], 100)
        assert -adjustment.amount == int(share + Fraction(1, 2))
        assert adjustment.amount <= 0
    assert MODE.quote(req) == quote
    assert MODE.entitlements(req) == MODE.entitlements(req)


@given(valid_requests())
def test_one_single_entry_ticket_per_person_on_the_day(req: QuoteRequest) -> None:
    tickets = MODE.entitlements(req)
    assert len(tickets) == sum(line.quantity for line in req.lines)
    for line in req.lines:
        assert sum(ticket.unit == line.unit for ticket in tickets) == line.quantity
    for ticket in tickets:
        assert ticket.valid_from == ticket.valid_to == req.day.date
        assert (ticket.entries_per_day, ticket.entries_total) == (1, 1)
        assert ticket.extras == {"bundle": True}


@given(configs(), st.data())
def test_validate_basket_accepts_exactly_the_compositions_within_the_rules(
    raw: dict[str, Any], data: st.DataObject
) -> None:
    config = MODE.validate_config(raw)
    composition = config["composition"]
    counts = {
        unit: data.draw(st.integers(0, rule["max"] + 2), label=unit)
        for unit, rule in composition.items()
    }
    stranger = data.draw(st.sampled_from([u for u in UNITS if u not in composition]))
    stranger_count = data.draw(st.sampled_from((0, 0, 1)), label="stranger")
    counts[stranger] = stranger_count
    lines = tuple(BasketLine(unit, count) for unit, count in counts.items() if count)
    allowed = (
        bool(lines)
        and stranger_count == 0
        and all(rule["min"] <= counts[unit] <= rule["max"] for unit, rule in composition.items())
    )
    req = request_for(config, lines)
    if allowed:
        MODE.validate_basket(req)
        assert MODE.quote(req).total >= 0
    else:
        with pytest.raises(BasketRejected) as caught:
            MODE.validate_basket(req)
        assert caught.value.code in {"empty_basket", "unknown_unit", "bundle_composition"}
        with pytest.raises(BasketRejected):
            MODE.quote(req)
        with pytest.raises(BasketRejected):
            MODE.entitlements(req)


@given(configs())
def test_validated_config_is_json_and_validating_again_changes_nothing(
    raw: dict[str, Any],
) -> None:
    config = MODE.validate_config(raw)
    assert json.loads(json.dumps(config)) == config
    assert MODE.validate_config(config) == config


def test_the_example_family_costs_the_bundle_price() -> None:
    config = MODE.validate_config(FAMILY)
    quote = MODE.quote(
        request_for(config, (BasketLine("adult", 2), BasketLine("child", 2, (4, 12))))
    )
    assert quote.subtotal == 36000
    assert [(a.code, a.amount) for a in quote.adjustments] == [("bundle_price", -6000)]
    assert quote.total == 30000


def test_a_bundle_price_above_the_units_is_itemised_as_a_positive_adjustment() -> None:
    config = MODE.validate_config({**FAMILY, "bundle_price": 40000})
    quote = MODE.quote(request_for(config, (BasketLine("adult", 2), BasketLine("child", 1))))
    assert [(a.code, a.amount) for a in quote.adjustments] == [("bundle_price", 10000)]
    assert "above" in quote.adjustments[0].reason
    assert quote.total == 40000


def test_a_discount_of_exactly_half_a_fen_rounds_in_the_buyers_favour() -> None:
    config = MODE.validate_config(
        {
            **_without("bundle_price"),
            "unit_prices": {"adult": 25, "child": 0},
            "discount_pct": 1,
        }
    )
    quote = MODE.quote(request_for(config, (BasketLine("adult", 2), BasketLine("child", 1))))
    assert [(a.code, a.amount) for a in quote.adjustments] == [("bundle_discount", -1)]
    assert quote.total == 49


def test_a_full_discount_makes_the_bundle_free_not_negative() -> None:
    config = MODE.validate_config({**_without("bundle_price"), "discount_pct": 100})
    quote = MODE.quote(request_for(config, (BasketLine("adult", 2), BasketLine("child", 2))))
    assert quote.total == 0


@pytest.mark.parametrize(
    ("overrides", "lines", "code"),
    [
        ({}, (BasketLine("adult", 2), BasketLine("child", 1, (13,))), "child_too_old"),
        ({}, (BasketLine("adult", 2), BasketLine("child", 2, (3,))), "ages_mismatch"),
        ({}, (BasketLine("adult", 2), BasketLine("child", 1, (-1,))), "invalid_age"),
        (
            {"ages_required": True},
            (BasketLine("adult", 2), BasketLine("child", 1)),
            "ages_required",
        ),
        ({}, (BasketLine("adult", 2), BasketLine("child", 3)), "bundle_composition"),
        ({}, (BasketLine("adult", 1), BasketLine("child", 1)), "bundle_composition"),
        ({}, (BasketLine("adult", 2),), "bundle_composition"),
        ({}, (BasketLine("adult", 2), BasketLine("child", 0)), "invalid_quantity"),
        ({}, (BasketLine("adult", 2), BasketLine("child", 100)), "invalid_quantity"),
        ({}, (BasketLine("adult", 2), BasketLine("senior", 1)), "unknown_unit"),
        (
            {},
            (BasketLine("adult", 1), BasketLine("adult", 1), BasketLine("child", 1)),
            "duplicate_unit",
        ),
        ({}, (), "empty_basket"),
    ],
)
def test_bad_baskets_are_refused_naming_the_rule(
    overrides: dict[str, Any], lines: tuple[BasketLine, ...], code: str
) -> None:
    config = MODE.validate_config({**FAMILY, **overrides})
    with pytest.raises(BasketRejected) as caught:
        MODE.validate_basket(request_for(config, lines))
    assert caught.value.code == code


def test_composition_refusal_names_the_unit_and_its_bounds() -> None:
    config = MODE.validate_config(FAMILY)
    with pytest.raises(BasketRejected) as caught:
        MODE.validate_basket(request_for(config, (BasketLine("adult", 2),)))
    assert caught.value.details == {"unit": "child", "min": 1, "max": 2, "count": 0}
    assert "1 to 2 'child'" in caught.value.message


def test_closed_days_and_slots_are_refused() -> None:
    config = MODE.validate_config(FAMILY)
    lines = (BasketLine("adult", 2), BasketLine("child", 1))
    closed = Day(date(2026, 12, 7), DayKind.WEEKDAY, is_open=False)
    with pytest.raises(BasketRejected) as caught:
        MODE.validate_basket(request_for(config, lines, day=closed))
    assert caught.value.code == "closed_day"
    with pytest.raises(BasketRejected) as caught:
        MODE.validate_basket(request_for(config, lines, slot="09:00"))
    assert caught.value.code == "unknown_slot"


def _without(key: str) -> dict[str, Any]:
    return {name: value for name, value in FAMILY.items() if name != key}


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({**FAMILY, "discount_pct": 15}, "bundle_price"),
        (_without("bundle_price"), "bundle_price"),
        ({**_without("bundle_price"), "discount_pct": 101}, "discount_pct"),
        ({**_without("bundle_price"), "discount_pct": -1}, "discount_pct"),
        ({**FAMILY, "bundle_price": -1}, "bundle_price"),
        ({**FAMILY, "unit_prices": {"adult": -1, "child": 6000}}, "unit_prices"),
        ({**FAMILY, "unit_prices": {"adult": 12000}}, "unit_prices"),
        ({**FAMILY, "unit_prices": {"adult": 1, "child": 1, "senior": 1}}, "unit_prices"),
        (_without("unit_prices"), "unit_prices"),
        (_without("composition"), "composition"),
        ({**FAMILY, "composition": {}}, "composition"),
        ({**FAMILY, "composition": {"adult": {"min": 3, "max": 2}}}, "composition"),
        ({**FAMILY, "composition": {"adult": {"min": 0, "max": 0}}}, "composition"),
        ({**FAMILY, "composition": {"adult": {"min": -1, "max": 2}}}, "composition"),
        ({**FAMILY, "composition": {"adult": {"max": 2}}}, "composition"),
        ({**FAMILY, "composition": {"adult": {"min": 1, "max": 2, "colour": 1}}}, "composition"),
        ({**FAMILY, "ages_required": "yes"}, "ages_required"),
        (
            {
                **FAMILY,
                "composition": {"adult": {"min": 2, "max": 2}, "child": {"min": 1, "max": 2}},
                "ages_required": True,
            },
            "ages_required",
        ),
        ({**FAMILY, "colour": "blue"}, "colour"),
    ],
)
def test_invalid_config_names_the_field(raw: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidConfig) as caught:
        MODE.validate_config(raw)
    assert caught.value.details["field"] == field
    assert field in caught.value.message


def test_the_registry_finds_the_family_bundle() -> None:
    mode = get_mode("family_bundle")
    assert isinstance(mode, FamilyBundle)
    assert isinstance(mode, PricingMode)
    assert mode.key == "family_bundle"
    assert mode.name_zh
    assert mode.name_en
    assert {field.name for field in mode.config_fields} == set(MODE.validate_config(FAMILY))
