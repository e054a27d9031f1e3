from __future__ import annotations

from vistapass.platform.errors import Conflict, NotFound, VistapassError


class InvalidSlug(VistapassError):
    status_code = 422
    code = "invalid_slug"


class SlugReserved(VistapassError):
    status_code = 422
    code = "slug_reserved"


class TenantExists(Conflict):
    code = "tenant_exists"


class TenantNotFound(NotFound):
    code = "tenant_not_found"


class TenantSuspended(VistapassError):
    status_code = 403
    code = "tenant_suspended"


class TenantMismatch(VistapassError):
    status_code = 400
    code = "tenant_mismatch"


class TenantNotBound(VistapassError):
    """A tenant-only operation ran on a session with no park bound to it."""

    status_code = 500
    code = "tenant_not_bound"


class InvalidDomain(VistapassError):
    status_code = 422
    code = "invalid_domain"


class DomainTaken(Conflict):
    code = "domain_taken"
