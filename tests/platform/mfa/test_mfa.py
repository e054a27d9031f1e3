"""TOTP enrolment, the second sign-in step, recovery codes and required 2FA."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Iterator

import psycopg
import pyotp
import pytest
from litestar.testing import TestClient
from redis.asyncio import Redis

from tests.conftest import Member, sign_in
from vistapass.platform.app import create_app
from vistapass.platform.identity.secrets import token_hash
from vistapass.platform.identity.sessions import SESSION_COOKIE, SessionData, SessionStore
from vistapass.platform.mfa.service import mfa_required
from vistapass.platform.settings import Environment, Settings

JSON = {"accept": "application/json"}


@pytest.fixture
def client(migrated: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(migrated), base_url="http://vistapass.test") as test_client:
        test_client.get("/healthz")  # the CSRF cookie
        yield test_client


def csrf(client: TestClient, **extra: str) -> dict[str, str]:
    return {"x-csrftoken": client.cookies.get("csrftoken") or "", **extra}


def enrol(client: TestClient, migrated: Settings, member: Member) -> tuple[str, list[str]]:
    """Turn TOTP on for `member` through the pages; returns (secret, recovery codes)."""
    sign_in(client, migrated, member)
    page = client.post("/account/security/totp/start", headers=csrf(client))
    assert page.status_code == 200, page.text
    secret = re.search(r"<code>([A-Z2-7]{32})</code>", page.text).group(1)
    done = client.post(
        "/account/security/totp/confirm",
        data={"code": pyotp.TOTP(secret).now()},
        headers=csrf(client),
    )
    assert done.status_code == 200, done.text
    codes = re.findall(r"<li><code>([a-z0-9]{5}-[a-z0-9]{5})</code></li>", done.text)
    return secret, codes


def next_code(secret: str) -> str:
    """The code of the next time-step: valid now, and never the one used to enrol."""
    return pyotp.TOTP(secret).at(time.time() + 30)


def pending_session(client: TestClient, migrated: Settings, member: Member) -> str:
    """A session as the password step leaves it for a person with TOTP on."""

    async def create() -> str:
        redis = Redis.from_url(migrated.redis_url)
        try:
            store = SessionStore(redis, migrated.redis_namespace)
            data = SessionData(str(member.user_id), member.email, member.name, False, True)
            return await store.create(data)
        finally:
            await redis.aclose()

    session_id = asyncio.run(create())
    client.cookies.set(SESSION_COOKIE, session_id)
    return session_id


def redis_exists(migrated: Settings, key: str) -> bool:
    async def check() -> bool:
        redis = Redis.from_url(migrated.redis_url)
        try:
            return bool(await redis.exists(key))
        finally:
            await redis.aclose()

    return asyncio.run(check())


def audit_actions(conn: psycopg.Connection, slug: str, user_id: uuid.UUID) -> list[str]:
    rows = conn.execute(
        f"SELECT action FROM t_{slug}.audit_log WHERE target = %s ORDER BY id",
        (f"user:{user_id}",),
    ).fetchall()
    return [r[0] for r in rows]


def test_enrolment_shows_a_qr_code_and_needs_a_valid_code(
    client, migrated, make_member, admin_conn
) -> None:
    owner = make_member("alpha", "owner")
    sign_in(client, migrated, owner)
    assert "off" in client.get("/account/security", headers={"accept-language": "en"}).text
    page = client.post("/account/security/totp/start", headers=csrf(client))
    assert page.status_code == 200
    assert "<svg" in page.text and page.headers["cache-control"] == "no-store"
    secret = re.search(r"<code>([A-Z2-7]{32})</code>", page.text).group(1)
    stored, enabled = admin_conn.execute(
        "SELECT totp_secret, totp_enabled_at FROM users WHERE id = %s", (owner.user_id,)
    ).fetchone()
    assert stored and secret not in stored and enabled is None  # sealed, not yet on

    wrong = str((int(pyotp.TOTP(secret).now()) + 1) % 1_000_000).zfill(6)
    refused = client.post(
        "/account/security/totp/confirm", data={"code": wrong}, headers=csrf(client, **JSON)
    )
    assert (refused.status_code, refused.json()["error"]["code"]) == (400, "invalid_code")
    again = client.post(
        "/account/security/totp/confirm",
        data={"code": wrong},
        headers=csrf(client, accept="text/html"),
    )
    assert again.status_code == 400 and "<svg" in again.text  # the QR code shown again

    done = client.post(
        "/account/security/totp/confirm",
        data={"code": pyotp.TOTP(secret).now()},
        headers=csrf(client),
    )
    codes = re.findall(r"<li><code>([a-z0-9]{5}-[a-z0-9]{5})</code></li>", done.text)
    assert len(set(codes)) == 10
    hashes = {
        r[0]
        for r in admin_conn.execute(
            "SELECT code_hash FROM recovery_codes WHERE user_id = %s", (owner.user_id,)
        )
    }
    assert len(hashes) == 10 and not hashes & set(codes)
    assert admin_conn.execute(
        "SELECT totp_enabled_at FROM users WHERE id = %s", (owner.user_id,)
    ).fetchone()[0]
    assert audit_actions(admin_conn, "alpha", owner.user_id) == ["auth.totp_enabled"]
    assert audit_actions(admin_conn, "beta", owner.user_id) == []  # not a park of theirs


def test_second_step_with_a_totp_code_and_replay_refused(client, migrated, make_member) -> None:
    owner = make_member("alpha", "owner")
    secret, _ = enrol(client, migrated, owner)
    pending_session(client, migrated, owner)
    status = client.get("/p/alpha/console/", headers=JSON)
    assert (status.status_code, status.json()["error"]["code"]) == (401, "not_authenticated")
    form = client.get("/login/2fa?next=/p/alpha/console/")
    assert form.status_code == 200 and 'name="code"' in form.text

    code = next_code(secret)
    done = client.post(
        "/login/2fa",
        data={"code": code, "next": "/p/alpha/console/"},
        headers=csrf(client),
        follow_redirects=False,
    )
    assert (done.status_code, done.headers["location"]) == (303, "/p/alpha/console/")
    assert client.get("/p/alpha/console/").status_code == 200

    pending_session(client, migrated, owner)
    replay = client.post("/api/v1/auth/2fa", json={"code": code}, headers=csrf(client))
    assert (replay.status_code, replay.json()["error"]["code"]) == (400, "invalid_code")
    assert client.get("/p/alpha/console/", headers=JSON).status_code == 401


def test_a_recovery_code_signs_in_once(client, migrated, make_member, admin_conn) -> None:
    owner = make_member("alpha", "owner")
    _, codes = enrol(client, migrated, owner)
    pending_session(client, migrated, owner)
    ok = client.post("/api/v1/auth/2fa", json={"code": codes[3].upper()}, headers=csrf(client))
    assert ok.status_code == 200 and ok.json() == {"signed_in": True}
    assert client.get("/p/alpha/console/", headers=JSON).status_code == 200
    used = admin_conn.execute(
        "SELECT count(*) FROM recovery_codes WHERE user_id = %s AND used_at IS NOT NULL",
        (owner.user_id,),
    ).fetchone()[0]
    assert used == 1

    pending_session(client, migrated, owner)
    again = client.post("/api/v1/auth/2fa", json={"code": codes[3]}, headers=csrf(client))
    assert (again.status_code, again.json()["error"]["code"]) == (400, "invalid_code")


def test_five_wrong_codes_end_the_session(client, migrated, make_member) -> None:
    owner = make_member("alpha", "owner")
    secret, _ = enrol(client, migrated, owner)
    session_id = pending_session(client, migrated, owner)
    for attempt in range(1, 5):
        wrong = client.post("/api/v1/auth/2fa", json={"code": "000000"}, headers=csrf(client))
        assert (wrong.status_code, wrong.json()["error"]["code"]) == (400, "invalid_code")
        assert wrong.json()["error"]["details"]["attempts_left"] == 5 - attempt
    fifth = client.post("/api/v1/auth/2fa", json={"code": "000000"}, headers=csrf(client))
    assert (fifth.status_code, fifth.json()["error"]["code"]) == (429, "too_many_attempts")
    assert not redis_exists(
        migrated, f"{migrated.redis_namespace}:session:{token_hash(session_id)}"
    )
    late = client.post("/api/v1/auth/2fa", json={"code": next_code(secret)}, headers=csrf(client))
    assert (late.status_code, late.json()["error"]["code"]) == (401, "not_authenticated")


def test_the_second_step_needs_a_pending_session_and_stays_on_site(
    client, migrated, make_member
) -> None:
    owner = make_member("alpha", "owner")
    assert client.get("/login/2fa", follow_redirects=False).headers["location"] == "/login"
    secret, _ = enrol(client, migrated, owner)  # a full session: nothing left to confirm
    assert client.get("/login/2fa", follow_redirects=False).headers["location"] == "/login"
    no_csrf = client.post("/api/v1/auth/2fa", json={"code": "123456"})
    assert no_csrf.json()["error"]["code"] == "csrf_failed"

    pending_session(client, migrated, owner)
    wrong = client.post(
        "/login/2fa",
        data={"code": "000000", "next": "/p/alpha/console/"},
        headers=csrf(client, accept="text/html", **{"accept-language": "en"}),
    )
    assert wrong.status_code == 400 and "That code is not valid." in wrong.text
    assert 'value="/p/alpha/console/"' in wrong.text  # where to go is kept
    done = client.post(
        "/login/2fa",
        data={"code": next_code(secret), "next": "//evil.example/"},
        headers=csrf(client),
        follow_redirects=False,
    )
    assert (done.status_code, done.headers["location"]) == (303, "/console")


def test_turning_off_needs_a_current_code(client, migrated, make_member, admin_conn) -> None:
    owner = make_member("alpha", "owner")
    secret, _ = enrol(client, migrated, owner)
    wrong = client.post(
        "/account/security/totp/disable", data={"code": "000000"}, headers=csrf(client, **JSON)
    )
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (400, "invalid_code")
    done = client.post(
        "/account/security/totp/disable",
        data={"code": next_code(secret)},
        headers=csrf(client),
        follow_redirects=False,
    )
    assert (done.status_code, done.headers["location"]) == (303, "/account/security")
    row = admin_conn.execute(
        "SELECT totp_secret, totp_enabled_at FROM users WHERE id = %s", (owner.user_id,)
    ).fetchone()
    assert row == (None, None)
    left = admin_conn.execute(
        "SELECT count(*) FROM recovery_codes WHERE user_id = %s", (owner.user_id,)
    ).fetchone()[0]
    assert left == 0
    assert audit_actions(admin_conn, "alpha", owner.user_id) == [
        "auth.totp_enabled",
        "auth.totp_disabled",
    ]


def test_the_json_twin_enrols_too(client, migrated, make_member) -> None:
    member = make_member("alpha", "cashier")
    sign_in(client, migrated, member)
    started = client.post("/api/v1/account/totp/start", headers=csrf(client)).json()
    assert started["otpauth_uri"].startswith("otpauth://totp/Vistapass:")
    assert started["qr_svg"].startswith("<svg")
    confirmed = client.post(
        "/api/v1/account/totp/confirm",
        json={"code": pyotp.TOTP(started["secret"]).now()},
        headers=csrf(client),
    )
    assert len(confirmed.json()["recovery_codes"]) == 10
    assert client.get("/api/v1/account/totp").json() == {
        "enabled": True,
        "recovery_codes_left": 10,
    }
    twice = client.post("/api/v1/account/totp/start", headers=csrf(client))
    assert (twice.status_code, twice.json()["error"]["code"]) == (409, "totp_already_enabled")


def production(settings: Settings) -> Settings:
    return settings.model_copy(update={"env": Environment.PRODUCTION})


def test_mfa_is_required_of_owners_and_finance_in_production(
    client, migrated, make_member, db_run
) -> None:
    owner = make_member("alpha", "owner")
    finance = make_member("beta", "finance")
    viewer = make_member("alpha", "viewer")

    def required(member: Member, settings: Settings) -> bool:
        async def work(db) -> bool:
            async with db.session() as session:
                return await mfa_required(session, member.user_id, settings)

        return db_run(work)

    assert required(owner, production(migrated)) and required(finance, production(migrated))
    assert not required(viewer, production(migrated))
    assert not required(owner, migrated)  # outside production, never

    client.app.state.settings = production(migrated)
    sign_in(client, migrated, owner)
    blocked = client.get("/p/alpha/console/", headers=JSON)
    assert (blocked.status_code, blocked.json()["error"]["code"]) == (403, "mfa_required")
    assert client.get("/account/security").status_code == 200  # where to enrol
    sign_in(client, migrated, viewer)
    assert client.get("/p/alpha/console/", headers=JSON).status_code == 200

    client.app.state.settings = migrated
    enrol(client, migrated, owner)
    assert not required(owner, production(migrated))


def test_wrong_codes_to_turn_off_are_limited_per_account(client, migrated, make_member) -> None:
    owner = make_member("alpha", "owner")
    secret, _ = enrol(client, migrated, owner)
    for left in range(4, -1, -1):
        wrong = client.post(
            "/api/v1/account/totp/disable", data={"code": "000000"}, headers=csrf(client, **JSON)
        )
        assert (wrong.status_code, wrong.json()["error"]["code"]) == (400, "invalid_code")
        assert wrong.json()["error"]["details"]["attempts_left"] == left
    # Locked: even the right code is refused now, and nothing changes.
    locked = client.post(
        "/api/v1/account/totp/disable",
        data={"code": next_code(secret)},
        headers=csrf(client, **JSON),
    )
    assert (locked.status_code, locked.json()["error"]["code"]) == (429, "too_many_attempts")
    assert int(locked.headers["retry-after"]) > 0
    assert client.get("/api/v1/account/totp", headers=JSON).json()["enabled"] is True
