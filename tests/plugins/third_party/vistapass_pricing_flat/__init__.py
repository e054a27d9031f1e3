"""A third party's pricing mode: one price for everyone, whatever the day or channel.

Written as an outside package would be: it imports nothing from Vistapass but the
plugin API, and is found through its `vistapass.pricing` entry point.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vistapass.platform.plugin_api import (
    BasketRejected,
    ConfigField,
    Entitlement,
    FieldKind,
    InvalidConfig,
    Quote,
    QuoteLine,
    QuoteRequest,
)


class FlatFee:
    key = "flat_fee"
    name_zh = "统一价"
    name_en = "Flat fee"
    config_fields = (
        ConfigField(
            name="price",
            kind=FieldKind.MONEY,
            label_zh="票价(分)",
            label_en="Price (minor units)",
            required=True,
        ),
    )

    def validate_config(self, raw: Mapping[str, Any]) -> Mapping[str, Any]:
        price = raw.get("price")
        # bool is an int subclass, and True is no price.
        if not isinstance(price, int) or isinstance(price, bool) or price < 0:
            raise InvalidConfig(
                "price must be a whole number of minor units, 0 or more.",
                details={"field": "price"},
            )
        return {"price": price}

    def validate_basket(self, request: QuoteRequest) -> None:
        for line in request.lines:
            if not 1 <= line.quantity <= 99:
                raise BasketRejected(
                    "Each line holds 1 to 99 people.",
                    code="invalid_quantity",
                    details={"unit": line.unit},
                )

    def quote(self, request: QuoteRequest) -> Quote:
        price = self.validate_config(request.config)["price"]
        return Quote(
            currency=request.currency,
            lines=tuple(
                QuoteLine(unit=line.unit, quantity=line.quantity, base_price=price)
                for line in request.lines
            ),
        )

    def entitlements(self, request: QuoteRequest) -> tuple[Entitlement, ...]:
        day = request.day.date
        return tuple(
            Entitlement(unit=line.unit, valid_from=day, valid_to=day, entries_total=1)
            for line in request.lines
            for _ in range(line.quantity)
        )
