"""Password reset end to end: the mail, the link, the new password, the old sessions."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from datetime import timedelta

import dramatiq
import pytest
import redis
from litestar.testing import TestClient
from sqlalchemy import select

import vistapass.platform.mail.tasks as mail_tasks
from tests.conftest import sign_in
from tests.platform.login.conftest import audit_entries, csrf
from vistapass.platform.db import Database
from vistapass.platform.identity.secrets import new_token, token_hash
from vistapass.platform.identity.sessions import SESSION_COOKIE
from vistapass.platform.login.service import RESET_MAILS_PER_LIFETIME, RESET_PURPOSE
from vistapass.platform.models import OneTimeToken, User
from vistapass.platform.models.base import utcnow
from vistapass.platform.settings import Settings
from vistapass.platform.tenancy.binding import control_session

NEW_PASSWORD = "a brand new river stone 7"
JSON = {"accept": "application/json"}
TOKEN = re.compile(r"/reset-password/confirm\?token=([A-Za-z0-9_-]+)")


@pytest.fixture
def mailbox(migrated: Settings, monkeypatch) -> Iterator[redis.Redis]:
    # The mail actor reads the process settings, as a worker started from the
    # environment would; here that is the test run's Redis and namespace.
    client = redis.Redis.from_url(migrated.redis_url)
    yield client
    client.close()


def deliver_mail(client: TestClient) -> None:
    broker = client.app.state.broker
    worker = dramatiq.Worker(broker, worker_threads=1)
    worker.start()
    try:
        broker.join("default", timeout=10_000)
        worker.join()
    finally:
        worker.stop()


def mails_to(mailbox: redis.Redis, settings: Settings, address: str) -> list[dict]:
    raw = mailbox.lrange(mail_tasks.mailbox_key(settings), 0, -1)
    return [m for m in map(json.loads, raw) if m["to"] == address]


def reset_token(client: TestClient, mailbox: redis.Redis, settings: Settings, email: str) -> str:
    deliver_mail(client)
    [mail] = mails_to(mailbox, settings, email)
    assert mail["text"].count(f"{settings.url}/reset-password/confirm?token=") == 1
    match = TOKEN.search(mail["text"])
    assert match is not None
    return match.group(1)


def password_hash(db_run, user_id: uuid.UUID) -> str:
    async def read(db: Database) -> str:
        async with control_session(db) as session:
            return await session.scalar(select(User.password_hash).where(User.id == user_id))

    return db_run(read)


def login(client: TestClient, email: str, password: str) -> int:
    return client.post(
        "/api/v1/auth/login", json={"email": email, "password": password}
    ).status_code


def test_reset_by_form_end_to_end(
    client: TestClient, migrated: Settings, make_member, mailbox, db_run
) -> None:
    member = make_member("alpha", "viewer")
    old_session = sign_in(client, migrated, member)
    assert client.get("/p/alpha/console/", headers=JSON).status_code == 200

    page = client.get("/reset-password")
    assert page.status_code == 200 and 'name="_csrf_token"' in page.text
    asked = client.post(
        "/reset-password",
        data={"email": member.email},
        headers={**csrf(client), "accept-language": "en"},
    )
    assert asked.status_code == 200
    assert "If an account exists for this e-mail" in asked.text
    token = reset_token(client, mailbox, migrated, member.email)

    form = client.get("/reset-password/confirm", params={"token": token})
    assert form.status_code == 200 and f'value="{token}"' in form.text
    done = client.post(
        "/reset-password/confirm",
        data={"token": token, "password": NEW_PASSWORD, "password_again": NEW_PASSWORD},
        headers=csrf(client),
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == "/login"

    # Every session of the person is gone, the one in this browser included.
    client.cookies.set(SESSION_COOKIE, old_session)
    assert client.get("/p/alpha/console/", headers=JSON).status_code == 401
    assert login(client, member.email, member.password) == 401
    assert login(client, member.email, NEW_PASSWORD) == 200

    # The link works once.
    reused = client.post(
        "/api/v1/auth/reset-password/confirm", json={"token": token, "password": "x" + NEW_PASSWORD}
    )
    assert reused.status_code == 400 and reused.json()["error"]["code"] == "invalid_token"
    assert client.get("/reset-password/confirm", params={"token": token}).status_code == 400
    assert login(client, member.email, NEW_PASSWORD) == 200
    actions = [e.action for e in audit_entries(db_run, "alpha", member.email)]
    assert "auth.password_reset" in actions


def test_reset_by_api_and_the_same_answer_for_unknown_emails(
    client: TestClient, migrated: Settings, make_member, mailbox, db_run
) -> None:
    member = make_member("alpha", "viewer")
    nobody = f"nobody-{uuid.uuid4().hex[:8]}@example.com"
    known = client.post("/api/v1/auth/reset-password", json={"email": member.email})
    unknown = client.post("/api/v1/auth/reset-password", json={"email": nobody})
    assert known.status_code == unknown.status_code == 202
    assert known.content == unknown.content
    token = reset_token(client, mailbox, migrated, member.email)
    assert mails_to(mailbox, migrated, nobody) == []

    weak = client.post(
        "/api/v1/auth/reset-password/confirm", json={"token": token, "password": "short"}
    )
    assert weak.status_code == 422 and weak.json()["error"]["code"] == "weak_password"
    before = password_hash(db_run, member.user_id)
    confirmed = client.post(
        "/api/v1/auth/reset-password/confirm", json={"token": token, "password": NEW_PASSWORD}
    )
    assert confirmed.status_code == 204  # the weak attempt did not spend the link
    assert password_hash(db_run, member.user_id) != before
    assert login(client, member.email, NEW_PASSWORD) == 200


def test_a_reset_unlocks_the_account(
    client: TestClient, migrated: Settings, make_member, mailbox
) -> None:
    member = make_member("alpha", "viewer")
    for _ in range(5):
        login(client, member.email, "a wrong password")
    assert login(client, member.email, member.password) == 429
    client.post("/api/v1/auth/reset-password", json={"email": member.email})
    token = reset_token(client, mailbox, migrated, member.email)
    client.post(
        "/api/v1/auth/reset-password/confirm", json={"token": token, "password": NEW_PASSWORD}
    )
    assert login(client, member.email, NEW_PASSWORD) == 200


def make_token(db_run, user_id: uuid.UUID, *, expires_in: timedelta) -> str:
    raw = new_token()

    async def insert(db: Database) -> None:
        async with control_session(db) as session:
            session.add(
                OneTimeToken(
                    user_id=user_id,
                    purpose=RESET_PURPOSE,
                    token_hash=token_hash(raw),
                    expires_at=utcnow() + expires_in,
                )
            )

    db_run(insert)
    return raw


def test_unknown_and_expired_tokens_change_nothing(client: TestClient, make_member, db_run) -> None:
    member = make_member("alpha", "viewer")
    expired = make_token(db_run, member.user_id, expires_in=timedelta(minutes=-1))
    before = password_hash(db_run, member.user_id)
    for token in (expired, new_token(), ""):
        response = client.post(
            "/api/v1/auth/reset-password/confirm", json={"token": token, "password": NEW_PASSWORD}
        )
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "invalid_token"
    form = client.post(
        "/reset-password/confirm",
        data={"token": expired, "password": NEW_PASSWORD, "password_again": NEW_PASSWORD},
        headers={**csrf(client), "accept": "text/html"},
    )
    assert form.status_code == 400 and 'href="/reset-password"' in form.text
    assert password_hash(db_run, member.user_id) == before
    assert login(client, member.email, member.password) == 200


def test_the_form_wants_the_password_twice(client: TestClient, make_member, db_run) -> None:
    member = make_member("alpha", "viewer")
    token = make_token(db_run, member.user_id, expires_in=timedelta(hours=1))
    response = client.post(
        "/reset-password/confirm",
        data={"token": token, "password": NEW_PASSWORD, "password_again": NEW_PASSWORD + "x"},
        headers=csrf(client),
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "password_mismatch"
    assert login(client, member.email, member.password) == 200


def test_reset_mails_are_limited_per_account(
    client: TestClient, migrated: Settings, make_member, mailbox
) -> None:
    member = make_member("alpha", "viewer")
    answers = [
        client.post("/api/v1/auth/reset-password", json={"email": member.email})
        for _ in range(RESET_MAILS_PER_LIFETIME + 2)
    ]
    # Past the limit the answer is the same (nothing to learn from it), but no mail goes.
    assert {a.status_code for a in answers} == {202}
    assert len({a.content for a in answers}) == 1
    deliver_mail(client)
    assert len(mails_to(mailbox, migrated, member.email)) == RESET_MAILS_PER_LIFETIME
