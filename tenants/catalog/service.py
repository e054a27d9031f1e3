"""Products, their units and the pricing modes a park has switched on.

Every function works on a tenant-bound session and records each change in the
park's audit chain inside the caller's transaction, so a refused change leaves
neither the row nor an audit entry behind.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from vistapass.platform import pricing_registry
from vistapass.platform.audit.service import Actor, jsonable, record
from vistapass.platform.errors import Conflict, NotFound, VistapassError
from vistapass.platform.plugin_api import InvalidConfig
from vistapass.tenants.capacity.pools import list_pools, unknown_pools
from vistapass.tenants.catalog.modes import enabled_modes
from vistapass.tenants.models import CapacityPool
from vistapass.tenants.models.catalog import Product, ProductUnit

CODE = re.compile(r"[a-z0-9][a-z0-9-]{0,59}")
CHANNELS = ("web", "window", "partner", "ota:ctrip", "ota:meituan", "ota:fliggy")
UNITS = ("adult", "child", "senior", "student", "free")
STATUSES = ("draft", "on_sale", "off_sale")
REFUND_KINDS = ("free_until", "fee", "none")
TEXT_FIELDS = ("name_zh", "name_en", "description_zh", "description_en")
DATE_FIELDS = ("sale_from", "sale_to", "visit_from", "visit_to")
FLAG_FIELDS = ("real_name_required", "face_required", "flash_sale")
# Selling limits: the product's own daily places, the shared pools it draws on, and
# how many real-name tickets one ID document may hold per day.
CAPACITY_FIELDS = ("daily_capacity", "pool_codes", "id_limit_per_day")
MAX_CAPACITY = 1_000_000
EDITABLE = (
    *TEXT_FIELDS,
    "pricing_mode",
    "pricing_config",
    "channels",
    *DATE_FIELDS,
    "tax_rate_bp",
    "refund_policy",
    *FLAG_FIELDS,
    *CAPACITY_FIELDS,
    "status",
    "sort_order",
)
MAX_TEXT = 2000


class CatalogError(VistapassError):
    """A value the operator must fix; `details.field` names it."""

    status_code = 422
    code = "invalid_product"


class ProductNotFound(NotFound):
    code = "product_not_found"


class ProductCodeTaken(Conflict):
    code = "product_code_taken"


def _fail(code: str, field: str, message: str, **details: Any) -> CatalogError:
    return CatalogError(message, code=code, details={"field": field, **details})


def _int(value: Any, field: str, low: int, high: int, code: str) -> int:
    # bool is an int in Python; a JSON `true` is not a number.
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _fail(code, field, f"'{field}' is a whole number from {low} to {high}.")
    return value


def _date(value: Any, field: str) -> date | None:
    if value is None or value == "":
        return None
    try:
        if not isinstance(value, str):
            raise TypeError
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise _fail("invalid_window", field, f"'{field}' is a date like 2026-05-01.") from None


def _text(value: Any, field: str, *, required: bool) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str) or len(value.strip()) > MAX_TEXT:
        raise _fail("invalid_text", field, f"'{field}' is text of at most {MAX_TEXT} characters.")
    if required and not value.strip():
        raise _fail("name_required", field, f"'{field}' is required.")
    return value.strip()


def check_refund_policy(value: Any) -> dict[str, Any]:
    def bad() -> CatalogError:
        return _fail(
            "invalid_refund_policy",
            "refund_policy",
            'A refund policy is {"kind": "free_until", "hours": 0-720}, '
            '{"kind": "fee", "percent": 0-100} or {"kind": "none"}.',
        )

    if not isinstance(value, Mapping) or value.get("kind") not in REFUND_KINDS:
        raise bad()
    kind = value["kind"]
    extra = {"free_until": "hours", "fee": "percent"}.get(kind)
    if set(value) != {"kind", *([extra] if extra else [])}:
        raise bad()
    if extra is None:
        return {"kind": kind}
    number = value[extra]
    high = 720 if extra == "hours" else 100
    if isinstance(number, bool) or not isinstance(number, int) or not 0 <= number <= high:
        raise bad()
    return {"kind": kind, extra: number}


def check_mode_config(key: str, raw: Any) -> dict[str, Any]:
    """The mode's normalised configuration, or the plugin's refusal as a 422."""
    mode = pricing_registry.get_mode(key)
    if not isinstance(raw, Mapping):
        raise _fail("invalid_config", "pricing_config", "The pricing configuration is an object.")
    try:
        return dict(mode.validate_config(raw))
    except InvalidConfig as exc:
        details = {"mode": key, **exc.details}
        details.setdefault("field", None)
        raise CatalogError(exc.message, code=exc.code, details=details) from exc


def _check(field: str, value: Any) -> Any:
    """One editable field, normalised (the pricing config is checked with its mode)."""
    if field in TEXT_FIELDS:
        return _text(value, field, required=field in ("name_zh", "name_en"))
    if field in DATE_FIELDS:
        return _date(value, field)
    if field in FLAG_FIELDS:
        if not isinstance(value, bool):
            raise _fail("invalid_value", field, f"'{field}' is true or false.")
        return value
    if field == "pricing_config":
        return value  # checked by its mode once the mode is known
    if field == "pricing_mode":
        if not isinstance(value, str) or value not in pricing_registry.pricing_modes():
            raise pricing_registry.UnknownPricingMode(
                f"No pricing mode is called '{value}'.",
                details={"field": field, "known": sorted(pricing_registry.pricing_modes())},
            )
        return value
    if field == "channels":
        if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
            raise _fail("invalid_channel", field, "Channels are a list of names.")
        unknown = sorted(set(value) - set(CHANNELS))
        if unknown:
            raise _fail(
                "invalid_channel",
                field,
                f"Unknown channel: {', '.join(unknown)}.",
                allowed=list(CHANNELS),
            )
        return [c for c in CHANNELS if c in value]
    if field == "tax_rate_bp":
        return _int(value, field, 0, 10000, "invalid_tax_rate")
    if field == "sort_order":
        return _int(value, field, -100000, 100000, "invalid_value")
    if field == "refund_policy":
        return check_refund_policy(value)
    if field == "daily_capacity":
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_CAPACITY:
            raise _fail(
                "invalid_capacity",
                field,
                "The daily capacity is empty (no limit) or a whole number from 0 to 1000000.",
            )
        return value
    if field == "id_limit_per_day":
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 20:
            raise _fail(
                "invalid_id_limit", field, "The ID limit per day is a whole number from 1 to 20."
            )
        return value
    if field == "pool_codes":
        if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
            raise _fail("invalid_pool", field, "Pools are a list of pool codes.")
        return list(dict.fromkeys(value))  # each pool once, in the order given
    if field == "status":
        if value not in STATUSES:
            raise _fail("invalid_status", field, "The status is draft, on_sale or off_sale.")
        return value
    raise _fail("unknown_field", field, f"'{field}' cannot be changed here.")


async def pool_choices(session: AsyncSession) -> list[CapacityPool]:
    """The park's pools, for the editor's checkboxes."""
    return await list_pools(session)


async def _check_pools(session: AsyncSession, codes: list[str]) -> None:
    unknown = await unknown_pools(session, codes)
    if unknown:
        raise _fail(
            "unknown_pool",
            "pool_codes",
            "Unknown pool: choose from the park's pools.",
            unknown=unknown,
        )


def _windows(values: Mapping[str, Any]) -> None:
    for start, end in (("sale_from", "sale_to"), ("visit_from", "visit_to")):
        if values.get(start) and values.get(end) and values[start] > values[end]:
            raise _fail("invalid_window", end, f"'{end}' is before '{start}'.")


def product_dict(product: Product) -> dict[str, Any]:
    data: dict[str, Any] = {"code": product.code}
    for field in EDITABLE:
        value = getattr(product, field)
        data[field] = value.isoformat() if isinstance(value, date) else value
    return data


def unit_dict(unit: ProductUnit) -> dict[str, Any]:
    return {field: getattr(unit, field) for field in UNIT_FIELDS}


async def list_products(session: AsyncSession) -> list[Product]:
    return list(await session.scalars(select(Product).order_by(Product.sort_order, Product.code)))


async def get_product(session: AsyncSession, code: str) -> Product:
    product = await session.scalar(select(Product).where(Product.code == code))
    if product is None:
        raise ProductNotFound(f"No product is called '{code}'.", details={"code": code})
    return product


async def list_units(session: AsyncSession, product: Product) -> list[ProductUnit]:
    return list(
        await session.scalars(
            select(ProductUnit)
            .where(ProductUnit.product_id == product.id)
            .order_by(ProductUnit.sort_order, ProductUnit.unit)
        )
    )


async def _require_enabled(session: AsyncSession, key: str) -> None:
    if not (await enabled_modes(session)).get(key, False):
        raise _fail(
            "pricing_mode_disabled", "pricing_mode", f"The pricing mode '{key}' is switched off."
        )


async def create_product(session: AsyncSession, actor: Actor, data: Mapping[str, Any]) -> Product:
    code = data.get("code")
    if not isinstance(code, str) or not CODE.fullmatch(code):
        raise _fail(
            "invalid_code", "code", "A code is 1-60 lowercase letters, digits or '-', not first."
        )
    for required in ("name_zh", "name_en", "pricing_mode"):
        if required not in data:
            raise _fail(
                "name_required" if required != "pricing_mode" else "unknown_pricing_mode",
                required,
                f"'{required}' is required.",
            )
    unknown = sorted(set(data) - {"code", *EDITABLE})
    if unknown:
        raise _fail("unknown_field", unknown[0], f"'{unknown[0]}' is not a product field.")
    values = {field: _check(field, value) for field, value in data.items() if field != "code"}
    await _require_enabled(session, values["pricing_mode"])
    await _check_pools(session, values.get("pool_codes", []))
    values.setdefault("refund_policy", {"kind": "none"})
    values.setdefault("channels", [])
    values.setdefault("status", "draft")
    if "pricing_config" in data or values["status"] == "on_sale":
        values["pricing_config"] = check_mode_config(
            values["pricing_mode"], data.get("pricing_config", {})
        )
    _windows(values)
    if await session.scalar(select(Product.id).where(Product.code == code)) is not None:
        raise ProductCodeTaken(f"A product is already called '{code}'.", details={"code": code})
    product = Product(code=code, **values)
    session.add(product)
    await session.flush()
    await record(session, actor, "product.created", f"product:{code}", after=product_dict(product))
    return product


async def update_product(
    session: AsyncSession, actor: Actor, code: str, data: Mapping[str, Any]
) -> dict[str, Any]:
    """Change some fields; returns the changed fields' new values."""
    product = await get_product(session, code)
    if "code" in data and data["code"] != code:
        raise _fail("code_immutable", "code", "A product's code cannot change: it is in URLs.")
    values = {f: _check(f, v) for f, v in data.items() if f != "code"}
    await _check_pools(session, values.get("pool_codes", []))
    mode = values.get("pricing_mode", product.pricing_mode)
    if mode != product.pricing_mode:
        await _require_enabled(session, mode)
    status = values.get("status", product.status)
    if "pricing_config" in values or mode != product.pricing_mode or status == "on_sale":
        raw = values.get("pricing_config")
        if raw is None:
            # A new mode does not understand the old mode's settings.
            raw = product.pricing_config if mode == product.pricing_mode else {}
        if "pricing_config" in values or status == "on_sale" or raw:
            values["pricing_config"] = check_mode_config(mode, raw)
        else:
            values["pricing_config"] = {}
    merged = {f: values.get(f, getattr(product, f)) for f in DATE_FIELDS}
    _windows(merged)
    before = product_dict(product)
    changed = {f: v for f, v in values.items() if getattr(product, f) != v}
    for field, value in changed.items():
        setattr(product, field, value)
    await session.flush()
    after = product_dict(product)
    fields = [f for f in changed if f != "status"]
    if fields:
        await record(
            session,
            actor,
            "product.updated",
            f"product:{code}",
            before={f: before[f] for f in fields},
            after={f: after[f] for f in fields},
        )
    if "status" in changed:
        await record(
            session,
            actor,
            "product.status_changed",
            f"product:{code}",
            before={"status": before["status"]},
            after={"status": after["status"]},
        )
    return jsonable({f: after[f] for f in changed}) or {}


UNIT_FIELDS = (
    "unit",
    "label_zh",
    "label_en",
    "min_age",
    "max_age",
    "min_height_cm",
    "max_height_cm",
    "eligibility_zh",
    "eligibility_en",
)


def check_unit(index: int, raw: Any) -> dict[str, Any]:
    def bad(field: str, message: str) -> CatalogError:
        return CatalogError(message, code="invalid_unit", details={"index": index, "field": field})

    if not isinstance(raw, Mapping):
        raise bad("unit", "Each unit is an object.")
    unknown = sorted(set(raw) - set(UNIT_FIELDS))
    if unknown:
        raise bad(unknown[0], f"'{unknown[0]}' is not a unit field.")
    if raw.get("unit") not in UNITS:
        raise bad("unit", f"A unit is one of: {', '.join(UNITS)}.")
    unit: dict[str, Any] = {"unit": raw["unit"]}
    for field in ("label_zh", "label_en", "eligibility_zh", "eligibility_en"):
        value = raw.get(field) or ""
        if not isinstance(value, str) or len(value) > MAX_TEXT:
            raise bad(field, f"'{field}' is text.")
        if field.startswith("label") and not value.strip():
            raise bad(field, f"'{field}' is required.")
        unit[field] = value.strip()
    for low, high, top in (("min_age", "max_age", 120), ("min_height_cm", "max_height_cm", 250)):
        for field in (low, high):
            value = raw.get(field)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= top
            ):
                raise bad(field, f"'{field}' is a whole number from 0 to {top}.")
            unit[field] = value
        if unit[low] is not None and unit[high] is not None and unit[low] > unit[high]:
            raise bad(high, f"'{high}' is below '{low}'.")
    return unit


async def replace_units(
    session: AsyncSession, actor: Actor, code: str, raw: Any
) -> list[ProductUnit]:
    product = await get_product(session, code)
    if not isinstance(raw, list):
        raise CatalogError(
            "Units are a list.", code="invalid_unit", details={"index": None, "field": "units"}
        )
    units = [check_unit(i, item) for i, item in enumerate(raw)]
    seen: set[str] = set()
    for i, unit in enumerate(units):
        if unit["unit"] in seen:
            raise CatalogError(
                f"The unit '{unit['unit']}' is listed twice.",
                code="invalid_unit",
                details={"index": i, "field": "unit"},
            )
        seen.add(unit["unit"])
    before = [unit_dict(u) for u in await list_units(session, product)]
    await session.execute(delete(ProductUnit).where(ProductUnit.product_id == product.id))
    rows = [ProductUnit(product_id=product.id, sort_order=i, **u) for i, u in enumerate(units)]
    session.add_all(rows)
    await session.flush()
    if before != units:
        await record(
            session,
            actor,
            "product.updated",
            f"product:{code}",
            before={"units": before},
            after={"units": units},
        )
    return rows
