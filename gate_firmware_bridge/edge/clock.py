"""The edge's notion of "now": the machine's clock, never running backwards.

A park's edge box may lose its time source (no NTP while the uplink is down,
a dead RTC battery after a power cut) and come back with a clock that jumped
backwards. Deciding with it would reopen a re-entry cooldown that has passed,
let a ticket whose day has passed be "inside" again, and upload events out of
order. So the time handed to the decider never goes below the latest time it
has already handed out (seeded at start from the latest logged event); a
backward jump is recorded once, with its size, instead of being obeyed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from vistapass.platform.logging import get_logger

log = get_logger(__name__)

Source = Callable[[], datetime]

# Backward steps smaller than this are NTP slewing or a VM's jitter, not a jump worth
# reporting; "now" still never goes backwards.
JUMP_TOLERANCE = timedelta(seconds=1)


def system_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class ClockJump:
    at: datetime  # the floor the clock was held at
    seen: datetime  # what the machine's clock said
    back_by: timedelta


class EdgeClock:
    """Monotonic wall time for decisions; `jumps` lists the backward jumps it refused."""

    def __init__(self, source: Source = system_now) -> None:
        self._source = source
        self._floor: datetime | None = None
        self._behind = False
        self._lock = threading.Lock()
        self.jumps: list[ClockJump] = []

    def observe(self, moment: datetime) -> None:
        """Never hand out a time before `moment` (the latest event already logged)."""
        with self._lock:
            if self._floor is None or moment > self._floor:
                self._floor = moment

    def now(self) -> datetime:
        seen = self._source()
        with self._lock:
            floor = self._floor
            if floor is None or seen >= floor:
                self._floor = seen
                self._behind = False
                return seen
            if not self._behind and floor - seen > JUMP_TOLERANCE:
                # Recorded once per jump: while the clock catches up, every scan would
                # otherwise log the same jump again.
                self._behind = True
                jump = ClockJump(at=floor, seen=seen, back_by=floor - seen)
                self.jumps.append(jump)
                log.warning(
                    "gate_edge.clock_jumped_back",
                    held_at=floor.isoformat(),
                    clock=seen.isoformat(),
                    back_by_s=jump.back_by.total_seconds(),
                )
            return floor
