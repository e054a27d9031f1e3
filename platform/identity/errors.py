from __future__ import annotations

from vistapass.platform.errors import VistapassError


class NotAuthenticated(VistapassError):
    status_code = 401
    code = "not_authenticated"


class Forbidden(VistapassError):
    status_code = 403
    code = "forbidden"


class CsrfFailed(VistapassError):
    status_code = 403
    code = "csrf_failed"


class WeakPassword(VistapassError):
    status_code = 422
    code = "weak_password"


class InvalidToken(VistapassError):
    """A link or token that is unknown, used, expired or revoked: one answer for all."""

    status_code = 400
    code = "invalid_token"
