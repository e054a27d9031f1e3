"""The selling suite's park (demo catalogue) and client, reused for the console pages."""

from __future__ import annotations

from tests.tenants.orders.conftest import client, sale_park

__all__ = ["client", "sale_park"]
