"""The sale benchmark's park and database: set up, torn down, and checked for oversell.

The park is made through the app's own provisioning, so that the HTTP phases sell
what a real park sells; the teardown is by hand, since no app API deletes a park.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from vistapass.platform.db import Database
from vistapass.platform.plugin_api import DayKind
from vistapass.platform.pricing_registry import get_mode
from vistapass.platform.settings import Settings
from vistapass.platform.tenancy.admin import require_migrated
from vistapass.platform.tenancy.binding import tenant_session
from vistapass.platform.tenancy.naming import role_for
from vistapass.platform.tenancy.provisioning import provision_tenant
from vistapass.platform.tenancy.upgrade import upgrade_control_plane
from vistapass.tenants.calendar.service import statutory_day
from vistapass.tenants.models import Product, ProductUnit

# isort: split
# Modules beside this one: bench/ is sys.path[0] when bench/sale.py runs.
from sale_figures import (
    HOT_PRODUCT,
    HOT_SLOT,
    SPREAD_PRODUCT,
    SPREAD_SLOTS,
    UNIT,
    Figures,
    Plan,
    say,
)

PARK_TIME_ZONE = ZoneInfo("Asia/Shanghai")  # what provisioning gives every park
DAYS_AHEAD = 10
PRICE = 8000  # fen

# Places held by live orders against each bucket of the visit date, per product and
# slot; the full join also shows orders without a bucket and buckets without orders.
OVERSELL_QUERY = """
WITH live AS (
    SELECT product_code, slot, sum(places)::int AS sold FROM {schema}.orders
     WHERE visit_date = %(day)s AND status IN ('pending', 'paid')
     GROUP BY product_code, slot
), buckets AS (
    SELECT p.code AS product_code, b.slot, b.taken FROM {schema}.inventory_buckets b
      JOIN {schema}.products p ON b.scope = 'product:' || p.id::text
     WHERE b.day = %(day)s
)
SELECT coalesce(l.product_code, b.product_code) AS product,
       coalesce(l.slot, b.slot) AS slot,
       coalesce(l.sold, 0) AS sold,
       b.taken
  FROM live l FULL JOIN buckets b ON b.product_code = l.product_code AND b.slot = l.slot
"""


def libpq_url(url: str, database: str | None = None) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(False)


def visit_date() -> date:
    """A plain weekday about DAYS_AHEAD days ahead in the park's time zone.

    A weekday that is no statutory holiday keeps the price and the calendar out of
    the picture; parks are open every day unless an operator closes one.
    """
    day = datetime.now(PARK_TIME_ZONE).date() + timedelta(days=DAYS_AHEAD)
    while statutory_day(day)[0] is not DayKind.WEEKDAY:
        day += timedelta(days=1)
    return day


def spread_slot_config(codes: Sequence[str], capacity: int) -> list[dict[str, Any]]:
    """One five-minute slot per code from 08:00 on: distinct, valid HH:MM ranges."""
    slots = []
    for index, code in enumerate(codes):
        start = 8 * 60 + 5 * index
        end = start + 5
        slots.append(
            {
                "code": code,
                "start": f"{start // 60:02d}:{start % 60:02d}",
                "end": f"{end // 60:02d}:{end % 60:02d}",
                "capacity": capacity,
                "peak": False,
            }
        )
    return slots


# --- the park --------------------------------------------------------------------------


def product_specs(plan: Plan) -> list[dict[str, Any]]:
    return [
        {
            "code": HOT_PRODUCT,
            "flash_sale": True,
            "slots": [
                {
                    "code": HOT_SLOT,
                    "start": "10:00",
                    "end": "12:00",
                    "capacity": plan.hot_capacity,
                    "peak": False,
                }
            ],
        },
        {
            "code": SPREAD_PRODUCT,
            "flash_sale": False,
            "slots": spread_slot_config(plan.spread_slots, plan.spread_capacity),
        },
    ]


async def create_park(db: Database, plan: Plan, *, migrate: bool) -> None:
    if migrate:
        say(f"control plane: {(await upgrade_control_plane(db)).after}")
    else:
        # Someone else's database: use it as it is, but say clearly if it is not ready.
        await require_migrated(db)
    await provision_tenant(db, plan.slug, "Sale Bench Park")
    mode = get_mode("time_slot")
    async with tenant_session(db, plan.slug) as session:
        for spec in product_specs(plan):
            config = {"prices": {UNIT: PRICE}, "slots": spec["slots"]}
            product = Product(
                code=spec["code"],
                name_zh="压测票",
                name_en=f"Bench ticket ({spec['code']})",
                pricing_mode="time_slot",
                pricing_config=dict(mode.validate_config(config)),
                channels=["web"],
                status="on_sale",
                flash_sale=spec["flash_sale"],
            )
            session.add(product)
            await session.flush()
            session.add(
                ProductUnit(product_id=product.id, unit=UNIT, label_zh="成人", label_en="Adult")
            )
    say(
        f"park {plan.slug}: {HOT_PRODUCT} ({plan.hot_capacity} places in {HOT_SLOT}, flash sale), "
        f"{SPREAD_PRODUCT} ({SPREAD_SLOTS} slots of {plan.spread_capacity}), "
        f"visit {plan.visit_date.isoformat()}"
    )


async def prepare_park(settings: Settings, plan: Plan, *, migrate: bool) -> None:
    db = Database(settings)
    try:
        await create_park(db, plan, migrate=migrate)
    finally:
        await db.dispose()


def drop_park(database_url: str, plan: Plan, role_prefix: str) -> None:
    """Remove a park from a database the run does not own (no app API deletes one)."""
    role = role_for(role_prefix, plan.slug)
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(plan.schema))
        )
        # Domains, memberships and the like go with the row (ON DELETE CASCADE).
        conn.execute("DELETE FROM public.tenants WHERE slug = %s", (plan.slug,))
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


# --- the bench database and its roles --------------------------------------------------


def create_database(server_url: str, database: str) -> None:
    with psycopg.connect(libpq_url(server_url, "postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))


def drop_database_and_roles(server_url: str, database: str, role_prefix: str) -> None:
    with psycopg.connect(libpq_url(server_url, "postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database))
        )
        roles = conn.execute(
            "SELECT rolname FROM pg_roles WHERE rolname LIKE %s", (role_prefix + "\\_%",)
        ).fetchall()
        for (role,) in roles:
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


# --- oversell --------------------------------------------------------------------------


def check_oversell(database_url: str, plan: Plan, figures: Figures) -> None:
    """Compare the orders with the buckets and the capacities; fill in the findings."""
    assert figures.hot is not None and figures.spread is not None
    query = sql.SQL(OVERSELL_QUERY).format(schema=sql.Identifier(plan.schema))
    with psycopg.connect(libpq_url(database_url)) as conn:
        rows = conn.execute(query, {"day": plan.visit_date}).fetchall()
    capacities = plan.capacities()
    problems = figures.check_problems
    sold_per_product: Counter[str] = Counter()
    for product, slot, sold, taken in rows:
        sold_per_product[product] += sold
        capacity = capacities.get((product, slot))
        if capacity is None:
            figures.oversold += sold  # orders for a slot that was never on sale
            problems.append(f"{product} {slot}: {sold} places in a slot that does not exist")
            continue
        if sold > capacity:
            figures.oversold += sold - capacity
            problems.append(f"{product} {slot}: {sold} places sold of {capacity}")
        if taken != sold:
            problems.append(f"{product} {slot}: bucket says {taken} taken, orders hold {sold}")
    figures.buckets_checked = len(rows)
    hot_sold = sold_per_product[HOT_PRODUCT]
    if hot_sold != plan.hot_capacity:
        problems.append(f"hot slot: {hot_sold} places sold, expected exactly {plan.hot_capacity}")
    if hot_sold != figures.hot.sold:
        problems.append(f"hot slot: {hot_sold} places in orders, clients saw {figures.hot.sold}")
    spread_seen = figures.warmup_sold + figures.spread.sold
    if sold_per_product[SPREAD_PRODUCT] != spread_seen:
        problems.append(
            f"spread: {sold_per_product[SPREAD_PRODUCT]} places in orders, "
            f"clients saw {spread_seen}"
        )
    say(
        f"oversell check: {figures.buckets_checked} buckets, {figures.oversold} places oversold, "
        f"hot slot {hot_sold}/{plan.hot_capacity}, {len(problems)} problems"
    )
    for problem in problems[:10]:
        say(f"  {problem}")
