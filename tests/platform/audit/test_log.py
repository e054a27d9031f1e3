"""The audit log page, its filters and pages, the CSV export and the JSON API."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta

import pytest
from litestar.testing import TestClient
from psycopg import sql

from tests.conftest import Member, sign_in
from tests.platform.audit.conftest import insert_entry, new_park, owner_connect
from vistapass.platform.app import create_app
from vistapass.platform.settings import Settings
from vistapass.platform.tenancy.naming import schema_for

ROW_ID = re.compile(r'<tr data-id="(\d+)">')
EN = {"accept-language": "en", "accept": "text/html"}
SOLD = 120
# Recent days (a retention purge elsewhere in the suite must not touch them).
DAY = (datetime.now(UTC) - timedelta(days=40)).date()
D0, D1, D2 = (DAY + timedelta(days=n) for n in (0, 1, 2))


@pytest.fixture(scope="module")
def park(migrated: Settings) -> dict[str, int | str]:
    """A park of its own (Asia/Shanghai) with entries at known times."""
    slug = new_park(migrated)
    with owner_connect(migrated) as conn:
        ids: dict[str, int | str] = {"slug": slug}
        # 17:00 UTC on D0 is 01:00 on D1 in Shanghai.
        ids["invited"] = insert_entry(
            conn, slug, datetime.combine(D0, time(17), UTC), "staff.invited",
            actor="alice@example.com", target="user:1",
        )  # fmt: skip
        ids["removed"] = insert_entry(
            conn, slug, datetime.combine(DAY + timedelta(days=4), time(2), UTC), "staff.removed",
            actor="bob@example.com", target="=HYPERLINK(1)", before={"role": "viewer"},
        )  # fmt: skip
        ids["renamed"] = insert_entry(
            conn, slug, datetime.combine(DAY + timedelta(days=9), time(), UTC), "settings.updated",
            actor="alice@example.com", target="park_profile",
            before={"display_name": "旧名"}, after={"display_name": "新名"},
        )  # fmt: skip
        start = datetime.combine(DAY + timedelta(days=20), time(), UTC)
        for i in range(SOLD):
            insert_entry(
                conn, slug, start + timedelta(minutes=i), "ticket.sold",
                actor="cashier@example.com", target=f"order:{i}",
            )  # fmt: skip
    return ids


@pytest.fixture(scope="module")
def manager(park, make_member_module) -> Member:
    return make_member_module(park["slug"], "manager")


@pytest.fixture
def client(migrated: Settings, manager: Member) -> Iterator[TestClient]:
    with TestClient(create_app(migrated), base_url="http://vistapass.test") as test_client:
        sign_in(test_client, migrated, manager)
        yield test_client


def page_ids(client: TestClient, url: str) -> tuple[list[int], str]:
    response = client.get(url, headers=EN)
    assert response.status_code == 200, response.text
    return [int(i) for i in ROW_ID.findall(response.text)], response.text


def link(html: str, rel: str) -> str | None:
    found = re.search(rf'<a href="([^"]+)" rel="{rel}">', html)
    return found.group(1).replace("&amp;", "&") if found else None


def count_entries(settings: Settings, slug: str) -> int:
    with owner_connect(settings) as conn:
        table = sql.Identifier(schema_for(slug), "audit_log")
        row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(table)).fetchone()
    assert row is not None
    return int(row[0])


def test_cashier_and_gate_staff_may_not_read_it(migrated, park, make_member) -> None:
    with TestClient(create_app(migrated), base_url="http://vistapass.test") as client:
        for role in ("cashier", "gate_staff"):
            sign_in(client, migrated, make_member(park["slug"], role))
            for path in ("console/audit", "console/audit.csv", "api/v1/audit"):
                response = client.get(
                    f"/p/{park['slug']}/{path}", headers={"accept": "application/json"}
                )
                assert response.status_code == 403, (role, path)
                assert response.json()["error"]["code"] == "forbidden"


def test_newest_first_in_pages_of_fifty(client, park, migrated) -> None:
    base = f"/p/{park['slug']}/console/audit"
    before = count_entries(migrated, park["slug"])
    first, html = page_ids(client, base + "?action=ticket.sold")
    assert len(first) == 50 and first == sorted(first, reverse=True)
    assert link(html, "prev") is None

    older = link(html, "next")
    assert older is not None
    second, html = page_ids(client, base + older)
    assert len(second) == 50 and max(second) < min(first)
    third, html = page_ids(client, base + link(html, "next"))
    assert len(third) == SOLD - 100 and max(third) < min(second)
    assert link(html, "next") is None

    back, _ = page_ids(client, base + link(html, "prev"))
    assert back == second
    # Reading the log is not itself recorded.
    assert count_entries(migrated, park["slug"]) == before


def test_action_filter_is_exact_or_a_prefix(client, park) -> None:
    base = f"/p/{park['slug']}/console/audit"
    assert page_ids(client, base + "?action=staff.")[0] == [park["removed"], park["invited"]]
    assert page_ids(client, base + "?action=staff.*")[0] == [park["removed"], park["invited"]]
    assert page_ids(client, base + "?action=staff.invited")[0] == [park["invited"]]
    assert page_ids(client, base + "?action=staff")[0] == []


def test_actor_filter_matches_part_of_the_name(client, park) -> None:
    ids, _ = page_ids(client, f"/p/{park['slug']}/console/audit?actor=ALICE")
    assert ids == [park["renamed"], park["invited"]]


def test_dates_are_days_in_the_park_time_zone(client, park) -> None:
    base = f"/p/{park['slug']}/console/audit?action=staff."
    ids, html = page_ids(client, base + f"&from={D1}&to={D1}")
    assert ids == [park["invited"]]
    assert f"{D1} 01:00:00" in html and "Asia/Shanghai" in html
    assert page_ids(client, base + f"&to={D0}")[0] == []
    assert page_ids(client, base + f"&from={D2}")[0] == [park["removed"]]


def test_a_bad_date_is_refused(client, park) -> None:
    page = client.get(f"/p/{park['slug']}/console/audit?from=yesterday", headers=EN)
    assert page.status_code == 422 and 'data-code="invalid_filter"' in page.text
    api = client.get(f"/p/{park['slug']}/api/v1/audit?from={D2}&to={D1}")
    assert api.status_code == 422
    assert api.json()["error"]["code"] == "invalid_filter"


def test_csv_export_has_the_filtered_entries_and_is_recorded(
    client, park, manager, migrated
) -> None:
    response = client.get(f"/p/{park['slug']}/console/audit.csv?action=staff.")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0] == ["id", "at", "actor", "ip", "action", "target", "before", "after", "hash"]
    assert [int(r[0]) for r in rows[1:]] == [park["invited"], park["removed"]]
    invited, removed = rows[1], rows[2]
    assert invited[1] == f"{D0}T17:00:00+00:00"
    assert invited[2:6] == ["alice@example.com", "192.0.2.1", "staff.invited", "user:1"]
    assert len(invited[8]) == 64
    # A cell a spreadsheet would run as a formula is defused.
    assert removed[5] == "'=HYPERLINK(1)"
    assert json.loads(removed[6]) == {"role": "viewer"} and removed[7] == ""

    chinese = client.get(f"/p/{park['slug']}/console/audit.csv?action=settings.updated")
    row = list(csv.reader(io.StringIO(chinese.content.decode("utf-8-sig"))))[1]
    assert json.loads(row[7]) == {"display_name": "新名"}

    api = client.get(f"/p/{park['slug']}/api/v1/audit?action=audit.exported&limit=1").json()
    latest = api["items"][0]
    assert latest["actor"] == manager.email
    assert latest["target"] == "audit_log"
    assert latest["after"] == {"filters": {"action": "settings.updated"}}


def test_the_api_pages_newest_first(client, park) -> None:
    url = f"/p/{park['slug']}/api/v1/audit"
    first = client.get(url, params={"action": "staff.", "limit": 1}).json()
    assert [i["id"] for i in first["items"]] == [park["removed"]]
    assert first["items"][0]["before"] == {"role": "viewer"}
    assert first["time_zone"] == "Asia/Shanghai"
    second = client.get(
        url, params={"action": "staff.", "limit": 1, "before": first["next_before"]}
    ).json()
    assert [i["id"] for i in second["items"]] == [park["invited"]]
    assert second["items"][0]["at"] == f"{D0}T17:00:00+00:00"
    assert second["next_before"] is None
    too_many = client.get(url, params={"limit": 1000})
    assert too_many.status_code == 422
