"""Family bundle: a fixed shape of people (e.g. 2 adults + 1-2 children) sold as one
basket, at a bundle price or at a discount against the sum of the units.

Written as a third-party plugin would be: it imports only the plugin API and the
standard library, and every method is a pure function of its arguments.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from vistapass.platform.plugin_api import (
    MAX_QUANTITY,
    Adjustment,
    BasketRejected,
    ConfigField,
    Entitlement,
    FieldKind,
    InvalidConfig,
    Quote,
    QuoteLine,
    QuoteRequest,
    check_basket,
)

MAX_AGE = 150
# Units are stored in product_units.unit, a String(20).
UNIT_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,19}")
FIELDS = ("composition", "bundle_price", "discount_pct", "unit_prices", "ages_required")
RULE_KEYS = ("min", "max", "max_age")


def _invalid(field: str, message: str) -> InvalidConfig:
    return InvalidConfig(message, details={"field": field})


def _int(raw: Any, field: str, *, low: int, high: int | None = None) -> int:
    # bool is an int subclass; `true` as a price is an operator's mistake, not 1 fen.
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise _invalid(field, f"'{field}' must be a whole number.")
    if raw < low or (high is not None and raw > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise _invalid(field, f"'{field}' must be {bounds}; got {raw}.")
    return raw


def _unit_name(unit: Any, field: str) -> str:
    if not isinstance(unit, str) or not UNIT_PATTERN.fullmatch(unit):
        raise _invalid(field, f"'{field}' has an invalid unit name {unit!r}.")
    return unit


def _composition(raw: Any) -> dict[str, dict[str, int | None]]:
    field = "composition"
    if not isinstance(raw, Mapping) or not raw:
        raise _invalid(field, "'composition' must map each unit to its {min, max} rule.")
    rules: dict[str, dict[str, int | None]] = {}
    for unit, rule in raw.items():
        _unit_name(unit, field)
        if not isinstance(rule, Mapping) or "min" not in rule or "max" not in rule:
            raise _invalid(field, f"'composition.{unit}' needs 'min' and 'max'.")
        stray = sorted(set(rule) - set(RULE_KEYS))
        if stray:
            raise _invalid(field, f"'composition.{unit}' has an unknown rule '{stray[0]}'.")
        low = _int(rule["min"], field, low=0, high=MAX_QUANTITY)
        high = _int(rule["max"], field, low=0, high=MAX_QUANTITY)
        if low > high:
            raise _invalid(field, f"'composition.{unit}': min {low} is above max {high}.")
        max_age = rule.get("max_age")
        rules[unit] = {
            "min": low,
            "max": high,
            "max_age": None if max_age is None else _int(max_age, field, low=0, high=MAX_AGE),
        }
    if sum(rule["max"] or 0 for rule in rules.values()) == 0:
        raise _invalid(field, "'composition' must admit at least one person.")
    return dict(sorted(rules.items()))


def _half_up_share(amount: int, pct: int) -> int:
    """amount * pct / 100 rounded half up, in integers so no float error creeps in."""
    whole, rest = divmod(amount * pct, 100)
    return whole + (1 if rest * 2 >= 100 else 0)


class FamilyBundle:
    key = "family_bundle"
    name_zh = "家庭套票"
    name_en = "Family bundle"
    config_fields = (
        ConfigField(
            "composition",
            FieldKind.JSON,
            "套票组成",
            "Composition",
            required=True,
            help_zh='如 {"adult": {"min": 2, "max": 2}, "child": {"min": 1, "max": 2, '
            '"max_age": 12}}',
            help_en='e.g. {"adult": {"min": 2, "max": 2}, "child": {"min": 1, "max": 2, '
            '"max_age": 12}}',
        ),
        ConfigField(
            "unit_prices",
            FieldKind.JSON,
            "单人价格",
            "Unit prices",
            required=True,
            help_zh="组成中每类人群的单价, 单位为分",
            help_en="The price of each unit in the composition, in minor units",
        ),
        ConfigField(
            "bundle_price",
            FieldKind.MONEY,
            "套票价格",
            "Bundle price",
            help_zh="与折扣二选一",
            help_en="Set this or the discount, not both",
        ),
        ConfigField(
            "discount_pct",
            FieldKind.INTEGER,
            "折扣百分比",
            "Discount (%)",
            help_zh="与套票价格二选一",
            help_en="Set this or the bundle price, not both",
        ),
        ConfigField(
            "ages_required",
            FieldKind.BOOLEAN,
            "须填写年龄",
            "Ages required",
            default=False,
            help_zh="有年龄上限的人群须填写年龄",
            help_en="Units with an age limit must give each person's age",
        ),
    )

    def validate_config(self, raw: Mapping[str, Any]) -> Mapping[str, Any]:
        if not isinstance(raw, Mapping):
            raise _invalid("config", "The configuration must be an object.")
        unknown = sorted(set(raw) - set(FIELDS))
        if unknown:
            # A misspelt key would otherwise be silently ignored.
            raise _invalid(unknown[0], f"'{unknown[0]}' is not a setting of the family bundle.")
        composition = _composition(raw.get("composition"))

        prices_raw = raw.get("unit_prices")
        if not isinstance(prices_raw, Mapping):
            raise _invalid("unit_prices", "'unit_prices' must map each unit to a price.")
        prices = {
            _unit_name(unit, "unit_prices"): _int(price, "unit_prices", low=0)
            for unit, price in prices_raw.items()
        }
        if set(prices) != set(composition):
            odd = sorted(set(prices) ^ set(composition))[0]
            raise _invalid(
                "unit_prices", f"'unit_prices' and 'composition' disagree about '{odd}'."
            )

        bundle_price = raw.get("bundle_price")
        discount_pct = raw.get("discount_pct")
        if (bundle_price is None) == (discount_pct is None):
            raise InvalidConfig(
                "Set exactly one of 'bundle_price' and 'discount_pct'.",
                details={"field": "bundle_price", "fields": ["bundle_price", "discount_pct"]},
            )
        if bundle_price is not None:
            # A bundle price above the sum of the units is allowed: the quote shows
            # it as a positive adjustment, so the buyer sees it.
            bundle_price = _int(bundle_price, "bundle_price", low=0)
        if discount_pct is not None:
            discount_pct = _int(discount_pct, "discount_pct", low=0, high=100)

        ages_required = raw.get("ages_required", False)
        if not isinstance(ages_required, bool):
            raise _invalid("ages_required", "'ages_required' must be true or false.")
        if ages_required and all(rule["max_age"] is None for rule in composition.values()):
            raise _invalid(
                "ages_required", "'ages_required' needs a unit with a 'max_age' to check."
            )
        return {
            "composition": composition,
            "unit_prices": dict(sorted(prices.items())),
            "bundle_price": bundle_price,
            "discount_pct": discount_pct,
            "ages_required": ages_required,
        }

    def validate_basket(self, request: QuoteRequest) -> None:
        composition = request.config["composition"]
        counts = check_basket(request, composition)
        if request.slot is not None:
            raise BasketRejected(
                "A family bundle is not sold by time slot.",
                code="unknown_slot",
                details={"slot": request.slot},
            )
        for unit, rule in composition.items():
            count = counts.get(unit, 0)
            if not rule["min"] <= count <= rule["max"]:
                wanted = (
                    str(rule["min"])
                    if rule["min"] == rule["max"]
                    else f"{rule['min']} to {rule['max']}"
                )
                raise BasketRejected(
                    f"A family bundle takes {wanted} '{unit}'; the basket has {count}.",
                    code="bundle_composition",
                    details={"unit": unit, "min": rule["min"], "max": rule["max"], "count": count},
                )
        for line in request.lines:
            self._check_ages(line.unit, line.quantity, line.ages, request.config)

    @staticmethod
    def _check_ages(
        unit: str, quantity: int, ages: tuple[int, ...], config: Mapping[str, Any]
    ) -> None:
        max_age = config["composition"][unit]["max_age"]
        if not ages:
            if max_age is not None and config["ages_required"]:
                raise BasketRejected(
                    f"Give the age of each '{unit}' (at most {max_age}).",
                    code="ages_required",
                    details={"unit": unit, "max_age": max_age},
                )
            return
        if len(ages) != quantity:
            raise BasketRejected(
                f"'{unit}' has {quantity} people but {len(ages)} ages.",
                code="ages_mismatch",
                details={"unit": unit},
            )
        for age in ages:
            if isinstance(age, bool) or not isinstance(age, int) or not 0 <= age <= MAX_AGE:
                raise BasketRejected(
                    f"{age!r} is not an age.", code="invalid_age", details={"unit": unit}
                )
            if max_age is not None and age > max_age:
                # The code names the usual case: in a family bundle age limits are
                # children's; `unit` in the details says which unit it was.
                raise BasketRejected(
                    f"A '{unit}' in a family bundle is at most {max_age} years old; one is {age}.",
                    code="child_too_old",
                    details={"unit": unit, "max_age": max_age, "age": age},
                )

    def quote(self, request: QuoteRequest) -> Quote:
        # Checked here as well, so a caller that skips validate_basket gets a 422,
        # not a KeyError or a price for a wrong composition.
        self.validate_basket(request)
        config = request.config
        lines = tuple(
            QuoteLine(
                unit=line.unit,
                quantity=line.quantity,
                base_price=config["unit_prices"][line.unit],
            )
            for line in request.lines
        )
        subtotal = sum(line.total for line in lines)
        if config["bundle_price"] is not None:
            amount = config["bundle_price"] - subtotal
            direction = "above" if amount > 0 else "below" if amount < 0 else "equal to"
            adjustment = Adjustment(
                code="bundle_price",
                reason=f"Bundle price {config['bundle_price']}, {direction} the sum of "
                f"unit prices {subtotal}.",
                amount=amount,
            )
        else:
            pct = config["discount_pct"]
            # pct <= 100, so this never takes the total below zero; min() says so.
            discount = min(subtotal, _half_up_share(subtotal, pct))
            adjustment = Adjustment(
                code="bundle_discount",
                reason=f"Family bundle: {pct}% off the sum of unit prices {subtotal}.",
                amount=-discount,
            )
        return Quote(currency=request.currency, lines=lines, adjustments=(adjustment,))

    def entitlements(self, request: QuoteRequest) -> tuple[Entitlement, ...]:
        self.validate_basket(request)
        day = request.day.date
        # One ticket per person, so each member of the family passes the gate alone.
        return tuple(
            Entitlement(
                unit=line.unit,
                valid_from=day,
                valid_to=day,
                entries_per_day=1,
                entries_total=1,
                extras={"bundle": True},
            )
            for line in request.lines
            for _ in range(line.quantity)
        )
