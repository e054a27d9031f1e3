"""`POST /gate/v1/redeem` (online scanners) and `POST /gate/v1/status` (edge health)."""

from __future__ import annotations

import uuid

from sqlalchemy import text

from tests.conftest import run
from tests.tenants.gates.support import auth, client, mint, sale_park, sold
from vistapass.platform.tenancy.binding import tenant_session
from vistapass.tenants.checkin import service
from vistapass.tenants.gates.credentials import parse_token
from vistapass.tenants.gates.hub import redeem_nonce

__all__ = ["client", "sale_park"]


def redeem(client, token: str, code: str, nonce: str, direction: str = "entry", **extra):
    body = {"code": code, "direction": direction, "nonce": nonce, **extra}
    return client.post(
        "/gate/v1/redeem", json=body, headers={**auth(token), "accept-language": "en"}
    )


def test_redeem_decides_once_per_nonce(client, migrated, sale_park) -> None:
    scanner = mint(migrated, sale_park, kind="device", name="Handheld 7")
    code = sold(migrated, sale_park)["tickets"][0]["qr"]
    nonce = str(uuid.uuid4())
    first = redeem(client, scanner, code, nonce)
    assert first.status_code == 200, first.text
    body = first.json()
    assert (body["ok"], body["code"], body["direction"], body["replayed"]) == (
        True,
        "ok",
        "entry",
        False,
    )
    assert body["message"] == "Entry accepted." and body["ticket"]["entries_used"] == 1
    retry = redeem(client, scanner, code, nonce).json()
    assert retry["replayed"] is True and retry["ok"] is True
    assert retry["admission"] == body["admission"]
    again = redeem(client, scanner, code, str(uuid.uuid4())).json()
    assert (again["ok"], again["code"]) == (False, "already_used")
    out = redeem(client, scanner, code, str(uuid.uuid4()), "exit").json()
    assert (out["ok"], out["direction"]) == (True, "exit")
    # An edge may redeem too (a lane whose edge has no cache for this ticket yet).
    edge = mint(migrated, sale_park)
    forged = redeem(client, edge, code[:-3] + "AAA", str(uuid.uuid4())).json()
    assert forged["ok"] is False and forged["code"] in ("bad_signature", "malformed")


def test_redeem_refuses_bad_requests(client, migrated, sale_park) -> None:
    scanner = mint(migrated, sale_park, kind="device")
    sideways = redeem(client, scanner, "VP1:X", "n-1", direction="sideways")
    assert sideways.status_code == 400
    no_nonce = client.post(
        "/gate/v1/redeem", json={"code": "VP1:X", "direction": "entry"}, headers=auth(scanner)
    )
    assert no_nonce.status_code == 400
    half = redeem(client, scanner, "VP1:X", "n-2", document_type="cn_id")
    assert half.status_code == 422 and half.json()["error"]["code"] == "invalid_document"
    assert redeem(client, "x.y.z", "VP1:X", "n-3").status_code == 401
    # A nonce as long as allowed still maps to one admission, apart from edge events.
    long = "n" * 100
    assert redeem_nonce(long) == redeem_nonce(long) and len(redeem_nonce(long)) <= 100
    assert redeem(client, scanner, "junk", long).json()["code"] == "malformed"
    assert redeem(client, scanner, "junk", long).json()["replayed"] is True


def test_an_edge_reports_its_status(client, migrated, sale_park) -> None:
    edge = mint(migrated, sale_park, name="West gate")
    report = {
        "online": False,
        "outbox": 42,
        "last_sync_at": "2026-05-01T10:00:00+08:00",
        "version": "0.1.0",
        "devices": [{"id": "lane-1", "online": True}],
    }
    answer = client.post("/gate/v1/status", json=report, headers=auth(edge))
    assert answer.status_code == 204, answer.text

    async def read(db):
        async with tenant_session(db, sale_park) as session:
            return (
                await session.execute(
                    text("SELECT status, last_seen_at FROM gate_credentials WHERE id = :id"),
                    {"id": parse_token(edge).credential_id},
                )
            ).one()

    row = run(migrated, read)
    assert row.last_seen_at is not None
    assert row.status["outbox"] == 42 and row.status["devices"] == [
        {"id": "lane-1", "online": True}
    ]
    bad = client.post("/gate/v1/status", json={**report, "outbox": -1}, headers=auth(edge))
    assert bad.status_code == 400


def test_a_known_parks_ticket_is_locked_while_binding(
    client, migrated, sale_park, monkeypatch
) -> None:
    """Once this process keeps the park's keys, a redeem locks its ticket and reads its
    history in the binding's round trip: the separate lock is not asked for."""
    scanner = mint(migrated, sale_park, kind="device")
    first, second = sold(migrated, sale_park, adults=2)["tickets"][:2]
    assert redeem(client, scanner, first["qr"], str(uuid.uuid4())).json()["ok"] is True
    asked: list[uuid.UUID] = []
    original = service.locked_ticket

    async def counting(raw, ticket_id, today):  # type: ignore[no-untyped-def]
        asked.append(ticket_id)
        return await original(raw, ticket_id, today)

    monkeypatch.setattr(service, "locked_ticket", counting)
    entered = redeem(client, scanner, second["qr"], str(uuid.uuid4())).json()
    assert (entered["ok"], entered["ticket"]["entries_used"]) == (True, 1)
    again = redeem(client, scanner, second["qr"], str(uuid.uuid4())).json()
    assert (again["ok"], again["code"]) == (False, "already_used")
    assert asked == []
