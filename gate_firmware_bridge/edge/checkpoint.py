"""Checkpoints of the edge's SQLite file, on a thread of their own.

In WAL mode a commit appends pages to the write-ahead log; a checkpoint copies
them into the database file and fsyncs it. SQLite runs one by default inside the
commit that grows the log past 1,000 pages, so every few hundred scans one commit
took 20-40 ms, and with it every scan of its batch and every scan queued
behind it: the p99 of the decisions was the checkpoint's time. Here a thread with
its own connection runs a PASSIVE checkpoint every `interval` seconds, which
never blocks the writer: it copies what was committed while the writer goes on.

The writer's connection keeps automatic checkpoints, but only past `limit` pages:
the log can reset to its start only when a checkpoint has caught up with it, and
under sustained load the thread may never catch up. The writer's own checkpoint
then finds almost everything copied already and lets the log reset. Durability is
unchanged: what is committed is in the log, checkpointed or not.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from vistapass.platform.logging import get_logger

log = get_logger(__name__)

INTERVAL_S = 0.5
LIMIT_PAGES = 16_384  # 64 MiB of log at SQLite's 4 KiB pages


class Checkpointer:
    """Checkpoints `path` every `interval` seconds until `stop`."""

    def __init__(self, path: Path, interval: float = INTERVAL_S) -> None:
        self.interval = interval
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA busy_timeout=5000")
        self._stopped = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"edge-checkpoint-{path.name}", daemon=True
        )
        self._thread.start()

    def stop(self, *, wait: bool = True) -> None:
        """Stop the thread; with `wait`, once the checkpoint it is running (if any) ended."""
        self._stopped.set()
        if wait:
            self._thread.join()

    def _run(self) -> None:
        try:
            while not self._stopped.wait(self.interval):
                try:
                    self._db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error:
                    # Not fatal: the writer's own checkpoint (past LIMIT_PAGES) still runs.
                    log.exception("gate_edge.checkpoint_failed")
        finally:
            self._db.close()
