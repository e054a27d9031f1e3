"""Jobs are sent only after commit, carry their park, and run idempotently."""

from __future__ import annotations

import json
from collections.abc import Iterator

import dramatiq
import pytest
import redis
from dramatiq.brokers.redis import RedisBroker
from sqlalchemy import func, select, update

from vistapass.platform.db import Database
from vistapass.platform.settings import Settings
from vistapass.platform.tenancy.binding import tenant_session
from vistapass.platform.worker.actors import tenant_actor, use_database
from vistapass.platform.worker.broker import configure_broker
from vistapass.platform.worker.enqueue import enqueue_job, pending_jobs
from vistapass.platform.worker.registry import unregister
from vistapass.tenants.models import JobRun, ParkProfile

ACTOR = "tests.rename_park"


@pytest.fixture
def broker(migrated: Settings) -> Iterator[RedisBroker]:
    broker = configure_broker(migrated)
    clear(broker)
    yield broker
    clear(broker)
    broker.close()


def clear(broker: RedisBroker) -> None:
    for key in broker.client.scan_iter(match=f"{broker.namespace}:*"):
        broker.client.delete(key)


def queued(broker: RedisBroker) -> list[dict]:
    client: redis.Redis = broker.client
    queue_key = f"{broker.namespace}:default"
    message_ids = client.lrange(queue_key, 0, -1)
    messages = client.hmget(f"{queue_key}.msgs", message_ids) if message_ids else []
    return [json.loads(m) for m in messages]


class Boom(Exception):
    pass


def test_jobs_are_dropped_when_the_transaction_rolls_back(db_run, broker) -> None:
    async def fail_after_enqueue(db: Database) -> None:
        async with tenant_session(db, "alpha") as session:
            enqueue_job(session, ACTOR, name="never")
            assert len(pending_jobs(session)) == 1
            raise Boom

    with pytest.raises(Boom):
        db_run(fail_after_enqueue)
    assert queued(broker) == []


def test_jobs_are_sent_after_commit_with_their_park(db_run, broker) -> None:
    async def commit(db: Database) -> None:
        async with tenant_session(db, "beta") as session:
            enqueue_job(session, ACTOR, name="Beta Gardens")
            assert queued(broker) == []  # not before the commit

    db_run(commit)
    [message] = queued(broker)
    assert message["actor_name"] == ACTOR
    assert message["kwargs"] == {"name": "Beta Gardens", "tenant": "beta"}


def test_a_failed_commit_sends_nothing(db_run, broker, admin_conn) -> None:
    async def conflicting(db: Database) -> None:
        async with tenant_session(db, "alpha") as session:
            enqueue_job(session, ACTOR, name="x")
            # A constraint violation surfaces at flush/commit time.
            await session.execute(update(ParkProfile).values(id=2))

    with pytest.raises(Exception, match="single_row"):
        db_run(conflicting)
    assert queued(broker) == []


def test_a_tenant_actor_runs_bound_to_its_park_and_only_once(db_run, broker, migrated) -> None:
    renamed: list[str] = []

    @tenant_actor(ACTOR)
    async def rename_park(session, name: str) -> None:
        await session.execute(update(ParkProfile).values(display_name=name))
        renamed.append(name)

    async def commit(db: Database) -> None:
        async with tenant_session(db, "beta") as session:
            enqueue_job(session, ACTOR, name="Beta Gardens")

    db_run(commit)
    [payload] = queued(broker)
    # Redeliver the same message: the second run must change nothing.
    fields = ("queue_name", "actor_name", "args", "kwargs", "options", "message_id")
    broker.enqueue(
        dramatiq.Message(
            **{k: payload[k] for k in fields}, message_timestamp=payload["message_timestamp"]
        )
    )
    worker = dramatiq.Worker(broker, worker_threads=1)
    # The engine is made here but first connects inside the worker's own event loop.
    use_database(Database(migrated))
    worker.start()
    try:
        broker.join("default", timeout=20_000)
        worker.join()
    finally:
        worker.stop()
        use_database(None)
        unregister(ACTOR)

    assert renamed == ["Beta Gardens"]

    async def state(db: Database) -> tuple[str | None, int, str | None]:
        async with tenant_session(db, "beta") as session:
            name = await session.scalar(select(ParkProfile.display_name))
            runs = await session.scalar(select(func.count()).select_from(JobRun))
            await session.execute(update(ParkProfile).values(display_name="Beta Park"))
        async with tenant_session(db, "alpha") as session:
            other = await session.scalar(select(ParkProfile.display_name))
        return name, runs or 0, other

    assert db_run(state) == ("Beta Gardens", 1, "Alpha Park")
