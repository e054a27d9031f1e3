"""The ledger: every money movement as a signed line, and the day that reconciles.

A sale is `+total`, the platform's fee on it `-fee`, a refund `-amount`, each
tagged with channel and provider. `payments` holds what each provider confirmed
(charges and refunds); the daily report checks three sums that are written at
different moments from different sources against each other.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from vistapass.tenants.models import LedgerLine, Order, Payment


async def record_payment(
    session: AsyncSession,
    order: Order,
    *,
    kind: str,
    provider: str,
    provider_ref: str,
    amount: int,
    platform_fee: int,
    business_date: date,
) -> Payment | None:
    """Store a provider's confirmation once (by its reference) with its ledger lines.

    Returns None when this confirmation was already stored: a repeated webhook
    or retried job writes nothing twice.
    """
    payment_id = uuid.uuid4()
    inserted = (
        await session.execute(
            text(
                "INSERT INTO payments (id, order_id, kind, provider, provider_ref, amount, "
                "platform_fee, currency, business_date) VALUES (:id, :order_id, :kind, "
                ":provider, :ref, :amount, :fee, :currency, :day) "
                "ON CONFLICT ON CONSTRAINT uq_payments_provider_ref DO NOTHING RETURNING id"
            ),
            {
                "id": payment_id,
                "order_id": order.id,
                "kind": kind,
                "provider": provider,
                "ref": provider_ref,
                "amount": amount,
                "fee": platform_fee,
                "currency": order.currency,
                "day": business_date,
            },
        )
    ).first()
    if inserted is None:
        return None
    # A reversal (a refund the provider could not pay) takes back a refund line.
    sign = -1 if kind == "refund" else 1
    lines = [("sale" if kind == "charge" else "refund", sign * amount)]
    if platform_fee:
        lines.append(("platform_fee", -platform_fee))
    session.add_all(
        LedgerLine(
            business_date=business_date,
            kind=line_kind,
            channel=order.channel,
            provider=provider,
            order_id=order.id,
            payment_id=payment_id,
            amount=line_amount,
            currency=order.currency,
        )
        for line_kind, line_amount in lines
    )
    await session.flush()
    return await session.get(Payment, payment_id)


@dataclass(frozen=True, slots=True)
class DailyReport:
    date: date
    currency: str
    paid_orders: int
    paid_orders_total: int
    refunds_total: int  # refunds confirmed that day, on orders of any day
    ledger: list[dict[str, object]]  # kind, channel, provider, amount
    payouts: list[dict[str, object]]  # provider, charges, refunds, fees, net
    checks: dict[str, bool]

    @property
    def balanced(self) -> bool:
        return all(self.checks.values())


async def daily_report(session: AsyncSession, day: date, currency: str) -> DailyReport:
    params = {"day": day}
    orders = (
        await session.execute(
            text(
                "SELECT count(*) AS n, COALESCE(sum(o.total), 0) AS total FROM orders o "
                "WHERE o.id IN (SELECT order_id FROM payments "
                "WHERE kind = 'charge' AND business_date = :day)"
            ),
            params,
        )
    ).one()
    ledger_rows = (
        await session.execute(
            text(
                "SELECT kind, channel, provider, sum(amount) AS amount FROM ledger_lines "
                "WHERE business_date = :day GROUP BY kind, channel, provider "
                "ORDER BY kind, channel, provider"
            ),
            params,
        )
    ).all()
    payout_rows = (
        await session.execute(
            text(
                "SELECT provider, "
                "COALESCE(sum(amount) FILTER (WHERE kind = 'charge'), 0) AS charges, "
                "COALESCE(sum(amount) FILTER (WHERE kind = 'refund'), 0) - "
                "COALESCE(sum(amount) FILTER (WHERE kind = 'reversal'), 0) AS refunds, "
                "COALESCE(sum(platform_fee), 0) AS fees FROM payments "
                "WHERE business_date = :day GROUP BY provider ORDER BY provider"
            ),
            params,
        )
    ).all()
    ledger = [
        {"kind": r.kind, "channel": r.channel, "provider": r.provider, "amount": int(r.amount)}
        for r in ledger_rows
    ]
    payouts = [
        {
            "provider": r.provider,
            "charges": int(r.charges),
            "refunds": int(r.refunds),
            "fees": int(r.fees),
            "net": int(r.charges) - int(r.refunds) - int(r.fees),
        }
        for r in payout_rows
    ]
    sales = sum(int(line["amount"]) for line in ledger if line["kind"] == "sale")
    refunds = -sum(int(line["amount"]) for line in ledger if line["kind"] == "refund")
    ledger_net_by_provider: dict[str, int] = {}
    for line in ledger:
        provider = str(line["provider"])
        ledger_net_by_provider[provider] = ledger_net_by_provider.get(provider, 0) + int(
            line["amount"]
        )
    checks = {
        "paid_orders_equal_ledger_sales": int(orders.total) == sales,
        "ledger_refunds_equal_provider_refunds": refunds == sum(p["refunds"] for p in payouts),
        "ledger_equals_payouts": ledger_net_by_provider
        == {str(p["provider"]): int(p["net"]) for p in payouts},
    }
    return DailyReport(
        date=day,
        currency=currency,
        paid_orders=int(orders.n),
        paid_orders_total=int(orders.total),
        refunds_total=refunds,
        ledger=ledger,
        payouts=payouts,
        checks=checks,
    )
