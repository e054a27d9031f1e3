"""Device adapters: one module per wire protocol, all speaking `base.Scan`/`base.Answer`.

- `wiegand`: Wiegand 26/34 frames and the plain 24-bit number (pure decoding, no runner);
- `tcp_line`: our ASCII line protocol for simple controllers (`TcpLineAdapter`);
- `isapi`: Hikvision ISAPI-style event intake and door-open calls (`IsapiAdapter`);
- `zkteco`: ZKTeco "iclock" push for events and whitelist sync (`ZktecoAdapter`);
- `mqtt`: our MQTT gate profile (`MqttAdapter`).

Runners are built as `SomeAdapter(decide=..., **settings)` and driven with
`await adapter.start()` / `await adapter.stop()`; the HTTP ones also give the
edge a `litestar.Router` to mount. docs/gate-devices.md describes every wire format.
A new vendor is one new module here; the edge's decision never changes.
"""

from __future__ import annotations

from vistapass.gate_firmware_bridge.devices.base import Answer, Decide, Scan
from vistapass.platform.logging import get_logger

log = get_logger(__name__)

# The code a device gets when the edge itself failed to decide. The gate stays shut:
# a crash in the edge must never turn into an open door.
DECIDE_FAILED = "edge_error"


async def decide_safely(decide: Decide, scan: Scan) -> Answer:
    """Ask the edge, and turn any failure of it into a refusal instead of a dead adapter."""
    try:
        return await decide(scan)
    except Exception:
        log.exception("gate.decide_failed", device=scan.device, credential=scan.credential)
        return Answer(open=False, code=DECIDE_FAILED, message="Please ask staff")
