"""Occupancy and dwell from known entries and exits; live updates over server-sent events."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import redis

from tests.browser.conftest import LiveServer, serving
from tests.conftest import run, sign_in, unique_slug
from tests.tenants.gates.support import (
    at,
    auth,
    client,
    csrf,
    event,
    mint,
    park_today,
    post_events,
    sold,
)
from vistapass.platform.embedded._process import free_port
from vistapass.platform.settings import Settings
from vistapass.platform.tenancy.provisioning import provision_tenant
from vistapass.tenants.catalog.demo import seed_demo_catalog
from vistapass.tenants.gates.live import channel
from vistapass.tenants.gates.occupancy import histogram, percentile

__all__ = ["client"]


@pytest.fixture
def quiet_park(migrated: Settings) -> str:
    """A park of its own: no other test's scans in its figures."""
    slug = unique_slug("occ")

    async def prepare(db) -> None:
        await provision_tenant(db, slug, "Occupancy Park")
        await seed_demo_catalog(db, slug)

    run(migrated, prepare)
    return slug


def test_percentiles_and_buckets() -> None:
    assert percentile([], 0.5) is None
    assert percentile([20.0, 120.0], 0.5) == 70.0 and percentile([20.0, 120.0], 0.9) == 110.0
    counts = [b["count"] for b in histogram([0, 29.9, 30, 59, 60, 119, 120, 239, 240, 900])]
    assert counts == [2, 2, 2, 2, 2]


def test_figures_after_known_entries_and_exits(client, migrated, quiet_park, make_member) -> None:
    edge = mint(migrated, quiet_park)
    a, b, c = (t["id"] for t in sold(migrated, quiet_park, adults=3)["tickets"])
    today = park_today()
    scans = [
        event(a, when=at(today, 9, 0)),
        event(a, "exit", when=at(today, 9, 20)),
        event(a, when=at(today, 10, 0), counted=False),  # back in: a re-entry
        event(b, when=at(today, 9, 10)),
        event(b, "exit", when=at(today, 11, 10)),
        event(c, when=at(today, 9, 30)),
        event(c, when=at(today, 9, 31), ok=False),  # refused: not a movement
    ]
    # Uploaded out of order, as an edge back online might: the gate times decide.
    assert post_events(client, edge, scans[::-1]).json()["stored"] == 7
    sign_in(client, migrated, make_member(quiet_park, "viewer"))
    answer = client.get(f"/p/{quiet_park}/api/v1/occupancy")
    assert answer.status_code == 200, answer.text
    figures = answer.json()
    assert figures["day"] == today.isoformat() and figures["inside"] == 2
    assert (figures["entries_today"], figures["exits_today"]) == (4, 2)
    hours = {h["hour"]: (h["entries"], h["exits"]) for h in figures["hours"] if h != {}}
    assert (hours[9], hours[10], hours[11], hours[12]) == ((3, 1), (1, 0), (0, 1), (0, 0))
    dwell = figures["dwell"]
    assert (dwell["visits"], dwell["p50_min"], dwell["p90_min"]) == (2, 70.0, 110.0)
    assert [b["count"] for b in dwell["buckets"]] == [1, 0, 0, 1, 0]
    page = client.get(f"/p/{quiet_park}/console/occupancy", headers={"accept": "text/html"})
    assert page.status_code == 200 and 'data-figure="inside">2<' in page.text
    sign_in(client, migrated, make_member(quiet_park, "gate_staff"))
    assert client.get(f"/p/{quiet_park}/api/v1/occupancy").status_code == 403


@pytest.fixture(scope="module")
def live(migrated: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    settings = migrated.model_copy(update={"host": "127.0.0.1", "port": free_port()})
    with serving(settings, tmp_path_factory.mktemp("gates-live")) as server:
        yield server


def test_the_stream_sends_fresh_figures_after_an_event(
    live: LiveServer, migrated, quiet_park, make_member
) -> None:
    edge = mint(migrated, quiet_park)
    ticket = sold(migrated, quiet_park)["tickets"][0]["id"]
    received: list[dict] = []
    first = threading.Event()
    second = threading.Event()

    def listen() -> None:
        with httpx.Client(base_url=live.url, timeout=30) as viewer:
            sign_in(viewer, migrated, make_member(quiet_park, "viewer"))
            url = f"/p/{quiet_park}/api/v1/occupancy/stream"
            with viewer.stream("GET", url, headers={"accept": "text/event-stream"}) as stream:
                assert stream.status_code == 200
                assert stream.headers["content-type"].startswith("text/event-stream")
                for line in stream.iter_lines():
                    if line.startswith("data:"):
                        received.append(json.loads(line[5:]))
                        (second if first.is_set() else first).set()
                        if second.is_set():
                            return

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    assert first.wait(20), "no first figures"
    assert received[0]["inside"] == 0
    sent = time.monotonic()
    stored = httpx.post(
        f"{live.url}/gate/v1/events",
        json={"events": [event(ticket)]},
        headers={"authorization": f"Bearer {edge}"},
    )
    assert stored.status_code == 200 and stored.json()["stored"] == 1
    assert second.wait(20), "no update after the event"
    # Well inside the 15 s keep-alive: the update came from the announcement.
    assert time.monotonic() - sent < 10
    assert received[1]["inside"] == 1 and received[1]["entries_today"] == 1
    listener.join(5)


def test_check_in_and_redeem_scans_announce_fresh_figures(
    client, migrated, quiet_park, make_member
) -> None:
    listener = redis.Redis.from_url(migrated.redis_url)
    pubsub = listener.pubsub()
    try:
        pubsub.subscribe(channel(migrated.redis_namespace, quiet_park))
        assert pubsub.get_message(timeout=5)["type"] == "subscribe"
        first, second = (t["qr"] for t in sold(migrated, quiet_park, adults=2)["tickets"])
        sign_in(client, migrated, make_member(quiet_park, "gate_staff"))
        scanned = client.post(
            f"/p/{quiet_park}/api/v1/checkin/scans", json={"code": first}, headers=csrf(client)
        )
        assert scanned.json()["ok"] is True
        assert pubsub.get_message(timeout=5)["data"] == b"1"
        scanner = mint(migrated, quiet_park, kind="device")
        redeemed = client.post(
            "/gate/v1/redeem",
            json={"code": second, "direction": "entry", "nonce": "r-1"},
            headers=auth(scanner),
        )
        assert redeemed.json()["ok"] is True
        assert pubsub.get_message(timeout=5)["data"] == b"1"
    finally:
        pubsub.close()
        listener.close()
