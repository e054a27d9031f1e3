"""`POST /p/<slug>/api/v1/quotes`: the price of a basket, for every channel alike.

Public and independent of who asks: the website, the window and partners all see
the same answer for the same basket and channel. The one exception is a member of
the park (an annual card holder signed in on the booking site): a web quote then
carries the member price. Membership is proven by a signed member pass, in the
body's `member` or in the booking site's HttpOnly cookie (so the page's own script,
which cannot read that cookie, gets the price its visitor will be charged).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from litestar import Controller, Request, post
from litestar.params import JSONBody

from vistapass.platform.authz.permissions import public
from vistapass.platform.plugin_api import Adjustment, BasketLine
from vistapass.platform.tenancy.dependencies import CurrentTenant, TenantDbSession
from vistapass.tenants.catalog.membership import MEMBER_COOKIE, read_pass
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
    async def quote(
        self,
        request: Request[Any, Any, Any],
        db_session: TenantDbSession,
        tenant: CurrentTenant,
        data: JSONBody[QuoteIn],
    ) -> QuoteOut:
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
            member=read_pass(
                request.app.state.settings,
                tenant.slug,
                data.member or request.cookies.get(MEMBER_COOKIE),
                int(time.time()),
            ),
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
