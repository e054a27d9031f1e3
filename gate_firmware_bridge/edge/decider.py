"""Deciding a scan at the gate, with no network: the edge's `Decide`.

The same steps and the same rules as the hub's check-in (`rules.decide`), fed
from the edge's cache: the code's signature against the synced keys, the
ticket's facts as last synced (or, for a genuine code the cache does not know
yet, the entitlement signed into the code: sold after the last sync, still
valid), and a history that merges the hub's counts with this edge's own events
(see `store`). The event is committed to the local log before the answer is
returned, so a gate that opened always has its event on disk.

Decisions are serialised under the store's lock: two lanes scanning one
ticket at the same instant are decided one after the other, and the second sees
the first's entry. A face check is awaited outside the lock and the scan is
then decided again, so a slow face service holds up its own lane only.

Under load (`decide`, every adapter's path), a code's signature is checked on a
small thread pool as soon as the scan arrives, outside the lock; the scans that
arrived meanwhile are then decided together in arrival order and their events
committed in one transaction (see `batcher`): the signature checks of the next
batch run while this one is written. `decide_now` decides one scan on the
caller's thread, the same way, as a batch of one.

Real names: an ID card presented with a named ticket's code is compared with
the ticket's own holder check, a salted scrypt of the holder's ID number made at
sale time (`tenants/visitors/gate_check.py`); the hashing runs with the
signature check, outside the lock. The hub keys its document lookup hashes with
the park's secret lookup key, which the contract does not send to edges (with
it and the synced hashes, a stolen edge disk would give up every holder's ID
number to a brute force of the small ID-number space). Without a
`document_hasher` an edge therefore cannot look a bare ID card up: an `id_card`
scan is answered `unknown_credential`, and a ticket without a holder check (sold
before there were any) is not compared. A park that accepts the risk can
configure `lookup_hasher(lookup_key)`.
"""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import threading
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from vistapass.gate_firmware_bridge.devices.base import Answer, Scan
from vistapass.gate_firmware_bridge.edge.batcher import GroupCommit
from vistapass.gate_firmware_bridge.edge.clock import EdgeClock
from vistapass.gate_firmware_bridge.edge.store import EdgeStore, EventLog
from vistapass.gate_firmware_bridge.edge.wire import EdgeEvent
from vistapass.platform.crypto.envelope import keyed_hash
from vistapass.platform.logging import get_logger
from vistapass.tenants.checkin.rules import MAX_CODE, TicketFacts, decide, message_for
from vistapass.tenants.tickets.codec import TicketFlags, TicketInvalid, TicketPayload
from vistapass.tenants.tickets.verify import verify_ticket
from vistapass.tenants.visitors.documents import CN_ID, DocumentInvalid, normalise_document
from vistapass.tenants.visitors.gate_check import SALT_BYTES, presented_digest

log = get_logger(__name__)

# A face terminal's check, given the scan and the ticket it claims: True when the face
# in front of it is the ticket holder's. It owns its capture; it is cut off after
# `face_timeout` seconds (then the answer is `face_unavailable`).
FaceCheck = Callable[[Scan, uuid.UUID], Awaitable[bool]]
# The hub's lookup hash of a presented document number (see the module docstring).
DocumentHasher = Callable[[str], bytes]

# Answers only an edge gives, beside rules.CODES.
EDGE_MESSAGES: dict[str, str] = {
    "unknown_credential": "This card or ID is not known at this gate.",
    "face_required": "Face check required: please use a face gate.",
    "face_mismatch": "The face does not match the ticket holder.",
    "face_unavailable": "Face check unavailable: please see staff.",
    "edge_error": "Gate error: please see staff.",
}
FACE_TIMEOUT_S = 3.0
VERIFIED_CACHE = 65_536  # codes whose signature check is remembered (oldest forgotten first)
# Signature checks release the GIL: two threads keep both cores of a small edge box busy.
VERIFY_THREADS = 2
# Device event ids become event ids in this namespace, so a device resending an
# event gets the first answer back instead of a second entry.
DEVICE_EVENTS = uuid.UUID("5d0f3c58-5b39-4d4c-9a53-44c2a1f0e7a1")
_DEVICE_EVENTS_BYTES = DEVICE_EVENTS.bytes
# The top hex digit of a UUID's clock_seq_hi byte with the RFC 4122 variant set (10xx).
_VARIANT_DIGIT = {f"{n:x}": f"{8 | n & 3:x}" for n in range(16)}


def device_event_id(device: str, event_id: str) -> str:
    """`str(uuid.uuid5(DEVICE_EVENTS, f"{device}\\x1f{event_id}"))`, in a quarter of its time.

    Every scan with a device event id needs one, on the writer's thread; built from
    the SHA-1 hex digest directly instead of through a `uuid.UUID`.
    """
    digest = hashlib.sha1(  # noqa: S324 - UUID version 5 is SHA-1 by definition
        _DEVICE_EVENTS_BYTES + f"{device}\x1f{event_id}".encode()
    ).hexdigest()
    return (
        f"{digest[:8]}-{digest[8:12]}-5{digest[13:16]}-"
        f"{_VARIANT_DIGIT[digest[16]]}{digest[17:20]}-{digest[20:32]}"
    )


def lookup_hasher(lookup_key: bytes) -> DocumentHasher:
    """Hash a mainland ID number as the hub's `orders.holders.document_hash` does."""

    def hasher(number: str) -> bytes:
        return keyed_hash(lookup_key, f"{CN_ID}:{normalise_document(CN_ID, number)}")

    return hasher


def message(code: str, direction: str) -> str:
    return EDGE_MESSAGES.get(code) or message_for(code, direction)


def _minutes(clock: Any) -> int | None:
    if not isinstance(clock, str) or ":" not in clock:
        return None
    hours, minutes = clock.split(":", 1)
    if not (hours.isdigit() and minutes.isdigit()):
        return None
    return int(hours) * 60 + int(minutes)


def _facts_from_code(payload: TicketPayload) -> TicketFacts:
    """A genuine code the cache does not know: its signed entitlement is all there is."""
    flags = payload.flags
    return TicketFacts(
        entitlement={
            "entries_total": payload.entries_total,
            "entries_per_day": payload.entries_per_day,
            "reentry_allowed": bool(flags & TicketFlags.REENTRY),
            "real_name_required": bool(flags & TicketFlags.REAL_NAME),
            "face_required": bool(flags & TicketFlags.FACE),
        }
    )


@dataclass(frozen=True, slots=True)
class _Subject:
    """What a scan resolved to: a ticket to decide, or the refusal when it is none."""

    refusal: str | None = None
    payload: TicketPayload | None = None
    facts: TicketFacts | None = None


@dataclass(frozen=True, slots=True)
class _FaceNeeded:
    ticket_id: uuid.UUID


Outcome = Answer | _FaceNeeded
Verified = TicketPayload | str  # a genuine code's payload, or why it is not one


@dataclass(frozen=True, slots=True)
class _Checked:
    """A code's signature check, and the cache it is valid for (one per key list)."""

    cache: dict[str, Verified]
    result: Verified


@dataclass(frozen=True, slots=True)
class _Request:
    scan: Scan
    defer_face: bool = False
    face: tuple[uuid.UUID, str] | None = None


@dataclass(frozen=True, slots=True)
class _HolderDigest:
    """An ID number presented with a named ticket, hashed with that ticket's salt."""

    check: bytes  # the ticket's holder check it was hashed for
    digest: bytes | None  # None: not a valid ID card number


@dataclass(frozen=True, slots=True)
class _Prepared:
    """A request made ready for the writer, off the event loop and outside the lock."""

    request: _Request
    event_id: str
    checked: _Checked | None  # its QR code's signature check; None: no code, or not yet
    holder: _HolderDigest | None = None  # the presented ID, for a named ticket


class EdgeDecider:
    """The edge's decision for each scan; `decide` is the adapters' `Decide`."""

    def __init__(
        self,
        store: EdgeStore,
        clock: EdgeClock | None = None,
        *,
        face_check: FaceCheck | None = None,
        face_timeout: float = FACE_TIMEOUT_S,
        document_hasher: DocumentHasher | None = None,
    ) -> None:
        self.store = store
        self.clock = clock or EdgeClock()
        if store.latest_at is not None:
            self.clock.observe(store.latest_at)
        self._jumps_recorded = len(self.clock.jumps)
        self.face_check = face_check
        self.face_timeout = face_timeout
        self.document_hasher = document_hasher
        self._verified: dict[str, Verified] = {}
        self._keys_ref: dict[int, bytes] | None = None
        self._keys_seen: dict[int, bytes] = {}
        self._verify_lock = threading.Lock()  # the cache's bookkeeping, not the checks
        # Its threads start with the first `decide`: `decide_now` alone starts none.
        self.batcher: GroupCommit[_Request, _Prepared, Outcome] = GroupCommit(
            self._prepare, self._decide_batch, workers=VERIFY_THREADS, name="gate-edge"
        )

    async def decide(self, scan: Scan) -> Answer:
        outcome = await self._submit(scan, defer_face=self.face_check is not None)
        if not isinstance(outcome, _FaceNeeded):
            return outcome
        assert self.face_check is not None
        try:
            async with asyncio.timeout(self.face_timeout):
                verdict = (
                    "ok" if await self.face_check(scan, outcome.ticket_id) else "face_mismatch"
                )
        except Exception:
            log.exception("gate_edge.face_check_failed", device=scan.device)
            verdict = "face_unavailable"
        answer = await self._submit(scan, face=(outcome.ticket_id, verdict))
        assert isinstance(answer, Answer)
        return answer

    def decide_now(self, scan: Scan) -> Answer:
        """Decide at once; a ticket needing a face check is refused `face_required`."""
        outcome = self._decide_batch([_Prepared(_Request(scan), self._event_id(scan), None)])[0]
        if isinstance(outcome, BaseException):
            raise outcome
        assert isinstance(outcome, Answer)
        return outcome

    def close(self) -> None:
        """Answer the scans handed in so far and stop the decider's threads (not the store)."""
        self.batcher.close()

    def _submit(
        self, scan: Scan, *, defer_face: bool = False, face: tuple[uuid.UUID, str] | None = None
    ) -> Awaitable[Outcome]:
        return self.batcher.submit(_Request(scan, defer_face, face))

    def _prepare(self, request: _Request) -> _Prepared:
        """On a worker thread, outside the store's lock: check a QR code's signature."""
        scan = request.scan
        event_id = self._event_id(scan)
        if scan.credential != "qr":
            return _Prepared(request, event_id, None)
        keys = self.store.keys
        checked = self._check(self._cache_for(keys), scan.value.strip(), keys)
        holder = None
        if scan.document is not None and isinstance(checked.result, TicketPayload):
            holder = self._holder_digest(checked.result.ticket_id, scan.document)
        return _Prepared(request, event_id, checked, holder)

    def _holder_digest(self, ticket_id: uuid.UUID, document: str) -> _HolderDigest | None:
        """The presented number hashed for the ticket's holder check; None when it has none."""
        cached = self.store.tickets.get(ticket_id)
        check = cached.row.holder_check if cached is not None else None
        if check is None or len(check) <= SALT_BYTES:
            return None
        try:
            return _HolderDigest(check, presented_digest(check, document))
        except DocumentInvalid:
            return _HolderDigest(check, None)

    def _decide_batch(self, batch: Sequence[_Prepared]) -> list[Outcome | BaseException]:
        """Decide the requests in order, and commit their events together."""
        store = self.store
        outcomes: list[Outcome | BaseException] = []
        # A device's own event id may come again (a resend): those are looked up first.
        reused = [prepared.event_id for prepared in batch if prepared.request.scan.event_id]
        with store.lock:
            jumps_recorded = self._jumps_recorded
            try:
                with store.logging(reused) as events:
                    for prepared in batch:
                        try:
                            outcomes.append(self._decide(prepared, events))
                        except sqlite3.Error:
                            raise
                        except Exception as exc:
                            # A fault in deciding one scan logged nothing: it is that
                            # scan's caller's (its adapter refuses it), not the batch's.
                            outcomes.append(exc)
            except sqlite3.Error:
                # No event of the batch is on disk, so no gate of it may open.
                self._jumps_recorded = jumps_recorded
                devices = sorted({prepared.request.scan.device for prepared in batch})
                log.exception("gate_edge.store_failed", scans=len(batch), devices=devices)
                refusal = Answer(False, "edge_error", EDGE_MESSAGES["edge_error"])
                return [refusal] * len(batch)
        return outcomes

    def _event_id(self, scan: Scan) -> str:
        if scan.event_id:
            return device_event_id(scan.device, scan.event_id)
        return str(uuid.uuid4())

    def _presented(self, document: str | None) -> bytes | None:
        if document is None or self.document_hasher is None:
            return None
        return self.document_hasher(document)

    def _cache_for(self, keys: dict[int, bytes]) -> dict[str, Verified]:
        """The signature checks remembered for this key list.

        A reader holding a code in view sends it again and again, and a ticket is
        scanned in and out: checking a signature once per code and key list keeps
        the gate fast. The answer depends only on the text and the keys, so a new
        cache starts when the keys change; a check still running against the old
        keys lands in the old cache, which nothing reads any more.
        """
        with self._verify_lock:
            if keys is not self._keys_ref:
                if keys != self._keys_seen:
                    self._verified = {}
                    self._keys_seen = dict(keys)
                self._keys_ref = keys
            return self._verified

    def _check(self, cache: dict[str, Verified], text: str, keys: dict[int, bytes]) -> _Checked:
        """The payload of a genuine code, or why it is not one; remembered in `cache`."""
        known = cache.get(text)
        if known is None:
            try:
                if len(text) > MAX_CODE:
                    raise TicketInvalid("malformed", "Far too long for a ticket code.")
                # Revocation is left to rules.decide (revoked vs refunded; exits allowed).
                known = verify_ticket(text, keys, ())
            except TicketInvalid as exc:
                known = exc.code
            with self._verify_lock:
                if len(cache) >= VERIFIED_CACHE:
                    del cache[next(iter(cache))]
                cache[text] = known
        return _Checked(cache, known)

    def _verify(self, text: str, checked: _Checked | None) -> Verified:
        """The check done before the decision if it holds for the current keys, else a new one."""
        keys = self.store.keys
        cache = self._cache_for(keys)
        if checked is not None and checked.cache is cache:
            return checked.result
        return self._check(cache, text, keys).result

    def _ticket_subject(self, ticket_id: uuid.UUID) -> _Subject:
        cached = self.store.tickets[ticket_id]
        row, extras = cached.row, cached.row.entitlement.get("extras") or {}
        start, end = _minutes(extras.get("slot_start")), _minutes(extras.get("slot_end"))
        try:
            payload = TicketPayload(
                key_id=0,
                ticket_id=row.id,
                product_number=row.product_number,
                valid_from=row.valid_from,
                valid_to=row.valid_to,
                slot_start_min=start if end is not None else None,
                slot_end_min=end if start is not None else None,
            )
        except ValueError:
            log.warning("gate_edge.bad_cached_ticket", ticket=str(row.id))
            return _Subject("malformed")
        return _Subject(payload=payload, facts=cached.facts)

    def _subjects(
        self, scan: Scan, checked: _Checked | None, holder: _HolderDigest | None = None
    ) -> tuple[list[_Subject], bytes | None]:
        """The tickets a scan may stand for, and the presented document's hash."""
        value = scan.value.strip()
        if scan.credential == "qr":
            verified = self._verify(value, checked)
            if isinstance(verified, str):
                return [_Subject(verified)], None
            payload = verified
            cached = self.store.tickets.get(payload.ticket_id)
            facts = cached.facts if cached is not None else _facts_from_code(payload)
            if scan.document is not None and cached is not None and cached.row.holder_check:
                # Compared with the ticket's own check: hashed before the lock, unless the
                # ticket's check changed since (then here).
                check = cached.row.holder_check
                if holder is None or holder.check != check:
                    holder = self._holder_digest(payload.ticket_id, scan.document)
                if holder is None or holder.digest is None:
                    return [_Subject("real_name_mismatch")], None
                facts = replace(facts, holder_hash=check[SALT_BYTES:])
                return [_Subject(payload=payload, facts=facts)], holder.digest
            try:
                presented = self._presented(scan.document)
            except DocumentInvalid:
                return [_Subject("real_name_mismatch")], None
            return [_Subject(payload=payload, facts=facts)], presented
        if scan.credential == "card":
            ticket_id = self.store.by_card.get(value)
            if ticket_id is None:
                return [_Subject("unknown_credential")], None
            return [self._ticket_subject(ticket_id)], None
        try:
            presented = self._presented(value)
        except DocumentInvalid:
            return [_Subject("malformed")], None
        holders = self.store.by_holder.get(presented) if presented is not None else None
        if not holders:
            return [_Subject("unknown_credential")], None
        return [self._ticket_subject(ticket_id) for ticket_id in holders], presented

    def _decide(self, prepared: _Prepared, events: EventLog) -> Outcome:
        """One scan's decision; the caller holds the store's lock."""
        request, store = prepared.request, self.store
        scan, face = request.scan, request.face
        now = self.clock.now()
        while self._jumps_recorded < len(self.clock.jumps):
            store.record_clock_jump(self.clock.jumps[self._jumps_recorded])
            self._jumps_recorded += 1
        local = now.astimezone(store.zone)
        today, minute = local.date(), local.hour * 60 + local.minute
        device = store.devices.get(scan.device)
        zone = device.zone if device is not None else None
        # A one-way device's configured direction wins over what its adapter assumed.
        direction = scan.direction
        if device is not None and device.direction in ("entry", "exit"):
            direction = device.direction  # type: ignore[assignment]
        subjects, presented = self._subjects(scan, prepared.checked, prepared.holder)
        code, counted, ticket_id = "", False, None
        for subject in subjects:
            if subject.payload is None or subject.facts is None:
                candidate, candidate_counted = subject.refusal or "malformed", False
                candidate_id = None
            else:
                candidate_id = subject.payload.ticket_id
                history = store.history(candidate_id, today)
                verdict = decide(
                    subject.payload,
                    subject.facts,
                    history,
                    direction=direction,
                    today=today,
                    minute=minute,
                    now=now,
                    zone=zone,
                    presented_hash=presented,
                    cooldown=store.cooldown,
                )
                candidate, candidate_counted = verdict.code, verdict.counted
                if candidate == "ok" and direction == "entry" and _needs_face(subject):
                    if face is not None and face[0] == candidate_id:
                        candidate = face[1]
                    elif request.defer_face:
                        return _FaceNeeded(candidate_id)
                    else:
                        candidate = "face_required"
            if not code or candidate == "ok":
                # Several tickets for one ID: the first that admits, else the first refusal.
                code, counted, ticket_id = candidate, candidate_counted, candidate_id
            if code == "ok":
                break
        ok = code == "ok"
        event = EdgeEvent(
            id=prepared.event_id,
            ticket_id=ticket_id,
            direction=direction,
            ok=ok,
            code=code,
            counted=counted and ok,
            day=today,
            at=now,
            device=scan.device,
            zone=zone,
            offline=not store.online,
        )
        first = events.add(event)
        if first is not None:
            return Answer(first.ok, first.code, message(first.code, first.direction))
        return Answer(ok, code, message(code, direction))


def _needs_face(subject: _Subject) -> bool:
    assert subject.payload is not None and subject.facts is not None
    return bool(subject.payload.flags & TicketFlags.FACE) or bool(
        subject.facts.entitlement.get("face_required")
    )
