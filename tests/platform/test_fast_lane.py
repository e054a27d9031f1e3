"""The fast lane in front of Litestar: what it answers, and what it hands on intact."""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Iterator
from typing import Any

import pytest
from litestar import Litestar, Request, post
from litestar.params import FromPath
from litestar.testing import TestClient
from litestar.types import Message, Receive, Scope, Send

from vistapass.platform.errors import Conflict, VistapassError
from vistapass.platform.http.exceptions import EXCEPTION_HANDLERS
from vistapass.platform.http.fast_lane import MAX_BODY, FastAnswer, FastCall, FastLane, FastRoute


@post("/things/{name:str}")
async def slow_thing(request: Request[Any, Any, Any], name: FromPath[str]) -> dict[str, Any]:
    """The Litestar route: says it answered, and what body it was given."""
    body = await request.body()
    return {
        "via": "litestar",
        "name": name,
        "size": len(body),
        "sha256": hashlib.sha256(body).hexdigest(),
    }


async def fast_thing(call: FastCall) -> FastAnswer | None:
    if b"slow" in call.body:
        return None
    if b"busy" in call.body:
        raise Conflict("Try again.", code="busy").with_headers({"Retry-After": "2"})
    if b"broken" in call.body:
        raise RuntimeError("a bug")
    return FastAnswer(
        201,
        {"via": "fast", "name": call.params["name"], "key": call.header(b"x-key")},
        {"X-Answered": "fast"},
    )


@pytest.fixture
def client() -> Iterator[TestClient[Litestar]]:
    app = Litestar([slow_thing], exception_handlers=EXCEPTION_HANDLERS)  # type: ignore[arg-type]
    route = FastRoute("POST", re.compile(r"/things/(?P<name>[^/]+)"), fast_thing)
    app.asgi_handler = FastLane(app.asgi_handler, [route])
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def test_a_request_the_handler_takes_is_answered_without_litestar(client: TestClient) -> None:
    answer = client.post("/things/ok", json={"a": 1}, headers={"X-Key": "k-1"})
    assert answer.status_code == 201
    assert answer.json() == {"via": "fast", "name": "ok", "key": "k-1"}
    assert answer.headers["x-answered"] == "fast"
    assert answer.headers["content-type"] == "application/json"
    assert int(answer.headers["content-length"]) == len(answer.content)


def test_a_request_the_handler_declines_reaches_litestar_with_its_body(
    client: TestClient,
) -> None:
    body = b'{"slow": true, "pad": "' + b"x" * 500 + b'"}'
    answer = client.post(
        "/things/declined", content=body, headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 201
    assert answer.json() == {
        "via": "litestar",
        "name": "declined",
        "size": len(body),
        "sha256": hashlib.sha256(body).hexdigest(),
    }


def test_large_bodies_other_content_types_and_methods_go_to_litestar(client: TestClient) -> None:
    large = b'{"pad": "' + b"y" * (MAX_BODY + 10_000) + b'"}'
    answer = client.post(
        "/things/large", content=large, headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 201
    assert answer.json()["via"] == "litestar"
    assert answer.json()["sha256"] == hashlib.sha256(large).hexdigest()

    text = client.post("/things/text", content=b"{}", headers={"Content-Type": "text/plain"})
    assert text.json()["via"] == "litestar"
    other_path = client.post("/things/a/b", json={})
    assert other_path.status_code == 404
    wrong_method = client.get("/things/ok")
    assert wrong_method.status_code == 405


def test_a_large_body_sent_without_a_length_is_handed_on_whole() -> None:
    """Read past MAX_BODY in chunks, the body goes on: what was read, then the rest."""
    large = b'{"pad": "' + b"z" * (MAX_BODY + 10_000) + b'"}'
    chunks = [large[at : at + 4096] for at in range(0, len(large), 4096)]
    messages = [
        {"type": "http.request", "body": chunk, "more_body": at < len(chunks) - 1}
        for at, chunk in enumerate(chunks)
    ]
    received: list[bytes] = []

    async def receive() -> Message:
        return messages.pop(0)

    async def inner(scope: Scope, inner_receive: Receive, send: Send) -> None:
        while True:
            message = await inner_receive()
            received.append(message["body"])
            if not message["more_body"]:
                return

    async def send(message: Message) -> None:
        raise AssertionError(f"the lane answered: {message}")

    lane = FastLane(inner, [FastRoute("POST", re.compile(r"/things/(?P<name>[^/]+)"), fast_thing)])
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/things/streamed",
        "headers": [(b"content-type", b"application/json")],
    }
    asyncio.run(lane(scope, receive, send))  # type: ignore[arg-type]
    assert b"".join(received) == large
    assert len(received) > 1 and not messages


def test_what_a_fast_handler_raises_is_answered_by_the_apps_exception_handlers(
    client: TestClient,
) -> None:
    busy = client.post("/things/x", json={"busy": True})
    assert busy.status_code == 409
    assert busy.headers["retry-after"] == "2"
    assert busy.json() == {"error": {"code": "busy", "message": "Try again.", "details": {}}}

    broken = client.post("/things/x", json={"broken": True})
    assert broken.status_code == 500
    assert broken.json()["error"]["code"] == "internal_error"
    # No detail of the bug reaches the client.
    assert "a bug" not in broken.text


def test_an_error_the_app_has_no_handler_for_is_raised() -> None:
    app = Litestar([slow_thing])
    route = FastRoute("POST", re.compile(r"/things/(?P<name>[^/]+)"), fast_thing)
    app.asgi_handler = FastLane(app.asgi_handler, [route])
    with TestClient(app) as test_client, pytest.raises(VistapassError):
        test_client.post("/things/x", json={"busy": True})
