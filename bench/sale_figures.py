"""What a sale benchmark run sells (`Plan`) and the figures it collects.

With the failure, the output and the percentile that every part of the run shares:
they are here, not in `bench/sale.py`, because that file runs as `__main__` and
a module importing it would load it a second time.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from vistapass.platform.tenancy.naming import schema_for

SPREAD_SLOTS = 100
HOT_PRODUCT, HOT_SLOT = "hot", "10:00"
SPREAD_PRODUCT = "spread"
UNIT = "adult"


class BenchFailure(Exception):
    """The benchmark could not measure what it set out to; the message says why."""


def say(message: str) -> None:
    print(message, flush=True)


def percentile(values: Sequence[float], share: float) -> float:
    """The nearest-rank percentile (`share` in 0..1); 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


# --- figures ---------------------------------------------------------------------------


@dataclass
class RawResult:
    name: str
    transactions: int = 0
    seconds: float = 0.0

    @property
    def tx_s(self) -> float:
        return self.transactions / self.seconds if self.seconds else 0.0


@dataclass
class Phase:
    """One batch of HTTP orders and what came back."""

    name: str
    requests: int
    # Hot: orders/s counts up to the last sale, and the slot may sell out; spread:
    # orders/s over the whole phase, and no slot can fill up, so `sold_out` is wrong.
    until_sold_out: bool = False
    wall_s: float = 0.0
    last_sale_s: float = 0.0
    last_sale_sent_s: float = 0.0
    sold: int = 0
    sold_out: int = 0
    sold_out_answered_s: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    sale_latencies: list[float] = field(default_factory=list)
    cpu_cores: dict[str, float] = field(default_factory=dict)
    server_processes: list[float] = field(default_factory=list)

    def cpu_ms_per_request(self, name: str) -> float | None:
        """Milliseconds of CPU that `name` (server, postgres, ...) spent per request:
        steadier from run to run than requests per second on a machine whose other
        load comes and goes, so the measure to compare two versions of the code by."""
        cores = self.cpu_cores.get(name)
        if cores is None or not self.requests:
            return None
        return cores * self.wall_s * 1000 / self.requests

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    @property
    def early_sold_out(self) -> int:
        """`sold_out` answers that came before a request that was then sold a place.

        No place comes back during a run (holds outlast it, nothing is cancelled), so
        such an answer was false: there was a place left for that buyer.
        """
        return sum(1 for answered in self.sold_out_answered_s if answered < self.last_sale_sent_s)

    @property
    def rejects_s(self) -> float:
        """`sold_out` answers per second once the last place was sold: what a flash
        sale's stampede after the sell-out costs, which the Redis gate is there for."""
        late = sum(1 for answered in self.sold_out_answered_s if answered > self.last_sale_s)
        tail_s = self.wall_s - self.last_sale_s
        return late / tail_s if tail_s > 0 else 0.0

    @property
    def selling_s(self) -> float:
        return self.last_sale_s if self.until_sold_out else self.wall_s

    @property
    def orders_s(self) -> float:
        return self.sold / self.selling_s if self.selling_s else 0.0


@dataclass
class Figures:
    clients: int
    workers: int | None
    raw_hot: RawResult = field(default_factory=lambda: RawResult("hot"))
    raw_spread: RawResult = field(default_factory=lambda: RawResult("spread"))
    pgbench_tx_s: dict[str, float] = field(default_factory=dict)
    hot: Phase | None = None
    spread: Phase | None = None
    warmup_sold: int = 0
    buckets_checked: int = 0
    oversold: int = 0
    check_problems: list[str] = field(default_factory=list)

    @property
    def hot_ratio(self) -> float:
        assert self.hot is not None
        return self.hot.orders_s / self.raw_hot.tx_s if self.raw_hot.tx_s else 0.0

    @property
    def spread_ratio(self) -> float:
        assert self.spread is not None
        return self.spread.orders_s / self.raw_spread.tx_s if self.raw_spread.tx_s else 0.0


@dataclass(frozen=True)
class Plan:
    """What the run sells: the park, its two products and the visit date."""

    run_id: str
    slug: str
    visit_date: date
    hot_capacity: int
    hot_requests: int
    spread_capacity: int
    spread_requests: int

    @property
    def schema(self) -> str:
        return schema_for(self.slug)

    @property
    def spread_slots(self) -> list[str]:
        return [f"s{index:03d}" for index in range(SPREAD_SLOTS)]

    def capacities(self) -> dict[tuple[str, str], int]:
        capacities = {(HOT_PRODUCT, HOT_SLOT): self.hot_capacity}
        capacities.update({(SPREAD_PRODUCT, s): self.spread_capacity for s in self.spread_slots})
        return capacities


def detail_pairs(figures: Figures) -> list[tuple[str, str]]:
    assert figures.hot is not None and figures.spread is not None
    pairs = [
        ("clients", str(figures.clients)),
        ("workers", str(figures.workers) if figures.workers else "external"),
        ("raw_hot_tx_s", f"{figures.raw_hot.tx_s:.1f}"),
        ("raw_spread_tx_s", f"{figures.raw_spread.tx_s:.1f}"),
    ]
    pairs += [(f"pgbench_{name}_tx_s", f"{tx:.1f}") for name, tx in figures.pgbench_tx_s.items()]
    for phase in (figures.hot, figures.spread):
        pairs += [
            (f"{phase.name}_requests", str(phase.requests)),
            (f"{phase.name}_sold", str(phase.sold)),
            (f"{phase.name}_errors", str(phase.error_count)),
            (f"{phase.name}_p50_ms", f"{percentile(phase.latencies, 0.50) * 1000:.1f}"),
            (f"{phase.name}_p95_ms", f"{percentile(phase.latencies, 0.95) * 1000:.1f}"),
            (f"{phase.name}_p99_ms", f"{percentile(phase.latencies, 0.99) * 1000:.1f}"),
        ]
        for name in ("server", "postgres"):
            if (spent := phase.cpu_ms_per_request(name)) is not None:
                pairs.append((f"{phase.name}_{name}_cpu_ms", f"{spent:.3f}"))
    pairs += [
        ("hot_early_sold_out", str(figures.hot.early_sold_out)),
        ("hot_rejects_s", f"{figures.hot.rejects_s:.1f}"),
        ("hot_phase_s", f"{figures.hot.wall_s:.2f}"),
    ]
    return pairs


def final_pairs(figures: Figures) -> list[tuple[str, str]]:
    assert figures.hot is not None and figures.spread is not None
    return [
        ("hot_orders_s", f"{figures.hot.orders_s:.1f}"),
        ("hot_ratio", f"{figures.hot_ratio:.3f}"),
        ("spread_orders_s", f"{figures.spread.orders_s:.1f}"),
        ("spread_ratio", f"{figures.spread_ratio:.3f}"),
        ("oversold", str(figures.oversold)),
    ]
