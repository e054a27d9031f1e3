"""What the gates get: public keys that survive rotation, and the revocation list."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import pytest

from tests.conftest import sign_in
from tests.tenants.orders.conftest import open_weekday, order_body
from vistapass.platform.crypto.envelope import wrapper_for
from vistapass.platform.tenancy.binding import tenant_session
from vistapass.tenants.keys.signing import rotate_signing_key
from vistapass.tenants.tickets.codec import TicketInvalid, decode
from vistapass.tenants.tickets.verify import verify_ticket


def bought(client: Any, slug: str) -> dict[str, Any]:
    body = order_body("day-ticket", open_weekday(days_ahead=8), [{"unit": "adult", "quantity": 2}])
    order = client.post(f"/p/{slug}/api/v1/orders", json=body).json()
    paid = client.post(f"/p/{slug}/api/v1/orders/{order['code']}/payment?t={order['token']}")
    return {**paid.json()["order"], "token": order["token"]}


def published_keys(client: Any, slug: str) -> dict[int, bytes]:
    answer = client.get(f"/p/{slug}/api/v1/tickets/keys").json()
    assert answer["algorithm"] == "Ed25519"
    return {key["id"]: base64.b64decode(key["public_key"]) for key in answer["keys"]}


def test_tickets_verify_with_published_keys_across_a_rotation(
    client, sale_park, migrated, db_run
) -> None:
    before = bought(client, sale_park)
    old_qr = before["tickets"][0]["qr"]
    old_key = decode(old_qr)[0].key_id

    async def rotate(db: Any) -> int:
        async with tenant_session(db, sale_park) as session:
            return await rotate_signing_key(session, wrapper_for(migrated))

    new_key = db_run(rotate)
    assert new_key > old_key
    after = bought(client, sale_park)
    new_qr = after["tickets"][0]["qr"]
    assert decode(new_qr)[0].key_id == new_key
    keys = published_keys(client, sale_park)
    assert {old_key, new_key} <= set(keys)
    for qr in (old_qr, new_qr):
        verify_ticket(qr, keys, revoked=set())
    # A gate that never heard of the new key refuses its tickets, not the old ones.
    stale = {old_key: keys[old_key]}
    verify_ticket(old_qr, stale, revoked=set())
    with pytest.raises(TicketInvalid) as refused:
        verify_ticket(new_qr, stale, revoked=set())
    assert refused.value.code == "unknown_key"


def test_a_refunded_ticket_is_on_the_revocation_list(
    client, sale_park, migrated, make_member
) -> None:
    order = bought(client, sale_park)
    ticket = order["tickets"][1]
    refunded = client.post(
        f"/p/{sale_park}/api/v1/orders/{order['code']}/refunds?t={order['token']}",
        json={"tickets": [ticket["id"]]},
    )
    assert refunded.status_code == 200, refunded.text
    url = f"/p/{sale_park}/api/v1/tickets/revocations"
    client.cookies.clear()
    assert client.get(url).status_code == 401
    sign_in(client, migrated, make_member(sale_park, "gate_staff"))
    answer = client.get(url).json()
    client.cookies.clear()
    assert ticket["id"] in answer["revoked"]
    assert order["tickets"][0]["id"] not in answer["revoked"]
    revoked = {uuid.UUID(t) for t in answer["revoked"]}
    keys = published_keys(client, sale_park)
    with pytest.raises(TicketInvalid) as refused:
        verify_ticket(ticket["qr"], keys, revoked)
    assert refused.value.code == "revoked"
    verify_ticket(order["tickets"][0]["qr"], keys, revoked)
