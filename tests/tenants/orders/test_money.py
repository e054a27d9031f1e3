"""Money end to end: Stripe through its real client and signed webhooks, refunds,
and a day that reconciles web, window, Stripe fees and refunds to the cent."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import dramatiq
import pytest
import redis
from litestar.testing import TestClient
from sqlalchemy import text, update

from tests.conftest import run, sign_in, unique_slug
from tests.fakes.stripe_server import FakeStripe
from tests.tenants.orders.conftest import open_weekday, order_body
from tests.tenants.orders_console.support import audit_entries, csrf, html
from vistapass.platform.app import create_app
from vistapass.platform.db import Database
from vistapass.platform.mail.tasks import mailbox_key
from vistapass.platform.settings import Settings
from vistapass.platform.tenancy.binding import tenant_session
from vistapass.platform.tenancy.provisioning import provision_tenant
from vistapass.platform.worker.actors import use_database
from vistapass.tenants.catalog.demo import seed_demo_catalog
from vistapass.tenants.models import ParkProfile
from vistapass.tenants.orders import tasks
from vistapass.tenants.payments.stripe_gateway import platform_fee

pytestmark = pytest.mark.filterwarnings(
    "ignore:Use 'content=<...>' to upload raw bytes/text content.:DeprecationWarning"
)

ACCOUNT = "acct_1VistapassMoney"
SECRET = "whsec_vistapass_money_test"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeStripe]:
    with FakeStripe(accounts=[ACCOUNT]) as server:
        yield server


@pytest.fixture(scope="module")
def stripe_settings(migrated: Settings, fake: FakeStripe) -> Settings:
    return migrated.model_copy(
        update={
            "stripe_api_key": fake.api_key,
            "stripe_webhook_secret": SECRET,
            "stripe_api_base": fake.url,
            "platform_fee_bp": 250,
            "platform_fee_fixed": 30,
            # Its own queues: jobs other modules left behind (for parks whose
            # Stripe stand-in is gone) must not be retried in this worker's way.
            "redis_namespace": f"{migrated.redis_namespace}-money",
        }
    )


@pytest.fixture(scope="module")
def money_park(stripe_settings: Settings) -> str:
    slug = unique_slug("money")

    async def prepare(db: Database) -> None:
        await provision_tenant(db, slug, "Money Park")
        await seed_demo_catalog(db, slug)
        async with tenant_session(db, slug) as session:
            await session.execute(update(ParkProfile).values(stripe_account_id=ACCOUNT))

    run(stripe_settings, prepare)
    return slug


@pytest.fixture(scope="module")
def client(stripe_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(stripe_settings), base_url="http://vistapass.test") as client:
        yield client


@pytest.fixture(scope="module")
def worker(client: TestClient, stripe_settings: Settings) -> Iterator[None]:
    """A real dramatiq worker in this process, on the broker the app configured."""
    broker = dramatiq.get_broker()
    use_database(Database(stripe_settings))
    tasks.use_selling(None)
    worker = dramatiq.Worker(broker, worker_threads=1)
    worker.start()
    yield
    worker.stop()
    use_database(None)
    tasks.use_selling(None)


def drain() -> None:
    broker = dramatiq.get_broker()
    broker.join("default", timeout=30_000)


def deliver(client: TestClient, fake: FakeStripe, event: dict[str, Any]) -> Any:
    payload, signature = fake.signed(event, SECRET)
    return client.post(
        "/webhooks/stripe",
        content=payload,
        headers={"Stripe-Signature": signature, "Content-Type": "application/json"},
    )


def rows(settings: Settings, slug: str, sql: str, **params: Any) -> list[Any]:
    async def work(db: Database) -> list[Any]:
        async with tenant_session(db, slug) as session:
            return list((await session.execute(text(sql), params)).all())

    return run(settings, work)


def test_a_stripe_payment_from_intent_to_tickets_to_refund(
    client, fake, money_park, stripe_settings, worker
) -> None:
    day = open_weekday(days_ahead=9)
    body = order_body("day-ticket", day, [{"unit": "adult", "quantity": 2}], payment="stripe")
    order = client.post(f"/p/{money_park}/api/v1/orders", json=body).json()
    started = client.post(
        f"/p/{money_park}/api/v1/orders/{order['code']}/payment?t={order['token']}"
    )
    assert started.status_code == 200, started.text
    intent = started.json()
    assert intent["client_secret"].startswith(intent["payment_intent"] + "_secret_")
    assert intent["stripe_account"] == ACCOUNT
    [sent] = fake.requests_to("POST", "/v1/payment_intents")
    assert sent.header("stripe-account") == ACCOUNT
    assert sent.params["amount"] == "24000"
    assert sent.params["application_fee_amount"] == str(platform_fee(24000, 250, 30))
    assert sent.params["payment_method_types"] == ["card", "wechat_pay", "alipay"]
    assert sent.params["metadata"]["vistapass_tenant"] == money_park
    # Asking again gives the same intent (Stripe's idempotency key is the order's).
    again = client.post(f"/p/{money_park}/api/v1/orders/{order['code']}/payment?t={order['token']}")
    assert again.json()["payment_intent"] == intent["payment_intent"]

    event = fake.succeed(intent["payment_intent"])
    tampered = json.loads(json.dumps(event))
    tampered["data"]["object"]["amount_received"] = 1
    payload, signature = fake.signed(event, SECRET)
    forged = client.post(
        "/webhooks/stripe",
        content=json.dumps(tampered).encode(),
        headers={"Stripe-Signature": signature},
    )
    assert forged.status_code == 400 and forged.json()["error"]["code"] == "invalid_signature"
    unsigned = client.post("/webhooks/stripe", content=payload)
    assert unsigned.status_code == 400

    first = deliver(client, fake, event)
    assert first.status_code == 200 and first.json() == {"received": True, "duplicate": False}
    replay = deliver(client, fake, event)
    assert replay.status_code == 200 and replay.json()["duplicate"] is True
    drain()

    shown = client.get(f"/p/{money_park}/api/v1/orders/{order['code']}?t={order['token']}")
    paid = shown.json()
    assert paid["status"] == "paid"
    assert len(paid["tickets"]) == 2 and all(t["qr"] for t in paid["tickets"])
    # The confirmation mail links to the e-ticket page.
    mailbox = redis.Redis.from_url(stripe_settings.redis_url)
    try:
        mails = [json.loads(m) for m in mailbox.lrange(mailbox_key(stripe_settings), 0, -1)]
    finally:
        mailbox.close()
    [mail] = [m for m in mails if order["code"] in m["subject"]]
    assert mail["to"] == "li.lei@example.com"
    assert f"/p/{money_park}/orders/{order['code']}?t={order['token']}" in mail["text"]
    fee = platform_fee(24000, 250, 30)
    ledger = rows(
        stripe_settings,
        money_park,
        "SELECT kind, amount FROM ledger_lines l JOIN orders o ON o.id = l.order_id "
        "WHERE o.code = :code ORDER BY l.id",
        code=order["code"],
    )
    assert [(k, a) for k, a in ledger] == [("sale", 24000), ("platform_fee", -fee)]

    # The buyer refunds one ticket within the policy (free until 24 h before).
    ticket = paid["tickets"][0]["id"]
    refunded = client.post(
        f"/p/{money_park}/api/v1/orders/{order['code']}/refunds?t={order['token']}",
        json={"tickets": [ticket]},
    )
    assert refunded.status_code == 200, refunded.text
    assert refunded.json()["refunded"] == 12000
    assert refunded.json()["order"]["status"] == "partially_refunded"
    drain()
    [stripe_refund] = fake.requests_to("POST", "/v1/refunds")
    assert stripe_refund.params["amount"] == "12000"
    assert stripe_refund.header("stripe-account") == ACCOUNT
    # Stripe's own event about that refund changes nothing a second time.
    [refund_id] = stripe_refunds(stripe_settings, money_park, order["code"])
    assert deliver(client, fake, fake.refund_event(refund_id)).status_code == 200
    drain()
    money = rows(
        stripe_settings,
        money_park,
        "SELECT p.kind, p.amount FROM payments p JOIN orders o ON o.id = p.order_id "
        "WHERE o.code = :code ORDER BY p.kind",
        code=order["code"],
    )
    assert [(k, a) for k, a in money] == [("charge", 24000), ("refund", 12000)]
    # Ours carries our refund id, so Stripe's event about it revokes nothing more.
    [sent_refund] = fake.requests_to("POST", "/v1/refunds")
    assert sent_refund.params["metadata"]["vistapass_refund_id"]
    after = client.get(f"/p/{money_park}/api/v1/orders/{order['code']}?t={order['token']}")
    assert after.json()["status"] == "partially_refunded" and after.json()["refunded"] == 12000
    assert [t["state"] for t in after.json()["tickets"]] == ["refunded", "valid"]
    # Refunding the same ticket again, or more than was paid, is refused.
    twice = client.post(
        f"/p/{money_park}/api/v1/orders/{order['code']}/refunds?t={order['token']}",
        json={"tickets": [ticket]},
    )
    assert twice.status_code == 422 and twice.json()["error"]["code"] == "already_refunded"


def paid_with_stripe(client: TestClient, fake: FakeStripe, slug: str, adults: int) -> Any:
    """An order of `adults` day tickets paid by card, its webhook applied: (order, intent)."""
    day = open_weekday(days_ahead=9)
    lines = [{"unit": "adult", "quantity": adults}]
    body = order_body("day-ticket", day, lines, payment="stripe")
    order = client.post(f"/p/{slug}/api/v1/orders", json=body).json()
    started = client.post(f"/p/{slug}/api/v1/orders/{order['code']}/payment?t={order['token']}")
    intent = started.json()["payment_intent"]
    assert deliver(client, fake, fake.succeed(intent)).status_code == 200
    drain()
    return order, intent


def test_a_refund_made_in_stripes_dashboard_is_applied_to_the_order(
    client, fake, money_park, stripe_settings, worker
) -> None:
    order, intent = paid_with_stripe(client, fake, money_park, 3)
    link = f"/p/{money_park}/api/v1/orders/{order['code']}?t={order['token']}"
    taken_before = taken(stripe_settings, money_park)

    # The park refunds one ticket's price in Stripe's dashboard: Stripe says only
    # `charge.refunded`, without the refund; the job asks Stripe for the list.
    event = fake.dashboard_refund(intent, 12000)
    assert deliver(client, fake, event).status_code == 200
    drain()
    shown = client.get(link).json()
    assert (shown["status"], shown["refunded"]) == ("partially_refunded", 12000)
    assert [t["state"] for t in shown["tickets"]] == ["valid", "valid", "refunded"]
    assert shown["tickets"][2]["qr"] is None
    assert taken(stripe_settings, money_park) == taken_before - 1
    # The same refund told again (a retried delivery, another kind of event) is no news.
    [refund_id] = stripe_refunds(stripe_settings, money_park, order["code"])
    assert deliver(client, fake, fake.refund_event(refund_id, "refund.updated")).status_code == 200
    assert deliver(client, fake, event).json()["duplicate"] is True
    drain()
    assert client.get(link).json()["refunded"] == 12000

    # A goodwill refund smaller than a ticket is money only: every ticket still admits.
    assert deliver(client, fake, fake.dashboard_refund(intent, 500)).status_code == 200
    drain()
    shown = client.get(link).json()
    assert (shown["status"], shown["refunded"]) == ("partially_refunded", 12500)
    assert [t["state"] for t in shown["tickets"]] == ["valid", "valid", "refunded"]

    # The rest refunded there: the order is refunded and no ticket is left.
    assert deliver(client, fake, fake.dashboard_refund(intent)).status_code == 200
    drain()
    shown = client.get(link).json()
    assert (shown["status"], shown["refunded"]) == ("refunded", 36000)
    assert [t["state"] for t in shown["tickets"]] == ["refunded"] * 3
    # The 500 of goodwill came off the last ticket the order still had.
    assert [t["refunded"] for t in shown["tickets"]] == [12000, 11500, 12000]
    assert taken(stripe_settings, money_park) == taken_before - 3
    refunds = rows(
        stripe_settings,
        money_park,
        "SELECT p.amount FROM payments p JOIN orders o ON o.id = p.order_id "
        "WHERE o.code = :code AND p.kind = 'refund' ORDER BY p.amount",
        code=order["code"],
    )
    assert [a for (a,) in refunds] == [500, 12000, 23500]


def test_a_wallet_refund_that_fails_is_taken_back_in_the_books(
    client, fake, money_park, stripe_settings, worker, make_member
) -> None:
    order, _ = paid_with_stripe(client, fake, money_park, 1)
    link = f"/p/{money_park}/api/v1/orders/{order['code']}?t={order['token']}"
    ticket = client.get(link).json()["tickets"][0]["id"]
    fake.refund_status = "pending"  # WeChat Pay and Alipay refunds can start out so
    try:
        asked = client.post(
            f"/p/{money_park}/api/v1/orders/{order['code']}/refunds?t={order['token']}",
            json={"tickets": [ticket]},
        )
        assert asked.status_code == 200, asked.text
        drain()
    finally:
        fake.refund_status = "succeeded"
    [refund_id] = stripe_refunds(stripe_settings, money_park, order["code"])
    failed = fake.refund_event(refund_id, "refund.updated", status="failed")
    assert deliver(client, fake, failed).status_code == 200
    drain()
    # Told again, by another event: taken back once.
    assert deliver(client, fake, fake.refund_event(refund_id)).status_code == 200
    drain()
    shown = client.get(link).json()
    assert (shown["refunded"], shown["note"]) == (0, "refund_failed")
    assert shown["tickets"][0]["state"] == "refunded"  # the buyer asked; staff pay another way
    money = rows(
        stripe_settings,
        money_park,
        "SELECT p.kind, p.amount FROM payments p JOIN orders o ON o.id = p.order_id "
        "WHERE o.code = :code ORDER BY p.created_at",
        code=order["code"],
    )
    assert [(k, a) for k, a in money] == [("charge", 12000), ("refund", 12000), ("reversal", 12000)]

    # Staff pay the buyer another way and record it, by bank transfer in two parts:
    # one through the console's form, the rest through the staff API. (Not in cash:
    # the day's test below counts on cash netting to nothing.)
    sign_in(client, stripe_settings, make_member(money_park, "cashier"))
    page_url = f"/p/{money_park}/console/orders/{order['code']}"
    page = client.get(page_url, headers=html("en"))
    assert 'id="outside-refund"' in page.text and 'value="120.00"' in page.text
    assert "以其他方式退款" in client.get(page_url, headers=html("zh-CN")).text
    outside = f"{page_url}/outside-refund"
    too_much = client.post(
        outside, data={"amount": "120.01", "method": "bank_transfer"}, headers=csrf(client)
    )
    assert too_much.status_code == 422
    assert 'data-code="refund_exceeds_owed"' in too_much.text
    assert 'value="120.01"' in too_much.text  # the form keeps what was typed
    unknown = client.post(outside, data={"amount": "5", "method": "cheque"}, headers=csrf(client))
    assert unknown.status_code == 422 and 'aria-invalid="true"' in unknown.text
    first = client.post(
        outside,
        data={"amount": "50", "method": "bank_transfer", "reference": "TX-87"},
        headers=csrf(client),
        follow_redirects=False,
    )
    assert first.status_code == 303, first.text
    assert 'value="70.00"' in client.get(page_url, headers=html("en")).text  # still owed
    api = f"/p/{money_park}/api/v1/staff/orders/{order['code']}/outside-refunds"
    headers = csrf(client)
    wrong = client.post(api, json={"amount": 7001, "method": "bank_transfer"}, headers=headers)
    assert wrong.status_code == 422 and wrong.json()["error"]["details"]["owed"] == 7000
    rest = client.post(
        api, json={"amount": 7000, "method": "bank_transfer", "reference": "TX-88"}, headers=headers
    )
    assert rest.status_code == 200, rest.text
    assert rest.json()["owed"] == 0
    assert (rest.json()["order"]["refunded"], rest.json()["order"]["note"]) == (
        12000,
        "refund_paid_outside",
    )
    nothing = client.post(api, json={"amount": 1, "method": "cash"}, headers=headers)
    assert nothing.status_code == 422 and nothing.json()["error"]["code"] == "nothing_owed"
    assert 'id="outside-refund"' not in client.get(page_url, headers=html("en")).text
    entries = audit_entries(stripe_settings, money_park, "order.refund_paid_outside")
    assert [(e.after["method"], e.after["reference"]) for e in entries] == [
        ("bank_transfer", "TX-87"),
        ("bank_transfer", "TX-88"),
    ]
    client.cookies.clear()
    money = rows(
        stripe_settings,
        money_park,
        "SELECT p.kind, p.provider, p.amount FROM payments p JOIN orders o ON o.id = p.order_id "
        "WHERE o.code = :code AND p.kind = 'refund' ORDER BY p.created_at",
        code=order["code"],
    )
    assert [tuple(m) for m in money] == [
        ("refund", "stripe", 12000),
        ("refund", "bank_transfer", 5000),
        ("refund", "bank_transfer", 7000),
    ]

    sign_in(client, stripe_settings, make_member(money_park, "finance"))
    today = asyncio.run(_park_today(stripe_settings, money_park))
    report = client.get(f"/p/{money_park}/api/v1/reports/daily?date={today.isoformat()}")
    client.cookies.clear()
    assert report.status_code == 200 and report.json()["balanced"] is True, report.text
    payouts = {p["provider"]: p["refunds"] for p in report.json()["payouts"]}
    assert payouts["bank_transfer"] == 12000


def stripe_refunds(settings: Settings, slug: str, code: str) -> list[str]:
    """The Stripe refund ids recorded for an order."""
    found = rows(
        settings,
        slug,
        "SELECT provider_ref FROM payments WHERE kind = 'refund' AND provider = 'stripe' "
        "AND order_id = (SELECT id FROM orders WHERE code = :code) ORDER BY created_at",
        code=code,
    )
    return [ref for (ref,) in found]


def taken(settings: Settings, slug: str) -> int:
    """Places taken in the park's buckets (the product's own, and any pool it draws on)."""
    [(places,)] = rows(settings, slug, "SELECT COALESCE(sum(taken), 0) FROM inventory_buckets")
    return int(places)


def test_a_day_of_web_window_stripe_and_refunds_reconciles(
    client, fake, money_park, stripe_settings, worker, make_member
) -> None:
    day = open_weekday(days_ahead=11)
    base = f"/p/{money_park}/api/v1"
    # A web order paid with the development test payment.
    web = client.post(
        f"{base}/orders", json=order_body("day-ticket", day, [{"unit": "child", "quantity": 3}])
    ).json()
    client.post(f"{base}/orders/{web['code']}/payment?t={web['token']}")
    # A Stripe order.
    card = client.post(
        f"{base}/orders",
        json=order_body(
            "sunrise-slot", day, [{"unit": "adult", "quantity": 1}], slot="10:00", payment="stripe"
        ),
    ).json()
    intent = client.post(f"{base}/orders/{card['code']}/payment?t={card['token']}").json()
    deliver(client, fake, fake.succeed(intent["payment_intent"]))
    drain()
    # Two window sales, one of them refunded in full by staff.
    cashier = make_member(money_park, "cashier")
    sign_in(client, stripe_settings, cashier)
    client.cookies.set("csrftoken", "t")
    headers = {"x-csrftoken": "t"}
    window = {"product": "day-ticket", "date": day.isoformat(), "payment": "card_terminal"}
    sold = client.post(
        f"{base}/window/sales",
        json={**window, "lines": [{"unit": "adult", "quantity": 1}]},
        headers=headers,
    ).json()
    returned = client.post(
        f"{base}/window/sales",
        json={**window, "lines": [{"unit": "senior", "quantity": 2}], "payment": "cash"},
        headers=headers,
    ).json()
    staff_refund = client.post(
        f"{base}/staff/orders/{returned['code']}/refunds", json={}, headers=headers
    )
    assert staff_refund.status_code == 200, staff_refund.text
    assert staff_refund.json()["order"]["status"] == "refunded"
    finance = make_member(money_park, "finance")
    sign_in(client, stripe_settings, finance)
    today = asyncio.run(_park_today(stripe_settings, money_park))
    report = client.get(f"{base}/reports/daily?date={today.isoformat()}")
    client.cookies.clear()
    assert report.status_code == 200, report.text
    figures = report.json()
    assert figures["balanced"] is True, figures
    assert all(figures["checks"].values())
    # Every order of this test is in the day; earlier tests' orders are too.
    codes = {web["code"], card["code"], sold["code"], returned["code"]}
    day_orders = rows(
        stripe_settings,
        money_park,
        "SELECT code, total, refunded_amount FROM orders WHERE paid_at IS NOT NULL",
    )
    assert codes <= {code for code, _, _ in day_orders}
    assert figures["paid_orders_total"] == sum(total for _, total, _ in day_orders)
    assert figures["refunds_total"] == sum(refunded for _, _, refunded in day_orders)
    by_provider = {p["provider"]: p for p in figures["payouts"]}
    assert by_provider["cash"]["net"] == 0  # sold and handed back the same day
    assert by_provider["card_terminal"]["net"] == sold["total"]
    assert by_provider["stripe"]["fees"] > 0


async def _park_today(settings: Settings, slug: str) -> Any:
    from vistapass.tenants.orders.context import local_now

    db = Database(settings)
    try:
        async with tenant_session(db, slug) as session:
            zone = await session.scalar(text("SELECT time_zone FROM park_profile"))
        return local_now(str(zone)).date()
    finally:
        await db.dispose()


def test_the_report_needs_its_permission(client, money_park) -> None:
    client.cookies.clear()
    response = client.get(f"/p/{money_park}/api/v1/reports/daily?date=2026-01-01")
    assert response.status_code == 401


def test_webhooks_without_stripe_configured_are_refused(migrated) -> None:
    with TestClient(create_app(migrated), base_url="http://vistapass.test") as plain:
        response = plain.post("/webhooks/stripe", content=b"{}")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "stripe_not_configured"
