"""`/console/gates`: managers hand out and revoke gate credentials and wire devices."""

from __future__ import annotations

import html as html_text
import re
import uuid

from sqlalchemy import select

from tests.conftest import run, sign_in
from tests.tenants.gates.support import auth, client, sale_park
from tests.tenants.orders_console.support import audit_entries, csrf
from vistapass.platform.db import Database
from vistapass.platform.tenancy.binding import tenant_session
from vistapass.tenants.models import GateDevice

__all__ = ["client", "sale_park"]

TOKEN = re.compile(r'<code class="token-secret">([^<]+)</code>')
COMMAND = re.compile(r'<code class="gate-command">([^<]+)</code>')


async def device_settings(db: Database, slug: str) -> dict:
    async with tenant_session(db, slug) as session:
        return (await session.scalars(select(GateDevice.settings))).one()


def url(slug: str, rest: str = "") -> str:
    return f"/p/{slug}/console/gates{rest}"


def test_a_manager_creates_an_edge_wires_a_device_and_revokes_it(
    client, migrated, sale_park, make_member
) -> None:
    sign_in(client, migrated, make_member(sale_park, "manager"))
    created = client.post(
        url(sale_park, "/credentials"),
        data={"kind": "edge", "name": "East gate edge"},
        headers=csrf(client),
    )
    assert created.status_code == 200, created.text
    assert created.headers["cache-control"] == "no-store"
    token = html_text.unescape(TOKEN.search(created.text)[1])
    command = html_text.unescape(COMMAND.search(created.text)[1])
    assert command == f"vistapass gate-edge --hub http://vistapass.test --token {token}"
    assert token.startswith(f"{sale_park}.")
    assert client.get("/gate/v1/sync", headers=auth(token)).status_code == 200
    edge_uuid = str(uuid.UUID(hex=token.split(".")[-2]))

    device = {
        "edge_id": edge_uuid,
        "name": "Lane 1",
        "kind": "isapi",
        "external_id": "DS-K1T671-01",
        "zone": "east",
        "direction": "entry",
        "settings": '{"base_url": "http://192.168.1.20", "password": "Door-1234"}',
    }
    added = client.post(
        url(sale_park, "/devices"), data=device, headers=csrf(client), follow_redirects=False
    )
    assert added.status_code == 303, added.text
    twin = client.post(url(sale_park, "/devices"), data=device, headers=csrf(client))
    assert twin.status_code == 409 and "already has a device" in twin.text
    bad = client.post(
        url(sale_park, "/devices"), data={**device, "settings": "[1]"}, headers=csrf(client)
    )
    assert bad.status_code == 422 and "DS-K1T671-01" in bad.text  # the form comes back filled
    synced = client.get("/gate/v1/sync", headers=auth(token)).json()
    assert [
        (d["external_id"], d["kind"], d["zone"], d["direction"]) for d in synced["devices"]
    ] == [("DS-K1T671-01", "isapi", "east", "entry")]
    # The terminal's password: in plain text only for its own edge.
    assert synced["devices"][0]["settings"] == {
        "base_url": "http://192.168.1.20",
        "password": "Door-1234",
    }
    stored = run(migrated, lambda db: device_settings(db, sale_park))
    assert set(stored["password"]) == {"sealed"} and "Door-1234" not in str(stored)
    listing = client.get(url(sale_park), headers={"accept": "text/html"})
    assert "East gate edge" in listing.text and "Lane 1" in listing.text
    assert token not in listing.text  # shown once, never again
    assert "Door-1234" not in listing.text

    revoked = client.post(
        url(sale_park, f"/credentials/{edge_uuid}/revoke"),
        headers=csrf(client),
        follow_redirects=False,
    )
    assert revoked.status_code == 303
    refused = client.get("/gate/v1/sync", headers=auth(token))
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_credential"
    targets = {e.target for e in audit_entries(migrated, sale_park, "gate_credential.created")}
    assert f"gate_credential:{edge_uuid}" in targets
    revocations = audit_entries(migrated, sale_park, "gate_credential.revoked")
    assert f"gate_credential:{edge_uuid}" in {e.target for e in revocations}
    [wired] = audit_entries(migrated, sale_park, "gate_device.created")
    assert wired.after["settings"]["password"] == "••••"


def test_an_online_scanner_gets_a_token_without_an_edge_command(
    client, migrated, sale_park, make_member
) -> None:
    sign_in(client, migrated, make_member(sale_park, "owner"))
    created = client.post(
        url(sale_park, "/credentials"),
        data={"kind": "device", "name": "Handheld"},
        headers=csrf(client),
    )
    assert created.status_code == 200 and TOKEN.search(created.text)
    assert COMMAND.search(created.text) is None
    nameless = client.post(
        url(sale_park, "/credentials"), data={"kind": "edge", "name": " "}, headers=csrf(client)
    )
    assert nameless.status_code == 422


def test_lower_roles_cannot_touch_gate_credentials(
    client, migrated, sale_park, make_member
) -> None:
    for role in ("cashier", "gate_staff", "finance", "viewer"):
        sign_in(client, migrated, make_member(sale_park, role))
        page = client.get(url(sale_park), headers={"accept": "application/json"})
        assert page.status_code == 403, role
        made = client.post(
            url(sale_park, "/credentials"),
            data={"kind": "edge", "name": "Sneaky"},
            headers={**csrf(client), "accept": "application/json"},
        )
        assert made.status_code == 403 and made.json()["error"]["code"] == "forbidden", role
