"""Repeated failures lock the account (and the address) before any password is checked."""

from __future__ import annotations

import uuid

import pytest
from litestar.testing import TestClient

from tests.platform.login.conftest import csrf
from vistapass.platform.identity.sessions import SESSION_COOKIE
from vistapass.platform.login import ratelimit, service
from vistapass.platform.login.ratelimit import LoginLimiter

LOGIN = "/api/v1/auth/login"


def fail(client: TestClient, email: str, times: int) -> None:
    for _ in range(times):
        response = client.post(LOGIN, json={"email": email, "password": "a wrong password"})
        assert response.status_code == 401, response.text
        assert response.json()["error"]["code"] == "invalid_credentials"


def ghost() -> str:
    return f"ghost-{uuid.uuid4().hex[:8]}@example.com"


def test_five_failures_lock_the_account_even_for_the_right_password(
    client: TestClient, make_member, monkeypatch
) -> None:
    member = make_member("alpha", "viewer")
    fail(client, member.email, ratelimit.ACCOUNT_LIMIT)
    assert ratelimit.ACCOUNT_LIMIT == 5 and ratelimit.LOCKOUT_SECONDS == 15 * 60

    checked: list[object] = []
    monkeypatch.setattr(service, "verify_password", lambda *args: checked.append(args))
    locked = client.post(LOGIN, json={"email": member.email, "password": member.password})
    assert locked.status_code == 429
    assert locked.json()["error"]["code"] == "too_many_attempts"
    assert 0 < int(locked.headers["retry-after"]) <= 15 * 60
    assert checked == []  # refused before the password was looked at
    assert not client.cookies.get(SESSION_COOKIE)

    # The e-mail is normalised: another spelling is the same account.
    again = client.post(LOGIN, json={"email": member.email.upper(), "password": member.password})
    assert again.status_code == 429

    # The form says the same and carries the same header.
    form = client.post(
        "/login", data={"email": member.email, "password": member.password}, headers=csrf(client)
    )
    assert form.status_code == 429 and form.content == locked.content
    assert "retry-after" in form.headers


def test_a_locked_unknown_email_looks_like_a_locked_account(
    client: TestClient, make_member
) -> None:
    member = make_member("alpha", "viewer")
    nobody = ghost()
    fail(client, member.email, 5)
    fail(client, nobody, 5)
    real = client.post(LOGIN, json={"email": member.email, "password": member.password})
    fake = client.post(LOGIN, json={"email": nobody, "password": "anything 12345"})
    assert real.status_code == fake.status_code == 429
    assert real.content == fake.content
    assert "retry-after" in fake.headers


def test_a_success_forgives_earlier_failures(client: TestClient, make_member) -> None:
    member = make_member("alpha", "viewer")
    fail(client, member.email, 4)
    ok = client.post(LOGIN, json={"email": member.email, "password": member.password})
    assert ok.status_code == 200
    fail(client, member.email, 4)  # would be the 8th failure without the reset
    assert (
        client.post(LOGIN, json={"email": member.email, "password": member.password}).status_code
        == 200
    )


def test_the_lock_is_per_account(client: TestClient, make_member) -> None:
    locked, other = make_member("alpha", "viewer"), make_member("alpha", "viewer")
    fail(client, locked.email, 5)
    response = client.post(LOGIN, json={"email": other.email, "password": other.password})
    assert response.status_code == 200


def test_too_many_failures_from_one_address_block_it(client: TestClient, make_member) -> None:
    client.app.state.login_limiter = LoginLimiter(
        client.app.state.redis,
        client.app.state.settings.redis_namespace,
        account_limit=50,
        ip_limit=3,
    )
    member = make_member("alpha", "viewer")
    for _ in range(3):
        fail(client, ghost(), 1)  # a different account every time
    blocked = client.post(LOGIN, json={"email": member.email, "password": member.password})
    assert blocked.status_code == 429
    assert blocked.json()["error"]["code"] == "too_many_attempts"
    assert 0 < int(blocked.headers["retry-after"]) <= 15 * 60


def test_the_address_limit_defaults_to_twenty(client: TestClient, make_member) -> None:
    member = make_member("alpha", "viewer")
    for _ in range(4):
        fail(client, ghost(), 4)  # 16 failures, no account locked
    fail(client, ghost(), 3)
    assert (
        client.post(LOGIN, json={"email": member.email, "password": member.password}).status_code
        == 200
    )
    fail(client, ghost(), 1)  # the 20th
    blocked = client.post(LOGIN, json={"email": member.email, "password": member.password})
    assert blocked.status_code == 429


def test_limits_must_be_positive(client: TestClient) -> None:
    with pytest.raises(ValueError, match="positive"):
        LoginLimiter(client.app.state.redis, "x", account_limit=0)
