"""A process killed mid-order leaves whole orders or none, and counts that add up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from typing import Any

import pytest
from sqlalchemy import text

from tests.conftest import ROOT, run, unique_slug
from tests.tenants.catalog.helpers import add_product
from tests.tenants.orders.conftest import open_weekday
from vistapass.platform.db import Database
from vistapass.platform.pricing_registry import get_mode
from vistapass.platform.settings import Settings
from vistapass.platform.tenancy.binding import tenant_session
from vistapass.platform.tenancy.provisioning import provision_tenant

pytestmark = pytest.mark.slow

BUYER = textwrap.dedent(
    """
    import asyncio, sys
    from datetime import date
    from redis.asyncio import Redis
    from vistapass.platform.db import Database
    from vistapass.platform.plugin_api import BasketLine
    from vistapass.platform.settings import Settings
    from vistapass.tenants.orders.context import Selling
    from vistapass.tenants.orders.holders import HolderIn
    from vistapass.tenants.orders.service import Buyer, OrderRequest, place

    slug, product, day = sys.argv[1], sys.argv[2], date.fromisoformat(sys.argv[3])

    async def main() -> None:
        settings = Settings()
        selling = Selling.build(Database(settings), settings, Redis.from_url(settings.redis_url))
        async def buyer(n: int) -> None:
            while True:
                request = OrderRequest(
                    product=product, visit_date=day, slot="10:00", channel="window",
                    lines=(BasketLine("adult", 2),), buyer=Buyer(name=f"buyer {n}"),
                    provider="cash",
                )
                try:
                    await place(selling, slug, request, None)
                except Exception:
                    pass
                print("sold", flush=True)
        await asyncio.gather(*(buyer(n) for n in range(8)))

    asyncio.run(main())
    """
)


def test_killing_the_process_mid_order_leaves_whole_orders(migrated: Settings) -> None:
    slug = unique_slug("kill")
    config = {
        "prices": {"adult": 5000},
        "slots": [{"code": "10:00", "start": "10:00", "end": "12:00", "capacity": 100000}],
    }

    async def prepare(db: Database) -> str:
        await provision_tenant(db, slug, "Kill Park")
        stored = dict(get_mode("time_slot").validate_config(config))
        return await add_product(
            db, slug, mode="time_slot", config=stored, units=("adult",), channels=("window",)
        )

    product = run(migrated, prepare)
    env = {
        **os.environ,
        "VISTAPASS_DATABASE_URL": migrated.database_url,
        "VISTAPASS_REDIS_URL": migrated.redis_url,
        "VISTAPASS_REDIS_NAMESPACE": migrated.redis_namespace,
        "VISTAPASS_DATA_DIR": str(migrated.data_dir),
        "VISTAPASS_DB_ROLE_PREFIX": migrated.db_role_prefix,
    }
    buyer = subprocess.Popen(
        [sys.executable, "-c", BUYER, slug, product, open_weekday().isoformat()],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert buyer.stdout is not None
        # Let a few dozen orders through, then kill it without warning.
        for _ in range(40):
            buyer.stdout.readline()
        time.sleep(0.05)
    finally:
        buyer.send_signal(signal.SIGKILL)
        buyer.wait()

    async def check(db: Database) -> dict[str, Any]:
        async with tenant_session(db, slug) as session:
            broken = await session.scalar(
                text(
                    "SELECT count(*) FROM orders o WHERE o.places <> "
                    "(SELECT count(*) FROM tickets t WHERE t.order_id = o.id AND t.qr IS NOT NULL) "
                    "OR o.status <> 'paid' "
                    "OR NOT EXISTS (SELECT 1 FROM order_lines l WHERE l.order_id = o.id) "
                    "OR o.total <> (SELECT COALESCE(sum(amount), 0) FROM ledger_lines g "
                    "WHERE g.order_id = o.id AND g.kind = 'sale')"
                )
            )
            orders = await session.scalar(text("SELECT count(*) FROM orders"))
            places = await session.scalar(text("SELECT COALESCE(sum(places), 0) FROM orders"))
            taken = await session.scalar(
                text("SELECT COALESCE(sum(taken), 0) FROM inventory_buckets")
            )
            held = await session.scalar(
                text("SELECT COALESCE(sum(quantity), 0) FROM order_holds WHERE released_at IS NULL")
            )
            return {
                "broken": broken,
                "orders": orders,
                "places": places,
                "taken": taken,
                "held": held,
            }

    state = run(migrated, check)
    assert state["orders"] >= 40
    assert state["broken"] == 0
    assert state["places"] == state["taken"] == state["held"]
