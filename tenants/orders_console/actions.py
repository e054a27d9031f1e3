"""Staff actions on one order from the console: refund tickets, cancel an unpaid order,
record a refund paid another way after the provider failed one.

Both run in the request's transaction with their audit entry, so a refused
action leaves neither a change nor an entry behind. Staff refunds give back
each ticket's full share at any time (`by_staff=True`), as the staff API does.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from vistapass.platform.audit.service import Actor, record
from vistapass.platform.errors import VistapassError
from vistapass.tenants.orders.context import Selling
from vistapass.tenants.orders.outside_refunds import OUTSIDE_METHODS
from vistapass.tenants.orders.refunds import RefundResult, refund_order
from vistapass.tenants.orders.release import cancel_order
from vistapass.tenants.orders.service import load_order
from vistapass.tenants.park.service import get_profile
from vistapass.tenants.window.forms import SaleFormError, parse_money

MAX_REASON = 500
MAX_REFERENCE = 200


class RefundFormError(VistapassError):
    status_code = 422
    code = "invalid_refund"


@dataclass(frozen=True, slots=True)
class RefundForm:
    """What the refund form asked for: every live ticket, or the ones ticked."""

    everything: bool
    tickets: tuple[uuid.UUID, ...]
    reason: str


def typed_refund(form: Any) -> dict[str, Any]:
    """The refund form as typed, to show again when it is refused."""
    reason = form.get("reason", "")
    return {
        "scope": form.get("scope", "all"),
        "tickets": [t for t in form.getall("tickets", []) if isinstance(t, str)],
        "reason": reason.strip() if isinstance(reason, str) else "",
    }


def read_refund_form(form: Any) -> RefundForm:
    typed = typed_refund(form)
    scope, reason = typed["scope"], typed["reason"]
    if scope not in ("all", "chosen"):
        raise RefundFormError("Choose what to refund.", details={"field": "scope"})
    if not reason:
        raise RefundFormError("Give a reason for the refund.", details={"field": "reason"})
    if len(reason) > MAX_REASON:
        raise RefundFormError("The reason is at most 500 characters.", details={"field": "reason"})
    tickets: list[uuid.UUID] = []
    if scope == "chosen":
        try:
            tickets = [uuid.UUID(t) for t in typed["tickets"]]
        except ValueError:
            raise RefundFormError(
                "Some tickets are not part of this order.",
                code="unknown_ticket",
                details={"field": "tickets"},
            ) from None
        if not tickets:
            raise RefundFormError("Tick the tickets to refund.", details={"field": "tickets"})
    return RefundForm(scope == "all", tuple(tickets), reason)


@dataclass(frozen=True, slots=True)
class OutsideRefundForm:
    amount: int  # minor units
    method: str
    reference: str


def typed_outside_refund(form: Any) -> dict[str, str]:
    """The form for a refund paid another way, as typed."""
    return {
        name: value.strip() if isinstance(value := form.get(name, ""), str) else ""
        for name in ("amount", "method", "reference")
    }


def read_outside_refund_form(form: Any) -> OutsideRefundForm:
    typed = typed_outside_refund(form)
    try:
        amount = parse_money(typed["amount"])
    except SaleFormError:
        amount = None
    if amount is None or amount < 1:
        raise RefundFormError(
            "Type the amount paid back, e.g. 120 or 120.50.",
            code="invalid_amount",
            details={"field": "amount"},
        )
    if typed["method"] not in OUTSIDE_METHODS:
        raise RefundFormError("Choose how the buyer was paid.", details={"field": "method"})
    if len(typed["reference"]) > MAX_REFERENCE:
        raise RefundFormError(
            "The reference is at most 200 characters.", details={"field": "reference"}
        )
    return OutsideRefundForm(amount, typed["method"], typed["reference"])


async def staff_refund(
    session: AsyncSession, selling: Selling, actor: Actor, code: str, asked: RefundForm
) -> RefundResult:
    order = await load_order(session, code)
    profile = await get_profile(session)
    before = {"status": order.status, "refunded": order.refunded_amount}
    tickets: Sequence[uuid.UUID] | None = None if asked.everything else asked.tickets
    result = await refund_order(
        session,
        selling,
        order,
        ticket_ids=tickets,
        by_staff=True,
        time_zone=profile.time_zone,
        business_date=datetime.now(ZoneInfo(profile.time_zone)).date(),
        reason=asked.reason,
    )
    await record(
        session,
        actor,
        "order.refunded",
        f"order:{result.order.code}",
        before=before,
        after={
            "status": result.order.status,
            "refunded": result.order.refunded_amount,
            "amount": result.amount,
            "tickets": [str(t.id) for t in result.tickets],
            "reason": asked.reason,
        },
    )
    return result


async def staff_cancel(session: AsyncSession, selling: Selling, actor: Actor, code: str) -> None:
    order = await load_order(session, code, for_update=True)
    before = {"status": order.status}
    order = await cancel_order(session, selling, order)
    await record(
        session,
        actor,
        "order.cancelled",
        f"order:{order.code}",
        before=before,
        after={"status": order.status},
    )


# The services' refusals, as messages the console can translate (theirs may carry values).
MESSAGES = {
    "order_not_refundable": "Only a paid order can be refunded.",
    "unknown_ticket": "Some tickets are not part of this order.",
    "already_refunded": "These tickets were already refunded.",
    "refund_exceeds_paid": "That is more than is left of what was paid.",
    "order_not_pending": "Only an unpaid order can be cancelled.",
    "nothing_owed": "Nothing is owed on this order: no refund failed at the provider.",
    "refund_exceeds_owed": "That is more than is owed to the buyer.",
}


def message_of(exc: VistapassError) -> str:
    return MESSAGES.get(exc.code, exc.message)
