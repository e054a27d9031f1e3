"""Tenant tables, declared once in the placeholder schema `tenant`.

Each session binds `tenant` to the park's real schema (`t_<slug>`) with
`schema_translate_map`; unbound, the schema does not exist and queries fail.
"""

from vistapass.tenants.models.admissions import Admission
from vistapass.tenants.models.audit import AuditEntry
from vistapass.tenants.models.base import TENANT_SCHEMA, TenantBase
from vistapass.tenants.models.catalog import (
    CalendarDay,
    OpeningHours,
    PricingModeSetting,
    Product,
    ProductUnit,
)
from vistapass.tenants.models.gates import GateConflict, GateCredential, GateDevice
from vistapass.tenants.models.jobs import JobRun
from vistapass.tenants.models.park import ParkProfile
from vistapass.tenants.models.sales import (
    CapacityPool,
    DataKey,
    IdempotencyRecord,
    IdentityClaim,
    InventoryBucket,
    LedgerLine,
    Order,
    OrderHold,
    OrderLine,
    Payment,
    SigningKey,
    Ticket,
    TicketHolder,
)

__all__ = [
    "TENANT_SCHEMA",
    "Admission",
    "AuditEntry",
    "CalendarDay",
    "CapacityPool",
    "DataKey",
    "GateConflict",
    "GateCredential",
    "GateDevice",
    "IdempotencyRecord",
    "IdentityClaim",
    "InventoryBucket",
    "JobRun",
    "LedgerLine",
    "OpeningHours",
    "Order",
    "OrderHold",
    "OrderLine",
    "ParkProfile",
    "Payment",
    "PricingModeSetting",
    "Product",
    "ProductUnit",
    "SigningKey",
    "TenantBase",
    "Ticket",
    "TicketHolder",
]
