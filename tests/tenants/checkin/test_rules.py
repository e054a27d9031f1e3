"""`rules.decide` alone: no database, the way a gate edge will call it on its cache."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from vistapass.tenants.checkin.rules import (
    REENTRY_COOLDOWN,
    History,
    TicketFacts,
    decide,
    effective_window,
)
from vistapass.tenants.tickets.codec import TicketPayload, holder_marker

DAY = date(2026, 12, 8)
NOON = datetime(2026, 12, 8, 4, 0, tzinfo=UTC)


def payload(**fields) -> TicketPayload:
    base = {
        "key_id": 1,
        "ticket_id": uuid.uuid4(),
        "product_number": 1,
        "valid_from": DAY,
        "valid_to": DAY,
        "entries_per_day": 1,
        "entries_total": 1,
    }
    return TicketPayload(**{**base, **fields})


def entitlement(**fields) -> dict:
    return {"entries_per_day": 1, "entries_total": 1, "zones": [], "extras": {}, **fields}


def verdict(p: TicketPayload, facts: TicketFacts, history: History = History(), **kw) -> str:
    options = {"direction": "entry", "today": DAY, "minute": 600, "now": NOON, **kw}
    return decide(p, facts, history, **options).code


def test_zones_only_when_the_scanner_names_one() -> None:
    facts = TicketFacts(entitlement(zones=["north", "lake"]))
    assert verdict(payload(), facts, zone="lake") == "ok"
    assert verdict(payload(), facts, zone="south") == "wrong_zone"
    assert verdict(payload(), facts) == "ok"
    assert verdict(payload(), TicketFacts(entitlement()), zone="south") == "ok"


def test_blackout_dates_refuse_the_day_only() -> None:
    facts = TicketFacts(entitlement(extras={"blackout_dates": [DAY.isoformat()]}))
    wide = payload(valid_to=DAY + timedelta(days=30))
    assert verdict(wide, facts) == "blackout_date"
    assert verdict(wide, facts, today=DAY + timedelta(days=1)) == "ok"


def test_per_day_limits_are_separate_from_the_total() -> None:
    facts = TicketFacts(entitlement(entries_per_day=2, entries_total=5))
    wide = payload(valid_to=DAY + timedelta(days=9))
    assert verdict(wide, facts, History(entries_total=2, entries_today=2)) == (
        "no_entries_left_today"
    )
    assert verdict(wide, facts, History(entries_total=5, entries_today=0)) == "already_used"
    assert verdict(wide, facts, History(entries_total=4, entries_today=1)) == "ok"


def test_reentry_cooldown_is_measured_from_the_last_exit() -> None:
    facts = TicketFacts(entitlement(reentry_allowed=True))
    left = NOON - REENTRY_COOLDOWN + timedelta(seconds=1)
    history = History(entries_total=1, entries_today=1, last_exit_at=left)
    assert verdict(payload(), facts, history) == "reentry_cooldown"
    later = NOON + timedelta(seconds=1)
    re_entry = decide(
        payload(), facts, history, direction="entry", today=DAY, minute=600, now=later
    )
    assert (re_entry.code, re_entry.counted) == ("ok", False)


def test_real_name_by_full_hash_or_by_the_signed_marker() -> None:
    holder = hashlib.sha256(b"holder").digest()
    stranger = hashlib.sha256(b"stranger").digest()
    named = TicketFacts(entitlement(), holder_hash=holder)
    assert verdict(payload(), named, presented_hash=holder) == "ok"
    assert verdict(payload(), named, presented_hash=stranger) == "real_name_mismatch"
    assert verdict(payload(), named) == "ok"  # nothing shown: the staff look at the card
    offline = TicketFacts(entitlement())
    marked = payload(holder_marker=holder_marker(holder))
    assert verdict(marked, offline, presented_hash=holder) == "ok"
    assert verdict(marked, offline, presented_hash=stranger) == "real_name_mismatch"


@pytest.mark.parametrize(
    ("first_entry", "today", "window"),
    [
        (None, DAY + timedelta(days=100), (DAY + timedelta(days=100), DAY + timedelta(days=464))),
        (
            DAY + timedelta(days=3),
            DAY + timedelta(days=50),
            (DAY + timedelta(days=3), DAY + timedelta(days=367)),
        ),
        (None, DAY - timedelta(days=5), (DAY, DAY + timedelta(days=364))),
    ],
)
def test_first_entry_cards_run_from_their_first_entry(first_entry, today, window) -> None:
    card = payload(valid_to=DAY + timedelta(days=364), entries_per_day=None, entries_total=None)
    rules = entitlement(extras={"activation": "first_entry", "validity_days": 365})
    found = effective_window(card, rules, History(first_entry_day=first_entry), today)
    assert (found.valid_from, found.valid_to) == window


def test_an_exit_needs_only_someone_inside() -> None:
    refunded = TicketFacts(entitlement(), revoked=True, revoked_reason="refunded")
    inside = History(entries_total=1, entries_today=1, inside=True)
    late = DAY + timedelta(days=3)
    assert verdict(payload(), refunded, inside, direction="exit", today=late) == "ok"
    assert verdict(payload(), refunded, History(), direction="exit") == "not_inside"
    assert verdict(payload(), refunded, History()) == "refunded"
