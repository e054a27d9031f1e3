"""Jobs are buffered on the session and sent only after its transaction commits.

A job is addressed by actor name, so the sender never imports the actor, and
its payload holds only ids and primitives plus the park it belongs to.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import dramatiq
from sqlalchemy.ext.asyncio import AsyncSession

JOBS_KEY = "vistapass.jobs"
DEFAULT_QUEUE = "default"


@dataclass(frozen=True, slots=True)
class PendingJob:
    actor_name: str
    tenant: str | None
    kwargs: dict[str, Any] = field(default_factory=dict)


def enqueue_job(session: AsyncSession, actor_name: str, **kwargs: Any) -> None:
    """Send `actor_name(tenant=..., **kwargs)` once this session's transaction commits."""
    tenant = session.info.get("vistapass.tenant")
    job = PendingJob(actor_name, tenant.slug if tenant else None, kwargs)
    session.info.setdefault(JOBS_KEY, []).append(job)


def enqueue_for_tenant(session: AsyncSession, actor_name: str, tenant: str, **kwargs: Any) -> None:
    """Like `enqueue_job`, from a session not bound to the park (e.g. a webhook's)."""
    session.info.setdefault(JOBS_KEY, []).append(PendingJob(actor_name, tenant, kwargs))


def pending_jobs(session: AsyncSession) -> list[PendingJob]:
    return list(session.info.get(JOBS_KEY, []))


def discard_jobs(session: AsyncSession) -> None:
    session.info.pop(JOBS_KEY, None)


def _send(jobs: list[PendingJob]) -> None:
    broker = dramatiq.get_broker()
    for job in jobs:
        try:
            queue_name = broker.get_actor(job.actor_name).queue_name
        except dramatiq.errors.ActorNotFound:
            queue_name = DEFAULT_QUEUE
        kwargs = {**job.kwargs, "tenant": job.tenant} if job.tenant else dict(job.kwargs)
        broker.enqueue(
            dramatiq.Message(
                queue_name=queue_name,
                actor_name=job.actor_name,
                args=(),
                kwargs=kwargs,
                options={},
            )
        )


def send_now(actor_name: str, **kwargs: Any) -> None:
    """Send a job at once, outside any transaction (a clock's job, not a change's)."""
    _send([PendingJob(actor_name, None, kwargs)])


async def flush_jobs(session: AsyncSession) -> None:
    jobs = session.info.pop(JOBS_KEY, [])
    if jobs:
        # The Redis broker is synchronous: keep it off the event loop.
        await asyncio.to_thread(_send, jobs)
