"""The platform admin's park list, suspending and resuming, and the closed notice."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from litestar.testing import TestClient

from tests.conftest import sign_in, unique_slug
from tests.platform.staff.helpers import api, audit_actions, csrf
from vistapass.platform.app import create_app
from vistapass.platform.identity.sessions import SESSION_COOKIE
from vistapass.platform.settings import Settings
from vistapass.platform.tenancy.provisioning import provision_tenant

HTML = {"accept": "text/html"}


@pytest.fixture
def client(migrated: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(migrated), base_url="http://vistapass.test") as test_client:
        test_client.get("/healthz")
        yield test_client


@pytest.fixture
def park(db_run) -> str:
    """A park of its own to suspend, so other tests keep theirs open."""
    slug = unique_slug("closing")
    db_run(lambda db: provision_tenant(db, slug, "Lakeside Gardens"))
    return slug


def error_of(response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


def test_the_platform_admin_lists_every_park(client, migrated, make_member) -> None:
    make_member("beta", "viewer")
    sign_in(client, migrated, make_member(None, platform_admin=True))
    listed = client.get("/api/v1/platform/tenants", headers=api(client))
    assert listed.status_code == 200
    parks = {p["slug"]: p for p in listed.json()["tenants"]}
    assert {"alpha", "beta"} <= set(parks)
    assert parks["alpha"]["name"] == "Alpha Park" and parks["alpha"]["status"] == "active"
    assert parks["beta"]["members"] >= 1 and parks["beta"]["created_at"]

    page = client.get("/admin/tenants", headers={"accept-language": "en"})
    assert page.status_code == 200
    assert "Alpha Park" in page.text and "Beta Park" in page.text and "Suspend" in page.text


def test_park_roles_may_not_use_the_platform_routes(client, migrated, make_member, park) -> None:
    sign_in(client, migrated, make_member("alpha", "owner"))
    assert error_of(client.get("/api/v1/platform/tenants", headers=api(client))) == (
        403,
        "forbidden",
    )
    refused = client.post(f"/api/v1/platform/tenants/{park}/suspend", headers=api(client))
    assert error_of(refused) == (403, "forbidden")
    assert error_of(client.get("/admin/tenants", headers=api(client))) == (403, "forbidden")


def test_suspending_closes_the_park_and_resuming_reopens_it(
    client, migrated, make_member, park, admin_conn
) -> None:
    owner = make_member(park, "owner")
    admin = make_member(None, platform_admin=True)
    sign_in(client, migrated, admin)
    suspended = client.post(f"/api/v1/platform/tenants/{park}/suspend", headers=api(client))
    assert suspended.status_code == 200
    assert suspended.json()["status"] == "suspended" and suspended.json()["changed"] is True
    again = client.post(f"/api/v1/platform/tenants/{park}/suspend", headers=api(client))
    assert again.json()["changed"] is False
    unknown = client.post("/api/v1/platform/tenants/no-such-park/suspend", headers=api(client))
    assert error_of(unknown) == (404, "tenant_not_found")

    # People get a closed notice with the park's name, in Chinese and English.
    sign_in(client, migrated, owner)
    for path in (f"/p/{park}/console/", f"/p/{park}/"):
        notice = client.get(path, headers=HTML)
        assert notice.status_code == 403
        assert notice.headers["content-type"].startswith("text/html")
        assert "Lakeside Gardens" in notice.text
        assert "暂停开放" in notice.text and "is closed" in notice.text
    # The API keeps answering in JSON.
    for path in (f"/p/{park}/api/v1/park", f"/p/{park}/api/v1/staff"):
        assert error_of(client.get(path, headers=HTML)) == (403, "tenant_suspended")
    client.cookies.delete(SESSION_COOKIE)
    assert error_of(client.get(f"/p/{park}/api/v1/park")) == (403, "tenant_suspended")

    sign_in(client, migrated, admin)
    resumed = client.post(
        f"/admin/tenants/{park}/resume", headers=csrf(client), follow_redirects=False
    )
    assert resumed.status_code == 303 and resumed.headers["location"] == "/admin/tenants"
    sign_in(client, migrated, owner)
    assert client.get(f"/p/{park}/console/", headers=HTML).status_code == 200
    assert client.get(f"/p/{park}/api/v1/park").json()["slug"] == park

    status_changes = {"park.suspended", "park.resumed"}
    actions = [a for a, *_ in audit_actions(admin_conn, park) if a in status_changes]
    assert actions == ["park.suspended", "park.resumed"]
