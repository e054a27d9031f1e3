"""Signing up a park: one request makes a live park, its owner and a signed-in session."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from urllib.parse import urlsplit

import psycopg
import pytest
from litestar.testing import TestClient

from tests.conftest import Member, unique_slug
from tests.platform.signup.conftest import clear_signup_counters, signup_body
from vistapass.platform.identity.secrets import token_hash
from vistapass.platform.identity.service import find_user
from vistapass.platform.identity.sessions import SESSION_COOKIE
from vistapass.platform.models import OneTimeToken
from vistapass.platform.models.base import utcnow
from vistapass.platform.settings import Settings
from vistapass.platform.signup import service
from vistapass.platform.tenancy.binding import control_session


def counts(conn: psycopg.Connection) -> tuple[int, int, int]:
    """Parks, people and park schemas: what a refused sign-up must leave untouched."""
    tenants = conn.execute("SELECT count(*) FROM tenants").fetchone()[0]
    users = conn.execute("SELECT count(*) FROM users").fetchone()[0]
    schemas = conn.execute(
        "SELECT count(*) FROM information_schema.schemata WHERE schema_name LIKE 't\\_%'"
    ).fetchone()[0]
    return tenants, users, schemas


def test_signing_up_opens_a_live_park_with_its_owner_signed_in(
    client: TestClient, admin_conn: psycopg.Connection
) -> None:
    body = signup_body()
    response = client.post("/api/v1/signup", json=body)
    assert response.status_code == 201, response.text
    answer = response.json()
    slug = body["slug"]
    assert answer["park"]["slug"] == slug
    assert answer["park"]["console_url"].endswith(f"/p/{slug}/console/")
    assert answer["user"]["email"] == body["email"]
    assert answer["user"]["email_verified"] is False

    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
    assert "Secure" not in cookie  # not production

    console = client.get(urlsplit(answer["park"]["console_url"]).path)
    assert console.status_code == 200
    assert "Lotus Lake Scenic Area" in console.text

    status, role, verified = admin_conn.execute(
        "SELECT t.status, m.role, u.email_verified_at FROM tenants t"
        " JOIN memberships m ON m.tenant_id = t.id JOIN users u ON u.id = m.user_id"
        " WHERE t.slug = %s",
        (slug,),
    ).fetchone()
    assert (status, role, verified) == ("active", "owner", None)
    schema = "t_" + slug.replace("-", "_")
    action, target, actor = admin_conn.execute(
        f"SELECT action, target, actor FROM {schema}.audit_log"
    ).fetchone()
    assert (action, target, actor) == ("park.created", f"park:{slug}", body["email"])


def test_the_verification_mail_arrives_and_its_link_works_once(
    client: TestClient, deliver_mail, admin_conn: psycopg.Connection
) -> None:
    body = signup_body(email=f"Mixed-{unique_slug('case')}@Example.com")
    email = body["email"].lower()
    assert client.post("/api/v1/signup", json=body).status_code == 201
    deliver_mail()

    mails = client.get("/dev/mailbox.json").json()["mails"]
    [mail] = [m for m in mails if m["to"] == email]
    assert "Verify your e-mail" in mail["subject"] and "验证" in mail["subject"]
    assert body["park_name"] in mail["text"]
    link = re.search(r"https?://\S+/verify-email\?token=\S+", mail["text"]).group(0)
    assert mail["text"].count(link) == 2  # once in Chinese, once in English

    target = urlsplit(link)
    verified = client.get(f"{target.path}?{target.query}")
    assert verified.status_code == 200, verified.text
    assert verified.json()["email_verified"] is True
    when = admin_conn.execute(
        "SELECT email_verified_at FROM users WHERE email = %s", (email,)
    ).fetchone()[0]
    assert when is not None

    again = client.get(f"{target.path}?{target.query}")
    assert again.status_code == 400
    assert again.json()["error"]["code"] == "invalid_token"
    page = client.get(f"{target.path}?{target.query}", headers={"accept": "text/html"})
    assert page.status_code == 400 and "<html" in page.text
    assert (
        admin_conn.execute(
            "SELECT email_verified_at FROM users WHERE email = %s", (email,)
        ).fetchone()[0]
        == when
    )


def test_an_expired_or_unknown_link_changes_nothing(
    client: TestClient, db_run, admin_conn: psycopg.Connection
) -> None:
    body = signup_body()
    assert client.post("/api/v1/signup", json=body).status_code == 201
    token = "expired-" + unique_slug("t")

    async def plant_expired(db) -> None:
        async with control_session(db) as session:
            user = await find_user(session, body["email"])
            session.add(
                OneTimeToken(
                    user_id=user.id,
                    purpose=service.VERIFY_EMAIL,
                    token_hash=token_hash(token),
                    expires_at=utcnow() - timedelta(minutes=1),
                )
            )

    db_run(plant_expired)
    for bad in (token, "no-such-token", ""):
        response = client.get("/verify-email", params={"token": bad})
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "invalid_token"
    used = admin_conn.execute(
        "SELECT used_at FROM one_time_tokens o JOIN users u ON u.id = o.user_id WHERE u.email = %s",
        (body["email"],),
    ).fetchall()
    assert used == [(None,), (None,)]
    assert admin_conn.execute(
        "SELECT email_verified_at FROM users WHERE email = %s", (body["email"],)
    ).fetchone() == (None,)


def test_the_verification_page_confirms_and_links_to_the_console(
    client: TestClient, db_run
) -> None:
    body = signup_body()
    assert client.post("/api/v1/signup", json=body).status_code == 201

    async def issue(db) -> str:
        async with control_session(db) as session:
            user = await find_user(session, body["email"])
            return await service.issue_verification(session, db.settings, user, "Lotus")

    token = db_run(issue)
    html = {"accept": "text/html", "accept-language": "en"}
    page = client.get("/verify-email", params={"token": token}, headers=html)
    assert page.status_code == 200
    assert "Your e-mail is verified" in page.text and 'href="/console"' in page.text
    used = client.get("/verify-email", params={"token": token}, headers=html)
    assert used.status_code == 400 and "This link does not work" in used.text


@pytest.mark.parametrize(
    ("overrides", "status", "code"),
    [
        ({"slug": "Bad_Slug!"}, 422, "invalid_slug"),
        ({"slug": "-edge"}, 422, "invalid_slug"),
        ({"slug": "signup"}, 422, "slug_reserved"),
        ({"slug": "alpha"}, 409, "tenant_exists"),
        ({"password": "short"}, 422, "weak_password"),
        ({"password": "aaaaaaaaaaaaaa"}, 422, "weak_password"),
        ({"email": "not-an-email"}, 422, "invalid_email"),
        ({"park_name": "   "}, 422, "park_name_required"),
        ({"owner_name": ""}, 422, "name_required"),
    ],
)
def test_a_refused_sign_up_provisions_nothing(
    client: TestClient, admin_conn: psycopg.Connection, overrides, status, code
) -> None:
    before = counts(admin_conn)
    response = client.post("/api/v1/signup", json=signup_body(**overrides))
    assert (response.status_code, response.json()["error"]["code"]) == (status, code)
    assert SESSION_COOKIE not in response.cookies
    assert counts(admin_conn) == before


def test_an_e_mail_already_registered_is_refused_before_provisioning(
    client: TestClient, admin_conn: psycopg.Connection, make_member
) -> None:
    member: Member = make_member("alpha", "viewer")
    before = counts(admin_conn)
    response = client.post("/api/v1/signup", json=signup_body(email=member.email.upper()))
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "email_taken"
    assert counts(admin_conn) == before


def test_losing_the_e_mail_race_after_provisioning_is_clear_and_leaves_no_live_park(
    client: TestClient, admin_conn: psycopg.Connection, make_member, monkeypatch
) -> None:
    member: Member = make_member(None)

    async def nobody(*_args, **_kwargs):
        return None  # the check saw no such account: another sign-up made it right after

    monkeypatch.setattr(service, "find_user", nobody)
    body = signup_body(email=member.email)
    response = client.post("/api/v1/signup", json=body)
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "email_taken"
    assert "was not opened" in error["message"]
    assert error["details"]["park_status"] == "suspended"
    assert SESSION_COOKIE not in response.cookies
    status, members = admin_conn.execute(
        "SELECT t.status, count(m.id) FROM tenants t LEFT JOIN memberships m"
        " ON m.tenant_id = t.id WHERE t.slug = %s GROUP BY t.status",
        (body["slug"],),
    ).fetchone()
    assert (status, members) == ("suspended", 0)


def test_slug_availability_as_the_operator_types(client: TestClient) -> None:
    def check(slug: str) -> dict:
        response = client.get("/api/v1/signup/slug-available", params={"slug": slug})
        assert response.status_code == 200
        return response.json()

    free = unique_slug("free")
    assert check(free) == {"slug": free, "available": True, "reason": None}
    assert check(" Alpha ") == {"slug": "alpha", "available": False, "reason": "taken"}
    assert check("x_y") == {"slug": "x_y", "available": False, "reason": "invalid_slug"}
    assert check("admin")["reason"] == "slug_reserved"
    assert check("")["reason"] == "invalid_slug"


def test_the_api_takes_only_json(client: TestClient, admin_conn) -> None:
    before = counts(admin_conn)
    response = client.post(
        "/api/v1/signup",
        content=json.dumps(signup_body()),
        headers={"content-type": "text/plain"},
    )
    assert response.status_code == 415
    assert counts(admin_conn) == before


def test_the_sign_up_form_with_csrf_lands_in_the_console(
    client: TestClient, migrated: Settings, admin_conn
) -> None:
    page = client.get("/signup", headers={"accept-language": "en"})
    assert page.status_code == 200
    assert 'aria-live="polite"' in page.text and "slug-available" in page.text
    assert 'name="_csrf_token"' in page.text
    csrf = client.cookies.get("csrftoken")
    assert csrf

    body = signup_body()
    refused = client.post("/signup", data=body, follow_redirects=False)
    assert refused.status_code == 403  # no CSRF token

    response = client.post(
        "/signup", data=body, headers={"x-csrftoken": csrf}, follow_redirects=False
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"/p/{body['slug']}/console/"
    assert SESSION_COOKIE in response.cookies
    console = client.get(response.headers["location"])
    assert console.status_code == 200 and body["park_name"] in console.text


def test_a_form_error_shows_the_typed_values_but_never_the_password(
    client: TestClient, admin_conn
) -> None:
    client.get("/signup")
    csrf = client.cookies.get("csrftoken")
    before = counts(admin_conn)
    body = signup_body(park_name="Plum <Blossom> Valley", password="aaaaaaaaaaaaaa")
    response = client.post(
        "/signup",
        data=body,
        headers={"x-csrftoken": csrf, "accept-language": "en"},
        follow_redirects=False,
    )
    assert response.status_code == 422
    assert "Plum &lt;Blossom&gt; Valley" in response.text
    assert body["slug"] in response.text and body["email"] in response.text
    assert "aaaaaaaaaaaaaa" not in response.text
    assert "most common" in response.text
    assert 'aria-invalid="true"' in response.text
    assert counts(admin_conn) == before

    taken = client.post(
        "/signup",
        data=signup_body(slug="alpha"),
        headers={"x-csrftoken": csrf, "accept-language": "zh-CN"},
    )
    assert taken.status_code == 409
    assert "该地址已被占用" in taken.text


def test_the_sign_up_page_speaks_chinese_by_default(client: TestClient) -> None:
    page = client.get("/signup")
    assert '<html lang="zh-CN">' in page.text and "注册您的景区" in page.text


def test_one_address_cannot_sign_up_parks_without_end(client, migrated) -> None:
    limited = migrated.model_copy(update={"signups_per_ip_per_hour": 2})
    client.app.state.settings = limited
    try:
        statuses = []
        for n in range(3):
            slug = unique_slug(f"burst{n}")
            response = client.post(
                "/api/v1/signup",
                json={
                    "park_name": f"Burst {n}",
                    "slug": slug,
                    "owner_name": "Burst Owner",
                    "email": f"{slug}@example.com",
                    "password": "Lakeside gardens 2026!",
                },
            )
            statuses.append((response.status_code, response.json().get("error", {}).get("code")))
    finally:
        client.app.state.settings = migrated
        clear_signup_counters(migrated)
    assert statuses == [(201, None), (201, None), (429, "too_many_signups")]
