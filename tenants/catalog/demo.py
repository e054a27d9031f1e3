"""The demo park's catalog: one product of each built-in pricing mode, in CNY."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from vistapass.platform.db import Database
from vistapass.platform.pricing_registry import get_mode
from vistapass.platform.tenancy.binding import tenant_session
from vistapass.tenants.models import CapacityPool, Product, ProductUnit

UNITS = {
    "adult": ("成人", "Adult", None, None, "18 至 59 周岁", "Aged 18 to 59"),
    "child": ("儿童", "Child", 6, 17, "6 至 17 周岁，或身高 1.2 米以上", "Aged 6 to 17"),
    "senior": ("长者", "Senior", 60, None, "60 周岁及以上，凭身份证", "Aged 60 or over, with ID"),
}

PRODUCTS: list[dict[str, Any]] = [
    {
        "code": "day-ticket",
        "name_zh": "景区日票",
        "name_en": "Day ticket",
        "description_zh": "当日入园一次。",
        "description_en": "One entry on the day of your visit.",
        "mode": "per_visit",
        "units": ["adult", "child", "senior"],
        "pools": ["park-daily"],
        "config": {
            "prices": {"adult": 12000, "child": 6000, "senior": 6000},
            "weekend_prices": {"adult": 14000, "child": 7000},
            "holiday_prices": {"adult": 16000, "child": 8000, "senior": 8000},
            "channel_prices": {"ota:ctrip": {"adult": 11500}},
        },
    },
    {
        "code": "sunrise-slot",
        "name_zh": "分时段入园",
        "name_en": "Timed entry",
        "description_zh": "按预约时段入园，高峰时段价格上浮。",
        "description_en": "Enter in your booked time slot; peak slots cost more.",
        "mode": "time_slot",
        "units": ["adult", "child"],
        # The slot everyone wants on a holiday: a Redis counter sheds the excess.
        "flash_sale": True,
        "config": {
            "prices": {"adult": 8000, "child": 4000},
            "slots": [
                {"code": "08:00", "start": "08:00", "end": "10:00", "capacity": 800, "peak": False},
                {"code": "10:00", "start": "10:00", "end": "12:00", "capacity": 1200, "peak": True},
                {
                    "code": "14:00",
                    "start": "14:00",
                    "end": "16:00",
                    "capacity": 1000,
                    "peak": False,
                },
            ],
            "peak_multiplier_pct": 150,
            "off_peak_multiplier_pct": 100,
            "floor": {"adult": 6000, "child": 3000},
            "ceiling": {"adult": 16000, "child": 8000},
        },
    },
    {
        "code": "family-pack",
        "name_zh": "亲子家庭套票",
        "name_en": "Family pack",
        "description_zh": "2 位成人 + 1 至 2 位儿童（12 周岁以下），每人一票。",
        "description_en": "2 adults and 1-2 children under 12; one ticket each.",
        "mode": "family_bundle",
        "units": ["adult", "child"],
        "pools": ["park-daily"],
        "config": {
            "composition": {
                "adult": {"min": 2, "max": 2},
                "child": {"min": 1, "max": 2, "max_age": 12},
            },
            "unit_prices": {"adult": 12000, "child": 6000},
            "discount_pct": 15,
        },
    },
    {
        "code": "annual-card",
        "name_zh": "年卡",
        "name_en": "Annual card",
        "description_zh": "首次入园起 365 天内不限次数入园，实名使用。",
        "description_en": "Unlimited visits for 365 days from your first entry; named holder.",
        "mode": "annual_card",
        "units": ["adult", "senior"],
        "config": {
            "prices": {"adult": 39800, "senior": 19900},
            "validity": "365_from_first_entry",
            "member_discount_pct": 10,
            "priority_lane": True,
            "face": "optional",
            "renewal_price": {"adult": 29800, "senior": 14900},
            "renewal_grace_days": 30,
            "blackout_dates": ["2027-10-01", "2027-10-02"],
        },
        "real_name_required": True,
    },
]


async def seed_demo_catalog(db: Database, slug: str) -> int:
    """Create the demo products if the park has none; returns how many were made."""
    async with tenant_session(db, slug) as session:
        if await session.scalar(select(func.count()).select_from(Product)):
            return 0
        # Day tickets and family packs share the park's daily capacity.
        session.add(
            CapacityPool(
                code="park-daily",
                name_zh="全园日容量",
                name_en="Park daily capacity",
                daily_capacity=20000,
            )
        )
        for order, spec in enumerate(PRODUCTS):
            product = Product(
                code=spec["code"],
                name_zh=spec["name_zh"],
                name_en=spec["name_en"],
                description_zh=spec["description_zh"],
                description_en=spec["description_en"],
                pricing_mode=spec["mode"],
                pricing_config=dict(get_mode(spec["mode"]).validate_config(spec["config"])),
                channels=["web", "window", "partner", "ota:ctrip", "ota:meituan", "ota:fliggy"],
                refund_policy={"kind": "free_until", "hours": 24},
                real_name_required=spec.get("real_name_required", False),
                pool_codes=spec.get("pools", []),
                flash_sale=spec.get("flash_sale", False),
                status="on_sale",
                sort_order=order,
            )
            session.add(product)
            await session.flush()
            for position, unit in enumerate(spec["units"]):
                label_zh, label_en, min_age, max_age, elig_zh, elig_en = UNITS[unit]
                session.add(
                    ProductUnit(
                        product_id=product.id,
                        unit=unit,
                        label_zh=label_zh,
                        label_en=label_en,
                        min_age=min_age,
                        max_age=max_age,
                        eligibility_zh=elig_zh,
                        eligibility_en=elig_en,
                        sort_order=position,
                    )
                )
        return len(PRODUCTS)
