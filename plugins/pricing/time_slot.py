"""Timed-entry pricing: the buyer picks a slot of the day; peak slots cost more, and the
final price stays within hard bounds a later dynamic-pricing recommender may move in.

Config (as stored, after `validate_config`):

    {"prices": {"adult": 8000, "child": 4000},
     "slots": [{"code": "09:00", "start": "09:00", "end": "11:00", "capacity": 500,
                "peak": true}],
     "peak_multiplier_pct": 150, "off_peak_multiplier_pct": 100,
     "peak_prices": {}, "off_peak_prices": {},
     "floor": {"adult": 5000}, "ceiling": {"adult": 20000},
     "reentry_allowed": false, "zones": []}

A unit's slot price is its peak (or off-peak) price when one is set, else its base
price times the slot's multiplier, rounded half up to the fen. That price is then
clamped into [floor, ceiling] for the unit; each step is an itemised Adjustment.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from vistapass.platform.plugin_api import (
    Adjustment,
    BasketRejected,
    ConfigField,
    Entitlement,
    FieldKind,
    InvalidConfig,
    Quote,
    QuoteLine,
    QuoteRequest,
    SlotInfo,
    check_basket,
)

# One million yuan in fen: far above any ticket, low enough that a typo is caught.
MAX_PRICE = 100_000_000
MAX_CAPACITY = 1_000_000
MIN_MULTIPLIER_PCT = 1
MAX_MULTIPLIER_PCT = 1000
UNIT_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,19}$")
SLOT_CODE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_:.-]{0,19}$")
TIME_PATTERN = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
ZONE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_:.-]{0,59}$")

KNOWN_FIELDS = (
    "prices",
    "slots",
    "peak_multiplier_pct",
    "off_peak_multiplier_pct",
    "peak_prices",
    "off_peak_prices",
    "floor",
    "ceiling",
    "reentry_allowed",
    "zones",
)
SLOT_KEYS = frozenset({"code", "start", "end", "capacity", "peak"})


def _invalid(field: str, message: str, path: str | None = None) -> InvalidConfig:
    return InvalidConfig(message, details={"field": field, "path": path or field})


def _whole(field: str, path: str, value: Any, low: int, high: int) -> int:
    # bool is an int subclass; `true` as a price or capacity is a form bug.
    if isinstance(value, bool) or not isinstance(value, int):
        raise _invalid(field, f"{path} must be a whole number.", path)
    if not low <= value <= high:
        raise _invalid(field, f"{path} must be between {low} and {high}.", path)
    return value


def _price_table(
    field: str, raw: Any, units: frozenset[str] | None, *, allow_empty: bool
) -> dict[str, int]:
    """A {unit: price} mapping; `units` limits it to the units the base prices name."""
    if not isinstance(raw, Mapping):
        raise _invalid(field, f"{field} must map units to prices.")
    if not raw and not allow_empty:
        raise _invalid(field, f"{field} must price at least one unit.")
    table: dict[str, int] = {}
    for unit, value in raw.items():
        if not isinstance(unit, str) or not UNIT_PATTERN.match(unit):
            raise _invalid(field, f"{field}: unit '{unit}' must be lowercase letters, digits, _.")
        if units is not None and unit not in units:
            raise _invalid(
                field, f"{field}: unit '{unit}' has no price in prices.", f"{field}.{unit}"
            )
        table[unit] = _whole(field, f"{field}.{unit}", value, 0, MAX_PRICE)
    return dict(sorted(table.items()))


def _slots(raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list | tuple) or not raw:
        raise _invalid("slots", "slots must be a non-empty list.")
    slots: list[dict[str, Any]] = []
    codes: set[str] = set()
    for index, slot in enumerate(raw):
        path = f"slots[{index}]"
        if not isinstance(slot, Mapping):
            raise _invalid("slots", f"{path} must be an object.", path)
        extra = set(slot) - SLOT_KEYS
        if extra:
            raise _invalid("slots", f"{path}: unknown keys {sorted(map(str, extra))}.", path)
        code = slot.get("code")
        if not isinstance(code, str) or not SLOT_CODE_PATTERN.match(code):
            raise _invalid("slots", f"{path}.code must be a short code like '09:00'.", path)
        if code in codes:
            raise _invalid("slots", f"Slot code '{code}' is used twice.", f"{path}.code")
        codes.add(code)
        times = []
        for key in ("start", "end"):
            value = slot.get(key)
            if not isinstance(value, str) or not TIME_PATTERN.match(value):
                raise _invalid("slots", f"{path}.{key} must be a time HH:MM.", f"{path}.{key}")
            times.append(value)
        # Zero-padded HH:MM strings order like the times they name.
        if not times[0] < times[1]:
            raise _invalid("slots", f"Slot '{code}' must start before it ends.", path)
        capacity = _whole("slots", f"{path}.capacity", slot.get("capacity"), 1, MAX_CAPACITY)
        peak = slot.get("peak", False)
        if not isinstance(peak, bool):
            raise _invalid("slots", f"{path}.peak must be true or false.", f"{path}.peak")
        slots.append(
            {"code": code, "start": times[0], "end": times[1], "capacity": capacity, "peak": peak}
        )
    return slots


def _find_slot(request: QuoteRequest) -> Mapping[str, Any]:
    if request.slot is None:
        raise BasketRejected(
            "This product is sold by time slot; choose a slot.", code="slot_required", details={}
        )
    for slot in request.config["slots"]:
        if slot["code"] == request.slot:
            return slot
    raise BasketRejected(
        f"There is no slot '{request.slot}'.",
        code="unknown_slot",
        details={"slot": request.slot, "known": [s["code"] for s in request.config["slots"]]},
    )


def _check_basket(request: QuoteRequest) -> Mapping[str, Any]:
    check_basket(request, request.config["prices"])
    slot = _find_slot(request)
    persons = sum(line.quantity for line in request.lines)
    if persons > slot["capacity"]:
        # Only the whole capacity is known here; what is left is the platform's to check.
        raise BasketRejected(
            f"Slot '{slot['code']}' admits at most {slot['capacity']} people.",
            code="slot_capacity",
            details={"slot": slot["code"], "capacity": slot["capacity"], "persons": persons},
        )
    return slot


class TimeSlot:
    key = "time_slot"
    name_zh = "分时段入园"
    name_en = "Timed entry"
    config_fields = (
        ConfigField(
            "prices",
            FieldKind.JSON,
            "各票种基础价格",
            "Base price per unit",
            required=True,
            help_zh='单位为分, 例如 {"adult": 8000}',
            help_en='In fen, e.g. {"adult": 8000}',
        ),
        ConfigField(
            "slots",
            FieldKind.JSON,
            "时段",
            "Slots",
            required=True,
            help_zh='[{"code": "09:00", "start": "09:00", "end": "11:00", "capacity": 500, '
            '"peak": true}]',
            help_en='[{"code": "09:00", "start": "09:00", "end": "11:00", "capacity": 500, '
            '"peak": true}]',
        ),
        ConfigField(
            "peak_multiplier_pct", FieldKind.INTEGER, "高峰倍率 %", "Peak multiplier %", default=100
        ),
        ConfigField(
            "off_peak_multiplier_pct",
            FieldKind.INTEGER,
            "平峰倍率 %",
            "Off-peak multiplier %",
            default=100,
        ),
        ConfigField(
            "peak_prices",
            FieldKind.JSON,
            "高峰价格",
            "Peak prices",
            default={},
            help_zh="设置后替代该票种的高峰倍率",
            help_en="Replaces the peak multiplier for the units it names",
        ),
        ConfigField(
            "off_peak_prices",
            FieldKind.JSON,
            "平峰价格",
            "Off-peak prices",
            default={},
            help_zh="设置后替代该票种的平峰倍率",
            help_en="Replaces the off-peak multiplier for the units it names",
        ),
        ConfigField("floor", FieldKind.JSON, "最低价", "Price floor", default={}),
        ConfigField("ceiling", FieldKind.JSON, "最高价", "Price ceiling", default={}),
        ConfigField(
            "reentry_allowed", FieldKind.BOOLEAN, "允许再入园", "Re-entry allowed", default=False
        ),
        ConfigField("zones", FieldKind.JSON, "可入区域", "Zones (empty: all)", default=[]),
    )

    def validate_config(self, raw: Mapping[str, Any]) -> Mapping[str, Any]:
        if not isinstance(raw, Mapping):
            raise _invalid("prices", "The configuration must be an object.")
        for name in raw:
            if name not in KNOWN_FIELDS:
                raise _invalid(str(name), f"'{name}' is not a setting of timed-entry pricing.")
        for name in ("prices", "slots"):
            if name not in raw:
                raise _invalid(name, f"{name} is required.")
        prices = _price_table("prices", raw["prices"], None, allow_empty=False)
        units = frozenset(prices)
        config: dict[str, Any] = {"prices": prices, "slots": _slots(raw["slots"])}
        for name in ("peak_multiplier_pct", "off_peak_multiplier_pct"):
            config[name] = _whole(
                name, name, raw.get(name, 100), MIN_MULTIPLIER_PCT, MAX_MULTIPLIER_PCT
            )
        for name in ("peak_prices", "off_peak_prices", "floor", "ceiling"):
            config[name] = _price_table(name, raw.get(name, {}), units, allow_empty=True)
        for unit, low in config["floor"].items():
            high = config["ceiling"].get(unit)
            if high is not None and low > high:
                raise _invalid(
                    "floor",
                    f"floor of '{unit}' ({low}) is above its ceiling ({high}).",
                    f"floor.{unit}",
                )

        reentry = raw.get("reentry_allowed", False)
        if not isinstance(reentry, bool):
            raise _invalid("reentry_allowed", "reentry_allowed must be true or false.")
        config["reentry_allowed"] = reentry
        zones = raw.get("zones", [])
        if not isinstance(zones, list | tuple) or not all(
            isinstance(z, str) and ZONE_PATTERN.match(z) for z in zones
        ):
            raise _invalid("zones", "zones must be a list of zone codes.")
        if len(set(zones)) != len(zones):
            raise _invalid("zones", "zones names a zone twice.")
        config["zones"] = list(zones)
        return config

    def validate_basket(self, request: QuoteRequest) -> None:
        _check_basket(request)

    def slots(self, config: Mapping[str, Any]) -> tuple[SlotInfo, ...]:
        return tuple(
            SlotInfo(code=s["code"], start=s["start"], end=s["end"], capacity=s["capacity"])
            for s in config["slots"]
        )

    def quote(self, request: QuoteRequest) -> Quote:
        slot = _check_basket(request)
        config = request.config
        tier = "peak" if slot["peak"] else "off_peak"
        label = "高峰时段 / peak slot" if slot["peak"] else "平峰时段 / off-peak slot"
        lines = []
        for line in request.lines:
            base = config["prices"][line.unit]
            adjustments: list[Adjustment] = []
            fixed = config[f"{tier}_prices"].get(line.unit)
            if fixed is not None:
                price = fixed
                reason = f"{label} {slot['code']}"
            else:
                pct = config[f"{tier}_multiplier_pct"]
                # Half up, in integers: the same fen on every machine.
                price = (base * pct + 50) // 100
                reason = f"{label} {slot['code']} x {pct}%"
            adjustments.append(Adjustment(tier, reason, price - base))
            low = config["floor"].get(line.unit, 0)
            high = config["ceiling"].get(line.unit)
            bounded = max(price, low)
            if high is not None:
                bounded = min(bounded, high)
            if bounded != price:
                direction = "最低价 / floor" if bounded > price else "最高价 / ceiling"
                adjustments.append(
                    Adjustment("price_bound", f"{direction} {bounded}", bounded - price)
                )
            lines.append(
                QuoteLine(
                    unit=line.unit,
                    quantity=line.quantity,
                    base_price=base,
                    adjustments=tuple(a for a in adjustments if a.amount != 0),
                )
            )
        return Quote(currency=request.currency, lines=tuple(lines))

    def entitlements(self, request: QuoteRequest) -> tuple[Entitlement, ...]:
        slot = _check_basket(request)
        config = request.config
        visit = request.day.date
        return tuple(
            Entitlement(
                unit=line.unit,
                valid_from=visit,
                valid_to=visit,
                slot=slot["code"],
                entries_per_day=1,
                entries_total=1,
                zones=tuple(config["zones"]),
                reentry_allowed=config["reentry_allowed"],
                extras={"slot_start": slot["start"], "slot_end": slot["end"]},
            )
            for line in request.lines
            for _ in range(line.quantity)
        )
