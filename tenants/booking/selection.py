"""The visitor's choice on step 1: product, date, slot, how many of each kind of
person, and ages where the product asks for them.

It travels as plain query parameters (`date`, `slot`, `qty_<unit>`, `age_<unit>`
once per person) from step 1 to step 2 and back, in links and in hidden fields,
so every step works without a script and survives the back button. Whatever is
typed is kept as typed; only `lines()` decides what goes into a basket.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol
from urllib.parse import urlencode

from vistapass.platform.plugin_api import BasketLine
from vistapass.tenants.models import Product

MAX_QUANTITY = 99
# Whole years in ASCII digits: anything else (or a blank) leaves the ages out, and the
# pricing mode says what it is missing.
AGE = re.compile(r"[0-9]{1,3}")
STEP_UP, STEP_DOWN = "+1", "-1"


class Params(Protocol):
    """A query string or a posted form: both may repeat a name."""

    def get(self, key: str, default: Any = None) -> Any: ...

    def getall(self, key: str, default: Any = None) -> Any: ...


def _texts(params: Params, key: str) -> list[str]:
    return [value for value in params.getall(key, []) if isinstance(value, str)]


def _text(params: Params, key: str) -> str:
    value = params.get(key)
    return value.strip() if isinstance(value, str) else ""


def age_limits(product: Product) -> dict[str, int]:
    """Units whose members' ages the product checks, with the oldest age allowed.

    A family bundle's composition may cap a unit's age (children ≤ 12 in the demo
    pack); those people are asked their age on step 1.
    """
    composition = (product.pricing_config or {}).get("composition")
    if not isinstance(composition, Mapping):
        return {}
    return {
        unit: rule["max_age"]
        for unit, rule in composition.items()
        if isinstance(rule, Mapping) and isinstance(rule.get("max_age"), int)
    }


def ages_required(product: Product) -> bool:
    return bool((product.pricing_config or {}).get("ages_required"))


def default_quantities(product: Product, units: Sequence[str]) -> dict[str, int]:
    """What step 1 starts with: a pack's smallest shape, else one of the first kind."""
    composition = (product.pricing_config or {}).get("composition")
    if isinstance(composition, Mapping):
        start = {
            unit: int(rule.get("min") or 0)
            for unit, rule in composition.items()
            if unit in units and isinstance(rule, Mapping)
        }
        if any(start.values()):
            return {unit: start.get(unit, 0) for unit in units}
    return {unit: (1 if position == 0 else 0) for position, unit in enumerate(units)}


@dataclass
class Selection:
    product: str
    day: date | None = None
    day_text: str = ""  # as given, so a mangled date is shown back, not lost
    slot: str | None = None
    quantities: dict[str, int] = field(default_factory=dict)
    ages: dict[str, list[str]] = field(default_factory=dict)  # as typed, one per person
    renew: bool = False  # a signed-in member renewing their card (see booking.member)

    @property
    def people(self) -> int:
        return sum(self.quantities.values())

    def lines(self) -> tuple[BasketLine, ...]:
        """The basket: units with people in them, ages only when every one is given."""
        lines = []
        for unit, quantity in self.quantities.items():
            if quantity <= 0:
                continue
            typed = self.ages.get(unit, [])
            ages: tuple[int, ...] = ()
            if typed and all(AGE.fullmatch(text) for text in typed):
                ages = tuple(int(text) for text in typed)
            lines.append(BasketLine(unit=unit, quantity=quantity, ages=ages))
        return tuple(lines)

    def pairs(self) -> list[tuple[str, str]]:
        """The selection as (name, value) pairs: for links and hidden fields alike."""
        pairs: list[tuple[str, str]] = []
        if self.day is not None:
            pairs.append(("date", self.day.isoformat()))
        if self.slot:
            pairs.append(("slot", self.slot))
        for unit, quantity in self.quantities.items():
            pairs.append((f"qty_{unit}", str(quantity)))
            pairs.extend((f"age_{unit}", text) for text in self.ages.get(unit, []))
        if self.renew:
            pairs.append(("renew", "1"))
        return pairs

    def query(self) -> str:
        return urlencode(self.pairs())


def _quantity(raw: str, default: int) -> int:
    try:
        return max(0, min(MAX_QUANTITY, int(raw)))
    except ValueError:
        return default


def read_selection(
    params: Params,
    product: Product,
    units: Sequence[str],
    *,
    slots: Iterable[str] = (),
) -> Selection:
    """The selection in `params`; what is missing keeps the product's defaults.

    A no-script stepper is a submit button named `step` with `<unit>:+1` or
    `<unit>:-1`: it is applied here, so the page comes back with the new count.
    """
    defaults = default_quantities(product, units)
    explicit = any(params.get(f"qty_{unit}") is not None for unit in units)
    quantities = {
        unit: _quantity(_text(params, f"qty_{unit}"), 0 if explicit else defaults[unit])
        for unit in units
    }
    step_unit, _, step = _text(params, "step").rpartition(":")
    if step_unit in quantities and step in (STEP_UP, STEP_DOWN):
        change = 1 if step == STEP_UP else -1
        quantities[step_unit] = max(0, min(MAX_QUANTITY, quantities[step_unit] + change))
    ages = {}
    for unit in age_limits(product):
        if unit not in quantities:
            continue
        typed = [text.strip() for text in _texts(params, f"age_{unit}")]
        wanted = quantities[unit]
        ages[unit] = (typed + [""] * wanted)[:wanted]
    day_text = _text(params, "date")
    day = None
    if day_text:
        try:
            day = date.fromisoformat(day_text)
        except ValueError:
            day = None
    slot = _text(params, "slot") or None
    known_slots = set(slots)
    if slot is not None and known_slots and slot not in known_slots:
        slot = None
    return Selection(
        product=product.code,
        day=day,
        day_text=day_text,
        slot=slot,
        quantities=quantities,
        ages=ages,
        renew=_text(params, "renew") == "1",
    )


def from_order_lines(
    product: Product, units: Sequence[str], visit: date, slot: str | None, lines: Iterable[Any]
) -> Selection:
    """Step 1 again for an order whose hold ended: the same day, slot and people."""
    quantities = dict.fromkeys(units, 0)
    for line in lines:
        if isinstance(line, Mapping) and line.get("unit") in quantities:
            quantities[line["unit"]] = int(line.get("quantity") or 0)
    ages = {unit: [""] * quantities[unit] for unit in age_limits(product) if unit in quantities}
    return Selection(product.code, visit, visit.isoformat(), slot, quantities, ages)
