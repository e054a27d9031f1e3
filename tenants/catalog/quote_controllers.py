"""`POST /p/<slug>/api/v1/quotes`: the price of a basket, for every channel alike.

Public and independent of who asks: the website, the window and partners all see
the same answer for the same basket and channel.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

from litestar import Controller, post
from litestar.params import JSONBody

from vistapass.platform.authz.permissions import public
from vistapass.platform.plugin_api import Adjustment, BasketLine
from vistapass.platform.tenancy.dependencies import TenantDbSession
from vistapass.tenants.catalog.quote import quote_basket
from vistapass.tenants.catalog.schemas import (
    QuoteAdjustmentOut,
    QuoteEntitlementOut,
    QuoteIn,
    QuoteLineOut,
    QuoteOut,
)
from vistapass.tenants.park.service import get_profile


def _adjustments(items: Iterable[Adjustment]) -> list[QuoteAdjustmentOut]:
    return [QuoteAdjustmentOut(code=a.code, reason=a.reason, amount=a.amount) for a in items]


class QuoteController(Controller):
    tags = ["catalog"]

    @post("/api/v1/quotes", summary="Price a basket for a date", status_code=200, opt=public())
    async def quote(self, db_session: TenantDbSession, data: JSONBody[QuoteIn]) -> QuoteOut:
        profile = await get_profile(db_session)
        # "Today" is the park's today: a sale closing at midnight closes at its midnight.
        today = datetime.now(ZoneInfo(profile.time_zone)).date()
        lines = [
            BasketLine(unit=line.unit, quantity=line.quantity, ages=tuple(line.ages or ()))
            for line in data.lines
        ]
        product, request, quote, entitlements = await quote_basket(
            db_session,
            product_code=data.product,
            visit_date=data.date,
            slot=data.slot,
            channel=data.channel,
            lines=lines,
            today=today,
            renewal_of=data.renewal_of,
        )
        return QuoteOut(
            product=product.code,
            date=request.day.date,
            slot=request.slot,
            channel=request.channel,
            currency=quote.currency,
            day_kind=request.day.kind.value,
            lines=[
                QuoteLineOut(
                    unit=line.unit,
                    quantity=line.quantity,
                    base_price=line.base_price,
                    adjustments=_adjustments(line.adjustments),
                    unit_price=line.unit_price,
                    total=line.total,
                )
                for line in quote.lines
            ],
            adjustments=_adjustments(quote.adjustments),
            subtotal=quote.subtotal,
            total=quote.total,
            entitlements=[
                QuoteEntitlementOut(
                    unit=e.unit,
                    valid_from=e.valid_from,
                    valid_to=e.valid_to,
                    slot=e.slot,
                    entries_per_day=e.entries_per_day,
                    entries_total=e.entries_total,
                    zones=list(e.zones),
                    real_name_required=e.real_name_required,
                    face_required=e.face_required,
                    reentry_allowed=e.reentry_allowed,
                )
                for e in entitlements
            ],
        )


QUOTE_ROUTES = [QuoteController]
