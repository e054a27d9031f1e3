"""Control-plane tables: they live in the `public` schema and are shared by all parks."""

from vistapass.platform.models.base import ControlBase
from vistapass.platform.models.identity import (
    ApiToken,
    CasbinRule,
    Invitation,
    Membership,
    OneTimeToken,
    RecoveryCode,
    Role,
    User,
)
from vistapass.platform.models.payments import StripeEvent
from vistapass.platform.models.tenancy import Tenant, TenantDomain, TenantStatus

__all__ = [
    "ApiToken",
    "CasbinRule",
    "ControlBase",
    "Invitation",
    "Membership",
    "OneTimeToken",
    "RecoveryCode",
    "Role",
    "StripeEvent",
    "Tenant",
    "TenantDomain",
    "TenantStatus",
    "User",
]
