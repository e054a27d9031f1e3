"""Actors are declared here by name and attached to whichever broker is configured.

dramatiq binds an actor to the broker current when it is declared; keeping the
definitions here lets `configure_broker` attach all of them to a new broker (a
worker process, or a test that builds its own).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import dramatiq
from dramatiq.broker import Broker


@dataclass(frozen=True, slots=True)
class ActorSpec:
    name: str
    fn: Callable[..., Any]
    queue_name: str
    max_retries: int


_specs: dict[str, ActorSpec] = {}
_current: list[Broker] = []


def _declare(broker: Broker, spec: ActorSpec) -> None:
    dramatiq.Actor(
        spec.fn,
        broker=broker,
        actor_name=spec.name,
        queue_name=spec.queue_name,
        priority=0,
        options={"max_retries": spec.max_retries},
    )


def register(name: str, fn: Callable[..., Any], *, queue_name: str = "default",
             max_retries: int = 5) -> ActorSpec:  # fmt: skip
    spec = ActorSpec(name, fn, queue_name, max_retries)
    _specs[name] = spec
    if _current:
        _declare(_current[0], spec)
    return spec


def unregister(name: str) -> None:
    _specs.pop(name, None)
    if _current:
        _current[0].actors.pop(name, None)


def attach_all(broker: Broker) -> None:
    _current[:] = [broker]
    for spec in _specs.values():
        _declare(broker, spec)
