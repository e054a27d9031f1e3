"""The one error base class: an HTTP status and a stable, machine-readable code."""

from __future__ import annotations

from typing import Any


class VistapassError(Exception):
    status_code: int = 400
    code: str = "bad_request"
    headers: dict[str, str] | None = None  # e.g. Retry-After on a 409 or 429

    def __init__(
        self,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        code: str | None = None,
        status_code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}
        if code is not None:
            self.code = code
        if status_code is not None:
            self.status_code = status_code

    def with_headers(self, headers: dict[str, str]) -> VistapassError:
        self.headers = headers
        return self


class NotFound(VistapassError):
    status_code = 404
    code = "not_found"


class Conflict(VistapassError):
    status_code = 409
    code = "conflict"


class ServiceUnavailable(VistapassError):
    status_code = 503
    code = "service_unavailable"


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}
