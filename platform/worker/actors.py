"""Tenant-bound, idempotent actors.

`@tenant_actor("orders.expire_holds")` turns `async def fn(session, **kwargs)` into a
dramatiq actor named so, whose messages carry `tenant=<slug>`. Each run opens its
own session bound to that park, records the message id in the park's `job_runs`
table in the same transaction as the work, and skips a message already recorded:
a redelivered job changes nothing the second time.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from dramatiq.middleware import CurrentMessage
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from vistapass.platform.db import Database
from vistapass.platform.logging import get_logger
from vistapass.platform.tenancy.binding import tenant_session
from vistapass.platform.worker.broker import broker_settings
from vistapass.platform.worker.registry import register
from vistapass.tenants.models import JobRun

log = get_logger(__name__)

TenantJob = Callable[..., Awaitable[None]]

_database: Database | None = None


def use_database(db: Database | None) -> None:
    """Set the database actors in this process use (the worker sets it at boot)."""
    global _database
    _database = db


def worker_database() -> Database:
    global _database
    if _database is None:
        _database = Database(broker_settings())
    return _database


def tenant_actor(
    actor_name: str, *, queue_name: str = "default", max_retries: int = 5
) -> Callable[[TenantJob], TenantJob]:
    def decorate(fn: TenantJob) -> TenantJob:
        async def run(tenant: str, **kwargs: Any) -> None:
            message = CurrentMessage.get_current_message()
            message_id = message.message_id if message else None
            async with tenant_session(worker_database(), tenant) as session:
                if message_id and not await _first_run(session, message_id, actor_name):
                    log.info("job already done", actor=actor_name, tenant=tenant, id=message_id)
                    return
                await fn(session, **kwargs)

        run.__name__ = fn.__name__
        run.__doc__ = fn.__doc__
        register(actor_name, run, queue_name=queue_name, max_retries=max_retries)
        return fn

    return decorate


async def _first_run(session: AsyncSession, message_id: str, actor_name: str) -> bool:
    recorded = await session.execute(
        insert(JobRun)
        .values(message_id=message_id, actor_name=actor_name)
        .on_conflict_do_nothing(index_elements=["message_id"])
        .returning(JobRun.message_id)
    )
    return recorded.first() is not None
