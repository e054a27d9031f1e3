"""Signing in and out: cookies, redirects, one answer for bad credentials, audit."""

from __future__ import annotations

import asyncio
import uuid

from argon2 import PasswordHasher
from litestar.testing import TestClient
from redis.asyncio import Redis
from sqlalchemy import update

from tests.conftest import sign_in
from tests.platform.login.conftest import audit_entries, csrf
from vistapass.platform.audit.service import verify_chain
from vistapass.platform.db import Database
from vistapass.platform.identity.passwords import verify_password
from vistapass.platform.identity.sessions import SESSION_COOKIE, SessionStore
from vistapass.platform.login import service
from vistapass.platform.models import Membership, User
from vistapass.platform.models.base import utcnow
from vistapass.platform.settings import Settings
from vistapass.platform.tenancy import repository
from vistapass.platform.tenancy.binding import control_session, tenant_session

JSON = {"accept": "application/json"}


def session_exists(settings: Settings, session_id: str) -> bool:
    async def check() -> bool:
        redis = Redis.from_url(settings.redis_url)
        try:
            return await SessionStore(redis, settings.redis_namespace).get(session_id) is not None
        finally:
            await redis.aclose()

    return asyncio.run(check())


def set_user(db_run, user_id: uuid.UUID, **values: object) -> None:
    async def work(db: Database) -> None:
        async with control_session(db) as session:
            await session.execute(update(User).where(User.id == user_id).values(**values))

    db_run(work)


def get_user(db_run, user_id: uuid.UUID) -> User:
    async def work(db: Database) -> User:
        async with control_session(db) as session:
            user = await session.get(User, user_id)
            assert user is not None
            session.expunge(user)
            return user

    return db_run(work)


def test_the_sign_in_page_keeps_only_a_local_next(client: TestClient) -> None:
    page = client.get("/login", params={"next": "/p/alpha/console/"})
    assert page.status_code == 200
    assert 'name="next" value="/p/alpha/console/"' in page.text
    assert 'name="_csrf_token"' in page.text
    assert "登录" in page.text  # Chinese unless asked otherwise
    evil = client.get("/login", params={"next": "https://evil.example"})
    assert 'name="next" value="/console"' in evil.text and "evil.example" not in evil.text


def test_form_sign_in_sets_a_session_cookie_and_opens_the_console(
    client: TestClient, make_member
) -> None:
    member = make_member("alpha", "manager")
    response = client.post(
        "/login",
        data={"email": member.email.upper(), "password": member.password, "next": "/p/alpha/"},
        headers=csrf(client),
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/p/alpha/"
    cookie = response.headers["set-cookie"].lower()
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/" in cookie
    assert "secure" not in cookie  # not production
    assert client.get("/p/alpha/console/").status_code == 200


def test_form_sign_in_ignores_a_foreign_next(client: TestClient, make_member) -> None:
    member = make_member("alpha", "viewer")
    for target in ("https://evil.example", "//evil.example/x", ""):
        client.cookies.delete(SESSION_COOKIE)
        response = client.post(
            "/login",
            data={"email": member.email, "password": member.password, "next": target},
            headers=csrf(client),
            follow_redirects=False,
        )
        assert response.status_code == 303
        assert response.headers["location"] == "/console"


def test_api_sign_in_returns_the_person_and_a_cookie(client: TestClient, make_member) -> None:
    member = make_member("alpha", "cashier")
    response = client.post(
        "/api/v1/auth/login", json={"email": member.email, "password": member.password}
    )
    assert response.status_code == 200
    assert response.json() == {
        "user": {
            "id": str(member.user_id),
            "email": member.email,
            "name": member.name,
            "is_platform_admin": False,
        }
    }
    assert client.cookies.get(SESSION_COOKIE)
    assert client.get("/p/alpha/console/", headers=JSON).status_code == 200


def test_api_sign_in_wants_json(client: TestClient, make_member) -> None:
    member = make_member("alpha", "viewer")
    response = client.post(
        "/api/v1/auth/login",
        content=f'{{"email": "{member.email}", "password": "{member.password}"}}',
        headers={"content-type": "text/plain"},
    )
    assert response.status_code == 415
    assert not client.cookies.get(SESSION_COOKIE)


def test_wrong_password_and_unknown_email_get_the_same_answer(
    client: TestClient, make_member
) -> None:
    member = make_member("alpha", "viewer")
    wrong = client.post(
        "/api/v1/auth/login", json={"email": member.email, "password": "not the password 1"}
    )
    unknown = client.post(
        "/api/v1/auth/login",
        json={"email": f"nobody-{uuid.uuid4().hex[:8]}@example.com", "password": "whatever 123"},
    )
    malformed = client.post("/api/v1/auth/login", json={"email": "no-at-sign", "password": "x"})
    assert wrong.status_code == unknown.status_code == malformed.status_code == 401
    assert wrong.json()["error"]["code"] == "invalid_credentials"
    assert wrong.content == unknown.content == malformed.content
    form = client.post(
        "/login",
        data={"email": member.email, "password": "not the password 1"},
        headers=csrf(client),
    )
    assert form.status_code == 401 and form.content == wrong.content
    assert not client.cookies.get(SESSION_COOKIE)


def test_a_browser_sees_the_error_on_the_sign_in_page(client: TestClient, make_member) -> None:
    member = make_member("alpha", "viewer")
    page = client.post(
        "/login",
        data={"email": member.email, "password": "not the password 1", "next": "/p/alpha/"},
        headers={**csrf(client), "accept": "text/html", "accept-language": "en"},
    )
    assert page.status_code == 401
    assert "The e-mail or password is not correct." in page.text
    assert 'name="next" value="/p/alpha/"' in page.text


def test_an_unknown_email_still_spends_a_password_check(client: TestClient, monkeypatch) -> None:
    seen: list[str | None] = []

    def spy(password_hash: str | None, password: str) -> tuple[bool, str | None]:
        seen.append(password_hash)
        return verify_password(password_hash, password)

    monkeypatch.setattr(service, "verify_password", spy)
    client.post("/api/v1/auth/login", json={"email": "ghost@example.com", "password": "x" * 12})
    assert seen == [None]


def test_a_planted_session_id_does_not_survive_sign_in(
    client: TestClient, migrated: Settings, make_member
) -> None:
    member = make_member("alpha", "viewer")
    planted = sign_in(client, migrated, make_member("alpha", "viewer"))
    response = client.post(
        "/api/v1/auth/login", json={"email": member.email, "password": member.password}
    )
    assert response.status_code == 200
    assert response.cookies.get(SESSION_COOKIE) not in (None, planted)
    assert not session_exists(migrated, planted)


def test_an_old_hash_is_upgraded_on_sign_in(client: TestClient, make_member, db_run) -> None:
    member = make_member("alpha", "viewer")
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(member.password)
    set_user(db_run, member.user_id, password_hash=weak)
    response = client.post(
        "/api/v1/auth/login", json={"email": member.email, "password": member.password}
    )
    assert response.status_code == 200
    upgraded = get_user(db_run, member.user_id).password_hash
    assert upgraded != weak
    assert verify_password(upgraded, member.password) == (True, None)


def test_a_second_factor_keeps_the_session_pending(client: TestClient, make_member, db_run) -> None:
    member = make_member("alpha", "viewer")
    set_user(db_run, member.user_id, totp_enabled_at=utcnow())
    api = client.post(
        "/api/v1/auth/login", json={"email": member.email, "password": member.password}
    )
    assert api.status_code == 200 and api.json() == {"mfa_required": True}
    assert client.get("/p/alpha/console/", headers=JSON).status_code == 401

    form = client.post(
        "/login",
        data={"email": member.email, "password": member.password, "next": "/p/alpha/console/"},
        headers=csrf(client),
        follow_redirects=False,
    )
    assert form.status_code == 303
    assert form.headers["location"] == "/login/2fa?next=/p/alpha/console/"
    assert client.get("/p/alpha/console/", headers=JSON).status_code == 401


def test_a_form_post_without_csrf_token_is_refused(client: TestClient, make_member) -> None:
    member = make_member("alpha", "viewer")
    client.get("/healthz")  # holding the cookie is not enough: the form must echo it
    response = client.post("/login", data={"email": member.email, "password": member.password})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "csrf_failed"
    assert not client.cookies.get(SESSION_COOKIE)


def test_sign_out_ends_the_session(client: TestClient, migrated: Settings, make_member) -> None:
    member = make_member("alpha", "viewer")
    client.post("/api/v1/auth/login", json={"email": member.email, "password": member.password})
    session_id = client.cookies.get(SESSION_COOKIE)
    assert session_id and client.get("/p/alpha/console/", headers=JSON).status_code == 200

    response = client.post("/logout", headers=csrf(client), follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login"
    assert not client.cookies.get(SESSION_COOKIE)
    assert not session_exists(migrated, session_id)
    # Even with the old cookie put back, the session is gone.
    client.cookies.set(SESSION_COOKIE, session_id)
    denied = client.get("/p/alpha/console/", headers=JSON)
    assert denied.status_code == 401 and denied.json()["error"]["code"] == "not_authenticated"


def test_api_sign_out_needs_the_csrf_header_and_ends_the_session(
    client: TestClient, migrated: Settings, make_member
) -> None:
    member = make_member("alpha", "viewer")
    client.post("/api/v1/auth/login", json={"email": member.email, "password": member.password})
    session_id = client.cookies.get(SESSION_COOKIE)
    assert session_id
    assert client.post("/api/v1/auth/logout").json()["error"]["code"] == "csrf_failed"
    assert session_exists(migrated, session_id)
    assert client.post("/api/v1/auth/logout", headers=csrf(client)).status_code == 204
    assert not session_exists(migrated, session_id)
    assert client.post("/api/v1/auth/logout", headers=JSON).status_code == 401


def test_sign_ins_are_audited_in_every_park_of_the_person(
    client: TestClient, make_member, db_run
) -> None:
    member = make_member("alpha", "finance")

    async def join_beta(db: Database) -> None:
        async with control_session(db) as session:
            beta = await repository.get_by_slug(session, "beta")
            assert beta is not None
            session.add(Membership(user_id=member.user_id, tenant_id=beta.id, role="viewer"))

    db_run(join_beta)
    login = {"email": member.email, "password": member.password}
    assert (
        client.post("/api/v1/auth/login", json={**login, "password": "wrong one 123"}).status_code
        == 401
    )
    assert client.post("/api/v1/auth/login", json=login).status_code == 200

    for slug in ("alpha", "beta"):
        entries = audit_entries(db_run, slug, member.email)
        assert [e.action for e in entries] == ["auth.sign_in_failed", "auth.sign_in"]
        assert {e.actor_id for e in entries} == {member.user_id}
        assert {e.actor for e in entries} == {member.email}
        assert {e.ip for e in entries} == {"testclient"}

    async def chain_ok(db: Database) -> bool:
        async with tenant_session(db, "beta") as session:
            return (await verify_chain(session)).ok

    assert db_run(chain_ok)


def test_unknown_emails_are_not_audited(client: TestClient, db_run) -> None:
    ghost = f"ghost-{uuid.uuid4().hex[:8]}@example.com"
    client.post("/api/v1/auth/login", json={"email": ghost, "password": "whatever 123"})
    assert audit_entries(db_run, "alpha", ghost) == []
