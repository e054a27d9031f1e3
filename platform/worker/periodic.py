"""Jobs that run on a clock: holds that ran out, face photos past retention, old audit.

A domain declares one with `every(seconds, actor_name)` beside its actor. Every
worker process runs a small trigger thread (`PeriodicJobs`, a dramatiq
middleware) that wakes every `TICK_SECONDS` and, for each job, tries to take a
Redis key named after it that lives for the job's interval (`SET NX EX`). Whoever
takes the key sends one ordinary message, so however many workers run, on however
many machines, a job is sent once per interval, and a worker that restarts does
not send it again early. The job itself is an ordinary actor: retried on failure,
and written to be harmless when it runs twice.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import dramatiq
import redis

from vistapass.platform.logging import get_logger
from vistapass.platform.worker.enqueue import send_now

log = get_logger(__name__)

TICK_SECONDS = 15.0


@dataclass(frozen=True, slots=True)
class PeriodicJob:
    actor_name: str
    seconds: int


_jobs: dict[str, PeriodicJob] = {}


def every(seconds: int, actor_name: str) -> PeriodicJob:
    """Send `actor_name` (no arguments) once every `seconds`, from whichever worker."""
    if seconds < 1:
        raise ValueError(f"a periodic job needs an interval of at least 1 s, got {seconds}")
    job = PeriodicJob(actor_name, seconds)
    _jobs[actor_name] = job
    return job


def periodic_jobs() -> list[PeriodicJob]:
    return sorted(_jobs.values(), key=lambda job: job.actor_name)


def due_key(namespace: str, job: PeriodicJob) -> str:
    return f"{namespace}:periodic:{job.actor_name}"


def send_due(
    client: redis.Redis, namespace: str, jobs: list[PeriodicJob] | None = None
) -> list[str]:
    """Send each job whose interval has passed, once across all workers; the names sent."""
    sent: list[str] = []
    for job in periodic_jobs() if jobs is None else jobs:
        key = due_key(namespace, job)
        if client.set(key, "sent", nx=True, ex=job.seconds):
            try:
                send_now(job.actor_name)
            except Exception:
                client.delete(key)  # not sent: the next tick, here or elsewhere, tries again
                raise
            sent.append(job.actor_name)
    return sent


class PeriodicJobs(dramatiq.Middleware):
    """Starts the trigger thread when a worker boots and stops it at shutdown."""

    def __init__(
        self, redis_url: str, namespace: str, jobs: list[PeriodicJob] | None = None
    ) -> None:
        self.redis_url = redis_url
        self.namespace = namespace
        self.jobs = jobs  # None: every job declared with `every`
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def after_worker_boot(self, broker: dramatiq.Broker, worker: Any) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="periodic-jobs", daemon=True)
        self._thread.start()

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=TICK_SECONDS)

    def _run(self) -> None:
        client = redis.Redis.from_url(self.redis_url)
        try:
            while not self._stop.is_set():
                try:
                    sent = send_due(client, self.namespace, self.jobs)
                    if sent:
                        log.info("periodic jobs sent", jobs=sent)
                except Exception as exc:
                    # Redis (and so the broker) away: the next tick tries again.
                    log.warning("periodic jobs not sent", error=repr(exc))
                self._stop.wait(TICK_SECONDS)
        finally:
            client.close()
