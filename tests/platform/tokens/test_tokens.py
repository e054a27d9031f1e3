"""Personal API tokens: shown once, hashed at rest, one park, never more than their maker."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator

import pytest
from litestar import get
from litestar.testing import TestClient

from tests.conftest import sign_in
from vistapass.platform.app import create_app
from vistapass.platform.authz.permissions import requires
from vistapass.platform.settings import Settings

JSON = {"accept": "application/json"}
TOKEN = re.compile(r"vpt_[0-9a-f]{12}_[0-9a-f]{48}")


@get("/p/{tenant_slug:str}/test-owner-only", opt=requires("staff:manage"))
async def owner_only() -> dict[str, bool]:
    return {"ok": True}


@pytest.fixture
def client(migrated: Settings) -> Iterator[TestClient]:
    app = create_app(migrated)
    # A route only owners may use, whatever other features exist.
    app.register(owner_only)
    with TestClient(app, base_url="http://vistapass.test") as test_client:
        test_client.get("/healthz")  # the CSRF cookie
        yield test_client


def csrf(client: TestClient, **extra: str) -> dict[str, str]:
    return {"x-csrftoken": client.cookies.get("csrftoken") or "", **extra}


def mint(client: TestClient, name: str, role: str, slug: str = "alpha") -> dict:
    response = client.post(
        f"/p/{slug}/api/v1/tokens", json={"name": name, "role": role}, headers=csrf(client)
    )
    assert response.status_code == 201, response.text
    return response.json()


def as_token(client: TestClient, method: str, path: str, token: str) -> tuple[int, str]:
    """A request carrying only the token: no session cookie."""
    session = client.cookies.get("vp_session")
    client.cookies.delete("vp_session")
    try:
        response = client.request(
            method, path, headers={"authorization": f"Bearer {token}", **JSON}
        )
    finally:
        if session:
            client.cookies.set("vp_session", session)
    body = response.json() if "json" in response.headers.get("content-type", "") else {}
    code = body.get("error", {}).get("code", "") if isinstance(body, dict) else ""
    return response.status_code, code


def test_the_console_shows_a_new_token_once_and_stores_only_its_hash(
    client, migrated, make_member, admin_conn
) -> None:
    owner = make_member("alpha", "owner")
    sign_in(client, migrated, owner)
    page = client.get("/p/alpha/console/tokens", headers={"accept-language": "en"})
    assert page.status_code == 200 and "You have no tokens at this park." in page.text
    created = client.post(
        "/p/alpha/console/tokens",
        data={"name": "Nightly export", "role": "viewer"},
        headers=csrf(client),
    )
    assert created.status_code == 200 and created.headers["cache-control"] == "no-store"
    raw = TOKEN.search(created.text).group(0)
    prefix = raw.split("_")[1]

    row = admin_conn.execute(
        "SELECT token_hash, token_prefix, role, name, user_id FROM api_tokens"
        " WHERE token_prefix = %s",
        (prefix,),
    ).fetchone()
    assert row[0] == hashlib.sha256(raw.encode()).hexdigest()
    assert row[1:] == (prefix, "viewer", "Nightly export", owner.user_id)
    assert not admin_conn.execute(
        "SELECT 1 FROM api_tokens WHERE token_hash = %s OR name = %s", (raw, raw)
    ).fetchone()

    listing = client.get("/p/alpha/console/tokens")
    assert "Nightly export" in listing.text and raw not in listing.text  # only once
    assert f"vpt_{prefix}" in listing.text
    actions = admin_conn.execute(
        "SELECT action, actor_id FROM t_alpha.audit_log WHERE target LIKE 'api_token:%%'"
        " AND actor_id = %s",
        (owner.user_id,),
    ).fetchall()
    assert actions == [("token.created", owner.user_id)]


def test_a_token_acts_at_its_park_with_its_role_only(client, migrated, make_member) -> None:
    owner = make_member("alpha", "owner")
    make_member("beta", "owner")  # beta exists and has people; the token is still alpha's
    sign_in(client, migrated, owner)
    viewer_token = mint(client, "read only", "viewer")["token"]
    owner_token = mint(client, "full", "owner")["token"]

    assert as_token(client, "GET", "/p/alpha/console/", viewer_token)[0] == 200
    assert as_token(client, "GET", "/p/beta/console/", viewer_token) == (403, "forbidden")
    assert as_token(client, "GET", "/p/alpha/test-owner-only", owner_token)[0] == 200
    assert as_token(client, "GET", "/p/alpha/test-owner-only", viewer_token) == (403, "forbidden")
    # A token cannot mint its own successors.
    assert as_token(client, "POST", "/p/alpha/api/v1/tokens", owner_token) == (
        403,
        "session_required",
    )
    assert as_token(client, "GET", "/p/alpha/console/", "vpt_0123456789ab_nope")[1] == (
        "not_authenticated"
    )


def test_a_revoked_token_no_longer_authenticates(client, migrated, make_member, admin_conn) -> None:
    owner = make_member("alpha", "owner")
    sign_in(client, migrated, owner)
    token = mint(client, "ci", "manager")
    assert as_token(client, "GET", "/p/alpha/console/", token["token"])[0] == 200

    other = make_member("alpha", "manager")
    sign_in(client, migrated, other)
    theirs = client.delete(f"/p/alpha/api/v1/tokens/{token['id']}", headers=csrf(client))
    assert (theirs.status_code, theirs.json()["error"]["code"]) == (404, "not_found")
    assert [t["id"] for t in client.get("/p/alpha/api/v1/tokens").json()["tokens"]] == []

    sign_in(client, migrated, owner)
    gone = client.post(
        f"/p/alpha/console/tokens/{token['id']}/revoke",
        headers=csrf(client),
        follow_redirects=False,
    )
    assert (gone.status_code, gone.headers["location"]) == (303, "/p/alpha/console/tokens")
    assert as_token(client, "GET", "/p/alpha/console/", token["token"]) == (
        401,
        "not_authenticated",
    )
    listed = client.get("/p/alpha/api/v1/tokens").json()["tokens"]
    assert [(t["id"], t["revoked_at"] is not None) for t in listed] == [(token["id"], True)]
    assert listed[0]["last_used_at"] is not None
    # Revoking again changes nothing and records nothing more.
    assert (
        client.delete(f"/p/alpha/api/v1/tokens/{token['id']}", headers=csrf(client)).status_code
        == 204
    )
    actions = admin_conn.execute(
        "SELECT action FROM t_alpha.audit_log WHERE target = %s ORDER BY id",
        (f"api_token:{token['id']}",),
    ).fetchall()
    assert [a for (a,) in actions] == ["token.created", "token.revoked"]


def test_a_token_never_outranks_its_maker(client, migrated, make_member) -> None:
    cashier = make_member("alpha", "cashier")
    sign_in(client, migrated, cashier)
    refused = client.post(
        "/p/alpha/api/v1/tokens", json={"name": "x", "role": "owner"}, headers=csrf(client)
    )
    assert (refused.status_code, refused.json()["error"]["code"]) == (
        403,
        "token_role_not_allowed",
    )
    # A viewer reads settings and reports, which a cashier cannot: refused too.
    viewer = client.post(
        "/p/alpha/api/v1/tokens", json={"name": "x", "role": "viewer"}, headers=csrf(client)
    )
    assert viewer.json()["error"]["code"] == "token_role_not_allowed"
    assert mint(client, "till", "cashier")["role"] == "cashier"
    assert client.get("/p/alpha/api/v1/tokens").json()["allowed_roles"] == ["cashier"]

    manager = make_member("alpha", "manager")
    sign_in(client, migrated, manager)
    allowed = client.get("/p/alpha/api/v1/tokens").json()["allowed_roles"]
    assert "owner" not in allowed and "finance" not in allowed  # finance sees settlements
    assert {"manager", "cashier", "viewer"} <= set(allowed)

    owner = make_member("alpha", "owner")
    sign_in(client, migrated, owner)
    for body, code in (
        ({"name": " ", "role": "viewer"}, "name_required"),
        ({"name": "x", "role": "janitor"}, "invalid_role"),
    ):
        bad = client.post("/p/alpha/api/v1/tokens", json=body, headers=csrf(client))
        assert (bad.status_code, bad.json()["error"]["code"]) == (422, code)
    # At a park where the owner does not work, the guard refuses before anything else.
    beta = client.post(
        "/p/beta/api/v1/tokens", json={"name": "x", "role": "viewer"}, headers=csrf(client)
    )
    assert (beta.status_code, beta.json()["error"]["code"]) == (403, "forbidden")
