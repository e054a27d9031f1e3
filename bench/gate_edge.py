"""The edge under test: a store filled from a synthetic full sync, and its decision phases.

The tickets are real: signed with a freshly generated Ed25519 key through
`codec.sign_payload` and handed to `EdgeStore.apply` as the hub's full sync would
send them, so the decider verifies, looks up, decides and commits exactly as at
a park gate. One store serves every edge phase; each phase scans its own slice
of the tickets, so every first scan of a code is a first entry.

Three decision phases, each with codes of its own (`phase_codes`):
`measure_decision` scans one after another through `decide_now` (the latency of
a scan on an idle edge); `measure_loaded` has `lanes` lanes scan at once through
`decide` on one event loop, as the device adapters do, each lane scanning again
as soon as it is answered (the edge's throughput); `measure_paced` has the lanes
scan at a set rate in all, open loop (the latency of a scan at that rate).
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from vistapass.gate_firmware_bridge.devices.base import Scan
from vistapass.gate_firmware_bridge.edge.runtime import Edge, EdgeConfig
from vistapass.gate_firmware_bridge.edge.wire import DeviceRow, Park, SyncBatch, TicketRow
from vistapass.tenants.tickets.codec import TicketPayload, decode, sign_payload

# isort: split
# Modules beside this one: bench/ is sys.path[0] when bench/gate.py runs.
from gate_figures import Figures, Timed
from sale_figures import BenchFailure, say

TIME_ZONE = "Asia/Shanghai"  # what provisioning gives every park
KEY_ID = 1
PRODUCT_NUMBER = 1
# A day ticket: one entry, no re-entry, as the demo catalogue sells it.
ENTITLEMENT = {
    "entries_per_day": 1,
    "entries_total": 1,
    "zones": [],
    "reentry_allowed": False,
    "real_name_required": False,
    "face_required": False,
    "extras": {},
}
# Shares of the decision phase's scans that are not first entries.
REPEAT_SHARE = 0.10  # a code already admitted, scanned again: already_used
FORGED_SHARE = 0.05  # signed with a key the park never had: bad_signature
NO_HUB = "http://127.0.0.1:9"  # never called: the sync loop is not started
LOADED_ROUNDS = 3
EDGE_PHASES = 2 + LOADED_ROUNDS  # unloaded, the loaded rounds, paced


@dataclass
class EdgeSetup:
    edge: Edge
    public_key: bytes
    decision_codes: list[str]
    mqtt_codes: list[str]
    http_codes: list[str]
    forged: list[str]


def _ticket(key: Ed25519PrivateKey, today: datetime) -> tuple[TicketRow, str]:
    # Valid from yesterday to tomorrow: a run across the park's midnight still admits.
    day = today.date()
    first, last = day - timedelta(days=1), day + timedelta(days=1)
    ticket_id = uuid.uuid4()
    code = sign_payload(
        TicketPayload(
            key_id=KEY_ID,
            ticket_id=ticket_id,
            product_number=PRODUCT_NUMBER,
            valid_from=first,
            valid_to=last,
            entries_per_day=1,
            entries_total=1,
        ),
        key,
    )
    row = TicketRow(
        id=ticket_id,
        product_number=PRODUCT_NUMBER,
        valid_from=first,
        valid_to=last,
        entitlement=ENTITLEMENT,
    )
    return row, code


def build_edge(
    data_dir: Path,
    slug: str,
    counts: tuple[int, int, int],
    devices: Sequence[DeviceRow],
    forged: int,
) -> EdgeSetup:
    """An edge whose store holds `sum(counts)` tickets valid today, in one full sync."""
    key = Ed25519PrivateKey.generate()
    now = datetime.now(ZoneInfo(TIME_ZONE))
    started = time.perf_counter()
    rows, codes = [], []
    for _ in range(sum(counts)):
        row, code = _ticket(key, now)
        rows.append(row)
        codes.append(code)
    # Forged: well-formed codes naming the park's key id, signed by another key.
    stranger = Ed25519PrivateKey.generate()
    forged_codes = [_ticket(stranger, now)[1] for _ in range(forged)]
    public = key.public_key().public_bytes_raw()
    batch = SyncBatch(
        park=Park(slug=slug, name="Gate bench park", time_zone=TIME_ZONE),
        cursor="bench",
        full=True,
        keys={KEY_ID: public},
        tickets=tuple(rows),
        devices=tuple(devices),
    )
    # The token only names the park: the edge never calls the hub in this run.
    edge = Edge(EdgeConfig(hub=NO_HUB, token=f"{slug}.{'0' * 32}.bench", data_dir=data_dir))
    edge.store.apply(batch, upload_mark=edge.store.upload_generation, synced_at=datetime.now(UTC))
    edge.refresh_devices()
    say(
        f"edge store: {len(rows)} tickets signed and applied in "
        f"{time.perf_counter() - started:.1f} s ({edge.store.path})"
    )
    first, second = counts[0], counts[0] + counts[1]
    return EdgeSetup(
        edge=edge,
        public_key=public,
        decision_codes=codes[:first],
        mqtt_codes=codes[first:second],
        http_codes=codes[second:],
        forged=forged_codes,
    )


def phase_codes(setup: EdgeSetup, phase: int) -> list[str]:
    """The codes of one decision phase (0 to EDGE_PHASES - 1): every first scan is a first."""
    share = len(setup.decision_codes) // EDGE_PHASES
    return setup.decision_codes[phase * share : (phase + 1) * share]


def scan_plan(
    setup: EdgeSetup, scans: int, seed: int, codes: Sequence[str] | None = None
) -> list[tuple[str, str]]:
    """(code, kind) per scan: mostly first entries (from `codes`), some repeats and forgeries."""
    pick = random.Random(seed)
    fresh = iter(setup.decision_codes if codes is None else codes)
    admitted: list[str] = []
    plan = []
    for _ in range(scans):
        roll = pick.random()
        if roll < FORGED_SHARE and setup.forged:
            plan.append((pick.choice(setup.forged), "forged"))
        elif roll < FORGED_SHARE + REPEAT_SHARE and admitted:
            plan.append((pick.choice(admitted), "repeat"))
        else:
            code = next(fresh, None)
            if code is None:
                raise BenchFailure("the decision phase ran out of fresh codes")
            admitted.append(code)
            plan.append((code, "first"))
    return plan


def _check_first_entries(name: str, plan: list[tuple[str, str]], admitted: int,
                         figures: Figures) -> None:  # fmt: skip
    expected = sum(1 for _, kind in plan if kind == "first")
    if admitted != expected:
        # A first entry refused means the store or the clock is not what the run set up.
        figures.problems.append(f"{name}: {admitted} of {expected} first entries admitted")


def measure_decision(setup: EdgeSetup, scans: int, seed: int, figures: Figures) -> None:
    """`decide_now` scan after scan in this process, then raw verifies of the same codes."""
    decider = setup.edge.decider
    plan = scan_plan(setup, scans, seed, phase_codes(setup, 0))
    timed = figures.decision
    clock = time.perf_counter
    started = clock()
    for number, (code, _kind) in enumerate(plan):
        scan = Scan("bench-lane-1", "qr", code, "entry", event_id=f"d{number}")
        before = clock()
        answer = decider.decide_now(scan)
        timed.latencies.append(clock() - before)
        timed.answers[answer.code] += 1
    timed.wall_s = clock() - started
    _check_first_entries("decision", plan, timed.answers["ok"], figures)

    # The baseline: the signature checks alone, of the same codes, one after another.
    public = Ed25519PublicKey.from_public_bytes(setup.public_key)
    signed = [decode(code)[1:] for code, kind in plan if kind != "forged"]
    verify = figures.verify
    started = clock()
    for body, signature in signed:
        before = clock()
        public.verify(signature, body)
        verify.latencies.append(clock() - before)
    verify.wall_s = clock() - started
    verify.answers["verified"] = len(signed)
    say(timed.line())
    say(verify.line())


def measure_loaded(setup: EdgeSetup, scans: int, lanes: int, seed: int, figures: Figures) -> None:
    """`lanes` lanes scanning at once through `decide`, each again as soon as it is answered.

    LOADED_ROUNDS rounds of `scans` scans, each on codes of its own; the figures are
    the median round's. Threads sharing two cores make one round's throughput vary
    by a third from run to run: the median of several says more than any one.
    """
    rounds = [
        _loaded_round(setup, scans, lanes, seed + number, number, figures)
        for number in range(LOADED_ROUNDS)
    ]
    by_rate = sorted(rounds, key=lambda timed: timed.per_s)
    figures.loaded = by_rate[len(by_rate) // 2]
    figures.loaded.name = f"edge decide, {lanes} lanes"
    rates = ", ".join(f"{timed.per_s:.0f}" for timed in rounds)
    figures.notes.append(f"loaded: scans/s of the {LOADED_ROUNDS} rounds {rates}; the median kept")


def _loaded_round(
    setup: EdgeSetup, scans: int, lanes: int, seed: int, number: int, figures: Figures
) -> Timed:
    decider = setup.edge.decider
    plan = scan_plan(setup, scans, seed, phase_codes(setup, 1 + number))
    timed = Timed(f"edge decide, {lanes} lanes, round {number + 1}")
    clock = time.perf_counter
    batches, items = decider.batcher.batches, decider.batcher.items

    async def lane(lane_number: int, turns: Iterator[tuple[int, tuple[str, str]]]) -> None:
        device = f"bench-lane-{lane_number}"
        for turn, (code, _kind) in turns:
            scan = Scan(device, "qr", code, "entry", event_id=f"l{number}-{turn}")
            before = clock()
            answer = await decider.decide(scan)
            timed.latencies.append(clock() - before)
            timed.answers[answer.code] += 1

    async def run() -> None:
        # One shared queue of scans: a lane takes the next one when it is answered.
        turns = iter(enumerate(plan))
        started = clock()
        await asyncio.gather(*(lane(lane_number, turns) for lane_number in range(lanes)))
        timed.wall_s = clock() - started

    asyncio.run(run())
    _check_first_entries(timed.name, plan, timed.answers["ok"], figures)
    batches, items = decider.batcher.batches - batches, decider.batcher.items - items
    say(f"{timed.line()}; {items / max(batches, 1):.1f} scans per commit")
    return timed


def measure_paced(
    setup: EdgeSetup, scans: int, lanes: int, rate: float, seed: int, figures: Figures
) -> None:
    """`scans` scans through `decide` at `rate` scans/s in all, over `lanes` lanes.

    Open loop, as gates are: scan k is due at k / rate seconds whether or not
    earlier answers came back (a lane that is behind scans again as soon as it is
    answered), and its latency counts from when it was due, so an edge that cannot
    keep up shows it in the figures instead of slowing the lanes down.
    """
    decider = setup.edge.decider
    plan = scan_plan(setup, scans, seed, phase_codes(setup, 1 + LOADED_ROUNDS))
    timed = figures.paced
    timed.name = f"edge decide at {rate:,.0f}/s"
    clock = time.perf_counter

    async def lane(number: int, started: float) -> None:
        device = f"bench-paced-{number}"
        for turn in range(number, len(plan), lanes):
            due = started + turn / rate
            if (wait := due - clock()) > 0:
                await asyncio.sleep(wait)
            scan = Scan(device, "qr", plan[turn][0], "entry", event_id=f"p{turn}")
            answer = await decider.decide(scan)
            timed.latencies.append(clock() - due)
            timed.answers[answer.code] += 1

    async def run() -> None:
        started = clock()
        await asyncio.gather(*(lane(number, started) for number in range(lanes)))
        timed.wall_s = clock() - started

    asyncio.run(run())
    _check_first_entries("paced", plan, timed.answers["ok"], figures)
    say(timed.line())
