"""What a park sells: products, the kinds of person they admit, and the calendar."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import (
    ARRAY,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Integer,
    SmallInteger,
    String,
    Text,
    Time,
    UniqueConstraint,
    Uuid,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from vistapass.platform.models.base import utcnow
from vistapass.tenants.models.base import TenantBase


class Product(TenantBase):
    __tablename__ = "products"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    code: Mapped[str] = mapped_column(String(60), unique=True)  # in URLs and APIs
    name_zh: Mapped[str] = mapped_column(Text)
    name_en: Mapped[str] = mapped_column(Text)
    description_zh: Mapped[str] = mapped_column(Text, default="")
    description_en: Mapped[str] = mapped_column(Text, default="")
    image_key: Mapped[str | None] = mapped_column(Text)
    pricing_mode: Mapped[str] = mapped_column(String(60))
    pricing_config: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    # web, window, partner, ota:ctrip, ota:meituan, ota:fliggy, ...
    channels: Mapped[list[str]] = mapped_column(ARRAY(String(40)), default=list)
    sale_from: Mapped[date | None] = mapped_column(Date)
    sale_to: Mapped[date | None] = mapped_column(Date)
    visit_from: Mapped[date | None] = mapped_column(Date)
    visit_to: Mapped[date | None] = mapped_column(Date)
    tax_rate_bp: Mapped[int] = mapped_column(Integer, default=0)  # basis points: 600 = 6 %
    # {"kind": "free_until", "hours": 24} | {"kind": "fee", "percent": 10} | {"kind": "none"}
    refund_policy: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    real_name_required: Mapped[bool] = mapped_column(Boolean, default=False)
    face_required: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(20), default="draft")  # draft/on_sale/off_sale
    # A short number for the ticket's QR payload, where the code would take too many bytes.
    number: Mapped[int] = mapped_column(Integer, Identity(), unique=True)
    daily_capacity: Mapped[int | None] = mapped_column(Integer)  # None: no limit of its own
    pool_codes: Mapped[list[str]] = mapped_column(ARRAY(String(40)), default=list)
    # Real-name tickets one ID document may hold per day in this park (anti-scalping).
    id_limit_per_day: Mapped[int] = mapped_column(SmallInteger, default=1)
    # A hot product sheds excess demand at a Redis counter before it reaches PostgreSQL.
    flash_sale: Mapped[bool] = mapped_column(Boolean, default=False)
    sort_order: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), default=utcnow
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), default=utcnow, onupdate=utcnow
    )


class ProductUnit(TenantBase):
    """A kind of person a product admits, with who qualifies (shown to the buyer)."""

    __tablename__ = "product_units"
    __table_args__ = (UniqueConstraint("product_id", "unit", name="uq_product_units_unit"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    product_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("products.id", ondelete="CASCADE"), index=True
    )
    unit: Mapped[str] = mapped_column(String(20))  # adult, child, senior, student, free
    label_zh: Mapped[str] = mapped_column(Text)
    label_en: Mapped[str] = mapped_column(Text)
    min_age: Mapped[int | None] = mapped_column(SmallInteger)
    max_age: Mapped[int | None] = mapped_column(SmallInteger)
    min_height_cm: Mapped[int | None] = mapped_column(SmallInteger)
    max_height_cm: Mapped[int | None] = mapped_column(SmallInteger)
    eligibility_zh: Mapped[str] = mapped_column(Text, default="")
    eligibility_en: Mapped[str] = mapped_column(Text, default="")
    sort_order: Mapped[int] = mapped_column(Integer, default=0)


class PricingModeSetting(TenantBase):
    """Which pricing modes this park has switched on."""

    __tablename__ = "pricing_modes"

    key: Mapped[str] = mapped_column(String(60), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)


class OpeningHours(TenantBase):
    """The usual week: opening and closing time per weekday (0 = Monday)."""

    __tablename__ = "opening_hours"

    weekday: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    is_open: Mapped[bool] = mapped_column(Boolean, default=True)
    opens_at: Mapped[time] = mapped_column(Time, default=time(8, 30))
    closes_at: Mapped[time] = mapped_column(Time, default=time(17, 30))


class CalendarDay(TenantBase):
    """An operator's word on one date: closed, other hours, or priced as another kind
    of day (the statutory calendar already knows holidays and 调休 working days)."""

    __tablename__ = "calendar_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    is_open: Mapped[bool | None] = mapped_column(Boolean)
    opens_at: Mapped[time | None] = mapped_column(Time)
    closes_at: Mapped[time | None] = mapped_column(Time)
    kind: Mapped[str | None] = mapped_column(String(10))  # weekday / weekend / holiday
    note: Mapped[str] = mapped_column(Text, default="")
