"""The child of the loaded kill test: lanes scanning at once through `decide`, forever.

`python -m tests.gate.edge.lanes_loop <store file> <codes file> <lanes>`: like
`scan_loop`, but `lanes` lanes on one event loop share the scans, as device
adapters do, so answers come back from batches committed together. A line
`<n> <code>` is printed (and flushed) only after `decide` returned.
"""

from __future__ import annotations

import asyncio
import sys
from itertools import count
from pathlib import Path

from vistapass.gate_firmware_bridge.devices.base import Scan
from vistapass.gate_firmware_bridge.edge.decider import EdgeDecider
from vistapass.gate_firmware_bridge.edge.store import EdgeStore


async def main(store_path: str, codes: list[str], lanes: int) -> None:
    decider = EdgeDecider(EdgeStore(store_path))
    numbers = count()

    async def lane() -> None:
        for n in numbers:
            direction = "entry" if n // len(codes) % 2 == 0 else "exit"
            scan = Scan("lane-1", "qr", codes[n % len(codes)], direction, event_id=str(n))
            answer = await decider.decide(scan)
            print(n, answer.code, flush=True)

    await asyncio.gather(*(lane() for _ in range(lanes)))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2]).read_text().splitlines(), int(sys.argv[3])))
