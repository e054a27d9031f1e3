"""A product's picture and the console's quote preview.

The picture is checked by its magic bytes with the park logo's detection, so the
two uploads accept and refuse exactly the same files. The preview prices a basket
with the very `quote_basket` the public quote API calls, so what the console shows
is what a buyer pays.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from vistapass.platform.audit.service import Actor, record
from vistapass.platform.errors import VistapassError
from vistapass.platform.plugin_api import Adjustment, BasketLine
from vistapass.platform.storage import Storage, tenant_key
from vistapass.platform.tenancy.binding import after_commit, current_tenant
from vistapass.tenants.catalog import forms, service
from vistapass.tenants.catalog.quote import QuoteError, quote_basket
from vistapass.tenants.park.service import get_profile
from vistapass.tenants.park.settings_service import InvalidLogo, sniff_logo

MAX_IMAGE_BYTES = 2 * 1024 * 1024
IMAGE_URL_SECONDS = 3600
PREVIEW_FIELDS = ("date", "slot", "channel")


class InvalidImage(VistapassError):
    status_code = 422
    code = "invalid_image"


class ImageTooLarge(VistapassError):
    status_code = 422
    code = "image_too_large"


def image_url(storage: Storage, key: str | None) -> str | None:
    return storage.signed_url(key, expires_in=IMAGE_URL_SECONDS) if key else None


async def save_image(
    session: AsyncSession, storage: Storage, actor: Actor, code: str, data: bytes
) -> str:
    """Store a new picture for the product; the previous file goes once this commits."""
    product = await service.get_product(session, code)
    if len(data) > MAX_IMAGE_BYTES:
        raise ImageTooLarge(
            "The product image is at most 2 MiB.", details={"limit": MAX_IMAGE_BYTES}
        )
    try:
        ext, content_type = sniff_logo(data)
    except InvalidLogo as exc:
        raise InvalidImage("The product image must be a PNG, JPEG or WebP image.") from exc
    slug = current_tenant(session).slug
    # A fresh name per upload: a cached signed URL never shows the wrong picture,
    # and a rolled-back save leaves the current file in place.
    key = tenant_key(slug, "products", f"{product.code}-{uuid.uuid4().hex}.{ext}")
    await asyncio.to_thread(storage.put, key, data, content_type)
    previous = product.image_key
    product.image_key = key
    await session.flush()
    await record(
        session,
        actor,
        "product.image_updated",
        f"product:{product.code}",
        before={"image_key": previous},
        after={"image_key": key, "content_type": content_type, "size": len(data)},
    )
    if previous:

        async def remove_previous() -> None:
            await asyncio.to_thread(storage.delete, previous)

        after_commit(session, remove_previous)
    return key


def money(minor: int, currency: str) -> str:
    """Minor units as a price with two decimals: 14000 fen is ¥140.00."""
    sign = "-" if minor < 0 else ""
    whole, cents = divmod(abs(minor), 100)
    prefix = "¥" if currency == "CNY" else f"{currency} "
    return f"{sign}{prefix}{whole}.{cents:02d}"


def _adjustments(items: tuple[Adjustment, ...], currency: str) -> list[dict[str, Any]]:
    return [
        {"code": a.code, "reason": a.reason, "amount": money(a.amount, currency)} for a in items
    ]


def preview_values(form: Any, units: list[str]) -> dict[str, str]:
    values = {name: forms.text_of(form, name) for name in PREVIEW_FIELDS}
    for unit in units:
        values[f"qty_{unit}"] = forms.text_of(form, f"qty_{unit}")
    return values


def _basket(values: dict[str, str], units: list[str]) -> tuple[date, list[BasketLine]]:
    try:
        visit_date = date.fromisoformat(values["date"])
    except ValueError as exc:
        raise QuoteError(
            "Give the visit date as YYYY-MM-DD.",
            code="invalid_date",
            details={"field": "date", "date": values["date"]},
        ) from exc
    lines = []
    for unit in units:
        text = values[f"qty_{unit}"]
        if not text or text == "0":
            continue  # a unit left at nothing is not in the basket
        try:
            quantity = int(text)
        except ValueError as exc:
            raise QuoteError(
                "A quantity is a whole number.",
                code="invalid_quantity",
                details={"unit": unit, "quantity": text},
            ) from exc
        lines.append(BasketLine(unit=unit, quantity=quantity))
    return visit_date, lines


async def preview_quote(
    session: AsyncSession, code: str, values: dict[str, str], units: list[str]
) -> dict[str, Any]:
    """The itemised quote a buyer would get, ready for the page; raises the API's errors.

    `quote_basket` takes no flag to price products that are not on sale, so a
    draft is refused here exactly as the public API refuses it.
    """
    visit_date, lines = _basket(values, units)
    profile = await get_profile(session)
    today = datetime.now(ZoneInfo(profile.time_zone)).date()
    _, request, quote, _ = await quote_basket(
        session,
        product_code=code,
        visit_date=visit_date,
        slot=values["slot"] or None,
        channel=values["channel"],
        lines=lines,
        today=today,
    )
    currency = quote.currency
    return {
        "date": request.day.date.isoformat(),
        "day_kind": request.day.kind.value,
        "slot": request.slot,
        "channel": request.channel,
        "lines": [
            {
                "unit": line.unit,
                "quantity": line.quantity,
                "base_price": money(line.base_price, currency),
                "adjustments": _adjustments(line.adjustments, currency),
                "unit_price": money(line.unit_price, currency),
                "total": money(line.total, currency),
            }
            for line in quote.lines
        ],
        "adjustments": _adjustments(quote.adjustments, currency),
        "subtotal": money(quote.subtotal, currency),
        "total": money(quote.total, currency),
    }
