"""Per-visit pricing: one price per unit, overridden by kind of day, by date and by channel.

Config (as stored, after `validate_config`):

    {"prices": {"adult": 12000, "child": 6000},
     "weekend_prices": {"adult": 14000}, "holiday_prices": {"adult": 16000},
     "date_prices": {"2026-10-01": {"adult": 15000}},
     "channel_prices": {"ota:ctrip": {"adult": 11500}},
     "reentry_allowed": false, "zones": []}

The day price of a unit is the first that applies of: its date override, its
holiday price (a holiday without one falls back to the weekend price, because parks
charge holidays at least like weekends), its weekend price, its weekday price. A
channel price replaces the weekday price for that channel; the day's difference
from the weekday price still applies on top, so a channel keeps its negotiated
discount on every kind of day. Every step is an Adjustment against the weekday
price, which is the line's `base_price`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Any

from vistapass.platform.plugin_api import (
    Adjustment,
    ConfigField,
    DayKind,
    Entitlement,
    FieldKind,
    InvalidConfig,
    Quote,
    QuoteLine,
    QuoteRequest,
    check_basket,
)

# One million yuan in fen: far above any ticket, low enough that a typo is caught.
MAX_PRICE = 100_000_000
# Unit names end up in ProductUnit.unit (String(20)) and in adjustment codes.
UNIT_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,19}$")
# Channels are stored as Product.channels entries (String(40)), e.g. `ota:ctrip`.
CHANNEL_PATTERN = re.compile(r"^[a-z][a-z0-9_:.-]{0,39}$")
ZONE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_:.-]{0,59}$")

KNOWN_FIELDS = (
    "prices",
    "weekend_prices",
    "holiday_prices",
    "date_prices",
    "channel_prices",
    "reentry_allowed",
    "zones",
)


def _invalid(field: str, message: str, path: str | None = None) -> InvalidConfig:
    return InvalidConfig(message, details={"field": field, "path": path or field})


def _price(field: str, path: str, value: Any) -> int:
    # bool is an int subclass; `true` as a price is a form bug, not 1 fen.
    if isinstance(value, bool) or not isinstance(value, int):
        raise _invalid(field, f"{path} must be a whole number of fen.", path)
    if not 0 <= value <= MAX_PRICE:
        raise _invalid(field, f"{path} must be between 0 and {MAX_PRICE} fen.", path)
    return value


def _price_table(
    field: str, path: str, raw: Any, units: frozenset[str] | None, *, allow_empty: bool
) -> dict[str, int]:
    """A {unit: price} mapping; `units` limits it to the units the base prices name."""
    if not isinstance(raw, Mapping):
        raise _invalid(field, f"{path} must map units to prices.", path)
    if not raw and not allow_empty:
        raise _invalid(field, f"{path} must price at least one unit.", path)
    table: dict[str, int] = {}
    for unit, value in raw.items():
        if not isinstance(unit, str) or not UNIT_PATTERN.match(unit):
            raise _invalid(
                field, f"{path}: unit '{unit}' must be lowercase letters, digits, _.", path
            )
        if units is not None and unit not in units:
            raise _invalid(
                field, f"{path}: unit '{unit}' has no price in prices.", f"{path}.{unit}"
            )
        table[unit] = _price(field, f"{path}.{unit}", value)
    return dict(sorted(table.items()))


def _iso_date(field: str, raw: Any) -> str:
    if isinstance(raw, date):
        return raw.isoformat()
    try:
        return date.fromisoformat(raw).isoformat()
    except (TypeError, ValueError):
        raise _invalid(field, f"{field}: '{raw}' is not a date (YYYY-MM-DD).") from None


def _check_basket(request: QuoteRequest, prices: Mapping[str, int]) -> None:
    check_basket(request, prices)


def _day_price(
    config: Mapping[str, Any], unit: str, day_date: date, kind: DayKind
) -> tuple[int, str, str] | None:
    """(price, code, reason) of the day's override for `unit`, or None on a plain day."""
    iso = day_date.isoformat()
    dated = config["date_prices"].get(iso, {})
    if unit in dated:
        return dated[unit], f"date:{iso}", f"{iso} 特定日价格 / price for {iso}"
    if kind is DayKind.HOLIDAY:
        if unit in config["holiday_prices"]:
            return config["holiday_prices"][unit], "holiday", "节假日价格 / holiday price"
        if unit in config["weekend_prices"]:
            return (
                config["weekend_prices"][unit],
                "holiday",
                "节假日按周末价 / holiday charged the weekend price",
            )
    if kind is DayKind.WEEKEND and unit in config["weekend_prices"]:
        return config["weekend_prices"][unit], "weekend", "周末价格 / weekend price"
    return None


class PerVisit:
    key = "per_visit"
    name_zh = "单次入园"
    name_en = "Per visit"
    config_fields = (
        ConfigField(
            "prices",
            FieldKind.JSON,
            "各票种平日价格",
            "Weekday price per unit",
            required=True,
            help_zh='单位为分, 例如 {"adult": 12000, "child": 6000}',
            help_en='In fen, e.g. {"adult": 12000, "child": 6000}',
        ),
        ConfigField("weekend_prices", FieldKind.JSON, "周末价格", "Weekend prices", default={}),
        ConfigField(
            "holiday_prices",
            FieldKind.JSON,
            "节假日价格",
            "Holiday prices",
            default={},
            help_zh="未设置的票种按周末价格",
            help_en="Units without one are charged the weekend price",
        ),
        ConfigField(
            "date_prices",
            FieldKind.JSON,
            "特定日期价格",
            "Prices for given dates",
            default={},
            help_zh='例如 {"2026-10-01": {"adult": 15000}}',
            help_en='e.g. {"2026-10-01": {"adult": 15000}}',
        ),
        ConfigField(
            "channel_prices",
            FieldKind.JSON,
            "渠道价格",
            "Channel prices",
            default={},
            help_zh='替代该渠道的平日价格, 例如 {"ota:ctrip": {"adult": 11500}}',
            help_en="Replaces the weekday price on that channel, "
            'e.g. {"ota:ctrip": {"adult": 11500}}',
        ),
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
                raise _invalid(str(name), f"'{name}' is not a setting of per-visit pricing.")
        if "prices" not in raw:
            raise _invalid("prices", "prices is required.")
        prices = _price_table("prices", "prices", raw["prices"], None, allow_empty=False)
        units = frozenset(prices)
        config: dict[str, Any] = {"prices": prices}
        for name in ("weekend_prices", "holiday_prices"):
            config[name] = _price_table(name, name, raw.get(name, {}), units, allow_empty=True)

        date_prices = raw.get("date_prices", {})
        if not isinstance(date_prices, Mapping):
            raise _invalid("date_prices", "date_prices must map dates to price tables.")
        dated: dict[str, dict[str, int]] = {}
        for key, table in date_prices.items():
            iso = _iso_date("date_prices", key)
            if iso in dated:
                raise _invalid("date_prices", f"date_prices names {iso} twice.", iso)
            dated[iso] = _price_table(
                "date_prices", f"date_prices.{iso}", table, units, allow_empty=False
            )
        config["date_prices"] = dict(sorted(dated.items()))

        channel_prices = raw.get("channel_prices", {})
        if not isinstance(channel_prices, Mapping):
            raise _invalid("channel_prices", "channel_prices must map channels to price tables.")
        channels: dict[str, dict[str, int]] = {}
        for channel, table in channel_prices.items():
            if not isinstance(channel, str) or not CHANNEL_PATTERN.match(channel):
                raise _invalid(
                    "channel_prices", f"channel_prices: '{channel}' is not a channel name."
                )
            channels[channel] = _price_table(
                "channel_prices", f"channel_prices.{channel}", table, units, allow_empty=False
            )
        config["channel_prices"] = dict(sorted(channels.items()))

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
        _check_basket(request, request.config["prices"])

    def quote(self, request: QuoteRequest) -> Quote:
        self.validate_basket(request)
        config = request.config
        channel_table = config["channel_prices"].get(request.channel, {})
        lines = []
        for line in request.lines:
            base = config["prices"][line.unit]
            adjustments: list[Adjustment] = []
            if line.unit in channel_table:
                adjustments.append(
                    Adjustment(
                        f"channel:{request.channel}",
                        f"{request.channel} 渠道价格 / {request.channel} channel price",
                        channel_table[line.unit] - base,
                    )
                )
            override = _day_price(config, line.unit, request.day.date, request.day.kind)
            if override is not None:
                price, code, reason = override
                adjustments.append(Adjustment(code, reason, price - base))
            unit_price = base + sum(a.amount for a in adjustments)
            if unit_price < 0:
                # A deep channel discount on a cheap day could cross zero; a ticket is never
                # paid for by the park.
                adjustments.append(
                    Adjustment("not_below_zero", "价格不低于零 / price held at zero", -unit_price)
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
        self.validate_basket(request)
        config = request.config
        visit = request.day.date
        return tuple(
            Entitlement(
                unit=line.unit,
                valid_from=visit,
                valid_to=visit,
                entries_per_day=1,
                entries_total=1,
                zones=tuple(config["zones"]),
                reentry_allowed=config["reentry_allowed"],
            )
            for line in request.lines
            for _ in range(line.quantity)
        )
