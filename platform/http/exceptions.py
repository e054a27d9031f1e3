"""One error format for every 4xx and 5xx: {"error": {"code", "message", "details"}}."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import psycopg
from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.response import Redirect
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from vistapass.platform.admin.closed import closed_notice
from vistapass.platform.errors import VistapassError, error_body
from vistapass.platform.logging import get_logger

log = get_logger(__name__)

HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "unprocessable",
    429: "rate_limited",
    500: "internal_error",
    503: "service_unavailable",
}


def _response(
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[dict[str, Any]]:
    return Response(
        error_body(code, message, details),
        status_code=status,
        media_type=MediaType.JSON,
        headers=headers,
    )


def wants_html(request: Request[Any, Any, Any]) -> bool:
    return "text/html" in request.headers.get("accept", "") and "/api/" not in request.url.path


def vistapass_error(request: Request[Any, Any, Any], exc: VistapassError) -> Response[Any]:
    if exc.code == "not_authenticated" and request.method == "GET" and wants_html(request):
        # A person who opens a console page signed out is sent to sign in, then back.
        target = quote(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
        return Redirect(f"/login?next={target}")
    if exc.code == "mfa_required" and request.method == "GET" and wants_html(request):
        # Owners and finance staff must turn on two-factor sign-in before anything else.
        return Redirect("/account/security")
    if exc.code == "tenant_suspended" and wants_html(request):
        # People see a closed notice; API clients keep the JSON error.
        return closed_notice(request, str(exc.details.get("slug", "")))
    if exc.status_code >= 500:
        log.error("request failed", code=exc.code, message=exc.message)
    return _response(exc.status_code, exc.code, exc.message, exc.details, exc.headers)


def http_error(_: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    status = exc.status_code
    details: dict[str, Any] = {}
    code = HTTP_CODES.get(status, "http_error")
    if isinstance(exc, ValidationException):
        code = "invalid_request"
        details = {"errors": exc.extra} if exc.extra else {}
    elif status == 403 and "CSRF" in str(exc.detail):
        code = "csrf_failed"
    message = exc.detail if isinstance(exc.detail, str) and exc.detail else str(exc)
    return _response(status, code, message, details, headers=exc.headers)


def database_error(_: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    # A connection that cannot be made (or a pool that stays empty) means the
    # database is down: say so with 503 rather than a 500 or a hang.
    if isinstance(exc, PoolTimeoutError) or (
        isinstance(exc, DBAPIError) and (exc.connection_invalidated or _is_connect_error(exc))
    ):
        log.warning("database unavailable", error=str(exc).splitlines()[0])
        return _response(
            503,
            "database_unavailable",
            "The database is not reachable; try again shortly.",
            headers={"Retry-After": "5"},
        )
    return internal_error(_, exc)


def _is_connect_error(exc: DBAPIError) -> bool:
    return isinstance(exc.orig, psycopg.OperationalError)


def redis_error(_: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    log.warning("redis unavailable", error=str(exc))
    return _response(
        503,
        "cache_unavailable",
        "The cache is not reachable; try again shortly.",
        headers={"Retry-After": "5"},
    )


def internal_error(_: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    log.exception("unhandled error", exc_info=exc)
    return _response(
        HTTP_500_INTERNAL_SERVER_ERROR, "internal_error", "Something went wrong on our side."
    )


EXCEPTION_HANDLERS = {
    VistapassError: vistapass_error,
    HTTPException: http_error,
    DBAPIError: database_error,
    PoolTimeoutError: database_error,
    RedisConnectionError: redis_error,
    RedisTimeoutError: redis_error,
    Exception: internal_error,
}
