"""`GET /p/<slug>/api/v1/reports/daily?date=`: one day's money, reconciled."""

from __future__ import annotations

from datetime import date
from typing import Any

from litestar import Controller, get
from litestar.params import FromQuery

from vistapass.platform.authz.permissions import requires
from vistapass.platform.tenancy.dependencies import TenantDbSession
from vistapass.tenants.ledger.service import daily_report
from vistapass.tenants.park.service import get_profile


class ReportController(Controller):
    path = "/api/v1/reports"
    tags = ["reports"]

    @get(
        "/daily",
        summary="A day's sales, refunds and fees, reconciled",
        opt=requires("reports:read"),
    )
    async def daily(self, db_session: TenantDbSession, date: FromQuery[date]) -> dict[str, Any]:
        profile = await get_profile(db_session)
        report = await daily_report(db_session, date, profile.currency)
        return {
            "date": report.date.isoformat(),
            "currency": report.currency,
            "paid_orders": report.paid_orders,
            "paid_orders_total": report.paid_orders_total,
            "refunds_total": report.refunds_total,
            "ledger": report.ledger,
            "payouts": report.payouts,
            "checks": report.checks,
            "balanced": report.balanced,
        }


REPORT_ROUTES = [ReportController]
