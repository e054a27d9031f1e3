"""The capacity console: pools created, edited and deleted (audited, with errors kept
in the form), and the per-day view of every limited bucket."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from sqlalchemy import text

from tests.conftest import run, sign_in
from tests.tenants.catalog.helpers import park_today
from tests.tenants.orders.conftest import open_weekday
from tests.tenants.orders_console.support import audit_entries, buy, csrf, html
from vistapass.platform.tenancy.binding import tenant_session


def url(slug: str, path: str = "") -> str:
    return f"/p/{slug}/console/capacity{path}"


def bucket_row(page: str, day: str, kind: str, code: str, slot: str = "") -> dict[str, str]:
    table = re.search(rf'<table class="buckets" data-day="{day}">(.*?)</table>', page, re.S)
    assert table is not None, f"no table for {day}"
    row = re.search(
        rf'<tr data-kind="{kind}" data-code="{code}" data-slot="{slot}" '
        r'data-state="(\w+)">(.*?)</tr>',
        table[1],
        re.S,
    )
    assert row is not None, f"no {kind} {code} {slot} row on {day}"
    cells = dict(re.findall(r'<td class="(capacity|taken|held|left)">(\d+)</td>', row[2]))
    return {"state": row[1], **cells}


def test_a_manager_creates_edits_and_deletes_a_pool(
    client, sale_park, migrated, make_member
) -> None:
    manager = make_member(sale_park, "manager")
    sign_in(client, migrated, manager)
    page = client.get(url(sale_park), headers=html("en"))
    assert page.status_code == 200 and "<h1>Capacity</h1>" in page.text
    assert f'href="/p/{sale_park}/console/capacity"' in page.text  # in the nav
    assert 'data-pool="park-daily"' in page.text and "day-ticket, family-pack" in page.text
    zh = client.get(url(sale_park), headers=html("zh-CN"))
    assert "<h1>容量</h1>" in zh.text and "新建容量池" in zh.text

    bad_code = {
        "code": "East Gate",
        "name_zh": "东门",
        "name_en": "East gate",
        "daily_capacity": "500",
    }
    refused = client.post(url(sale_park, "/pools"), data=bad_code, headers=csrf(client, "zh-CN"))
    assert refused.status_code == 422
    assert (
        'id="code-error" data-code="invalid_code"' in refused.text
        and "容量池编码为" in refused.text
    )
    assert (
        'value="East Gate"' in refused.text
        and 'value="东门"' in refused.text
        and 'value="500"' in refused.text
    )
    not_a_number = {**bad_code, "code": "east-gate", "daily_capacity": "lots"}
    refused = client.post(url(sale_park, "/pools"), data=not_a_number, headers=csrf(client))
    assert refused.status_code == 422
    assert 'aria-invalid="true" aria-describedby="daily_capacity-error"' in refused.text
    assert "The daily capacity is a whole number from 0 to 1000000." in refused.text
    assert 'value="lots"' in refused.text
    no_name = {**bad_code, "code": "east-gate", "name_en": " "}
    refused = client.post(url(sale_park, "/pools"), data=no_name, headers=csrf(client))
    assert refused.status_code == 422 and 'id="name_en-error"' in refused.text
    assert audit_entries(migrated, sale_park, "capacity_pool.created") == []

    good = {**bad_code, "code": "east-gate"}
    created = client.post(
        url(sale_park, "/pools"), data=good, headers=csrf(client), follow_redirects=False
    )
    assert created.status_code == 303 and created.headers["location"] == url(sale_park) + "?saved=1"
    twin = client.post(url(sale_park, "/pools"), data=good, headers=csrf(client))
    assert twin.status_code == 409 and "A pool already has this code." in twin.text

    edit = client.get(url(sale_park, "/pools/east-gate"), headers=html("en"))
    assert edit.status_code == 200 and 'value="500"' in edit.text
    assert "No product draws on this pool." in edit.text
    change = {"name_zh": "东门", "name_en": "East gate", "daily_capacity": "-1"}
    refused = client.post(url(sale_park, "/pools/east-gate"), data=change, headers=csrf(client))
    assert (
        refused.status_code == 422
        and 'value="-1"' in refused.text
        and 'id="daily_capacity-error"' in refused.text
    )
    saved = client.post(
        url(sale_park, "/pools/east-gate"),
        data={**change, "daily_capacity": "650"},
        headers=csrf(client),
        follow_redirects=False,
    )
    assert saved.status_code == 303
    assert 'value="650"' in client.get(url(sale_park, "/pools/east-gate"), headers=html("en")).text

    deleted = client.post(
        url(sale_park, "/pools/east-gate/delete"), headers=csrf(client), follow_redirects=False
    )
    assert (
        deleted.status_code == 303 and deleted.headers["location"] == url(sale_park) + "?deleted=1"
    )
    assert 'data-pool="east-gate"' not in client.get(url(sale_park), headers=html("en")).text
    gone = client.get(url(sale_park, "/pools/east-gate"), headers={"accept": "application/json"})
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "pool_not_found"

    trail = [
        (e.action, e.before, e.after, e.actor_id)
        for action in ("capacity_pool.created", "capacity_pool.updated", "capacity_pool.deleted")
        for e in audit_entries(migrated, sale_park, action)
        if e.target == "pool:east-gate"
    ]
    assert trail == [
        (
            "capacity_pool.created",
            None,
            {"code": "east-gate", "name_zh": "东门", "name_en": "East gate", "daily_capacity": 500},
            manager.user_id,
        ),
        (
            "capacity_pool.updated",
            {"daily_capacity": 500},
            {"daily_capacity": 650},
            manager.user_id,
        ),
        (
            "capacity_pool.deleted",
            {"code": "east-gate", "name_zh": "东门", "name_en": "East gate", "daily_capacity": 650},
            None,
            manager.user_id,
        ),
    ]


def test_a_pool_products_draw_on_cannot_be_deleted(
    client, sale_park, migrated, make_member
) -> None:
    sign_in(client, migrated, make_member(sale_park, "owner"))
    refused = client.post(url(sale_park, "/pools/park-daily/delete"), headers=csrf(client, "zh-CN"))
    assert refused.status_code == 409
    assert 'id="delete-error" data-code="pool_in_use"' in refused.text
    assert "仍有产品使用这个容量池" in refused.text
    assert f'href="/p/{sale_park}/console/catalog/day-ticket"' in refused.text
    as_json = client.post(
        url(sale_park, "/pools/park-daily/delete"),
        headers={
            "accept": "application/json",
            "x-csrftoken": client.cookies.get("csrftoken") or "",
        },
    )
    assert as_json.status_code == 409
    assert as_json.json()["error"]["details"]["products"] == ["day-ticket", "family-pack"]
    assert 'data-pool="park-daily"' in client.get(url(sale_park), headers=html("en")).text


def test_the_day_view_counts_paid_places_and_live_holds_but_not_expired_ones(
    client, sale_park, migrated, make_member
) -> None:
    day = open_weekday(40)
    buy(client, sale_park, "day-ticket", day, [{"unit": "adult", "quantity": 3}])
    held = buy(client, sale_park, "day-ticket", day, [{"unit": "adult", "quantity": 2}], paid=False)
    expired = buy(
        client, sale_park, "day-ticket", day, [{"unit": "child", "quantity": 4}], paid=False
    )
    buy(client, sale_park, "sunrise-slot", day, [{"unit": "adult", "quantity": 5}], slot="10:00")

    async def run_out(db: Any) -> None:
        async with tenant_session(db, sale_park) as session:
            await session.execute(
                text(
                    "UPDATE order_holds SET expires_at = now() - interval '1 minute' "
                    "WHERE order_id = (SELECT id FROM orders WHERE code = :code)"
                ),
                {"code": expired["code"]},
            )

    run(migrated, run_out)
    sign_in(client, migrated, make_member(sale_park, "viewer"))
    first = day - timedelta(days=1)
    page = client.get(
        url(sale_park),
        params={"from": first.isoformat(), "to": day.isoformat()},
        headers=html("en"),
    )
    assert page.status_code == 200
    assert re.findall(r'<table class="buckets" data-day="([\d-]+)">', page.text) == [
        first.isoformat(),
        day.isoformat(),
    ]
    pool = bucket_row(page.text, day.isoformat(), "pool", "park-daily")
    assert pool == {
        "state": "available",
        "capacity": "20000",
        "taken": "5",
        "held": "2",
        "left": "19995",
    }
    slot = bucket_row(page.text, day.isoformat(), "slot", "sunrise-slot", "10:00")
    assert slot["taken"] == "5" and slot["left"] == "1195" and slot["held"] == "0"
    assert bucket_row(page.text, day.isoformat(), "slot", "sunrise-slot", "08:00")["taken"] == "0"
    assert held["status"] == "pending"
    # A viewer reads, but is offered no forms.
    assert 'id="new-pool"' not in page.text


def test_a_product_limit_and_a_closed_day_show_their_state(
    client, sale_park, migrated, make_member
) -> None:
    day = open_weekday(50)
    owner = make_member(sale_park, "owner")
    sign_in(client, migrated, owner)
    changed = client.patch(
        f"/p/{sale_park}/api/v1/catalog/products/family-pack",
        json={"daily_capacity": 4},
        headers={"x-csrftoken": client.cookies.get("csrftoken") or ""},
    )
    assert changed.status_code == 200, changed.text
    buy(
        client,
        sale_park,
        "family-pack",
        day,
        [{"unit": "adult", "quantity": 2}, {"unit": "child", "quantity": 2, "ages": [4, 7]}],
    )
    closed = client.put(
        f"/p/{sale_park}/api/v1/catalog/calendar/{(day + timedelta(days=1)).isoformat()}",
        json={"is_open": False, "note": "maintenance"},
        headers={"x-csrftoken": client.cookies.get("csrftoken") or ""},
    )
    assert closed.status_code == 200, closed.text
    page = client.get(
        url(sale_park),
        params={"from": day.isoformat(), "to": (day + timedelta(days=1)).isoformat()},
        headers=html("zh-CN"),
    )
    product = bucket_row(page.text, day.isoformat(), "product", "family-pack")
    assert product == {"state": "sold_out", "capacity": "4", "taken": "4", "held": "0", "left": "0"}
    assert "售罄" in page.text
    next_day = (day + timedelta(days=1)).isoformat()
    assert bucket_row(page.text, next_day, "product", "family-pack")["state"] == "closed"
    assert f'<h3 id="day-{next_day}">{next_day} · <span class="muted">闭园</span></h3>' in page.text


def test_a_range_is_at_most_31_days_and_readable(client, sale_park, migrated, make_member) -> None:
    sign_in(client, migrated, make_member(sale_park, "cashier"))
    today = park_today()
    long = client.get(
        url(sale_park),
        params={"from": today.isoformat(), "to": (today + timedelta(days=31)).isoformat()},
        headers=html("zh-CN"),
    )
    assert (
        long.status_code == 422
        and "最多选择 31 天。" in long.text
        and 'class="buckets"' not in long.text
    )
    assert f'value="{(today + timedelta(days=31)).isoformat()}"' in long.text
    backwards = client.get(
        url(sale_park),
        params={"from": today.isoformat(), "to": (today - timedelta(days=1)).isoformat()},
        headers=html("en"),
    )
    assert backwards.status_code == 422 and "The range ends before it starts." in backwards.text
    unreadable = client.get(url(sale_park), params={"from": "soon"}, headers=html("en"))
    assert unreadable.status_code == 422 and 'value="soon"' in unreadable.text
    month = client.get(
        url(sale_park),
        params={"from": today.isoformat(), "to": (today + timedelta(days=30)).isoformat()},
        headers=html("en"),
    )
    assert month.status_code == 200 and month.text.count('class="buckets"') == 31
    # A cashier reads the catalogue but does not change it.
    assert 'id="new-pool"' not in month.text
    data = {"code": "cashier-pool", "name_zh": "池", "name_en": "Pool", "daily_capacity": "5"}
    assert client.post(url(sale_park, "/pools"), data=data, headers=csrf(client)).status_code == 403


def test_who_may_change_pools(client, sale_park, migrated, make_member) -> None:
    expected = {
        "owner": 303,
        "manager": 303,
        "cashier": 403,
        "finance": 403,
        "viewer": 403,
        "gate_staff": 403,
    }
    for role, status in expected.items():
        sign_in(client, migrated, make_member(sale_park, role))
        reading = client.get(url(sale_park), headers=html("en")).status_code
        assert reading == (403 if role == "gate_staff" else 200), role
        data = {
            "code": f"pool-{role.replace('_', '-')}",
            "name_zh": "池",
            "name_en": "Pool",
            "daily_capacity": "5",
        }
        answer = client.post(
            url(sale_park, "/pools"), data=data, headers=csrf(client), follow_redirects=False
        )
        assert answer.status_code == status, role
