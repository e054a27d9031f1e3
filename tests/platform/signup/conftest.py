"""A signed-out browser on a real app, a mail worker, and sign-up bodies."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from typing import Any

import dramatiq
import pytest
from litestar.testing import TestClient
from redis import Redis as SyncRedis

import vistapass.platform.mail.tasks as mail_tasks  # registers the `mail.send` actor
from tests.conftest import unique_slug
from vistapass.platform.app import create_app
from vistapass.platform.settings import Settings

PASSWORD = "lantern river quiet 73"


@pytest.fixture
def client(migrated: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(migrated), base_url="http://vistapass.test") as test_client:
        # Every TestClient request comes from one address; start each test afresh.
        clear_signup_counters(migrated)
        yield test_client


@pytest.fixture
def deliver_mail(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    """Run the queued jobs through a real dramatiq worker on the app's broker."""
    broker = client.app.state.broker
    assert mail_tasks.SEND_ACTOR in broker.actors
    # The actor reads the process settings (`VISTAPASS_*`); here they are the test run's.

    def deliver() -> None:
        worker = dramatiq.Worker(broker, worker_threads=1)
        worker.start()
        try:
            broker.join("default", timeout=10_000)
            worker.join()
        finally:
            worker.stop()

    return deliver


def signup_body(**overrides: Any) -> dict[str, str]:
    body = {
        "park_name": "Lotus Lake Scenic Area",
        "slug": unique_slug("sign"),
        "owner_name": "Li Wei",
        "email": f"founder-{secrets.token_hex(4)}@example.com",
        "password": PASSWORD,
    }
    body.update(overrides)
    return body


def clear_signup_counters(settings: Settings) -> None:
    client = SyncRedis.from_url(settings.redis_url)
    for key in client.scan_iter(match=f"{settings.redis_namespace}:signup:*"):
        client.delete(key)
    client.close()
