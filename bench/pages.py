"""Booking page benchmark: how heavy a visitor's first load is, and how fast the server renders.

Run as `.venv/bin/python bench/pages.py [--requests N]` (`make bench-pages`).

What is measured, in one run, on a database, role prefix and Redis namespace of
its own, with the demo catalogue in a fresh park and one paid order:

1. **Weight**: for each booking page (the park's home, step 1 of each demo
   product, the e-ticket page of a paid order), the bytes of its HTML plus every
   stylesheet and script it links from the same origin, as a browser's first
   load would fetch them (the park's own images and Stripe.js, which only the
   payment step loads, are left out). `page_kb` is the heaviest page.
2. **Render time**: each page is requested `--requests` times, one at a time,
   through the app in this process (Litestar's test client: the whole ASGI stack,
   handlers, templates and database queries, no network), after a warm-up.
   `render_p95_ms` is the slowest page's 95th percentile. The baseline in the
   same run is `/healthz` through the same stack: what any request costs before
   a page does its own work (`vs_baseline`).

Goals (issue 6): a booking page weighs at most 150 KB and renders in p95 at most
50 ms. They are reported, not enforced: the exit code only says whether the
measurement itself succeeded. The servers come from `VISTAPASS_BENCH_DATABASE_URL`
/ `VISTAPASS_BENCH_REDIS_URL`, or start embedded in a temporary folder; all that
the run created is removed at the end. The last line of stdout is the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import secrets
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
from litestar.testing import TestClient
from psycopg import sql
from redis import Redis
from sqlalchemy.engine import make_url

from vistapass.platform.app import create_app
from vistapass.platform.db import Database
from vistapass.platform.embedded.services import Services, ensure_services
from vistapass.platform.settings import Environment, Settings
from vistapass.platform.tenancy.provisioning import provision_tenant
from vistapass.platform.tenancy.upgrade import upgrade_control_plane
from vistapass.tenants.catalog.demo import seed_demo_catalog

GOAL_KB = 150
GOAL_P95_MS = 50
WARM_UP = 20
PRODUCTS = ("day-ticket", "sunrise-slot", "family-pack", "annual-card")
LINKED = re.compile(
    r"""<(?:link[^>]+rel=["']stylesheet["'][^>]*href|script[^>]+src)=["']([^"']+)["']""", re.I
)


def say(message: str) -> None:
    print(message, flush=True)


def percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def admin_url(url: str, database: str = "postgres") -> str:
    return make_url(url).set(drivername="postgresql", database=database).render_as_string(False)


def weekday_ahead(days: int) -> date:
    day = datetime.now(ZoneInfo("Asia/Shanghai")).date() + timedelta(days=days)
    while day.weekday() not in (1, 2, 3):
        day += timedelta(days=1)
    return day


def page_weight(client: TestClient, path: str) -> int:
    """HTML plus the same-origin stylesheets and scripts it links."""
    response = client.get(path, headers={"accept-language": "zh-CN"})
    response.raise_for_status()
    total = len(response.content)
    for link in set(LINKED.findall(response.text)):
        if link.startswith(("http://", "https://", "//")):
            continue  # another origin: not ours to weigh (and not loaded here)
        total += len(client.get(link).content)
    return total


def timings(client: TestClient, path: str, requests: int) -> list[float]:
    for _ in range(WARM_UP):
        client.get(path)
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(path, headers={"accept-language": "zh-CN"})
        times.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    return times


def paid_ticket_page(client: TestClient, slug: str) -> str:
    body = {
        "product": "family-pack",
        "date": weekday_ahead(10).isoformat(),
        "lines": [
            {"unit": "adult", "quantity": 2},
            {"unit": "child", "quantity": 2, "ages": [5, 9]},
        ],
        "contact": {"name": "Bench", "email": "", "phone": ""},
        "payment": "test",
    }
    order = client.post(f"/p/{slug}/api/v1/orders", json=body)
    if order.status_code != 201:
        raise RuntimeError(f"placing the bench order failed: {order.text}")
    code, token = order.json()["code"], order.json()["token"]
    client.post(f"/p/{slug}/api/v1/orders/{code}/payment?t={token}").raise_for_status()
    return f"/p/{slug}/orders/{code}?t={token}"


def measure(settings: Settings, requests: int) -> list[tuple[str, str]]:
    slug = f"pages-{secrets.token_hex(3)}"

    async def prepare(db: Database) -> None:
        await upgrade_control_plane(db)
        await provision_tenant(db, slug, "Bench Park")
        await seed_demo_catalog(db, slug)

    async def run_prepare() -> None:
        db = Database(settings)
        try:
            await prepare(db)
        finally:
            await db.dispose()

    asyncio.run(run_prepare())
    rows: list[tuple[str, int, float, float]] = []
    # The park is reached by path (/p/<slug>/) on the base domain, as in development.
    warnings.filterwarnings("ignore", message="The base_url", category=UserWarning)
    with TestClient(create_app(settings), base_url=f"http://{settings.base_domain}") as client:
        pages = [f"/p/{slug}/"] + [f"/p/{slug}/buy/{code}" for code in PRODUCTS]
        pages.append(paid_ticket_page(client, slug))
        baseline = percentile(timings(client, "/healthz", requests), 0.95)
        for path in pages:
            times = timings(client, path, requests)
            rows.append(
                (path, page_weight(client, path), statistics.median(times), percentile(times, 0.95))
            )
    for path, weight, p50, p95 in rows:
        shown = path.split("?")[0]
        say(f"{shown:<48} {weight / 1024:7.1f} KB  p50 {p50:6.1f} ms  p95 {p95:6.1f} ms")
    page_kb = max(weight for _, weight, _, _ in rows) / 1024
    render_p95 = max(p95 for _, _, _, p95 in rows)
    say(f"baseline /healthz p95 {baseline:.2f} ms")
    for goal, value, limit in (
        ("page weight", page_kb, GOAL_KB),
        ("render p95", render_p95, GOAL_P95_MS),
    ):
        verdict = "met" if value <= limit else "MISSED"
        say(f"goal {goal} <= {limit}: {value:.1f} ({verdict})")
    return [
        ("pages", str(len(rows))),
        ("requests", str(requests)),
        ("baseline_p95_ms", f"{baseline:.2f}"),
        ("vs_baseline", f"{render_p95 / baseline:.1f}"),
        ("page_kb", f"{page_kb:.1f}"),
        ("render_p95_ms", f"{render_p95:.1f}"),
    ]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="timed requests per page")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    data_dir = Path(tempfile.mkdtemp(prefix="vistapass-bench-pages-"))
    services: Services | None = None
    suffix = secrets.token_hex(3)
    database = f"vistapass_pages_{suffix}"
    role_prefix = f"bp{suffix}"
    try:
        services = ensure_services(
            Settings(
                data_dir=data_dir,
                database_url=os.environ.get("VISTAPASS_BENCH_DATABASE_URL", ""),
                redis_url=os.environ.get("VISTAPASS_BENCH_REDIS_URL", ""),
            )
        )
        server = services.settings.database_url
        with psycopg.connect(admin_url(server), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
        settings = services.settings.model_copy(
            update={
                "database_url": make_url(server).set(database=database).render_as_string(False),
                "db_role_prefix": role_prefix,
                "redis_namespace": f"bench-pages-{suffix}",
                "env": Environment.TEST,
                "log_level": "WARNING",
                "demo_park": False,
            }
        )
        figures = measure(settings, args.requests)
    finally:
        if services is not None:
            cleanup(services, database, role_prefix, suffix)
            services.stop_started()
        shutil.rmtree(data_dir, ignore_errors=True)
    say(" ".join(f"{key}={value}" for key, value in figures))
    return 0


def cleanup(services: Services, database: str, role_prefix: str, suffix: str) -> None:
    server = services.settings.database_url
    with psycopg.connect(admin_url(server), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database))
        )
        roles = conn.execute(
            "SELECT rolname FROM pg_roles WHERE rolname LIKE %s", (role_prefix + "\\_%",)
        ).fetchall()
        for (role,) in roles:
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))
    redis = Redis.from_url(services.settings.redis_url)
    try:
        for key in redis.scan_iter(match=f"bench-pages-{suffix}*"):
            redis.delete(key)
    finally:
        redis.close()


if __name__ == "__main__":
    sys.exit(main())
