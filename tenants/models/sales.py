"""What a park sells and how it got paid: capacity, orders, tickets, money.

Places are counted in `inventory_buckets` (one row per product or shared pool,
date and slot); an order awaiting payment holds places in `order_holds` until it
is paid or its hold runs out. Every money movement is a `ledger_lines` row.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from vistapass.platform.models.base import utcnow
from vistapass.tenants.models.base import TenantBase


class CapacityPool(TenantBase):
    """Places shared by several products, e.g. the park's daily capacity."""

    __tablename__ = "capacity_pools"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name_zh: Mapped[str] = mapped_column(Text)
    name_en: Mapped[str] = mapped_column(Text)
    daily_capacity: Mapped[int] = mapped_column(Integer)


class InventoryBucket(TenantBase):
    """Places for one scope (`product:<id>` or `pool:<code>`), date and slot ('' = all day).

    `taken` counts paid places and live holds; expired holds are given back by
    whoever next needs the places (see `tenants.inventory.service`).
    """

    __tablename__ = "inventory_buckets"
    __table_args__ = (
        UniqueConstraint("scope", "day", "slot", name="uq_inventory_buckets_scope_day_slot"),
        CheckConstraint("taken >= 0", name="taken_not_negative"),
        CheckConstraint("capacity >= 0", name="capacity_not_negative"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    scope: Mapped[str] = mapped_column(String(80))
    day: Mapped[date] = mapped_column(Date)
    slot: Mapped[str] = mapped_column(String(20), default="")
    capacity: Mapped[int] = mapped_column(Integer)
    taken: Mapped[int] = mapped_column(Integer, default=0)


class Order(TenantBase):
    """One basket of one product for one date (and slot), on one channel.

    pending → paid → partially_refunded → refunded; pending → expired / cancelled.
    `quote` is the quote it was sold at: later price changes never touch it.
    """

    __tablename__ = "orders"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    code: Mapped[str] = mapped_column(String(16), unique=True)  # what the buyer quotes
    access_token: Mapped[str] = mapped_column(String(64))  # the buyer's link to the order
    channel: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    product_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("products.id"), index=True)
    product_code: Mapped[str] = mapped_column(String(60))
    visit_date: Mapped[date] = mapped_column(Date)
    slot: Mapped[str | None] = mapped_column(String(20))
    places: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    subtotal: Mapped[int] = mapped_column(BigInteger)
    total: Mapped[int] = mapped_column(BigInteger)
    refunded_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    quote: Mapped[dict[str, Any]] = mapped_column(JSONB)
    contact_name: Mapped[str] = mapped_column(Text, default="")
    contact_email: Mapped[str] = mapped_column(Text, default="")
    contact_phone: Mapped[str] = mapped_column(Text, default="")
    locale: Mapped[str] = mapped_column(String(10), default="zh-CN")
    provider: Mapped[str] = mapped_column(String(30))
    provider_ref: Mapped[str | None] = mapped_column(Text, index=True)
    sold_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)  # the cashier, for window sales
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    paid_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), default=utcnow
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), default=utcnow, onupdate=utcnow
    )


class OrderLine(TenantBase):
    __tablename__ = "order_lines"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    order_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("orders.id", ondelete="CASCADE"), index=True
    )
    unit: Mapped[str] = mapped_column(String(20))
    quantity: Mapped[int] = mapped_column(Integer)
    base_price: Mapped[int] = mapped_column(BigInteger)
    unit_price: Mapped[int] = mapped_column(BigInteger)
    total: Mapped[int] = mapped_column(BigInteger)
    adjustments: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)


class OrderHold(TenantBase):
    """Places an order holds in one bucket. `released_at` set: given back."""

    __tablename__ = "order_holds"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    order_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("orders.id", ondelete="CASCADE"), index=True
    )
    bucket_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("inventory_buckets.id"), index=True
    )
    quantity: Mapped[int] = mapped_column(Integer)
    # None once the order is paid: a paid place never expires.
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    released_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Ticket(TenantBase):
    """One admitted person. The QR code is `qr`; the gate reads only `entitlement`."""

    __tablename__ = "tickets"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    order_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("orders.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(SmallInteger)  # 0-based within the order
    unit: Mapped[str] = mapped_column(String(20))
    price: Mapped[int] = mapped_column(BigInteger)  # its share of the order total
    refunded_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date] = mapped_column(Date)
    slot: Mapped[str | None] = mapped_column(String(20))
    entitlement: Mapped[dict[str, Any]] = mapped_column(JSONB)
    key_id: Mapped[int | None] = mapped_column(Integer)
    qr: Mapped[str | None] = mapped_column(Text)  # None until issued (order paid)
    holder_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("ticket_holders.id"))
    issued_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    revoked_reason: Mapped[str | None] = mapped_column(String(40))
    # A card or wristband bound at the gate (migration t0009: unique while bound).
    card: Mapped[str | None] = mapped_column(String(20))


class TicketHolder(TenantBase):
    """A real-name ticket's holder: name and document encrypted, found by keyed hash."""

    __tablename__ = "ticket_holders"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    document_type: Mapped[str] = mapped_column(String(20))  # cn_id, passport, hk_mo_permit...
    document_hash: Mapped[bytes] = mapped_column(LargeBinary, index=True)
    # Salt and scrypt of the ID number, for edges to compare offline (gate_check.py).
    gate_check: Mapped[bytes | None] = mapped_column(LargeBinary)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)  # AES-GCM: {"name", "number"}
    data_key_id: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), default=utcnow
    )


class IdentityClaim(TenantBase):
    """One of the tickets a document may hold on a day: the anti-scalping limit.

    A document holds claims numbered 1..limit for a day; the unique key and the
    check make the database refuse one more, whatever the channel.
    """

    __tablename__ = "identity_claims"
    __table_args__ = (
        UniqueConstraint("document_hash", "day", "seq", name="uq_identity_claims_hash_day_seq"),
        CheckConstraint("seq >= 1 AND seq <= day_limit", name="within_limit"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    document_hash: Mapped[bytes] = mapped_column(LargeBinary)
    day: Mapped[date] = mapped_column(Date)
    seq: Mapped[int] = mapped_column(SmallInteger)
    day_limit: Mapped[int] = mapped_column(SmallInteger)
    order_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("orders.id", ondelete="CASCADE"), index=True
    )
    ticket_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("tickets.id", ondelete="CASCADE"))


class SigningKey(TenantBase):
    """The park's Ed25519 ticket keys. The newest unretired one signs; all verify."""

    __tablename__ = "signing_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    sealed_private_key: Mapped[bytes] = mapped_column(LargeBinary)
    data_key_id: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), default=utcnow
    )
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class DataKey(TenantBase):
    """The park's data keys, each wrapped by the platform master key (or KMS)."""

    __tablename__ = "data_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    wrapped_by: Mapped[str] = mapped_column(Text)  # "master:<fingerprint>" or "kms:<key id>"
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), default=utcnow
    )


class Payment(TenantBase):
    """A provider's word on money: a charge or a refund, as the provider confirmed it."""

    __tablename__ = "payments"
    __table_args__ = (
        UniqueConstraint("provider", "provider_ref", name="uq_payments_provider_ref"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    order_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("orders.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))  # charge / refund / reversal (t0011)
    provider: Mapped[str] = mapped_column(String(30))
    provider_ref: Mapped[str] = mapped_column(Text)
    amount: Mapped[int] = mapped_column(BigInteger)  # always positive
    platform_fee: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str] = mapped_column(String(3))
    business_date: Mapped[date] = mapped_column(Date, index=True)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), default=utcnow
    )


class LedgerLine(TenantBase):
    """One money movement, signed from the park's point of view (+ in, - out)."""

    __tablename__ = "ledger_lines"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    business_date: Mapped[date] = mapped_column(Date, index=True)  # the park's local date
    kind: Mapped[str] = mapped_column(String(20))  # sale / refund / platform_fee / commission
    channel: Mapped[str] = mapped_column(String(40))
    provider: Mapped[str] = mapped_column(String(30))
    order_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("orders.id"), index=True)
    payment_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("payments.id"))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), default=utcnow
    )


class IdempotencyRecord(TenantBase):
    """The first answer to a state-changing request, replayed for its retries."""

    __tablename__ = "idempotency_records"

    scope: Mapped[str] = mapped_column(Text, primary_key=True)  # method, route, caller
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_hash: Mapped[bytes] = mapped_column(LargeBinary)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    response_status: Mapped[int | None] = mapped_column(SmallInteger)
    response_body: Mapped[Any] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), default=utcnow
    )
