"""Annual card: a real-name membership sold per person, valid for a year.

Written as a third-party plugin would be: it imports only the plugin API and the
standard library, and every method is a pure function of its arguments.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, timedelta
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
    check_basket,
)

VALIDITIES = ("365_from_first_entry", "365_from_purchase", "calendar_year")
FACE_CHOICES = ("optional", "required")
VALIDITY_DAYS = 365
# Units are stored in product_units.unit, a String(20).
UNIT_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,19}")

DEFAULTS: dict[str, Any] = {
    "validity": "365_from_purchase",
    "entries_per_day": None,
    "member_discount_pct": 0,
    "priority_lane": False,
    "member_only_dates": [],
    "face": "optional",
    "renewal_price": {},
    "renewal_grace_days": 30,
    "blackout_dates": [],
}


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


def _bool(raw: Any, field: str) -> bool:
    if not isinstance(raw, bool):
        raise _invalid(field, f"'{field}' must be true or false.")
    return raw


def _choice(raw: Any, field: str, choices: tuple[str, ...]) -> str:
    if raw not in choices:
        raise _invalid(field, f"'{field}' must be one of {', '.join(choices)}; got {raw!r}.")
    return str(raw)


def _unit_prices(raw: Any, field: str, *, allow_empty: bool) -> dict[str, int]:
    if not isinstance(raw, Mapping) or (not raw and not allow_empty):
        raise _invalid(field, f"'{field}' must map each unit (adult, senior, ...) to a price.")
    prices: dict[str, int] = {}
    for unit, price in raw.items():
        if not isinstance(unit, str) or not UNIT_PATTERN.fullmatch(unit):
            raise _invalid(field, f"'{field}' has an invalid unit name {unit!r}.")
        prices[unit] = _int(price, field, low=0)
    return dict(sorted(prices.items()))


def _dates(raw: Any, field: str) -> list[str]:
    if not isinstance(raw, list | tuple):
        raise _invalid(field, f"'{field}' must be a list of dates (YYYY-MM-DD).")
    days: set[date] = set()
    for item in raw:
        if isinstance(item, date):
            days.add(item)
            continue
        try:
            days.add(date.fromisoformat(item))
        except (TypeError, ValueError):
            raise _invalid(field, f"'{field}' has {item!r}, which is not a date.") from None
    # Sorted and deduplicated so the stored form does not depend on entry order.
    return [day.isoformat() for day in sorted(days)]


def _check_lines(request: QuoteRequest, prices: Mapping[str, int]) -> None:
    # A closed day does not stop a purchase: the card starts that day.
    check_basket(request, prices, open_day_required=False)


class AnnualCard:
    key = "annual_card"
    name_zh = "年卡"
    name_en = "Annual card"
    renews = True
    config_fields = (
        ConfigField(
            "prices",
            FieldKind.JSON,
            "各类人群价格",
            "Price per unit",
            required=True,
            help_zh='如 {"adult": 39800, "senior": 19900}, 单位为分',
            help_en='e.g. {"adult": 39800, "senior": 19900} in minor units',
        ),
        ConfigField(
            "validity",
            FieldKind.CHOICE,
            "有效期",
            "Validity",
            default=DEFAULTS["validity"],
            choices=VALIDITIES,
            help_zh="首次入园起365天 / 购买起365天 / 自然年",
            help_en="365 days from first entry / from purchase / the calendar year",
        ),
        ConfigField(
            "entries_per_day",
            FieldKind.INTEGER,
            "每日入园次数",
            "Entries per day",
            help_zh="留空为不限",
            help_en="Empty for unlimited",
        ),
        ConfigField(
            "member_discount_pct",
            FieldKind.INTEGER,
            "会员购买其他产品折扣 %",
            "Member discount on other products (%)",
            default=0,
        ),
        ConfigField("priority_lane", FieldKind.BOOLEAN, "优先通道", "Priority lane", default=False),
        ConfigField(
            "member_only_dates", FieldKind.DATES, "会员专享日", "Member-only dates", default=[]
        ),
        ConfigField(
            "face",
            FieldKind.CHOICE,
            "人脸录入",
            "Face enrolment",
            default="optional",
            choices=FACE_CHOICES,
        ),
        ConfigField(
            "renewal_price",
            FieldKind.JSON,
            "续卡价格",
            "Renewal price per unit",
            default={},
            help_zh="续卡时的价格；未设置的人群按原价续卡",
            help_en="What a renewal costs; units without one renew at the full price",
        ),
        ConfigField(
            "renewal_grace_days",
            FieldKind.INTEGER,
            "续卡宽限天数",
            "Renewal grace days",
            default=30,
        ),
        ConfigField("blackout_dates", FieldKind.DATES, "不可用日期", "Blackout dates", default=[]),
    )

    def validate_config(self, raw: Mapping[str, Any]) -> Mapping[str, Any]:
        if not isinstance(raw, Mapping):
            raise _invalid("config", "The configuration must be an object.")
        unknown = sorted(set(raw) - set(DEFAULTS) - {"prices"})
        if unknown:
            # A misspelt key would otherwise be silently ignored.
            raise _invalid(unknown[0], f"'{unknown[0]}' is not a setting of the annual card.")
        if "prices" not in raw:
            raise _invalid("prices", "'prices' is required.")
        values = {**DEFAULTS, **raw}
        prices = _unit_prices(values["prices"], "prices", allow_empty=False)
        renewal = _unit_prices(values["renewal_price"], "renewal_price", allow_empty=True)
        stray = sorted(set(renewal) - set(prices))
        if stray:
            raise _invalid("renewal_price", f"'renewal_price' names '{stray[0]}', not in prices.")
        entries = values["entries_per_day"]
        return {
            "prices": prices,
            "validity": _choice(values["validity"], "validity", VALIDITIES),
            "entries_per_day": None
            if entries is None
            else _int(entries, "entries_per_day", low=1, high=99),
            "member_discount_pct": _int(
                values["member_discount_pct"], "member_discount_pct", low=0, high=100
            ),
            "priority_lane": _bool(values["priority_lane"], "priority_lane"),
            "member_only_dates": _dates(values["member_only_dates"], "member_only_dates"),
            "face": _choice(values["face"], "face", FACE_CHOICES),
            "renewal_price": renewal,
            "renewal_grace_days": _int(
                values["renewal_grace_days"], "renewal_grace_days", low=0, high=365
            ),
            "blackout_dates": _dates(values["blackout_dates"], "blackout_dates"),
        }

    def validate_basket(self, request: QuoteRequest) -> None:
        # A closed day or a blackout date does not stop a purchase: the card starts
        # that day and the gate applies blackout dates on each visit.
        _check_lines(request, request.config["prices"])
        if request.slot is not None:
            raise BasketRejected(
                "An annual card is not sold by time slot.",
                code="unknown_slot",
                details={"slot": request.slot},
            )
        if request.day.date > date.max - timedelta(days=VALIDITY_DAYS):
            raise BasketRejected(
                "The purchase date is too far in the future.",
                code="date_out_of_range",
                details={"date": request.day.date.isoformat()},
            )
        if request.renewal is not None:
            self._check_renewal(request)

    @staticmethod
    def _check_renewal(request: QuoteRequest) -> None:
        renewal = request.renewal
        assert renewal is not None
        if len(request.lines) != 1 or request.lines[0].quantity != 1:
            raise BasketRejected(
                "A renewal is for one card: give one person.", code="renewal_basket"
            )
        if request.lines[0].unit != renewal.unit:
            raise BasketRejected(
                f"The card renewed is a '{renewal.unit}' card.",
                code="renewal_basket",
                details={"unit": renewal.unit},
            )
        grace = request.config["renewal_grace_days"]
        last_day = renewal.valid_to + timedelta(days=grace)
        if request.day.date > last_day:
            raise BasketRejected(
                f"Renewal closed on {last_day.isoformat()}, {grace} days after the card "
                "ended; buy a new card instead.",
                code="renewal_window_closed",
                details={"valid_to": renewal.valid_to.isoformat(), "grace_days": grace},
            )

    def quote(self, request: QuoteRequest) -> Quote:
        # Checked here as well, so a caller that skips validate_basket gets a 422,
        # not a KeyError.
        self.validate_basket(request)
        prices = request.config["prices"]
        renewal = request.renewal
        lines = []
        for line in request.lines:
            base = prices[line.unit]
            adjustments: tuple[Adjustment, ...] = ()
            renewal_price = request.config["renewal_price"].get(line.unit)
            if renewal is not None and renewal_price is not None and renewal_price != base:
                adjustments = (
                    Adjustment(
                        "renewal",
                        f"续卡价 / renewal of the card valid to {renewal.valid_to.isoformat()}",
                        renewal_price - base,
                    ),
                )
            lines.append(
                QuoteLine(
                    unit=line.unit,
                    quantity=line.quantity,
                    base_price=base,
                    adjustments=adjustments,
                )
            )
        return Quote(currency=request.currency, lines=tuple(lines))

    def entitlements(self, request: QuoteRequest) -> tuple[Entitlement, ...]:
        self.validate_basket(request)
        config = request.config
        start = request.day.date
        validity = config["validity"]
        renewal = request.renewal
        if renewal is not None:
            # A renewal carries on from the old card without a gap or an overlap.
            start = max(start, renewal.valid_to + timedelta(days=1))
        if validity == "calendar_year":
            end = date(start.year, 12, 31)
        else:
            # For first-entry cards this is the latest day if used on the day of
            # purchase; the gate moves the window when it sees the first entry.
            end = start + timedelta(days=VALIDITY_DAYS - 1)
        first_entry = validity == "365_from_first_entry" and renewal is None
        extras_base: dict[str, Any] = {
            "validity": validity,
            "activation": "first_entry" if first_entry else "purchase",
            "blackout_dates": list(config["blackout_dates"]),
            "member_only_dates": list(config["member_only_dates"]),
            "priority_lane": config["priority_lane"],
            "member_discount_pct": config["member_discount_pct"],
            "renewal_grace_days": config["renewal_grace_days"],
        }
        if validity != "calendar_year":
            extras_base["validity_days"] = VALIDITY_DAYS
        if renewal is not None:
            extras_base["renews_card_valid_to"] = renewal.valid_to.isoformat()
        entries_per_day = config["entries_per_day"]
        result: list[Entitlement] = []
        for line in request.lines:
            extras = {**extras_base, "renewal_price": config["renewal_price"].get(line.unit)}
            # One card per person: each is a real-name membership of its own.
            result.extend(
                Entitlement(
                    unit=line.unit,
                    valid_from=start,
                    valid_to=end,
                    entries_per_day=entries_per_day,
                    entries_total=None,
                    real_name_required=True,
                    face_required=config["face"] == "required",
                    # With a daily limit every entry counts, so no free re-entry.
                    reentry_allowed=entries_per_day is None,
                    extras=dict(extras),
                )
                for _ in range(line.quantity)
            )
        return tuple(result)
