"""Inviting staff, accepting the link, and who may do it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from litestar.testing import TestClient
from redis import Redis

from tests.conftest import sign_in
from tests.platform.staff.helpers import (
    PASSWORD,
    api,
    audit_actions,
    csrf,
    deliver_env,  # noqa: F401 a fixture
    invitation_token,
    mails_to,
    membership_role,
    nav_labels,
)
from vistapass.platform.app import create_app
from vistapass.platform.identity.sessions import SESSION_COOKIE
from vistapass.platform.settings import Settings
from vistapass.platform.staff.accept import ACCEPTS_PER_HOUR


@pytest.fixture
def client(migrated: Settings, deliver_env: Settings) -> Iterator[TestClient]:  # noqa: F811
    with TestClient(create_app(migrated), base_url="http://vistapass.test") as test_client:
        test_client.get("/healthz")  # the CSRF cookie
        yield test_client


def fresh_email(tag: str) -> str:
    import secrets

    return f"{tag}-{secrets.token_hex(4)}@example.com"


def accept_as_new_person(client: TestClient, token: str, name: str):
    client.cookies.delete(SESSION_COOKIE)
    page = client.get(f"/invitations/accept?token={token}", headers={"accept-language": "en"})
    assert page.status_code == 200
    assert "Create your account" in page.text and "Alpha Park" in page.text
    return client.post(
        "/invitations/accept",
        data={"token": token, "name": name, "password": PASSWORD},
        headers={**csrf(client), "accept": "text/html"},
        follow_redirects=False,
    )


def test_owner_invites_a_cashier_and_gate_staff_who_join_and_see_their_nav(
    client, migrated, make_member, admin_conn
) -> None:
    owner = make_member("alpha", "owner")
    sign_in(client, migrated, owner)
    people = {"cashier": fresh_email("cash"), "gate_staff": fresh_email("gate")}
    for role, email in people.items():
        sent = client.post(
            "/p/alpha/console/staff/invite",
            data={"email": email, "role": role},
            headers=csrf(client),
            follow_redirects=False,
        )
        assert sent.status_code == 303, sent.text
        assert sent.headers["location"].startswith("/p/alpha/console/staff")

    listing = client.get("/p/alpha/api/v1/staff", headers=api(client)).json()
    pending = {i["email"]: i["role"] for i in listing["invitations"]}
    assert pending[people["cashier"]] == "cashier"
    assert pending[people["gate_staff"]] == "gate_staff"
    page = client.get("/p/alpha/console/staff", headers={"accept-language": "en"})
    assert page.status_code == 200 and people["cashier"] in page.text and owner.email in page.text

    owner_nav = nav_labels(client.get("/p/alpha/console/", headers={"accept-language": "en"}).text)
    assert "Staff" in owner_nav

    for role, email in people.items():
        token = invitation_token(client, migrated, email)
        assert f"{migrated.url}/invitations/accept?token=" in mails_to(migrated, email)[0]["text"]
        joined = accept_as_new_person(client, token, f"New {role}")
        assert joined.status_code == 303, joined.text
        assert joined.headers["location"] == "/p/alpha/console/"
        cookie = joined.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie
        assert membership_role(admin_conn, email, "alpha") == role

        home = client.get("/p/alpha/console/", headers={"accept-language": "en"})
        assert home.status_code == 200
        nav = nav_labels(home.text)
        assert "Overview" in nav
        assert not {"Staff", "Park settings", "Audit log"} & set(nav)
        assert len(nav) < len(owner_nav)
        # Their role cannot open the staff page either.
        staff = client.get("/p/alpha/api/v1/staff", headers=api(client))
        assert (staff.status_code, staff.json()["error"]["code"]) == (403, "forbidden")

    entries = audit_actions(admin_conn, "alpha")
    invited = {after["email"] for action, _, _, after in entries if action == "staff.invited"}
    joined = {target.removeprefix("member:") for action, target, _, _ in entries
              if action == "staff.joined"}  # fmt: skip
    assert set(people.values()) <= invited and set(people.values()) <= joined


def test_a_cashier_may_not_invite_and_nothing_is_stored(
    client, migrated, make_member, admin_conn
) -> None:
    sign_in(client, migrated, make_member("alpha", "cashier"))
    email = fresh_email("nope")
    for path, kwargs in (
        ("/p/alpha/console/staff/invite", {"data": {"email": email, "role": "owner"}}),
        ("/p/alpha/api/v1/staff/invite", {"json": {"email": email, "role": "owner"}}),
    ):
        response = client.post(path, headers=api(client), **kwargs)
        assert (response.status_code, response.json()["error"]["code"]) == (403, "forbidden")
    count = admin_conn.execute("SELECT count(*) FROM invitations WHERE email = %s", (email,))
    assert count.fetchone()[0] == 0


def test_staff_of_one_park_cannot_touch_another_parks_staff(client, migrated, make_member) -> None:
    sign_in(client, migrated, make_member("alpha", "owner"))
    listing = client.get("/p/beta/api/v1/staff", headers=api(client))
    assert (listing.status_code, listing.json()["error"]["code"]) == (403, "forbidden")
    invite = client.post(
        "/p/beta/api/v1/staff/invite",
        json={"email": fresh_email("x"), "role": "owner"},
        headers=api(client),
    )
    assert (invite.status_code, invite.json()["error"]["code"]) == (403, "forbidden")


def test_bad_links_change_nothing(client, migrated, make_member, admin_conn) -> None:
    sign_in(client, migrated, make_member("alpha", "owner"))

    def invite(email: str) -> dict:
        response = client.post(
            "/p/alpha/api/v1/staff/invite", json={"email": email, "role": "viewer"},
            headers=api(client),
        )  # fmt: skip
        assert response.status_code == 201, response.text
        return response.json()

    def accept(token: str) -> tuple[int, str]:
        client.cookies.delete(SESSION_COOKIE)
        response = client.post(
            "/invitations/accept",
            data={"token": token, "name": "Someone", "password": PASSWORD},
            headers=api(client),
            follow_redirects=False,
        )
        code = response.json()["error"]["code"] if response.status_code >= 400 else ""
        return response.status_code, code

    used = fresh_email("used")
    invite(used)
    token = invitation_token(client, migrated, used)
    assert accept(token)[0] == 303
    assert accept(token) == (400, "invalid_token")
    assert membership_role(admin_conn, used, "alpha") == "viewer"

    owner = make_member("alpha", "owner")
    sign_in(client, migrated, owner)
    revoked = fresh_email("revoked")
    invitation = invite(revoked)
    token = invitation_token(client, migrated, revoked)
    gone = client.post(
        f"/p/alpha/api/v1/staff/invitations/{invitation['invitation_id']}/revoke",
        headers=api(client),
    )
    assert gone.status_code == 200
    assert accept(token) == (400, "invalid_token")

    sign_in(client, migrated, owner)
    expired = fresh_email("expired")
    invite(expired)
    token = invitation_token(client, migrated, expired)
    admin_conn.execute(
        "UPDATE invitations SET expires_at = now() - %s WHERE email = %s",
        (timedelta(minutes=1), expired),
    )
    page = client.get(f"/invitations/accept?token={token}")
    assert page.status_code == 400
    assert accept(token) == (400, "invalid_token")
    assert accept("not-a-token") == (400, "invalid_token")
    for email in (revoked, expired):
        assert membership_role(admin_conn, email, "alpha") is None
        users = admin_conn.execute("SELECT count(*) FROM users WHERE email = %s", (email,))
        assert users.fetchone()[0] == 0


def test_inviting_a_member_conflicts_and_a_new_invitation_replaces_the_old(
    client, migrated, make_member, admin_conn
) -> None:
    owner = make_member("alpha", "owner")
    cashier = make_member("alpha", "cashier")
    sign_in(client, migrated, owner)
    member = client.post(
        "/p/alpha/api/v1/staff/invite",
        json={"email": cashier.email.upper(), "role": "manager"},
        headers=api(client),
    )
    assert (member.status_code, member.json()["error"]["code"]) == (409, "already_member")
    bad_role = client.post(
        "/p/alpha/api/v1/staff/invite",
        json={"email": fresh_email("r"), "role": "platform_admin"},
        headers=api(client),
    )
    assert bad_role.status_code == 422

    email = fresh_email("twice")
    for role in ("viewer", "finance"):
        response = client.post(
            "/p/alpha/api/v1/staff/invite", json={"email": email, "role": role},
            headers=api(client),
        )  # fmt: skip
        assert response.status_code == 201
    pending = [
        i for i in client.get("/p/alpha/api/v1/staff").json()["invitations"] if i["email"] == email
    ]
    assert [i["role"] for i in pending] == ["finance"]
    states = admin_conn.execute(
        "SELECT role, revoked_at IS NOT NULL FROM invitations WHERE email = %s ORDER BY created_at",
        (email,),
    ).fetchall()
    assert states == [("viewer", True), ("finance", False)]


def test_signed_in_as_someone_else_is_refused(client, migrated, make_member, admin_conn) -> None:
    sign_in(client, migrated, make_member("alpha", "owner"))
    email = fresh_email("other")
    client.post(
        "/p/alpha/api/v1/staff/invite", json={"email": email, "role": "viewer"}, headers=api(client)
    )
    token = invitation_token(client, migrated, email)
    sign_in(client, migrated, make_member("beta", "viewer"))
    page = client.get(f"/invitations/accept?token={token}")
    assert page.status_code == 403
    response = client.post(
        "/invitations/accept", data={"token": token}, headers=api(client), follow_redirects=False
    )
    assert (response.status_code, response.json()["error"]["code"]) == (
        403,
        "invitation_for_another_email",
    )
    assert membership_role(admin_conn, email, "alpha") is None


def test_one_person_holds_different_roles_at_two_parks(
    client, migrated, make_member, admin_conn
) -> None:
    person = make_member("alpha", "cashier")
    sign_in(client, migrated, make_member("beta", "owner"))
    client.post(
        "/p/beta/api/v1/staff/invite",
        json={"email": person.email, "role": "manager"},
        headers=api(client),
    )
    token = invitation_token(client, migrated, person.email)

    client.cookies.delete(SESSION_COOKIE)
    page = client.get(f"/invitations/accept?token={token}", headers={"accept-language": "en"})
    assert "/login?next=" in page.text and "Create your account" not in page.text
    refused = client.post(
        "/invitations/accept", data={"token": token}, headers=api(client), follow_redirects=False
    )
    assert refused.status_code == 401

    sign_in(client, migrated, person)
    page = client.get(f"/invitations/accept?token={token}", headers={"accept-language": "en"})
    assert page.status_code == 200 and "Accept the invitation" in page.text
    joined = client.post(
        "/invitations/accept", data={"token": token}, headers=csrf(client), follow_redirects=False
    )
    assert joined.status_code == 303 and joined.headers["location"] == "/p/beta/console/"
    assert membership_role(admin_conn, person.email, "alpha") == "cashier"
    assert membership_role(admin_conn, person.email, "beta") == "manager"
    # The policy was reloaded: a manager reads beta's staff, a cashier not alpha's.
    assert client.get("/p/beta/api/v1/staff", headers=api(client)).status_code == 200
    assert client.get("/p/alpha/api/v1/staff", headers=api(client)).status_code == 403


def test_accepting_is_limited_per_address(client, migrated) -> None:
    """Each attempt may hash a password: one address gets a few dozen an hour."""
    redis = Redis.from_url(migrated.redis_url)
    key = f"{migrated.redis_namespace}:invitations:ip:testclient"
    redis.delete(key)  # the tests before this one accepted from the same address
    attempts = [
        client.post("/invitations/accept", data={"token": f"guess-{n}"}, headers=csrf(client))
        for n in range(ACCEPTS_PER_HOUR + 1)
    ]
    assert {a.json()["error"]["code"] for a in attempts[:-1]} == {"invalid_token"}
    limited = attempts[-1]
    assert limited.status_code == 429
    assert limited.json()["error"]["code"] == "too_many_attempts"
    assert 0 < int(limited.headers["retry-after"]) <= 3600
    # Later tests accept from the same test client: give the address its hour back.
    redis.delete(key)
    redis.close()
