"""Liveness and readiness probes."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Controller, Response, get
from litestar.datastructures import State
from redis.asyncio import Redis
from sqlalchemy import text

from vistapass.platform.authz.permissions import public
from vistapass.platform.db import Database
from vistapass.platform.errors import error_body

CHECK_TIMEOUT = 2.0


async def _check_postgres(db: Database) -> None:
    async with db.engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


async def _check_redis(redis: Redis) -> None:
    await redis.ping()


async def _run(check: Any) -> str | None:
    try:
        await asyncio.wait_for(check, CHECK_TIMEOUT)
    except TimeoutError:
        return f"no answer within {CHECK_TIMEOUT:.0f}s"
    except Exception as exc:  # any failure means "not ready"; the reason is reported
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".strip()
    return None


class HealthController(Controller):
    include_in_schema = True
    tags = ["platform"]

    @get("/healthz", summary="The process is alive", opt=public())
    async def healthz(self) -> dict[str, str]:
        return {"status": "ok"}

    @get("/readyz", summary="PostgreSQL and Redis are reachable", opt=public())
    async def readyz(self, state: State) -> Response[dict[str, Any]]:
        postgres, redis = await asyncio.gather(
            _run(_check_postgres(state.db)), _run(_check_redis(state.redis))
        )
        failing = {name: why for name, why in (("postgres", postgres), ("redis", redis)) if why}
        if failing:
            return Response(
                error_body("not_ready", f"Not ready: {', '.join(failing)} unreachable.", failing),
                status_code=503,
                headers={"Retry-After": "5"},
            )
        return Response({"status": "ready", "checks": {"postgres": "ok", "redis": "ok"}})
