"""`POST /gate/v1/events`: each event stored once, conflicts recorded, bad input refused."""

from __future__ import annotations

import asyncio
import uuid

import msgspec
from sqlalchemy import text

from tests.conftest import run
from tests.tenants.gates.support import (
    auth,
    client,
    event,
    mint,
    post_events,
    sale_park,
    sold,
)
from vistapass.platform.tenancy.binding import tenant_session
from vistapass.tenants.gates.credentials import parse_token
from vistapass.tenants.gates.ingest import ingest
from vistapass.tenants.gates.schemas import MAX_EVENTS, EventIn

__all__ = ["client", "sale_park"]


def rows(settings, slug: str, sql: str, **params) -> list:
    async def work(db) -> list:
        async with tenant_session(db, slug) as session:
            return list(await session.execute(text(sql), params))

    return run(settings, work)


def test_an_event_posted_twice_is_stored_once(client, migrated, sale_park) -> None:
    token = mint(migrated, sale_park)
    ticket = sold(migrated, sale_park)["tickets"][0]["id"]
    batch = [event(ticket), event(ticket, "exit"), event(None, ok=False)]
    first = post_events(client, token, batch)
    assert first.status_code == 200, first.text
    assert first.json() == {"stored": 3, "duplicates": 0, "conflicts": 0}
    # The answer was lost; the edge sends the batch again, with one new event.
    again = post_events(client, token, [*batch, event(ticket)])
    assert again.json() == {"stored": 1, "duplicates": 3, "conflicts": 1}
    nonces = [f"edge:{e['id']}" for e in batch]
    stored = rows(
        migrated,
        sale_park,
        "SELECT nonce, ticket_id, direction, ok, counted FROM admissions WHERE nonce = ANY(:n)",
        n=nonces,
    )
    assert len(stored) == 3
    by_nonce = {row.nonce: row for row in stored}
    assert by_nonce[nonces[0]].counted and str(by_nonce[nonces[0]].ticket_id) == ticket
    assert by_nonce[nonces[2]].ticket_id is None and not by_nonce[nonces[2]].ok


def test_concurrent_uploads_of_one_batch_store_it_once(migrated, sale_park) -> None:
    token = mint(migrated, sale_park)
    credential = parse_token(token).credential_id
    tickets = [t["id"] for t in sold(migrated, sale_park, adults=3)["tickets"]]
    # Decoded as the endpoint decodes a request body.
    batch = msgspec.json.decode(
        msgspec.json.encode([event(t) for t in tickets]), type=list[EventIn]
    )

    async def upload(db) -> list:
        async def once():
            async with tenant_session(db, sale_park) as session:
                return await ingest(session, credential, batch)

        return await asyncio.gather(*(once() for _ in range(4)))

    results = run(migrated, upload)
    assert sum(r.stored for r in results) == 3
    assert sum(r.duplicates for r in results) == 9
    assert sum(r.conflicts for r in results) == 0
    counted = rows(
        migrated,
        sale_park,
        "SELECT count(*) AS n FROM admissions WHERE ticket_id = ANY(:ids)",
        ids=[uuid.UUID(t) for t in tickets],
    )
    assert counted[0].n == 3


def test_two_edges_admitting_a_single_entry_ticket_make_a_conflict(
    client, migrated, sale_park
) -> None:
    north, south = mint(migrated, sale_park, name="North"), mint(migrated, sale_park, name="South")
    ticket = sold(migrated, sale_park)["tickets"][0]["id"]
    # Both were offline and each admitted the ticket once; both admissions are facts.
    assert post_events(client, north, [event(ticket)]).json()["conflicts"] == 0
    late = event(ticket, device="south-2")
    assert post_events(client, south, [late]).json() == {
        "stored": 1,
        "duplicates": 0,
        "conflicts": 1,
    }
    conflicts = rows(
        migrated,
        sale_park,
        "SELECT c.reason, c.credential_id, c.offline, a.nonce FROM gate_conflicts c"
        " JOIN admissions a ON a.id = c.admission_id WHERE c.ticket_id = :t",
        t=uuid.UUID(ticket),
    )
    assert len(conflicts) == 1
    assert conflicts[0].reason == "entries_total_exceeded" and conflicts[0].offline is True
    assert conflicts[0].credential_id == parse_token(south).credential_id
    assert conflicts[0].nonce == f"edge:{late['id']}"


def test_an_entry_after_a_refund_is_kept_and_flagged(client, migrated, sale_park) -> None:
    token = mint(migrated, sale_park)
    ticket = sold(migrated, sale_park)["tickets"][0]["id"]
    rows(
        migrated,
        sale_park,
        "UPDATE tickets SET revoked_at = now() - interval '1 minute',"
        " revoked_reason = 'refunded' WHERE id = :t RETURNING id",
        t=uuid.UUID(ticket),
    )
    assert post_events(client, token, [event(ticket)]).json()["conflicts"] == 1
    reasons = rows(
        migrated,
        sale_park,
        "SELECT reason FROM gate_conflicts WHERE ticket_id = :t",
        t=uuid.UUID(ticket),
    )
    assert [r.reason for r in reasons] == ["revoked"]


def test_bad_batches_are_refused_with_a_code(client, migrated, sale_park) -> None:
    token = mint(migrated, sale_park)
    too_many = post_events(client, token, [event(None, ok=False)] * (MAX_EVENTS + 1))
    assert too_many.status_code == 400
    assert too_many.json()["error"]["code"] == "invalid_request"
    naive = event(None, ok=False) | {"at": "2026-05-01T10:00:00"}
    long_code = event(None, ok=False) | {"code": "x" * 41}
    unknown = event(None, ok=False) | {"colour": "red"}
    for bad in (naive, long_code, unknown):
        answer = post_events(client, token, [bad])
        assert answer.status_code == 400, bad
    counted_refusal = post_events(client, token, [event(None, ok=False, counted=True)])
    assert counted_refusal.status_code == 422
    assert counted_refusal.json()["error"]["code"] == "invalid_event"
    # A ticket id of another park is kept as a fact without a ticket, not a 500.
    stranger = post_events(client, token, [event(str(uuid.uuid4()))])
    assert stranger.status_code == 200 and stranger.json()["stored"] == 1
    scanner = mint(migrated, sale_park, kind="device")
    refused = client.post("/gate/v1/events", json={"events": []}, headers=auth(scanner))
    assert refused.status_code == 403
