"""Every booking route, for `TENANT_ROUTES` (the front page is the park's own `/`)."""

from __future__ import annotations

from typing import Any

from vistapass.tenants.booking.aftersale import AFTERSALE_ROUTES
from vistapass.tenants.booking.checkout import CHECKOUT_ROUTES
from vistapass.tenants.booking.controllers import choose
from vistapass.tenants.booking.member import MEMBER_ROUTES
from vistapass.tenants.booking.pay import PAY_ROUTES

BOOKING_ROUTES: list[Any] = [
    choose,
    *CHECKOUT_ROUTES,
    *PAY_ROUTES,
    *AFTERSALE_ROUTES,
    *MEMBER_ROUTES,
]
