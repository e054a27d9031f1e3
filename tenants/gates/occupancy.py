"""Live occupancy and dwell of one park's day, read from accepted scans in `admissions`.

Every accepted scan is there, whichever way it came (check-in page, online
redeem, an edge's upload), so the figures need no counters of their own to
drift: they are one day of rows, read with the `ix_admissions_day` index.
Scans are ordered by their time at the gate (`at`), not by arrival: an edge
that was offline uploads late, and its scans still fall in their place.

- inside now: tickets whose last accepted scan today is an entry;
- entries and exits per hour of the park's clock;
- dwell: each accepted entry paired with the ticket's next accepted scan when
  that is an exit; p50/p90 and a histogram.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from vistapass.tenants.park.service import get_profile

# (label, upper bound in minutes); the last bucket has none.
BUCKETS: tuple[tuple[str, float | None], ...] = (
    ("<30 min", 30),
    ("30-60 min", 60),
    ("1-2 h", 120),
    ("2-4 h", 240),
    (">4 h", None),
)

_INSIDE = text(
    """
    SELECT count(*) FROM (
        SELECT DISTINCT ON (ticket_id) direction FROM admissions
         WHERE ok AND day = :day AND ticket_id IS NOT NULL
         ORDER BY ticket_id, at DESC, id DESC
    ) last WHERE direction = 'entry'
    """
)
_HOURS = text(
    """
    SELECT extract(hour FROM at AT TIME ZONE :tz)::int AS hour, direction, count(*) AS n
      FROM admissions WHERE ok AND day = :day
     GROUP BY 1, 2
    """
)
_DWELL = text(
    """
    WITH scans AS (
        SELECT direction, at,
               lead(direction) OVER w AS next_direction, lead(at) OVER w AS next_at
          FROM admissions
         WHERE ok AND day = :day AND ticket_id IS NOT NULL
        WINDOW w AS (PARTITION BY ticket_id ORDER BY at, id)
    )
    SELECT extract(epoch FROM next_at - at) / 60.0 AS minutes FROM scans
     WHERE direction = 'entry' AND next_direction = 'exit'
    """
)


def percentile(sorted_values: list[float], fraction: float) -> float | None:
    """Linear interpolation between closest ranks (PostgreSQL's percentile_cont)."""
    if not sorted_values:
        return None
    position = (len(sorted_values) - 1) * fraction
    low = int(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


def histogram(minutes: list[float]) -> list[dict[str, Any]]:
    counts = [0] * len(BUCKETS)
    for value in minutes:
        for index, (_label, upper) in enumerate(BUCKETS):
            if upper is None or value < upper:
                counts[index] += 1
                break
    return [{"label": label, "count": n} for (label, _), n in zip(BUCKETS, counts, strict=True)]


async def figures(session: AsyncSession, slug: str, now: datetime) -> dict[str, Any]:
    """The park's figures for its current day (in its time zone)."""
    profile = await get_profile(session)
    local = now.astimezone(ZoneInfo(profile.time_zone))
    return await figures_on(session, slug, local.date(), profile.time_zone, now)


async def figures_on(
    session: AsyncSession, slug: str, day: date, time_zone: str, now: datetime
) -> dict[str, Any]:
    inside = (await session.execute(_INSIDE, {"day": day})).scalar_one()
    hours = [{"hour": hour, "entries": 0, "exits": 0} for hour in range(24)]
    for row in await session.execute(_HOURS, {"day": day, "tz": time_zone}):
        # A late upload can carry a scan whose local hour is on the edge of the day.
        if 0 <= row.hour < 24:
            hours[row.hour]["entries" if row.direction == "entry" else "exits"] += row.n
    minutes = sorted(float(m) for m in (await session.execute(_DWELL, {"day": day})).scalars())
    p50, p90 = percentile(minutes, 0.5), percentile(minutes, 0.9)
    return {
        "park": slug,
        "day": day.isoformat(),
        "time_zone": time_zone,
        "inside": inside,
        "entries_today": sum(h["entries"] for h in hours),
        "exits_today": sum(h["exits"] for h in hours),
        "hours": hours,
        "dwell": {
            "visits": len(minutes),
            "p50_min": round(p50, 1) if p50 is not None else None,
            "p90_min": round(p90, 1) if p90 is not None else None,
            "buckets": histogram(minutes),
        },
        "updated_at": now.isoformat(),
    }
