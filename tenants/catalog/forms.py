"""Console forms of the catalogue: from submitted text to the values the service checks.

The pricing configuration form is built from the mode's `config_fields`, so a
third party's mode gets a form without any template of its own; each field is
parsed back by its kind before the mode's `validate_config` sees it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date
from typing import Any

from vistapass.platform.plugin_api import FieldKind, PricingMode
from vistapass.tenants.catalog import service

TEXT_INPUTS = (*service.TEXT_FIELDS, "pricing_mode", *service.DATE_FIELDS, "status")
CONFIG_PREFIX = "cfg."
UNIT_ROWS_SPARE = 2


def text_of(form: Any, name: str) -> str:
    value = form.get(name, "")
    return value.strip() if isinstance(value, str) else ""


def _number(text: str) -> Any:
    """An integer when the text is one; otherwise the text, for the service to refuse."""
    try:
        return int(text)
    except ValueError:
        return text


def _optional_int(text: str) -> Any:
    return None if text == "" else _number(text)


def product_values(form: Any) -> dict[str, Any]:
    values: dict[str, Any] = {name: text_of(form, name) for name in TEXT_INPUTS if name in form}
    values["channels"] = [c for c in form.getall("channels", []) if isinstance(c, str)]
    for name in service.FLAG_FIELDS:
        values[name] = form.get(name) == "on"
    values["tax_rate_bp"] = _number(text_of(form, "tax_rate_bp") or "0")
    values["sort_order"] = _number(text_of(form, "sort_order") or "0")
    kind = text_of(form, "refund_kind")
    policy: dict[str, Any] = {"kind": kind}
    if kind == "free_until":
        policy["hours"] = _number(text_of(form, "refund_hours") or "0")
    elif kind == "fee":
        policy["percent"] = _number(text_of(form, "refund_percent") or "0")
    values["refund_policy"] = policy
    # Only when the form has them, so a form without them leaves the stored limits alone.
    # The pool checkboxes come with a hidden empty `pool_codes`: no box ticked is "no pools".
    if "daily_capacity" in form:
        values["daily_capacity"] = _optional_int(text_of(form, "daily_capacity"))
    if "id_limit_per_day" in form:
        values["id_limit_per_day"] = _number(text_of(form, "id_limit_per_day") or "1")
    if "pool_codes" in form:
        values["pool_codes"] = [
            c for c in form.getall("pool_codes", []) if isinstance(c, str) and c
        ]
    return values


def form_product(product: Any, values: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What the edit form shows: the stored product, or what was just submitted."""
    shown = service.product_dict(product)
    if values:
        shown.update(values)
    policy = shown.get("refund_policy") or {}
    shown["refund_kind"] = policy.get("kind", "none")
    shown["refund_hours"] = policy.get("hours", "")
    shown["refund_percent"] = policy.get("percent", "")
    for name in service.DATE_FIELDS:
        value = shown.get(name)
        shown[name] = value.isoformat() if isinstance(value, date) else (value or "")
    if shown.get("daily_capacity") is None:
        shown["daily_capacity"] = ""  # no limit of its own
    return shown


def _shown(kind: FieldKind, value: Any) -> str:
    if value is None:
        return ""
    if kind == FieldKind.JSON:
        return json.dumps(value, ensure_ascii=False, indent=2)
    if kind == FieldKind.DATES:
        return "\n".join(str(v) for v in value) if isinstance(value, list | tuple) else str(value)
    return str(value)


def config_fields(
    mode: PricingMode, config: Mapping[str, Any], lang: str, submitted: Any = None
) -> list[dict[str, Any]]:
    """The mode's fields ready for the template, filled from the config or the submission."""
    english = lang == "en"
    fields = []
    for field in mode.config_fields:
        name = CONFIG_PREFIX + field.name
        kind = FieldKind(field.kind)
        if submitted is not None:
            text = submitted.get(name, "")
            text = text if isinstance(text, str) else ""
            checked = submitted.get(name) == "on"
        else:
            value = config.get(field.name, field.default)
            text = _shown(kind, value)
            checked = value is True
        fields.append(
            {
                "name": field.name,
                "input": name,
                "kind": str(kind),
                "label": field.label_en if english else field.label_zh,
                "help": field.help_en if english else field.help_zh,
                "required": field.required,
                "choices": list(field.choices),
                "value": text,
                "checked": checked,
            }
        )
    return fields


def _parse_field(kind: FieldKind, text: str) -> Any:
    if kind in (FieldKind.MONEY, FieldKind.INTEGER):
        return int(text)
    if kind == FieldKind.NUMBER:
        number = float(text)
        return int(number) if number.is_integer() else number
    if kind == FieldKind.DATES:
        parts = [p.strip() for p in text.replace(",", "\n").splitlines() if p.strip()]
        return [date.fromisoformat(p).isoformat() for p in parts]
    if kind == FieldKind.JSON:
        return json.loads(text)
    return text


PARSE_MESSAGES = {
    FieldKind.MONEY: "A whole number of minor units (fen), e.g. 12000.",
    FieldKind.INTEGER: "A whole number.",
    FieldKind.NUMBER: "A number, e.g. 1.5.",
    FieldKind.DATES: "Dates like 2026-10-01, one per line.",
    FieldKind.JSON: "Valid JSON.",
}


def parse_config(mode: PricingMode, form: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """The raw configuration for `validate_config`, and the fields that could not be read.

    An empty optional field is left out, so the mode applies its own default.
    """
    raw: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for field in mode.config_fields:
        kind = FieldKind(field.kind)
        name = CONFIG_PREFIX + field.name
        if kind == FieldKind.BOOLEAN:
            raw[field.name] = form.get(name) == "on"
            continue
        text = form.get(name, "")
        text = text.strip() if isinstance(text, str) else ""
        if text == "":
            continue
        try:
            raw[field.name] = _parse_field(kind, text)
        except ValueError:  # json.JSONDecodeError is a ValueError too
            errors[field.name] = PARSE_MESSAGES.get(kind, "This value cannot be read.")
    return raw, errors


def unit_rows(units: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The units table: the saved units, then a few empty rows to add more."""
    blank = dict.fromkeys(service.UNIT_FIELDS, "")
    rows = [{k: ("" if v is None else v) for k, v in u.items()} for u in units]
    return rows + [dict(blank) for _ in range(UNIT_ROWS_SPARE)]


def units_values(form: Any) -> list[dict[str, Any]]:
    """Rows with no unit chosen are empty rows of the table, not units."""
    count = _number(text_of(form, "rows") or "0")
    units = []
    for index in range(count if isinstance(count, int) and 0 <= count <= 50 else 0):
        prefix = f"units-{index}-"
        if not text_of(form, prefix + "unit"):
            continue
        unit: dict[str, Any] = {}
        for field in service.UNIT_FIELDS:
            text = text_of(form, prefix + field)
            numeric = field.startswith(("min_", "max_"))
            unit[field] = _optional_int(text) if numeric else text
        units.append(unit)
    return units
