"""The park's own profile: one row, seeded at provisioning, edited in the console."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ARRAY, CheckConstraint, DateTime, SmallInteger, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from vistapass.platform.models.base import utcnow
from vistapass.tenants.models.base import TenantBase


class ParkProfile(TenantBase):
    __tablename__ = "park_profile"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False, default=1)
    display_name: Mapped[str] = mapped_column(Text)
    time_zone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    default_locale: Mapped[str] = mapped_column(String(10), default="zh-CN")
    logo_key: Mapped[str | None] = mapped_column(Text)
    brand_primary: Mapped[str] = mapped_column(String(7), default="#1f6f43")
    brand_accent: Mapped[str] = mapped_column(String(7), default="#b35c00")
    languages: Mapped[list[str]] = mapped_column(ARRAY(String(10)), default=lambda: ["zh-CN", "en"])
    contact_phone: Mapped[str | None] = mapped_column(Text)
    contact_email: Mapped[str | None] = mapped_column(Text)
    contact_address: Mapped[str | None] = mapped_column(Text)
    hold_minutes: Mapped[int] = mapped_column(SmallInteger, default=15)  # unpaid orders
    stripe_account_id: Mapped[str | None] = mapped_column(Text)  # the park's connected account
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), default=utcnow, onupdate=utcnow
    )
