"""`POST .../orders` has two routes, the fast lane and Litestar's: one behaviour."""

from __future__ import annotations

import json
from typing import Any

from litestar.testing import TestClient

from tests.tenants.orders.conftest import open_weekday, order_body

# The fast lane takes `application/json` exactly; Litestar's route takes this too.
LITESTAR_ONLY = "application/json;charset=UTF-8"


def post(client: TestClient, slug: str, body: dict[str, Any], key: str, *, fast: bool) -> Any:
    headers = {"Idempotency-Key": key}
    if fast:
        return client.post(f"/p/{slug}/api/v1/orders", json=body, headers=headers)
    headers["Content-Type"] = LITESTAR_ONLY
    return client.post(f"/p/{slug}/api/v1/orders", content=json.dumps(body), headers=headers)


def test_an_order_and_its_retry_are_the_same_whichever_route_they_take(
    client: TestClient, sale_park: str
) -> None:
    day = open_weekday()
    two = order_body("day-ticket", day, [{"unit": "adult", "quantity": 2}])
    one = order_body("day-ticket", day, [{"unit": "child", "quantity": 1}])

    fast = post(client, sale_park, two, "both-routes-1", fast=True)
    assert fast.status_code == 201, fast.text
    assert "Idempotent-Replayed" not in fast.headers
    # Its retry through Litestar's route is told the first answer.
    retried = post(client, sale_park, two, "both-routes-1", fast=False)
    assert retried.status_code == 201, retried.text
    assert retried.headers["Idempotent-Replayed"] == "true"
    assert retried.json() == fast.json()

    slow = post(client, sale_park, one, "both-routes-2", fast=False)
    assert slow.status_code == 201, slow.text
    again = post(client, sale_park, one, "both-routes-2", fast=True)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == slow.json()

    # Both orders are alike in shape and priced alike.
    first, second = fast.json(), slow.json()
    assert first.keys() == second.keys()
    assert first["status"] == second["status"] == "pending"
    assert first["total"] == 24000 and len(first["tickets"]) == 2
    assert second["total"] == second["quote"]["total"] and len(second["tickets"]) == 1
    shown = client.get(f"/p/{sale_park}/api/v1/orders/{first['code']}?t={first['token']}")
    assert shown.status_code == 200 and shown.json()["total"] == 24000

    # A key reused for another basket is refused on either route.
    for fast_route in (True, False):
        reused = post(client, sale_park, one, "both-routes-1", fast=fast_route)
        assert reused.status_code == 422, reused.text
        assert reused.json()["error"]["code"] == "idempotency_key_reused"


def test_refusals_are_the_same_whichever_route_they_take(
    client: TestClient, sale_park: str
) -> None:
    day = open_weekday()
    for body, status in (
        (order_body("no-such-product", day, [{"unit": "adult", "quantity": 1}]), 404),
        (order_body("day-ticket", day, [{"unit": "adult", "quantity": 0}]), 422),
        (order_body("day-ticket", day, [{"unit": "adult", "quantity": 1}], payment="gold"), 422),
    ):
        answers = [
            post(client, sale_park, body, f"refused-{fast}-{status}", fast=fast)
            for fast in (True, False)
        ]
        assert [a.status_code for a in answers] == [status, status], [a.text for a in answers]
        assert answers[0].json() == answers[1].json()

    missing_park = client.post(
        "/p/no-such-park/api/v1/orders",
        json=order_body("day-ticket", day, [{"unit": "adult", "quantity": 1}]),
    )
    assert missing_park.status_code == 404
    assert missing_park.json()["error"]["code"] == "tenant_not_found"
