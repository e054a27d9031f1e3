"""Which park a request is for: host, custom domain or `/p/<slug>/`, failing closed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from litestar.testing import TestClient

from tests.conftest import unique_slug
from vistapass.platform.app import create_app
from vistapass.platform.settings import Settings
from vistapass.platform.tenancy.admin import suspend
from vistapass.platform.tenancy.binding import forget_tenant
from vistapass.platform.tenancy.provisioning import provision_tenant


@pytest.fixture
def client(migrated: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(migrated), base_url="http://vistapass.test") as test_client:
        yield test_client


def park_of(client: TestClient, path: str, host: str | None = None) -> tuple[int, dict]:
    response = client.get(path, headers={"Host": host} if host else None)
    return response.status_code, response.json()


def test_by_path_prefix(client: TestClient) -> None:
    assert park_of(client, "/p/alpha/api/v1/park")[1]["slug"] == "alpha"
    assert park_of(client, "/p/beta/api/v1/park")[1]["slug"] == "beta"


def test_by_subdomain_of_the_base_domain(client: TestClient) -> None:
    status, body = park_of(client, "/api/v1/park", host="beta.vistapass.test")
    assert (status, body["display_name"]) == (200, "Beta Park")
    status, body = park_of(client, "/api/v1/park", host="ALPHA.vistapass.test:8443")
    assert (status, body["slug"]) == (200, "alpha")


def test_the_home_page_is_served_on_the_parks_host(client: TestClient) -> None:
    response = client.get("/", headers={"Host": "alpha.vistapass.test"})
    assert response.status_code == 200
    assert "<h1>Alpha Park</h1>" in response.text


def test_by_verified_custom_domain_only(client: TestClient, admin_conn) -> None:
    admin_conn.execute(
        "INSERT INTO tenant_domains (domain, tenant_id, verified) "
        "SELECT 'tickets.alpha-park.example', id, true FROM tenants WHERE slug = 'alpha'"
    )
    admin_conn.execute(
        "INSERT INTO tenant_domains (domain, tenant_id, verified) "
        "SELECT 'unverified.beta-park.example', id, false FROM tenants WHERE slug = 'beta'"
    )
    status, body = park_of(client, "/api/v1/park", host="tickets.alpha-park.example")
    assert (status, body["slug"]) == (200, "alpha")
    status, body = park_of(client, "/api/v1/park", host="unverified.beta-park.example")
    assert (status, body["error"]["code"]) == (404, "tenant_not_found")


@pytest.mark.parametrize(
    ("path", "host"),
    [
        ("/p/nowhere/api/v1/park", None),
        ("/p/NOT_A_SLUG/api/v1/park", None),
        ("/api/v1/park", "nowhere.vistapass.test"),
        ("/api/v1/park", "deep.alpha.vistapass.test"),
        ("/api/v1/park", "beta/api/v1/park?.vistapass.test"),
        ("/api/v1/park", "al%70ha.vistapass.test"),
        ("/api/v1/park", "unknown-domain.example"),
    ],
)
def test_unknown_parks_are_404_tenant_not_found(
    client: TestClient, path: str, host: str | None
) -> None:
    status, body = park_of(client, path, host)
    assert (status, body["error"]["code"]) == (404, "tenant_not_found")
    assert body["error"]["message"]


def test_host_and_path_naming_different_parks_is_refused(client: TestClient) -> None:
    status, body = park_of(client, "/p/beta/api/v1/park", host="alpha.vistapass.test")
    assert (status, body["error"]["code"]) == (400, "tenant_mismatch")
    # Agreeing sources are fine.
    status, body = park_of(client, "/p/alpha/api/v1/park", host="alpha.vistapass.test")
    assert (status, body["slug"]) == (200, "alpha")


def test_platform_paths_work_on_every_host(client: TestClient) -> None:
    for host in ("vistapass.test", "alpha.vistapass.test", "www.vistapass.test", "127.0.0.1"):
        assert client.get("/healthz", headers={"Host": host}).json() == {"status": "ok"}


def test_reserved_subdomains_are_the_platform_not_a_park(client: TestClient) -> None:
    status, body = park_of(client, "/api/v1/park", host="www.vistapass.test")
    assert (status, body["error"]["code"]) == (404, "not_found")


def test_a_suspended_park_answers_403_and_others_keep_working(
    client: TestClient, migrated: Settings, db_run, admin_conn
) -> None:
    slug = unique_slug("closing")
    db_run(lambda db: provision_tenant(db, slug, "Closing Park"))
    assert park_of(client, f"/p/{slug}/api/v1/park")[0] == 200
    admin_conn.execute("UPDATE tenants SET status = 'suspended' WHERE slug = %s", (slug,))
    # Another process changed the row: this one obeys once its registry cache lets go
    # of the park (REGISTRY_CACHE_S); forgetting it stands for that wait.
    forget_tenant(slug)
    status, body = park_of(client, f"/p/{slug}/api/v1/park")
    assert (status, body["error"]["code"]) == (403, "tenant_suspended")
    assert park_of(client, "/p/alpha/api/v1/park")[0] == 200


def test_a_suspension_made_in_this_process_is_obeyed_at_once(
    client: TestClient, migrated: Settings, db_run
) -> None:
    slug = unique_slug("shut")
    db_run(lambda db: provision_tenant(db, slug, "Shut Park"))
    assert park_of(client, f"/p/{slug}/api/v1/park")[0] == 200  # now cached
    assert db_run(lambda db: suspend(db, slug)) is True
    status, body = park_of(client, f"/p/{slug}/api/v1/park")
    assert (status, body["error"]["code"]) == (403, "tenant_suspended")


def test_a_park_still_provisioning_is_not_served(client: TestClient, admin_conn, migrated) -> None:
    slug = unique_slug("pending")
    schema = "t_" + slug.replace("-", "_")
    admin_conn.execute(
        "INSERT INTO tenants (slug, display_name, schema_name, db_role, status) "
        "VALUES (%s, 'Pending', %s, %s, 'provisioning')",
        (slug, schema, f"{migrated.db_role_prefix}_{schema}"),
    )
    status, body = park_of(client, f"/p/{slug}/api/v1/park")
    assert (status, body["error"]["code"]) == (404, "tenant_not_found")


def test_responses_carry_a_request_id(client: TestClient) -> None:
    fresh = client.get("/healthz")
    assert len(fresh.headers["x-request-id"]) == 32
    kept = client.get("/healthz", headers={"X-Request-ID": "edge-abc-12345"})
    assert kept.headers["x-request-id"] == "edge-abc-12345"
    replaced = client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
    assert replaced.headers["x-request-id"] != "bad id with spaces"
