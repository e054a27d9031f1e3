"""`service.scan` against a real park: each answer, the order of checks, locking, nonces."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from datetime import timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select, update

from tests.conftest import unique_slug
from tests.tenants.catalog.helpers import add_product
from tests.tenants.checkin.support import (
    at,
    cn_id,
    open_weekday,
    sale_park,
    scan_at,
    sell,
    with_selling,
)
from vistapass.platform.pricing_registry import get_mode
from vistapass.platform.tenancy.binding import tenant_session
from vistapass.platform.tenancy.provisioning import provision_tenant
from vistapass.tenants.catalog.demo import seed_demo_catalog
from vistapass.tenants.checkin import service
from vistapass.tenants.checkin.rules import REENTRY_COOLDOWN
from vistapass.tenants.checkin.service import Presented, recent, scan
from vistapass.tenants.models import Admission, Ticket
from vistapass.tenants.orders.holders import HolderIn
from vistapass.tenants.orders.refunds import refund_order
from vistapass.tenants.orders.service import load_order
from vistapass.tenants.tickets.codec import PREFIX, b45encode, decode, sign_payload

__all__ = ["sale_park"]


def test_a_day_ticket_admits_once_and_says_why_not_after(migrated, sale_park) -> None:
    day = open_weekday(12)

    async def work(selling):
        order = await sell(selling, sale_park, "day-ticket", day, {"adult": 1})
        code = order["tickets"][0]["qr"]
        first = await scan_at(selling, sale_park, code, at(day, 9))
        again = await scan_at(selling, sale_park, code, at(day, 9, 1))
        return order, first, again

    order, first, again = with_selling(migrated, work)
    assert (first.ok, first.code, first.message) == (True, "ok", "Entry accepted.")
    assert first.ticket is not None and first.ticket["order"] == order["code"]
    assert first.ticket["entries_used"] == 1 and first.ticket["entries_total"] == 1
    assert first.ticket["product"] == "day-ticket" and first.ticket["unit"] == "adult"
    assert first.ticket["product_name"]["en"] == "Day ticket" and first.ticket["named"] is False
    assert (again.ok, again.code) == (False, "already_used")
    assert again.ticket is not None and again.ticket["entries_used"] == 1


def test_the_wrong_day_is_refused_either_way(migrated, sale_park) -> None:
    day = open_weekday(13)

    async def work(selling):
        order = await sell(selling, sale_park, "day-ticket", day, {"child": 1})
        code = order["tickets"][0]["qr"]
        early = await scan_at(selling, sale_park, code, at(day - timedelta(days=1), 10))
        late = await scan_at(selling, sale_park, code, at(day + timedelta(days=1), 10))
        return early, late

    early, late = with_selling(migrated, work)
    assert (early.ok, early.code) == (False, "not_yet_valid")
    assert (late.ok, late.code) == (False, "expired")
    assert "Wrong day" in early.message and "Wrong day" in late.message


def test_a_slot_ticket_enters_in_its_slot_only(migrated, sale_park) -> None:
    day = open_weekday(14)

    async def work(selling):
        order = await sell(selling, sale_park, "sunrise-slot", day, {"adult": 2}, slot="08:00")
        first, second = (t["qr"] for t in order["tickets"])
        late = await scan_at(selling, sale_park, first, at(day, 10, 30))
        on_time = await scan_at(selling, sale_park, second, at(day, 8, 15))
        return late, on_time

    late, on_time = with_selling(migrated, work)
    assert (late.ok, late.code) == (False, "wrong_slot")
    assert on_time.ok and on_time.ticket is not None and on_time.ticket["slot"] == "08:00"


def test_exit_and_reentry_follow_the_ticket(migrated, sale_park) -> None:
    day = open_weekday(15)

    async def make_reentry_product(db):
        config = dict(
            get_mode("per_visit").validate_config(
                {"prices": {"adult": 1000}, "reentry_allowed": True}
            )
        )
        return await add_product(
            db, sale_park, mode="per_visit", config=config, units=("adult",), channels=("window",)
        )

    async def work(selling):
        reentry_code = await make_reentry_product(selling.db)
        plain = (await sell(selling, sale_park, "day-ticket", day, {"adult": 1}))["tickets"][0]
        again = (await sell(selling, sale_park, reentry_code, day, {"adult": 1}))["tickets"][0]
        nine = at(day, 9)
        later = nine + REENTRY_COOLDOWN + timedelta(minutes=1)
        return [
            await scan_at(selling, sale_park, plain["qr"], nine, "exit"),
            await scan_at(selling, sale_park, plain["qr"], nine, "entry"),
            await scan_at(selling, sale_park, plain["qr"], nine + timedelta(minutes=1), "exit"),
            await scan_at(selling, sale_park, plain["qr"], later, "entry"),
            await scan_at(selling, sale_park, again["qr"], nine, "entry"),
            await scan_at(selling, sale_park, again["qr"], nine, "entry"),
            await scan_at(selling, sale_park, again["qr"], nine + timedelta(minutes=1), "exit"),
            await scan_at(selling, sale_park, again["qr"], nine + timedelta(minutes=2), "entry"),
            await scan_at(selling, sale_park, again["qr"], later, "entry"),
            await scan_at(selling, sale_park, again["qr"], later, "exit"),
        ]

    answers = with_selling(migrated, work)
    assert [(a.direction, a.code) for a in answers] == [
        ("exit", "not_inside"),  # never came in
        ("entry", "ok"),
        ("exit", "ok"),
        ("entry", "already_used"),  # no re-entry on this ticket: its one entry is spent
        ("entry", "ok"),
        ("entry", "already_used"),  # entitlement before anti-passback: one entry, used
        ("exit", "ok"),
        ("entry", "reentry_cooldown"),  # back a minute after leaving
        ("entry", "ok"),  # after the cooldown: a re-entry, not a second entry
        ("exit", "ok"),
    ]
    reentered = answers[8].ticket
    assert reentered is not None and reentered["entries_used"] == 1 and reentered["inside"]
    assert answers[9].ticket is not None and answers[9].ticket["inside"] is False


def test_anti_passback_on_a_ticket_with_entries_left(migrated, sale_park) -> None:
    """An annual card has unlimited entries: only anti-passback stops a second entry."""
    day = open_weekday(16)
    holder = HolderIn("Zhao Lei", "cn_id", cn_id(serial="731"))

    async def work(selling):
        order = await sell(selling, sale_park, "annual-card", day, {"adult": 1}, holders=(holder,))
        code = order["tickets"][0]["qr"]
        return [
            await scan_at(selling, sale_park, code, at(day, 9)),
            await scan_at(selling, sale_park, code, at(day, 9, 5)),
        ]

    entered, twice = with_selling(migrated, work)
    assert entered.ok and (twice.ok, twice.code) == (False, "already_inside")


def test_an_annual_card_starts_on_its_first_entry(migrated, sale_park) -> None:
    day = open_weekday(17)
    holder = HolderIn("Sun Mei", "cn_id", cn_id(serial="842"))
    other = Presented("cn_id", cn_id(serial="843"))
    # Away from the demo card's blackout dates, whatever day the suite runs on.
    blackout = {"2027-10-01", "2027-10-02"}
    offset = 40
    while {
        (day + timedelta(days=offset + extra)).isoformat() for extra in (0, 364, 365)
    } & blackout:
        offset += 3
    first_day = day + timedelta(days=offset)

    async def work(selling):
        order = await sell(selling, sale_park, "annual-card", day, {"adult": 1}, holders=(holder,))
        code = order["tickets"][0]["qr"]
        too_early = await scan_at(selling, sale_park, code, at(day - timedelta(days=1), 10))
        wrong_person = await scan_at(selling, sale_park, code, at(first_day, 10), document=other)
        first = await scan_at(
            selling,
            sale_park,
            code,
            at(first_day, 10),
            document=Presented("cn_id", holder.document_number),
        )
        await scan_at(selling, sale_park, code, at(first_day, 17), "exit")
        last_day = first_day + timedelta(days=364)
        still = await scan_at(selling, sale_park, code, at(last_day, 10))
        over = await scan_at(selling, sale_park, code, at(last_day + timedelta(days=1), 10))
        return order, too_early, wrong_person, first, still, over

    order, too_early, wrong_person, first, still, over = with_selling(migrated, work)
    # Bought for `day`: its signed dates end 364 days after it, yet it is valid a year from use.
    assert order["tickets"][0]["valid_to"] == (day + timedelta(days=364)).isoformat()
    assert too_early.code == "not_yet_valid"
    assert (wrong_person.ok, wrong_person.code) == (False, "real_name_mismatch")
    assert first.ok and first.ticket is not None and first.ticket["named"]
    assert first.ticket["valid_from"] == first_day.isoformat()
    assert first.ticket["valid_to"] == (first_day + timedelta(days=364)).isoformat()
    assert still.ok, still.code
    assert (over.ok, over.code) == (False, "expired")


def test_two_devices_at_once_admit_a_single_entry_once(migrated, sale_park, monkeypatch) -> None:
    day = open_weekday(18)
    read_ticket = service.locked_ticket

    async def slow_decision(*args, **kwargs):
        # A slow decision between reading the history and recording the entry: without
        # the row lock every lane would read "no entries yet" here and admit.
        found = await read_ticket(*args, **kwargs)
        await asyncio.sleep(0.05)
        return found

    monkeypatch.setattr(service, "locked_ticket", slow_decision)

    async def work(selling):
        order = await sell(selling, sale_park, "day-ticket", day, {"adult": 1})
        code = order["tickets"][0]["qr"]
        return await asyncio.gather(
            *(
                scan_at(selling, sale_park, code, at(day, 9), device=f"lane-{lane}")
                for lane in range(6)
            )
        )

    answers = with_selling(migrated, work)
    assert sorted(a.code for a in answers) == ["already_used"] * 5 + ["ok"]


def test_a_repeated_nonce_gets_the_first_decision(migrated, sale_park) -> None:
    day = open_weekday(19)
    nonce = f"n-{uuid.uuid4()}"

    async def work(selling):
        order = await sell(selling, sale_park, "day-ticket", day, {"adult": 1})
        code = order["tickets"][0]["qr"]
        first = await scan_at(selling, sale_park, code, at(day, 9), nonce=nonce)
        retry = await scan_at(selling, sale_park, code, at(day, 9, 1), nonce=nonce)
        fresh = await scan_at(selling, sale_park, code, at(day, 9, 2), nonce=f"{nonce}-2")
        junk_nonce = f"{nonce}-junk"
        junk = await scan_at(selling, sale_park, "not a ticket", at(day, 9), nonce=junk_nonce)
        junk_again = await scan_at(selling, sale_park, "not a ticket", at(day, 9), nonce=junk_nonce)
        async with tenant_session(selling.db, sale_park) as session:
            rows = await session.scalar(
                select(func.count()).select_from(Admission).where(Admission.nonce.like(f"{nonce}%"))
            )
        return first, retry, fresh, junk, junk_again, rows

    first, retry, fresh, junk, junk_again, rows = with_selling(migrated, work)
    assert first.ok and retry.ok and retry.replayed and not first.replayed
    assert retry.admission_id == first.admission_id and retry.ticket == first.ticket
    assert (fresh.ok, fresh.code) == (False, "already_used")
    assert junk.code == "malformed" and junk.ticket is None
    assert junk_again.replayed and junk_again.admission_id == junk.admission_id
    assert rows == 3


def test_a_refunded_or_cancelled_ticket_is_refused_and_says_which(migrated, sale_park) -> None:
    day = open_weekday(20)

    async def work(selling):
        refunded = await sell(selling, sale_park, "day-ticket", day, {"adult": 1})
        cancelled = await sell(selling, sale_park, "day-ticket", day, {"adult": 1})
        async with tenant_session(selling.db, sale_park) as session:
            order = await load_order(session, refunded["code"])
            await refund_order(
                session,
                selling,
                order,
                ticket_ids=None,
                by_staff=True,
                time_zone="Asia/Shanghai",
                business_date=day,
                reason="requested_by_customer",
            )
            await session.execute(
                update(Ticket)
                .where(Ticket.id == uuid.UUID(cancelled["tickets"][0]["id"]))
                .values(revoked_at=func.now(), revoked_reason="fraud")
            )
        return [
            await scan_at(selling, sale_park, refunded["tickets"][0]["qr"], at(day, 9)),
            await scan_at(selling, sale_park, cancelled["tickets"][0]["qr"], at(day, 9)),
        ]

    refunded, cancelled = with_selling(migrated, work)
    assert (refunded.ok, refunded.code, refunded.message) == (
        False,
        "refunded",
        "This ticket was refunded.",
    )
    assert refunded.ticket is not None and refunded.ticket["state"] == "refunded"
    assert (cancelled.ok, cancelled.code) == (False, "revoked")


def test_codes_that_are_not_genuine(migrated, sale_park) -> None:
    day = open_weekday(21)

    async def work(selling):
        order = await sell(selling, sale_park, "day-ticket", day, {"adult": 1})
        payload, signed, signature = decode(order["tickets"][0]["qr"])
        altered = PREFIX + b45encode(signed + bytes([signature[0] ^ 1]) + signature[1:])
        stranger = Ed25519PrivateKey.generate()
        foreign = sign_payload(dataclasses.replace(payload, key_id=999), stranger)
        forged = sign_payload(payload, stranger)  # the park's key id, someone else's key
        now = at(day, 9)
        return [
            await scan_at(selling, sale_park, code, now)
            for code in ("hello", "VP1:@@@", altered, foreign, forged)
        ]

    answers = with_selling(migrated, work)
    assert [a.code for a in answers] == [
        "malformed",
        "malformed",
        "bad_signature",
        "unknown_key",
        "bad_signature",
    ]
    assert all(not a.ok and a.ticket is None for a in answers)


def test_every_decision_is_recorded_with_the_staff_member(migrated) -> None:
    slug = unique_slug("gate")

    async def work(selling):
        await provision_tenant(selling.db, slug, "Gate Park")
        await seed_demo_catalog(selling.db, slug)
        day = open_weekday(22)
        order = await sell(selling, slug, "day-ticket", day, {"adult": 1})
        staff = uuid.uuid4()
        async with tenant_session(selling.db, slug) as session:
            for code in (order["tickets"][0]["qr"], order["tickets"][0]["qr"], "junk"):
                await scan(
                    session,
                    selling,
                    code=code,
                    direction="entry",
                    device="tablet-7",
                    nonce=None,
                    now=at(day, 9),
                    staff_user_id=staff,
                )
        async with tenant_session(selling.db, slug) as session:
            rows = (await session.scalars(select(Admission).order_by(Admission.id))).all()
            latest = await recent(session, limit=2)
        return staff, rows, latest

    staff, rows, latest = with_selling(migrated, work)
    assert [(r.code, r.ok, r.counted) for r in rows] == [
        ("ok", True, True),
        ("already_used", False, False),
        ("malformed", False, False),
    ]
    assert {r.staff_user_id for r in rows} == {staff} and {r.device for r in rows} == {"tablet-7"}
    assert rows[2].ticket_id is None and rows[0].ticket_id == rows[1].ticket_id
    assert [d.code for d in latest] == ["malformed", "already_used"]
