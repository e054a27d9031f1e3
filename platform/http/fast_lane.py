"""A fast lane in front of Litestar for the one or two busiest JSON endpoints.

On a holiday on-sale nearly every request is the same `POST .../orders`. Through
Litestar's routing, guards, middleware, parameter model and response machinery
such a request cost about 0.13 ms of CPU more than the order itself needs (a
fifth of the server's CPU per order on a 2-core machine, `make bench-sale`).
A fast route takes those requests before Litestar does, with the same contract:

- it only ever takes what it can answer exactly as the Litestar route would: a
  handler returns None for anything else (a body that does not decode, a buyer
  with a member pass, ...), and the request goes on to Litestar with its body
  replayed, so validation errors, cookies and the rarer cases keep one home;
- what it raises is answered by the app's own exception handlers, so an error
  looks the same whichever way the request went;
- it sits inside `RequestContext` and `TenantHostRouting`: request ids, access
  logs and a park's own host work as for every route.

A fast route gets no guards, no `before_request` hook (the language of the page)
and no CSRF check, so it may only serve public API writes that answer in JSON
without translated text. The Litestar route stays declared (OpenAPI, the cases
handed over) and both build their service call with the same function.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from inspect import getmro
from typing import Any

from litestar import Litestar, Request
from litestar.serialization import encode_json
from litestar.types import ASGIApp, Message, Receive, Scope, Send

# An order is a few hundred bytes; anything larger is left to Litestar's own limits.
MAX_BODY = 64 * 1024
JSON_TYPES = (b"application/json", b"application/json; charset=utf-8")


@dataclass(frozen=True, slots=True)
class FastAnswer:
    status: int
    body: Any  # JSON-ready, encoded as Litestar encodes a handler's answer
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FastCall:
    """What a fast route's handler is given."""

    app: Litestar
    scope: Scope
    params: dict[str, str]  # the path pattern's named groups
    body: bytes

    def header(self, name: bytes) -> str | None:
        for key, value in self.scope["headers"]:
            if key == name:
                return str(value.decode("latin-1"))
        return None


# None: not for the fast lane, Litestar answers.
FastHandler = Callable[[FastCall], Awaitable[FastAnswer | None]]


@dataclass(frozen=True, slots=True)
class FastRoute:
    method: str
    path: re.Pattern[str]  # matched in full against the (host-routed) path
    handler: FastHandler


class FastLane:
    """Answers the requests of `routes` that their handlers take; the rest go to `app`."""

    def __init__(self, app: ASGIApp, routes: Sequence[FastRoute]) -> None:
        self.app = app
        self.routes = tuple(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = self._route_for(scope)
        if found is None:
            await self.app(scope, receive, send)
            return
        route, match = found
        read = await _read_body(receive)
        if read is None:
            return  # the client went away: nobody to answer
        body, complete = read
        if not complete:
            await self.app(scope, _replaying(body, True, receive), send)
            return
        litestar: Litestar = scope["litestar_app"]
        try:
            answer = await route.handler(FastCall(litestar, scope, match.groupdict(), body))
        except Exception as exc:
            await _answer_error(litestar, scope, receive, send, exc)
            return
        if answer is None:
            await self.app(scope, _replaying(body, False, receive), send)
            return
        payload = encode_json(answer.body)
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode()),
            *((name.lower().encode(), value.encode()) for name, value in answer.headers.items()),
        ]
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    def _route_for(self, scope: Scope) -> tuple[FastRoute, re.Match[str]] | None:
        if scope["type"] != "http":
            return None
        for route in self.routes:
            if scope["method"] == route.method and (match := route.path.fullmatch(scope["path"])):
                return (route, match) if _is_small_json(scope) else None
        return None


def _is_small_json(scope: Scope) -> bool:
    content_type, length = b"", b""
    for key, value in scope["headers"]:
        if key == b"content-type":
            content_type = value.lower()
        elif key == b"content-length":
            length = value
    if content_type not in JSON_TYPES:
        return False
    return not length or (length.isdigit() and int(length) <= MAX_BODY)


async def _read_body(receive: Receive) -> tuple[bytes, bool] | None:
    """The body, and whether that is all of it (False: it is over MAX_BODY, and
    Litestar takes it from there); None if the client went away."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), True
        if size > MAX_BODY:
            return b"".join(chunks), False


def _replaying(body: bytes, more: bool, receive: Receive) -> Receive:
    """`receive` with what was already read of the body given back first (`more`:
    the rest of it is still to be received)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": more}

    return replay


async def _answer_error(
    app: Litestar, scope: Scope, receive: Receive, send: Send, exc: Exception
) -> None:
    """Answer with the app's exception handler for `exc`, as Litestar's route would."""
    handlers = app.exception_handlers
    handler = next((handlers[cls] for cls in getmro(type(exc)) if cls in handlers), None)
    if handler is None:
        raise exc
    request: Request[Any, Any, Any] = Request(scope, receive, send)
    response = handler(request, exc)
    await response.to_asgi_response(None, request)(scope, receive, send)
