"""The hub's errors: each a 4xx with a stable code an edge can act on."""

from __future__ import annotations

from vistapass.platform.errors import VistapassError


class InvalidCredential(VistapassError):
    """Unknown, malformed, revoked, or of another park: an edge cannot tell which, on purpose."""

    status_code = 401
    code = "invalid_credential"


class WrongCredentialKind(VistapassError):
    status_code = 403
    code = "credential_kind_not_allowed"


class GateRequestInvalid(VistapassError):
    status_code = 422
    code = "invalid_gate_request"
