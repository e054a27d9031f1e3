"""ZKTeco terminals' own user lists, kept to the cards of the tickets valid today.

A ZKTeco terminal opens its door by itself for a card on its list (see
`devices.zkteco`), so the list is the decision: after every sync the edge works
out which cards should be there (bound to a ticket that is valid today and not
revoked) and queues the difference for each terminal, to be taken on its next
poll.

What each terminal may hold is kept in the edge's store: a card is recorded when
its `DATA UPDATE USERINFO` is queued and forgotten only when the terminal reports
its `DATA DELETE USERINFO` done, so a card taken off while the edge was down, or
whose deletion was lost with a restart, is deleted on the next round. After a
start every wanted card is sent once more (an update of a card already there
changes nothing), since commands queued before a restart are gone.
"""

from __future__ import annotations

import uuid
from datetime import date

from vistapass.gate_firmware_bridge.devices.zkteco import WhitelistEntry, ZktecoAdapter
from vistapass.gate_firmware_bridge.edge.store import EdgeStore
from vistapass.platform.logging import get_logger

log = get_logger(__name__)

DELETE_PREFIX = "DATA DELETE USERINFO PIN="


def wanted_cards(store: EdgeStore, today: date) -> dict[str, WhitelistEntry]:
    """The cards a terminal should admit today, each as its user-list entry."""
    with store.lock:
        tickets = [cached.row for cached in store.tickets.values()]
    wanted: dict[str, WhitelistEntry] = {}
    for row in tickets:
        if row.card is None or row.revoked or not row.valid_from <= today <= row.valid_to:
            continue
        wanted[row.card] = WhitelistEntry(pin=row.card, name=_name(row.id), card=row.card)
    return wanted


def _name(ticket_id: uuid.UUID) -> str:
    # A terminal shows the name on its screen: a short ticket reference, no personal data.
    return f"T{ticket_id.hex[:8].upper()}"


class CardWhitelist:
    def __init__(self, store: EdgeStore, adapter: ZktecoAdapter) -> None:
        self.store = store
        self.adapter = adapter
        self._held = store.terminal_cards()  # may be on the terminal, by serial number
        self._sent: dict[str, set[str]] = {}  # updates queued since this edge started
        self._deleting: set[tuple[str, str]] = set()
        adapter.on_result = self.on_result

    def refresh(self, today: date) -> None:
        """Queue, for every configured terminal, what its list lacks and what it must lose."""
        if not self.adapter.devices:
            return  # no card terminal at this edge: nothing to work out
        wanted = wanted_cards(self.store, today)
        for sn in sorted(self.adapter.devices):
            held = self._held.setdefault(sn, set())
            sent = self._sent.setdefault(sn, set())
            adding = sorted(wanted.keys() - sent)
            if adding:
                self.store.cards_sent(sn, adding)
                self.adapter.queue_whitelist(sn, [wanted[pin] for pin in adding])
                sent.update(adding)
                held.update(adding)
            removing = sorted(
                pin for pin in held - wanted.keys() if (sn, pin) not in self._deleting
            )
            if removing:
                self.adapter.queue_removal(sn, removing)
                self._deleting.update((sn, pin) for pin in removing)
                sent.difference_update(removing)
            if adding or removing:
                log.info("gate_edge.whitelist", sn=sn, added=len(adding), removed=len(removing))

    def on_result(self, sn: str, command: str, code: int) -> None:
        """A terminal reported a command done: a deleted card is off its list for good."""
        if not command.startswith(DELETE_PREFIX):
            return
        pin = command.removeprefix(DELETE_PREFIX)
        self._deleting.discard((sn, pin))
        if code == 0:
            self.store.card_removed(sn, pin)
            self._held.get(sn, set()).discard(pin)
