"""kill -9 while scanning: every answer the edge gave has its event on disk."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.gate.edge.support import ManualClock, Ticket, entitlement, synced_store
from vistapass.gate_firmware_bridge.edge.decider import DEVICE_EVENTS
from vistapass.gate_firmware_bridge.edge.store import EdgeStore

ROOT = Path(__file__).resolve().parents[3]
ANSWERS_BEFORE_KILL = 300


@pytest.mark.slow
def test_sigkill_mid_scanning_loses_no_answered_event(tmp_path: Path) -> None:
    # Valid around the machine's real date: the child decides with the real clock.
    today = datetime.now(UTC).date()
    tickets = [
        Ticket(
            valid_from=today - timedelta(days=1),
            valid_to=today + timedelta(days=1),
            entitlement=entitlement(entries_per_day=None, entries_total=None),
        )
        for _ in range(20)
    ]
    path = tmp_path / "edge.sqlite3"
    synced_store(path, tickets, ManualClock(datetime.now(UTC)), cooldown_s=0).close()
    codes = tmp_path / "codes.txt"
    codes.write_text("\n".join(t.code for t in tickets))
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.gate.edge.scan_loop", str(path), str(codes)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    answered: list[tuple[int, str]] = []
    try:
        while len(answered) < ANSWERS_BEFORE_KILL:
            line = child.stdout.readline()
            assert line, f"the scanning child stopped early ({child.poll()})"
            n, code = line.split()
            answered.append((int(n), code))
        os.kill(child.pid, signal.SIGKILL)
        # Lines already written before the kill are answers too; a cut-off last one is not.
        for line in child.stdout.read().splitlines():
            if len(line.split()) == 2:
                n, code = line.split()
                answered.append((int(n), code))
    finally:
        child.kill()
        child.wait()
    assert child.returncode == -signal.SIGKILL
    store = EdgeStore(path)
    for n, code in answered:
        event = store.event(str(uuid.uuid5(DEVICE_EVENTS, f"lane-1\x1f{n}")))
        assert event is not None, f"answer {n} ({code}) has no event"
        assert event.code == code
    assert {code for _, code in answered} == {"ok"}
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert store.outbox_size >= len(answered)
