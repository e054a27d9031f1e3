"""CPU accounting for the sale benchmark: cores used per process tree in a phase.

It tells whether the server, PostgreSQL, Redis or the client was the limit, and
whether something else on the machine (`other`, `steal`) made a run unreliable.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass

import psutil


def process_cpu_s(process: psutil.Process) -> float:
    """CPU seconds of a process and of the children it reaped."""
    times = process.cpu_times()
    return times.user + times.system + times.children_user + times.children_system


def tree_cpu_s(pid: int) -> dict[int, float]:
    """CPU seconds per process of a tree: the process and its live descendants.

    A reaped child's time is in its parent's `children_*` and it is no longer in
    the tree, so nothing is counted twice (PostgreSQL reaps its backends).
    """
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return {}
    seconds = {}
    for process in processes:
        with contextlib.suppress(psutil.Error):
            seconds[process.pid] = process_cpu_s(process)
    return seconds


@dataclass
class CpuSample:
    trees: dict[str, dict[int, float]]
    client: float
    machine: float
    steal: float


class CpuMeter:
    """CPU seconds per named process tree, and what the rest of the machine used.

    This process is counted without its children, since the app server it starts is
    one of them and is counted on its own. `other` is every busy CPU second of the
    machine not in a named tree: a test suite running alongside shows up there, and
    makes the figures of that run unreliable, as does `steal` on a virtual machine.
    """

    def __init__(self, trees: Mapping[str, int]) -> None:
        self.trees = dict(trees)

    def sample(self) -> CpuSample:
        own = psutil.Process().cpu_times()
        machine = psutil.cpu_times()
        # Busy time only: idle, iowait and steal are not work done on this machine.
        busy = ("user", "nice", "system", "irq", "softirq")
        return CpuSample(
            trees={name: tree_cpu_s(pid) for name, pid in self.trees.items()},
            client=own.user + own.system,
            machine=sum(getattr(machine, name, 0.0) for name in busy),
            # Time a virtual machine's host gave to someone else: cores this run lacked.
            steal=getattr(machine, "steal", 0.0),
        )

    @staticmethod
    def cores(before: CpuSample, after: CpuSample, wall_s: float) -> dict[str, float]:
        """Cores used per tree, by the client, the rest of the machine, and stolen."""
        if wall_s <= 0:
            return {}
        used = {"client": (after.client - before.client) / wall_s}
        for name, seconds in after.trees.items():
            earlier = before.trees.get(name, {})
            # A process that started during the phase counts from zero.
            spent = sum(s - earlier.get(pid, 0.0) for pid, s in seconds.items())
            used[name] = spent / wall_s
        used["other"] = max(0.0, (after.machine - before.machine) / wall_s - sum(used.values()))
        used["steal"] = (after.steal - before.steal) / wall_s
        return used

    @staticmethod
    def processes(before: CpuSample, after: CpuSample, wall_s: float, tree: str) -> list[float]:
        """Cores per process of one tree, busiest first: how the work was spread."""
        if wall_s <= 0:
            return []
        earlier = before.trees.get(tree, {})
        spent = [s - earlier.get(pid, 0.0) for pid, s in after.trees.get(tree, {}).items()]
        return sorted((seconds / wall_s for seconds in spent), reverse=True)
