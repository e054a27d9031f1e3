"""The tenant registry: which parks exist, their schema, role, status and domains."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, DateTime, ForeignKey, String, Text, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from vistapass.platform.models.base import ControlBase, TimestampMixin


class TenantStatus(StrEnum):
    PROVISIONING = "provisioning"
    ACTIVE = "active"
    SUSPENDED = "suspended"


class Tenant(TimestampMixin, ControlBase):
    __tablename__ = "tenants"

    id: Mapped[uuid.UUID] = mapped_column(
        Uuid, primary_key=True, server_default=text("gen_random_uuid()"), default=uuid.uuid4
    )
    slug: Mapped[str] = mapped_column(String(40), unique=True)
    display_name: Mapped[str] = mapped_column(Text)
    schema_name: Mapped[str] = mapped_column(String(63), unique=True)
    db_role: Mapped[str] = mapped_column(String(63), unique=True)
    status: Mapped[str] = mapped_column(String(20), default=TenantStatus.PROVISIONING)
    status_changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class TenantDomain(TimestampMixin, ControlBase):
    """A custom domain a park serves its booking site on (`tickets.example-park.cn`)."""

    __tablename__ = "tenant_domains"

    domain: Mapped[str] = mapped_column(String(253), primary_key=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    verified: Mapped[bool] = mapped_column(Boolean, default=False)
    # Published by the operator at the domain to prove control; not a secret.
    verification_token: Mapped[str | None] = mapped_column(String(64))
    verified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
