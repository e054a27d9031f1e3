"""The app: probes, the one error format, OpenAPI, and a database that is down."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from litestar.testing import TestClient

from vistapass.platform.app import create_app
from vistapass.platform.embedded._process import free_port
from vistapass.platform.settings import Settings


@pytest.fixture
def client(migrated: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(migrated), base_url="http://vistapass.test") as test_client:
        yield test_client


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]


def test_healthz_and_readyz(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"postgres": "ok", "redis": "ok"}


def test_unknown_route_and_wrong_method_use_the_error_format(client: TestClient) -> None:
    assert_error(client.get("/no/such/page"), 404, "not_found")
    assert_error(client.post("/healthz"), 405, "method_not_allowed")


def test_openapi_is_at_litestars_default_path(client: TestClient) -> None:
    spec = client.get("/schema/openapi.json").json()
    assert spec["info"]["title"] == "Vistapass"
    assert "/readyz" in spec["paths"]
    assert "/p/{tenant_slug}/api/v1/park" in spec["paths"]


@pytest.fixture
def down_settings(migrated: Settings) -> Settings:
    """Settings whose PostgreSQL and Redis ports have nothing listening."""
    dead = free_port()
    return migrated.model_copy(
        update={
            "database_url": f"postgresql://postgres@127.0.0.1:{dead}/vistapass",
            "redis_url": f"redis://127.0.0.1:{free_port()}/0",
        }
    )


def test_database_down_is_503_not_500_or_a_hang(down_settings: Settings) -> None:
    with TestClient(create_app(down_settings), base_url="http://vistapass.test") as client:
        assert client.get("/healthz").status_code == 200
        error = assert_error(client.get("/readyz"), 503, "not_ready")
        assert set(error["details"]) == {"postgres", "redis"}
        response = client.get("/p/alpha/api/v1/park")
        assert_error(response, 503, "database_unavailable")
        assert response.headers["retry-after"] == "5"


def test_only_redis_down_names_redis(migrated: Settings) -> None:
    settings = migrated.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})
    with TestClient(create_app(settings), base_url="http://vistapass.test") as client:
        error = assert_error(client.get("/readyz"), 503, "not_ready")
        assert list(error["details"]) == ["redis"]
        assert client.get("/p/alpha/api/v1/park").status_code == 200


def test_json_logs_carry_the_request_id_and_the_park(migrated: Settings, capfd) -> None:
    settings = migrated.model_copy(update={"log_format": "json"})
    with TestClient(create_app(settings), base_url="http://vistapass.test") as client:
        capfd.readouterr()
        client.get("/p/alpha/api/v1/park", headers={"X-Request-ID": "trace-0001-alpha"})
    lines = [
        json.loads(line) for line in capfd.readouterr().err.splitlines() if line.startswith("{")
    ]
    access = [line for line in lines if line.get("event") == "request"]
    assert access, lines
    assert access[0]["request_id"] == "trace-0001-alpha"
    assert access[0]["tenant"] == "alpha"
    assert access[0]["status"] == 200
