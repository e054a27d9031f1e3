"""Changing roles and removing people: the last owner stays, the policy follows."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from litestar.testing import TestClient

from tests.conftest import sign_in, unique_slug
from tests.platform.staff.helpers import api, audit_actions, csrf, membership_role
from vistapass.platform.app import create_app
from vistapass.platform.settings import Settings
from vistapass.platform.tenancy.provisioning import provision_tenant

EN = {"accept-language": "en"}


@pytest.fixture
def client(migrated: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(migrated), base_url="http://vistapass.test") as test_client:
        test_client.get("/healthz")
        yield test_client


@pytest.fixture
def park(db_run) -> str:
    """A park of its own, so counting its owners is not disturbed by other tests."""
    slug = unique_slug("staff")
    db_run(lambda db: provision_tenant(db, slug, "Staff Test Park"))
    return slug


def membership_id(client: TestClient, slug: str, email: str) -> str:
    members = client.get(f"/p/{slug}/api/v1/staff", headers=api(client)).json()["members"]
    return next(m["membership_id"] for m in members if m["email"] == email)


def error_of(response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


def test_the_last_owner_can_be_neither_demoted_nor_removed(
    client, migrated, make_member, park, admin_conn
) -> None:
    first = make_member(park, "owner")
    sign_in(client, migrated, first)
    mine = membership_id(client, park, first.email)
    demote = client.post(
        f"/p/{park}/api/v1/staff/{mine}/role", json={"role": "manager"}, headers=api(client)
    )
    assert error_of(demote) == (409, "last_owner")
    remove = client.post(f"/p/{park}/api/v1/staff/{mine}/remove", headers=api(client))
    assert error_of(remove) == (409, "last_owner")
    # The console form shows the same refusal on the page.
    page = client.post(
        f"/p/{park}/console/staff/{mine}/role",
        data={"role": "viewer"},
        headers={**csrf(client), "accept": "text/html"},
    )
    assert page.status_code == 409 and "at least one owner" in page.text
    assert membership_role(admin_conn, first.email, park) == "owner"

    second = make_member(park, "manager")
    theirs = membership_id(client, park, second.email)
    promoted = client.post(
        f"/p/{park}/api/v1/staff/{theirs}/role", json={"role": "owner"}, headers=api(client)
    )
    assert promoted.status_code == 200 and promoted.json()["role"] == "owner"
    demoted = client.post(
        f"/p/{park}/console/staff/{mine}/role",
        data={"role": "manager"},
        headers=csrf(client),
        follow_redirects=False,
    )
    assert demoted.status_code == 303
    assert membership_role(admin_conn, first.email, park) == "manager"
    # The policy reloaded at once: as a manager the first may no longer manage staff.
    refused = client.post(f"/p/{park}/api/v1/staff/{theirs}/remove", headers=api(client))
    assert error_of(refused) == (403, "forbidden")

    changes = [(b, a) for action, _, b, a in audit_actions(admin_conn, park)
               if action == "staff.role_changed"]  # fmt: skip
    assert changes == [
        ({"role": "manager"}, {"role": "owner"}),
        ({"role": "owner"}, {"role": "manager"}),
    ]


def test_a_removed_member_loses_access(client, migrated, make_member, park, admin_conn) -> None:
    owner = make_member(park, "owner")
    viewer = make_member(park, "viewer")
    sign_in(client, migrated, viewer)
    assert client.get(f"/p/{park}/console/").status_code == 200

    sign_in(client, migrated, owner)
    gone = client.post(
        f"/p/{park}/api/v1/staff/{membership_id(client, park, viewer.email)}/remove",
        headers=api(client),
    )
    assert gone.status_code == 200
    assert membership_role(admin_conn, viewer.email, park) is None
    missing = client.post(
        f"/p/{park}/api/v1/staff/{gone.json()['membership_id']}/remove", headers=api(client)
    )
    assert error_of(missing) == (404, "membership_not_found")
    malformed = client.post(f"/p/{park}/api/v1/staff/not-an-id/remove", headers=api(client))
    assert error_of(malformed) == (404, "membership_not_found")

    sign_in(client, migrated, viewer)
    assert error_of(client.get(f"/p/{park}/console/", headers=api(client))) == (403, "forbidden")
    removed = [
        (t, b) for action, t, b, _ in audit_actions(admin_conn, park) if action == "staff.removed"
    ]
    assert removed == [(f"member:{viewer.email}", {"role": "viewer"})]


def test_a_manager_sees_the_staff_page_without_its_forms(
    client, migrated, make_member, park
) -> None:
    owner = make_member(park, "owner")
    sign_in(client, migrated, owner)
    assert "Send invitation" in client.get(f"/p/{park}/console/staff", headers=EN).text
    sign_in(client, migrated, make_member(park, "manager"))
    page = client.get(f"/p/{park}/console/staff", headers=EN)
    assert page.status_code == 200 and owner.email in page.text
    assert "Send invitation" not in page.text and "Change role" not in page.text
    chinese = client.get(f"/p/{park}/console/staff")
    assert "待接受的邀请" in chinese.text
