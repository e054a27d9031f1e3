"""What a gate benchmark run measures, its goals, and the lines it prints.

Here rather than in `bench/gate.py` because that file runs as `__main__`: a
phase module importing it would load it a second time.

Every speed has a baseline taken in the same run on the same machine, and is
also given as a ratio to it (the house rule), so that runs on different
machines compare: throughput ratios are measured ÷ baseline (the share of the
baseline's rate kept), latency ratios are measured ÷ baseline (how many
baseline round trips a scan costs).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

# isort: split
# Modules beside this one: bench/ is sys.path[0] when bench/gate.py runs.
from sale_figures import percentile, say

# The goals of issue 7.
GOAL_DECISION_P99_MS = 5.0
GOAL_SCANS_PER_S = 5000.0
GOAL_OPEN_P95_MS = 50.0
GOAL_REDEEM_PER_S = 400.0
GOAL_REDEEM_P99_MS = 50.0


def ms(values: Sequence[float], share: float) -> float:
    """A percentile of latencies in seconds, in milliseconds."""
    return percentile(values, share) * 1000


@dataclass
class Timed:
    """One measured series: latencies in seconds, the wall time, the answers seen."""

    name: str
    latencies: list[float] = field(default_factory=list)
    wall_s: float = 0.0
    answers: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)

    @property
    def count(self) -> int:
        return len(self.latencies)

    @property
    def per_s(self) -> float:
        return self.count / self.wall_s if self.wall_s else 0.0

    def p(self, share: float) -> float:
        return ms(self.latencies, share)

    def line(self) -> str:
        answers = ", ".join(f"{code} x{n}" for code, n in self.answers.most_common(6))
        errors = sum(self.errors.values())
        shown = f"; answers {answers}" if answers else ""
        failed = f"; {errors} errors ({self.errors.most_common(3)})" if errors else ""
        return (
            f"{self.name:<28} n={self.count:<6} {self.per_s:9.1f}/s  p50 {self.p(0.5):7.2f}  "
            f"p95 {self.p(0.95):7.2f}  p99 {self.p(0.99):7.2f} ms{shown}{failed}"
        )


@dataclass
class Figures:
    decision: Timed = field(default_factory=lambda: Timed("edge decide_now, unloaded"))
    loaded: Timed = field(default_factory=lambda: Timed("edge decide, loaded"))
    paced: Timed = field(default_factory=lambda: Timed("edge decide, paced"))
    verify: Timed = field(default_factory=lambda: Timed("baseline: Ed25519 verify"))
    mqtt: Timed = field(default_factory=lambda: Timed("mqtt scan -> command"))
    mqtt_echo: Timed = field(default_factory=lambda: Timed("baseline: mqtt echo"))
    http: Timed = field(default_factory=lambda: Timed("isapi event -> door PUT"))
    http_health: Timed = field(default_factory=lambda: Timed("baseline: edge /healthz"))
    redeem: Timed = field(default_factory=lambda: Timed("hub POST /gate/v1/redeem"))
    redeem_health: Timed = field(default_factory=lambda: Timed("baseline: hub /healthz"))
    redeem_paced: Timed = field(default_factory=lambda: Timed("hub redeem at 400/s"))
    broker: str = ""
    notes: list[str] = field(default_factory=list)
    # Checks that failed (a first entry refused, a redeem refused): the run exits 1.
    problems: list[str] = field(default_factory=list)

    def series(self) -> list[Timed]:
        return [
            self.decision,
            self.loaded,
            self.paced,
            self.verify,
            self.mqtt,
            self.mqtt_echo,
            self.http,
            self.http_health,
            self.redeem,
            self.redeem_health,
            self.redeem_paced,
        ]

    @staticmethod
    def _ratio(value: float, baseline: float) -> float:
        return value / baseline if baseline else 0.0

    @property
    def decision_ratio(self) -> float:
        """Loaded scans/s ÷ verifies/s on one thread."""
        return self._ratio(self.loaded.per_s, self.verify.per_s)

    @property
    def mqtt_ratio(self) -> float:
        return self._ratio(self.mqtt.p(0.95), self.mqtt_echo.p(0.95))

    @property
    def http_ratio(self) -> float:
        return self._ratio(self.http.p(0.95), self.http_health.p(0.95))

    @property
    def redeem_ratio(self) -> float:
        return self._ratio(self.redeem.per_s, self.redeem_health.per_s)

    def report(self) -> None:
        say("")
        for timed in self.series():
            say(timed.line())
        say(
            f"ratios: decision {self.decision_ratio:.3f} (loaded scans/s / verifies/s), "
            f"mqtt {self.mqtt_ratio:.2f} and http {self.http_ratio:.2f} (p95 / baseline p95), "
            f"redeem {self.redeem_ratio:.3f} (redeems/s / healthz/s)"
        )
        for note in self.notes:
            say(f"note: {note}")
        for problem in self.problems:
            say(f"PROBLEM: {problem}")
        goals = (
            # One scan's decision; under 32 closed-loop lanes the p99 is mostly the
            # queue (lanes / throughput), shown in the loaded line above.
            ("edge decision p99 <= 5 ms", self.decision.p(0.99) <= GOAL_DECISION_P99_MS,
             f"{self.decision.p(0.99):.2f} ms"),
            ("edge >= 5,000 scans/s per process", self.loaded.per_s >= GOAL_SCANS_PER_S,
             f"{self.loaded.per_s:.0f}/s"),
            ("mqtt scan-to-open p95 <= 50 ms", self.mqtt.p(0.95) <= GOAL_OPEN_P95_MS,
             f"{self.mqtt.p(0.95):.2f} ms"),
            ("http scan-to-open p95 <= 50 ms", self.http.p(0.95) <= GOAL_OPEN_P95_MS,
             f"{self.http.p(0.95):.2f} ms"),
            ("online redeem >= 400 scans/s", self.redeem.per_s >= GOAL_REDEEM_PER_S,
             f"{self.redeem.per_s:.0f}/s"),
            ("online redeem p99 <= 50 ms at 400/s",
             self.redeem_paced.p(0.99) <= GOAL_REDEEM_P99_MS,
             f"{self.redeem_paced.p(0.99):.2f} ms"),
        )  # fmt: skip
        for goal, met, value in goals:
            say(f"goal: {goal}: {value}, {'met' if met else 'MISSED'}")

    def final_line(self) -> str:
        pairs = (
            ("decision_p99_ms", f"{self.decision.p(0.99):.3f}"),
            ("scans_per_s", f"{self.loaded.per_s:.0f}"),
            ("mqtt_open_p95_ms", f"{self.mqtt.p(0.95):.2f}"),
            ("http_open_p95_ms", f"{self.http.p(0.95):.2f}"),
            ("redeem_per_s", f"{self.redeem.per_s:.1f}"),
            ("redeem_p99_ms", f"{self.redeem_paced.p(0.99):.2f}"),
            ("decision_ratio", f"{self.decision_ratio:.3f}"),
            ("mqtt_ratio", f"{self.mqtt_ratio:.2f}"),
            ("http_ratio", f"{self.http_ratio:.2f}"),
            ("redeem_ratio", f"{self.redeem_ratio:.3f}"),
        )
        return " ".join(f"{key}={value}" for key, value in pairs)
