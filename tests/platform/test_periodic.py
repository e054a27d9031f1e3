"""Jobs on a clock: sent once per interval across workers, and run by a booted worker."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import dramatiq
import pytest
import redis

from tests.platform.test_jobs import broker, queued
from vistapass.platform.settings import Settings
from vistapass.platform.worker.broker import configure_broker
from vistapass.platform.worker.periodic import PeriodicJob, PeriodicJobs, due_key, send_due
from vistapass.platform.worker.registry import register, unregister

__all__ = ["broker"]  # the fixture, shared with test_jobs
HOURLY = PeriodicJob("tests.hourly", 3600)
DAILY = PeriodicJob("tests.daily", 86400)


@pytest.fixture
def client(migrated: Settings) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(migrated.redis_url)
    yield client
    client.delete(*(due_key(migrated.redis_namespace, job) for job in (HOURLY, DAILY)))
    client.close()


def test_each_job_is_sent_once_per_interval_however_many_workers_ask(
    broker, client, migrated
) -> None:
    namespace = migrated.redis_namespace
    other_worker = redis.Redis.from_url(migrated.redis_url)
    try:
        assert send_due(client, namespace, [HOURLY, DAILY]) == ["tests.hourly", "tests.daily"]
        assert send_due(other_worker, namespace, [HOURLY, DAILY]) == []
        assert send_due(client, namespace, [HOURLY, DAILY]) == []
    finally:
        other_worker.close()
    assert sorted(m["actor_name"] for m in queued(broker)) == ["tests.daily", "tests.hourly"]
    assert all(m["kwargs"] == {} for m in queued(broker))
    # The key lives as long as the interval: that is what spaces the sends.
    assert 3590 <= client.ttl(due_key(namespace, HOURLY)) <= 3600
    assert 86390 <= client.ttl(due_key(namespace, DAILY)) <= 86400

    client.delete(due_key(namespace, HOURLY))  # as if the hour had passed
    assert send_due(client, namespace, [HOURLY, DAILY]) == ["tests.hourly"]
    assert len(queued(broker)) == 3


def test_a_job_the_broker_did_not_take_is_sent_on_the_next_tick(broker, client, migrated) -> None:
    namespace = migrated.redis_namespace
    unreachable = migrated.model_copy(update={"redis_url": "redis://127.0.0.1:9/0"})
    dead = configure_broker(unreachable)
    try:
        with pytest.raises(redis.ConnectionError):
            send_due(client, namespace, [HOURLY])
        # Not sent, so not marked sent: no worker waits an hour for nothing.
        assert client.exists(due_key(namespace, HOURLY)) == 0
    finally:
        dead.close()
    live = configure_broker(migrated)
    try:
        assert send_due(client, namespace, [HOURLY]) == ["tests.hourly"]
        assert [m["actor_name"] for m in queued(live)] == ["tests.hourly"]
    finally:
        live.close()


def test_a_booted_worker_sends_its_periodic_jobs_and_runs_them(broker, client, migrated) -> None:
    ran: list[float] = []
    done = threading.Event()

    def job() -> None:
        ran.append(time.monotonic())
        done.set()

    # A queue of its own: a worker of another test's server, on the same Redis
    # namespace, must not take (and drop, not knowing the actor) this message.
    register(HOURLY.actor_name, job, queue_name="tests-periodic")
    broker.add_middleware(PeriodicJobs(migrated.redis_url, migrated.redis_namespace, [HOURLY]))
    worker = dramatiq.Worker(broker, worker_threads=1)
    worker.start()
    try:
        done.wait(timeout=20)
    finally:
        worker.stop()
        unregister(HOURLY.actor_name)
    waiting = client.llen(f"{broker.namespace}:tests-periodic")
    assert len(ran) == 1, f"ran {len(ran)} times; {waiting} message(s) still queued"
    assert client.exists(due_key(migrated.redis_namespace, HOURLY)) == 1
