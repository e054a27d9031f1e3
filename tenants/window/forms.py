"""The window sale form: what the cashier typed, checked and turned into an order request."""

from __future__ import annotations

import contextlib
import re
import uuid
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from vistapass.platform.errors import VistapassError
from vistapass.platform.plugin_api import BasketLine
from vistapass.tenants.orders.holders import HolderIn
from vistapass.tenants.orders.service import Buyer, OrderRequest

MAX_QUANTITY = 99
MAX_HOLDERS = 50
PAYMENTS = ("cash", "card_terminal")
_MONEY = re.compile(r"(\d{1,9})(?:[.,](\d{1,2}))?")


class SaleFormError(VistapassError):
    status_code = 422
    code = "invalid_sale_form"


@dataclass
class SaleForm:
    product: str
    day: date | None
    slot: str | None
    quantities: dict[str, int]
    holders: list[HolderIn]
    payment: str
    tendered: int | None  # cash received, in minor units
    key: str
    action: str
    values: dict[str, Any] = field(default_factory=dict)  # as typed, to show again

    def lines(self) -> tuple[BasketLine, ...]:
        return tuple(BasketLine(unit=u, quantity=q) for u, q in self.quantities.items() if q > 0)

    def order_request(self, sold_by: uuid.UUID, language: str) -> OrderRequest:
        assert self.day is not None
        return OrderRequest(
            product=self.product,
            visit_date=self.day,
            slot=self.slot,
            channel="window",
            lines=self.lines(),
            buyer=Buyer(
                name=self.values.get("contact_name", ""),
                phone=self.values.get("contact_phone", ""),
                locale=language,
            ),
            provider=self.payment,
            holders=tuple(self.holders),
            sold_by=sold_by,
        )

    def fingerprint(self) -> dict[str, Any]:
        """What the idempotency key stands for: the same key with another sale is refused."""
        return {
            "product": self.product,
            "date": self.day.isoformat() if self.day else None,
            "slot": self.slot,
            "lines": sorted(self.quantities.items()),
            "holders": [(h.name, h.document_type, h.document_number) for h in self.holders],
            "payment": self.payment,
        }


def parse_money(text: str) -> int | None:
    """'200', '200.5' or '200,50' yuan as fen; '' is None."""
    text = text.strip().replace("¥", "").replace("￥", "").strip()
    if not text:
        return None
    match = _MONEY.fullmatch(text)
    if match is None:
        raise SaleFormError(
            "Type the cash received as an amount, e.g. 200 or 200.50.",
            code="invalid_tendered",
            details={"field": "tendered"},
        )
    whole, cents = match.groups()
    return int(whole) * 100 + int((cents or "0").ljust(2, "0"))


def _text(form: Any, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def parse_sale(form: Any, units: list[str]) -> tuple[SaleForm, SaleFormError | None]:
    """The form as typed, and the first thing wrong with it (None: ready to price)."""
    values: dict[str, Any] = {
        name: _text(form, name)
        for name in ("product", "date", "slot", "payment", "tendered", "contact_name")
    }
    values["contact_phone"] = _text(form, "contact_phone")
    quantities: dict[str, int] = {}
    errors: list[str] = []
    for unit in units:
        raw = _text(form, f"qty_{unit}")
        values[f"qty_{unit}"] = raw
        if not raw:
            continue
        if not raw.isdigit() or int(raw) > MAX_QUANTITY:
            errors.append(unit)
            continue
        quantities[unit] = int(raw)
    holders: list[HolderIn] = []
    typed: list[dict[str, str]] = []
    for position in range(MAX_HOLDERS):
        name = _text(form, f"holder_name_{position}")
        kind = _text(form, f"holder_type_{position}")
        number = _text(form, f"holder_number_{position}")
        if not (name or number) and f"holder_name_{position}" not in form:
            break
        typed.append({"name": name, "document_type": kind, "document_number": number})
        holders.append(HolderIn(name, kind, number))
    values["holders"] = typed
    day: date | None = None
    with contextlib.suppress(ValueError):
        day = date.fromisoformat(values["date"])
    sale = SaleForm(
        product=values["product"],
        day=day,
        slot=values["slot"] or None,
        quantities=quantities,
        holders=holders,
        payment=values["payment"] if values["payment"] in PAYMENTS else "cash",
        tendered=None,
        key=_text(form, "key"),
        action=_text(form, "action") or "sell",
        values=values,
    )
    if errors:
        return sale, SaleFormError(
            f"A quantity is a whole number from 0 to {MAX_QUANTITY}.",
            code="invalid_quantity",
            details={"field": f"qty_{errors[0]}"},
        )
    if not any(quantities.values()):
        return sale, SaleFormError(
            "Add at least one person.",
            code="empty_basket",
            details={"field": f"qty_{units[0]}" if units else "product"},
        )
    if day is None:
        return sale, SaleFormError(
            "Choose the visit date.", code="date_required", details={"field": "date"}
        )
    if sale.payment == "cash":
        try:
            sale.tendered = parse_money(values["tendered"])
        except SaleFormError as exc:
            return sale, exc
    return sale, None
