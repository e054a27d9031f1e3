"""Products and calendar rows for quote tests, written through a tenant session."""

from __future__ import annotations

import secrets
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from vistapass.platform.db import Database
from vistapass.platform.tenancy.binding import tenant_session
from vistapass.tenants.models import CalendarDay, PricingModeSetting, Product, ProductUnit


def park_today() -> date:
    # Parks are provisioned in Asia/Shanghai; the API counts days there.
    return datetime.now(ZoneInfo("Asia/Shanghai")).date()


def new_code(prefix: str = "p") -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


async def add_product(
    db: Database,
    slug: str,
    *,
    mode: str = "flat_fee",
    config: dict[str, Any] | None = None,
    units: tuple[str, ...] = ("adult", "child"),
    channels: tuple[str, ...] = ("web",),
    status: str = "on_sale",
    **fields: Any,
) -> str:
    code = new_code(mode.replace("_", ""))
    async with tenant_session(db, slug) as session:
        product = Product(
            code=code,
            name_zh="测试票",
            name_en="Test ticket",
            pricing_mode=mode,
            pricing_config=config if config is not None else {"price": 8000},
            channels=list(channels),
            status=status,
            **fields,
        )
        session.add(product)
        await session.flush()
        for unit in units:
            session.add(ProductUnit(product_id=product.id, unit=unit, label_zh=unit, label_en=unit))
    return code


async def set_mode(db: Database, slug: str, key: str, enabled: bool) -> None:
    async with tenant_session(db, slug) as session:
        setting = await session.get(PricingModeSetting, key)
        if setting is None:
            session.add(PricingModeSetting(key=key, enabled=enabled))
        else:
            setting.enabled = enabled


async def set_day(db: Database, slug: str, day: date, **fields: Any) -> None:
    async with tenant_session(db, slug) as session:
        await session.merge(CalendarDay(day=day, **fields))
