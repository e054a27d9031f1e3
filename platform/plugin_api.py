"""The pricing plugin API: the only module a pricing plugin may import from Vistapass.

A pricing mode is a class registered under the entry point group
`vistapass.pricing` (ours are registered the same way in pyproject.toml):

    [project.entry-points."vistapass.pricing"]
    my_mode = "my_package.pricing:MyMode"

Vistapass instantiates it once per process with no arguments. Every value that
crosses this boundary is a frozen dataclass defined here; money is always an
integer number of minor units (fen for CNY) in the park's currency.

Failure behaviour, for every extension point: raise `InvalidConfig` for a
configuration the operator must fix, `BasketRejected` for a basket the buyer
must change. Both carry a stable `code` and a human message naming the rule;
Vistapass turns them into 422 answers. Any other exception is a bug in the
plugin and is reported as a 500 without changing anything stored.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

ENTRY_POINT_GROUP = "vistapass.pricing"
MAX_QUANTITY = 99


class DayKind(StrEnum):
    WEEKDAY = "weekday"
    WEEKEND = "weekend"
    HOLIDAY = "holiday"


class FieldKind(StrEnum):
    """How the console renders and parses a configuration field."""

    MONEY = "money"  # integer minor units
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    TEXT = "text"
    CHOICE = "choice"
    DATES = "dates"  # a list of ISO dates
    JSON = "json"  # structured values (per-unit prices, slot lists, ...)


@dataclass(frozen=True, slots=True)
class ConfigField:
    """One field of a mode's configuration form."""

    name: str
    kind: FieldKind
    label_zh: str
    label_en: str
    required: bool = False
    default: Any = None
    choices: tuple[str, ...] = ()
    help_zh: str = ""
    help_en: str = ""


@dataclass(frozen=True, slots=True)
class Day:
    """What the park's calendar says about the visit date."""

    date: date
    kind: DayKind
    is_open: bool = True
    holiday_name: str | None = None


@dataclass(frozen=True, slots=True)
class BasketLine:
    """`quantity` units of one kind (`adult`, `child`, ...); ages when the buyer gave them."""

    unit: str
    quantity: int
    ages: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Renewal:
    """The membership a buyer renews. Vistapass has checked that it exists, is of
    this product, was paid and is not refunded; the mode decides the price and dates."""

    unit: str
    valid_from: date
    valid_to: date


@dataclass(frozen=True, slots=True)
class QuoteRequest:
    """Everything a mode may price on. `config` is the output of `validate_config`.

    `renewal` is set only for modes that declare `renews = True` (see PricingMode).
    """

    config: Mapping[str, Any]
    lines: tuple[BasketLine, ...]
    day: Day
    channel: str
    currency: str
    slot: str | None = None
    renewal: Renewal | None = None


@dataclass(frozen=True, slots=True)
class Adjustment:
    """A change to a price with its reason (`weekend`, `channel:ctrip`, `bundle_discount`)."""

    code: str
    reason: str
    amount: int  # minor units; negative for a discount


@dataclass(frozen=True, slots=True)
class QuoteLine:
    unit: str
    quantity: int
    base_price: int  # per unit, before adjustments
    adjustments: tuple[Adjustment, ...] = ()  # per unit

    @property
    def unit_price(self) -> int:
        return self.base_price + sum(a.amount for a in self.adjustments)

    @property
    def total(self) -> int:
        return self.unit_price * self.quantity


@dataclass(frozen=True, slots=True)
class Quote:
    currency: str
    lines: tuple[QuoteLine, ...]
    adjustments: tuple[Adjustment, ...] = ()  # for the whole basket

    @property
    def subtotal(self) -> int:
        return sum(line.total for line in self.lines)

    @property
    def total(self) -> int:
        return self.subtotal + sum(a.amount for a in self.adjustments)


@dataclass(frozen=True, slots=True)
class Entitlement:
    """What one ticket lets its holder do at the gate. The gate reads only this."""

    unit: str
    valid_from: date
    valid_to: date
    slot: str | None = None
    entries_per_day: int | None = None  # None: unlimited
    entries_total: int | None = None  # None: unlimited
    zones: tuple[str, ...] = ()  # empty: every zone
    real_name_required: bool = False
    face_required: bool = False
    reentry_allowed: bool = False
    extras: Mapping[str, Any] = field(default_factory=dict)


class PricingError(Exception):
    code = "pricing_error"

    def __init__(
        self, message: str, *, code: str | None = None, details: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.code
        self.details = dict(details or {})


class InvalidConfig(PricingError):
    """The operator's configuration breaks a rule of the mode."""

    code = "invalid_config"


class BasketRejected(PricingError):
    """The buyer's basket breaks a rule (composition, quantities, slot, date)."""

    code = "basket_rejected"


@runtime_checkable
class PricingMode(Protocol):
    """A way of charging. Implementations must be pure: the same inputs give the
    same outputs, with no I/O, so a price can be recomputed and audited."""

    key: str
    name_zh: str
    name_en: str
    config_fields: Sequence[ConfigField]
    # Optional: a mode that sells renewable memberships sets a class attribute
    # `renews = True` and reads `QuoteRequest.renewal`; Vistapass refuses a renewal
    # for any mode without it (it is not part of the protocol, so older plugins
    # that lack it stay valid).

    def validate_config(self, raw: Mapping[str, Any]) -> Mapping[str, Any]:
        """Check and normalise a configuration as entered; return what is stored.

        Raises InvalidConfig naming the field and the rule.
        """
        ...

    def validate_basket(self, request: QuoteRequest) -> None:
        """Refuse a basket this mode cannot sell (e.g. a bundle of the wrong shape).

        Raises BasketRejected. Called before `quote` and `entitlements`.
        """
        ...

    def quote(self, request: QuoteRequest) -> Quote:
        """Price the basket: one line per unit kind, every adjustment itemised.

        Totals are never negative. Raises BasketRejected (e.g. a slot that does
        not exist).
        """
        ...

    def entitlements(self, request: QuoteRequest) -> tuple[Entitlement, ...]:
        """One entitlement per person admitted (a family of four gets four)."""
        ...


@dataclass(frozen=True, slots=True)
class SlotInfo:
    """A time slot a mode sells, with its own capacity (None: only the product's)."""

    code: str
    start: str  # "HH:MM", the park's local time
    end: str
    capacity: int | None = None


@runtime_checkable
class SlotCatalog(Protocol):
    """Optional: a mode whose baskets name a slot says which slots exist.

    Vistapass reads it to count places per slot and to show the slots a buyer can
    choose. A mode without slots does not implement it.
    """

    def slots(self, config: Mapping[str, Any]) -> tuple[SlotInfo, ...]:
        """The slots of a day under `config` (as `validate_config` returned it)."""
        ...


def check_basket(
    request: QuoteRequest, units: Collection[str], *, open_day_required: bool = True
) -> dict[str, int]:
    """The checks every mode makes on a basket, with the same codes in every mode.

    Refuses (BasketRejected): a closed day (`closed_day`, unless the mode sells on
    closed days, as an annual card does), an empty basket (`empty_basket`), a
    quantity that is not a whole number from 1 to MAX_QUANTITY (`invalid_quantity`),
    a unit the product does not sell (`unknown_unit`), a unit on two lines
    (`duplicate_unit`: one line per unit keeps the quote itemised one-to-one), and
    ages given for some but not all of a line's people (`ages_mismatch`).
    Returns the number of people per unit.
    """
    if open_day_required and not request.day.is_open:
        raise BasketRejected(
            f"The park is closed on {request.day.date.isoformat()}.",
            code="closed_day",
            details={"date": request.day.date.isoformat()},
        )
    if not request.lines:
        raise BasketRejected("A basket needs at least one person.", code="empty_basket")
    counts: dict[str, int] = {}
    for line in request.lines:
        quantity = line.quantity
        if isinstance(quantity, bool) or not isinstance(quantity, int):
            raise BasketRejected(
                "A quantity is a whole number.",
                code="invalid_quantity",
                details={"unit": line.unit},
            )
        if not 1 <= quantity <= MAX_QUANTITY:
            raise BasketRejected(
                f"Each line takes 1 to {MAX_QUANTITY} people; '{line.unit}' has {quantity}.",
                code="invalid_quantity",
                details={"unit": line.unit, "quantity": quantity, "max": MAX_QUANTITY},
            )
        if line.unit not in units:
            raise BasketRejected(
                f"This product is not sold for '{line.unit}'.",
                code="unknown_unit",
                details={"unit": line.unit, "known": sorted(units)},
            )
        if line.unit in counts:
            raise BasketRejected(
                f"'{line.unit}' appears on more than one line; give one line per unit.",
                code="duplicate_unit",
                details={"unit": line.unit},
            )
        if line.ages and len(line.ages) != quantity:
            raise BasketRejected(
                f"'{line.unit}' has {quantity} people but {len(line.ages)} ages.",
                code="ages_mismatch",
                details={"unit": line.unit},
            )
        counts[line.unit] = quantity
    return counts
