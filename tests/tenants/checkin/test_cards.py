"""Cards and wristbands bound to tickets at the check-in desk: API and page."""

from __future__ import annotations

import re
import uuid

from sqlalchemy import text

from tests.conftest import run, sign_in
from tests.tenants.catalog.helpers import park_today
from tests.tenants.checkin.support import client, csrf, sale_park, sell, with_selling
from vistapass.platform.db import Database
from vistapass.platform.tenancy.binding import tenant_session

__all__ = ["client", "sale_park"]
HTML = "text/html"


def two_tickets(migrated, slug: str) -> tuple[dict, list[str]]:
    order = with_selling(
        migrated, lambda s: sell(s, slug, "day-ticket", park_today(), {"adult": 2})
    )
    return order, [t["id"] for t in order["tickets"]]


def cards_of(migrated, slug: str, ids: list[str]) -> list[str | None]:
    async def work(db: Database) -> list[str | None]:
        async with tenant_session(db, slug) as session:
            rows = await session.execute(
                text("SELECT id, card FROM tickets WHERE id = ANY(:ids)"),
                {"ids": [uuid.UUID(i) for i in ids]},
            )
            found = {str(row.id): row.card for row in rows}
        return [found[i] for i in ids]

    return run(migrated, work)


def card_url(slug: str, ticket: str) -> str:
    return f"/p/{slug}/api/v1/checkin/tickets/{ticket}/card"


def put_card(client, slug: str, ticket: str, card: str):
    return client.put(card_url(slug, ticket), json={"card": card}, headers=csrf(client))


def test_gate_staff_bind_move_and_take_off_a_card(client, migrated, sale_park, make_member) -> None:
    _, (first, second) = two_tickets(migrated, sale_park)
    sign_in(client, migrated, make_member(sale_park, "cashier"))
    refused = client.put(
        card_url(sale_park, first), json={"card": "3001234567"}, headers=csrf(client)
    )
    assert refused.status_code == 403
    sign_in(client, migrated, make_member(sale_park, "gate_staff"))
    bound = client.put(
        card_url(sale_park, first), json={"card": " 3001234567 "}, headers=csrf(client)
    )
    assert bound.status_code == 200, bound.text
    assert bound.json() == {"ticket": first, "card": "3001234567"}
    assert cards_of(migrated, sale_park, [first, second]) == ["3001234567", None]
    # The same wristband handed to the second visitor leaves the first ticket.
    moved = client.put(
        card_url(sale_park, second), json={"card": "3001234567"}, headers=csrf(client)
    )
    assert moved.status_code == 200
    assert cards_of(migrated, sale_park, [first, second]) == [None, "3001234567"]
    off = client.delete(card_url(sale_park, second), headers=csrf(client))
    assert off.status_code == 200 and off.json()["card"] is None
    assert cards_of(migrated, sale_park, [first, second]) == [None, None]

    async def audit(db: Database) -> list[str]:
        async with tenant_session(db, sale_park) as session:
            rows = await session.execute(
                text("SELECT action FROM audit_log WHERE target = ANY(:t) ORDER BY id"),
                {"t": [f"ticket:{first}", f"ticket:{second}"]},
            )
            return [row.action for row in rows]

    assert run(migrated, audit) == ["ticket.card_bound", "ticket.card_bound", "ticket.card_unbound"]


def test_bad_cards_and_tickets_are_clear_errors(client, migrated, sale_park, make_member) -> None:
    _, (ticket, _) = two_tickets(migrated, sale_park)
    sign_in(client, migrated, make_member(sale_park, "gate_staff"))
    for bad in ("12", "12ab5678", "1" * 21, ""):
        answer = client.put(card_url(sale_park, ticket), json={"card": bad}, headers=csrf(client))
        assert answer.status_code == 422 and answer.json()["error"]["code"] == "invalid_card", bad
    unknown = client.put(
        card_url(sale_park, str(uuid.uuid4())), json={"card": "30012345"}, headers=csrf(client)
    )
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "ticket_not_found"
    extra = client.put(
        card_url(sale_park, ticket), json={"card": "30012345", "x": 1}, headers=csrf(client)
    )
    assert extra.status_code == 400

    async def revoke(db: Database) -> None:
        async with tenant_session(db, sale_park) as session:
            await session.execute(
                text("UPDATE tickets SET revoked_at = now() WHERE id = :id"),
                {"id": uuid.UUID(ticket)},
            )

    run(migrated, revoke)
    gone = put_card(client, sale_park, ticket, "30012345")
    assert gone.status_code == 422 and gone.json()["error"]["code"] == "ticket_not_valid"
    assert cards_of(migrated, sale_park, [ticket]) == [None]


def test_the_page_binds_a_card_from_the_search(client, migrated, sale_park, make_member) -> None:
    order, (first, _) = two_tickets(migrated, sale_park)
    sign_in(client, migrated, make_member(sale_park, "gate_staff"))
    client.cookies.set("lang", "zh-CN")
    page = f"/p/{sale_park}/console/checkin"
    found = client.get(f"{page}?q={order['code']}", headers={"accept": HTML})
    assert f'id="card-{first}"' in found.text and "绑定卡" in found.text
    bound = client.post(
        f"{page}/card",
        data={"ticket": first, "card": "0004242", "q": order["code"], "direction": "entry"},
        headers=csrf(client, HTML),
    )
    assert bound.status_code == 200
    assert "卡 0004242 已绑定到第 1 张票。" in bound.text
    assert re.search(rf'id="card-{first}"[^>]*value="0004242"', bound.text)
    client.cookies.set("lang", "en")
    wrong = client.post(
        f"{page}/card",
        data={"ticket": first, "card": "42", "q": order["code"]},
        headers=csrf(client, HTML),
    )
    assert wrong.status_code == 422
    assert "A card number is 4 to 20 digits" in wrong.text
    assert cards_of(migrated, sale_park, [first]) == ["0004242"]
