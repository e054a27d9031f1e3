"""Control-plane tables: they live in the `public` schema and are shared by all parks."""

from vistapass.platform.models.base import ControlBase
from vistapass.platform.models.tenancy import Tenant, TenantDomain, TenantStatus

__all__ = ["ControlBase", "Tenant", "TenantDomain", "TenantStatus"]
