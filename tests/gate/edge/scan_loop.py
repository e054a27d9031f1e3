"""The child of the kill test: decides scans forever, printing each answer it got.

`python -m tests.gate.edge.scan_loop <store file> <codes file>`: the store is
already synced by the parent; the codes file has one QR text per line (base45 has spaces). A line
`<n> <code>` is printed (and flushed) only after `decide_now` returned, i.e.
after the event was committed, which is what the parent checks after SIGKILL.
"""

from __future__ import annotations

import sys
from itertools import count
from pathlib import Path

from vistapass.gate_firmware_bridge.devices.base import Scan
from vistapass.gate_firmware_bridge.edge.decider import EdgeDecider
from vistapass.gate_firmware_bridge.edge.store import EdgeStore


def main(store_path: str, codes_path: str) -> None:
    codes = Path(codes_path).read_text().splitlines()
    decider = EdgeDecider(EdgeStore(store_path))
    for n in count():
        direction = "entry" if n // len(codes) % 2 == 0 else "exit"
        scan = Scan("lane-1", "qr", codes[n % len(codes)], direction, event_id=str(n))
        answer = decider.decide_now(scan)
        print(n, answer.code, flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
