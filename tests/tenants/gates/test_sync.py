"""The hub's bearer tokens and `GET /gate/v1/sync`: a full snapshot, then deltas by cursor."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import timedelta

from sqlalchemy import text

from tests.conftest import run
from tests.tenants.checkin.support import cn_id, sell, with_selling
from tests.tenants.gates.support import (
    auth,
    client,
    event,
    mint,
    park_today,
    post_events,
    sale_park,
    sold,
)
from vistapass.platform.tenancy.binding import tenant_session
from vistapass.tenants.gates.sync import make_cursor
from vistapass.tenants.orders.holders import HolderIn
from vistapass.tenants.visitors.gate_check import CHECK_BYTES, matches, presented_digest

__all__ = ["client", "sale_park"]


def sync(client, token: str, cursor: str | None = None):
    params = {"cursor": cursor} if cursor is not None else {}
    return client.get("/gate/v1/sync", params=params, headers=auth(token))


def test_tokens_that_are_malformed_revoked_or_of_another_park_are_refused(
    client, migrated, sale_park
) -> None:
    token = mint(migrated, sale_park)
    assert sync(client, token).status_code == 200
    slug, hex_id, secret = token.rsplit(".", 2)
    other_park = mint(migrated, "alpha")
    _, other_id, other_secret = other_park.rsplit(".", 2)
    refused = {
        "no header": client.get("/gate/v1/sync"),
        "not bearer": client.get("/gate/v1/sync", headers={"authorization": f"Basic {token}"}),
        "malformed": sync(client, "hello"),
        "short secret": sync(client, f"{slug}.{hex_id}.{secret[:-1]}"),
        "wrong secret": sync(client, f"{slug}.{hex_id}.{other_secret}"),
        "unknown park": sync(client, f"no-such-park.{hex_id}.{secret}"),
        # Park A's credential presented under park B's slug: it does not exist there.
        "other park's id": sync(client, f"{slug}.{other_id}.{other_secret}"),
        "beta for alpha": sync(client, f"beta.{other_id}.{other_secret}"),
    }
    for case, response in refused.items():
        assert response.status_code == 401, (case, response.text)
        assert response.json()["error"]["code"] == "invalid_credential", case
    scanner = mint(migrated, sale_park, kind="device", name="Handheld 1")
    edge_only = sync(client, scanner)
    assert edge_only.status_code == 403
    assert edge_only.json()["error"]["code"] == "credential_kind_not_allowed"

    async def revoke(db) -> None:
        async with tenant_session(db, sale_park) as session:
            await session.execute(
                text("UPDATE gate_credentials SET revoked_at = now() WHERE id = :id"),
                {"id": uuid.UUID(hex=hex_id)},
            )

    run(migrated, revoke)
    revoked = sync(client, token)
    assert revoked.status_code == 401 and revoked.json()["error"]["code"] == "invalid_credential"


def test_a_full_snapshot_then_deltas(client, migrated, sale_park) -> None:
    token = mint(migrated, sale_park)
    kept, refunded, used = (sold(migrated, sale_park)["tickets"][0] for _ in range(3))
    first = sync(client, token)
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["full"] is True and body["park"]["slug"] == sale_park
    assert body["park"]["time_zone"] == "Asia/Shanghai"
    assert body["settings"] == {"reentry_cooldown_s": 300}
    assert body["keys"] and all(len(base64.b64decode(k["public_key"])) == 32 for k in body["keys"])
    tickets = {t["id"]: t for t in body["tickets"]}
    assert {kept["id"], refunded["id"], used["id"]} <= set(tickets)
    snapshot = tickets[kept["id"]]
    assert snapshot["revoked"] is False and snapshot["entries_total"] == 0
    assert snapshot["valid_from"] <= park_today().isoformat() <= snapshot["valid_to"]
    assert snapshot["entitlement"]["entries_total"] == 1 and snapshot["inside"] is False

    nothing = sync(client, token, body["cursor"]).json()
    # Only what changed since (nothing here; a row may come twice, never be skipped).
    assert nothing["full"] is False and kept["id"] not in {t["id"] for t in nothing["tickets"]}

    async def refund(db) -> None:
        async with tenant_session(db, sale_park) as session:
            await session.execute(
                text(
                    "UPDATE tickets SET revoked_at = now(), revoked_reason = 'refunded'"
                    " WHERE id = :id"
                ),
                {"id": uuid.UUID(refunded["id"])},
            )

    run(migrated, refund)
    # Admitted at another edge: the hub's count goes to every edge.
    other_edge = mint(migrated, sale_park, name="North gate")
    assert post_events(client, other_edge, [event(used["id"])]).json()["stored"] == 1
    delta = sync(client, token, nothing["cursor"]).json()
    changed = {t["id"]: t for t in delta["tickets"]}
    assert delta["full"] is False and kept["id"] not in changed
    assert changed[refunded["id"]]["revoked"] is True
    assert changed[refunded["id"]]["revoked_reason"] == "refunded"
    assert changed[used["id"]]["entries_total"] == 1 and changed[used["id"]]["inside"] is True
    assert changed[used["id"]]["entries_today"] == 1
    assert changed[used["id"]]["first_entry_day"] == park_today().isoformat()


def test_a_cursor_from_another_day_or_unreadable_gets_a_full_snapshot(
    client, migrated, sale_park
) -> None:
    token = mint(migrated, sale_park)
    ticket = sold(migrated, sale_park)["tickets"][0]
    yesterday = make_cursor("1", park_today() - timedelta(days=1))
    for cursor in ("garbage", "1.x.2026-01-01", yesterday):
        answer = sync(client, token, cursor).json()
        assert answer["full"] is True, cursor
        assert ticket["id"] in {t["id"] for t in answer["tickets"]}


def test_a_named_ticket_carries_its_holders_salted_check_and_no_number(
    client, migrated, sale_park
) -> None:
    number = cn_id(serial="519")
    holder = HolderIn("Zhou Yan", "cn_id", number)
    order = with_selling(
        migrated,
        lambda selling: sell(
            selling, sale_park, "annual-card", park_today(), {"adult": 1}, holders=(holder,)
        ),
    )
    [ticket] = order["tickets"]
    body = sync(client, mint(migrated, sale_park)).json()
    synced = {t["id"]: t for t in body["tickets"]}[ticket["id"]]
    check = base64.b64decode(synced["holder_check"])
    assert len(check) == CHECK_BYTES
    # The edge's comparison: the holder's number fits, another does not.
    assert matches(check, presented_digest(check, number))
    assert not matches(check, presented_digest(check, cn_id(serial="520")))
    assert number not in json.dumps(body)
    # Day tickets have no holder, so nothing to check.
    plain = sold(migrated, sale_park)["tickets"][0]
    again = {t["id"]: t for t in sync(client, mint(migrated, sale_park)).json()["tickets"]}
    assert again[plain["id"]]["holder_check"] is None
