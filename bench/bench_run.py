"""How a benchmark run measures and then removes all it made, also on failure.

The measuring step registers a cleanup for each thing it starts or creates
(servers, databases, roles, keys); they run last first whatever happened, and a
SIGTERM stops the run the way Ctrl-C does, so the cleanups run then too.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from types import FrameType

# isort: split
# Modules beside this one: bench/ is sys.path[0] when a bench runs.
from sale_figures import BenchFailure

Cleanup = tuple[str, Callable[[], object]]


def positive_int(value: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        number = int(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a whole number: {value!r}") from exc
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {value!r}")
    return number


def _terminate(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def stop_on_sigterm() -> None:
    signal.signal(signal.SIGTERM, _terminate)


def attempt(what: str, step: Callable[[], object], problems: list[str]) -> None:
    try:
        step()
    except Exception as exc:
        problems.append(f"{what}: {type(exc).__name__}: {exc}")


def measured(name: str, data_dir: Path, measure: Callable[[list[Cleanup]], object]) -> bool:
    """Run `measure`, then its cleanups and the data folder's removal; print any
    problem under `name`. True when the measurement ran and everything was removed."""
    cleanups: list[Cleanup] = []
    problems: list[str] = []
    done = False
    try:
        measure(cleanups)
        done = True
    except BenchFailure as exc:
        problems.append(str(exc))
    except (Exception, KeyboardInterrupt) as exc:
        traceback.print_exc(file=sys.stderr)
        problems.append(f"{type(exc).__name__}: {exc}")
    finally:
        for what, step in reversed(cleanups):
            attempt(what, step, problems)
        attempt("removing the data folder", lambda: shutil.rmtree(data_dir), problems)
    for problem in problems:
        print(f"{name} failed: {problem}", file=sys.stderr)
    return done and not problems
