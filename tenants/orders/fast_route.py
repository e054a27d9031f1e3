"""`POST /p/<slug>/api/v1/orders` on the fast lane (`platform/http/fast_lane.py`).

The same service call as `OrderController.create`, built by the same function
(`intake.web_order_request`), for the requests that need nothing of Litestar's:
a body that decodes as an `OrderIn` and no member pass in a cookie. Anything else
is handed to the Litestar route, which answers it (a malformed body gets its
usual 400 with the fields at fault).
"""

from __future__ import annotations

import re

import msgspec

from vistapass.platform.http.fast_lane import FastAnswer, FastCall, FastRoute
from vistapass.tenants.catalog.membership import MEMBER_COOKIE
from vistapass.tenants.orders import idempotency
from vistapass.tenants.orders.context import selling_for
from vistapass.tenants.orders.intake import (
    IDEMPOTENCY_HEADER,
    REPLAYED,
    WEB_ORDER_SCOPE,
    take_order,
    web_order_request,
)
from vistapass.tenants.orders.schemas import OrderIn

_DECODE_ORDER = msgspec.json.Decoder(OrderIn)
_DECODE_ANY = msgspec.json.Decoder()
_IDEMPOTENCY = IDEMPOTENCY_HEADER.lower().encode()
_MEMBER_COOKIE = f"{MEMBER_COOKIE}="


async def place_web_order(call: FastCall) -> FastAnswer | None:
    cookie = call.header(b"cookie")
    if cookie and _MEMBER_COOKIE in cookie:
        return None  # the pass in the cookie: Litestar parses cookies as the quote API does
    try:
        data = _DECODE_ORDER.decode(call.body)
    except msgspec.DecodeError:  # ValidationError included
        return None
    slug = call.params["slug"]
    selling = selling_for(call.app.state)
    outcome = await take_order(
        selling,
        slug,
        web_order_request(selling, slug, data, None),
        scope=WEB_ORDER_SCOPE,
        key=call.header(_IDEMPOTENCY),
        # What the Litestar route hashes: the body as JSON, whatever its field order.
        payload=_DECODE_ANY.decode(call.body),
    )
    if isinstance(outcome, idempotency.Replay):
        return FastAnswer(outcome.status, outcome.body, REPLAYED)
    return FastAnswer(201, outcome)


FAST_ORDER_ROUTES = [
    FastRoute("POST", re.compile(r"/p/(?P<slug>[^/]+)/api/v1/orders"), place_web_order)
]
