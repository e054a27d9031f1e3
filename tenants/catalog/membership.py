"""Annual-card holders as members: who is one, and what membership changes in a quote.

A member is whoever holds a valid annual card of this park: a paid ticket of an
`annual_card` product, not revoked or refunded, not expired (a first-entry card
never used is valid: the gate starts it on its first entry). Membership gives two
things on the web channel, both applied by `quote.quote_basket` so every page and
the API show and charge the same price:

- the card product's `member_discount_pct` off any *other* product, as one
  itemised basket adjustment after the product's own pricing mode has priced it;
- the card product's `member_only_dates`: on those dates the park's other products
  are sold on the web to holders of that card only. The rule covers every product
  of the park except annual cards themselves (buying a card is how one becomes a
  member, so it is never members-only), and only the web channel, the one channel
  where a visitor proves membership; the window and partners sell as before.

Benefits are read from the card product's current configuration, not from the
copy in the ticket's entitlement: a members' day the park adds later is open to
the cards already sold, and the discount is the one the park offers members now.

The booking site remembers a member with a signed pass (`member_pass`) naming the
card; the pass only says which card to look at, and the card is checked again on
every use, so a refunded or expired card stops counting at once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from vistapass.platform.crypto.envelope import derive_key
from vistapass.platform.plugin_api import Adjustment, Quote
from vistapass.platform.settings import Settings
from vistapass.tenants.checkin.reads import histories
from vistapass.tenants.checkin.rules import History, effective_window
from vistapass.tenants.models import Order, Product, Ticket
from vistapass.tenants.tickets.codec import TicketInvalid, TicketPayload, decode

MEMBER_MODE = "annual_card"
MEMBER_DISCOUNT = "member_discount"
# Orders whose tickets still count: a partly refunded order keeps its other tickets.
LIVE_ORDER_STATES = ("paid", "partially_refunded")
# The booking site's cookie holding a member pass (HttpOnly, SameSite=Lax).
MEMBER_COOKIE = "vp_member"
PASS_DAYS = 30
PASS_SECONDS = PASS_DAYS * 24 * 3600
_PASS_INFO = b"vistapass member pass v1"


@dataclass(frozen=True, slots=True)
class MemberCard:
    """A valid card, with its real window as of `today` (see `checkin.rules`)."""

    ticket: Ticket
    order: Order
    product: Product
    history: History
    payload: TicketPayload
    valid_from: date
    valid_to: date

    @property
    def activation(self) -> str:
        extras = (self.ticket.entitlement or {}).get("extras") or {}
        return str(extras.get("activation") or "purchase")

    @property
    def started(self) -> bool:
        """False for a first-entry card that was never used: its window is not fixed yet."""
        return self.activation != "first_entry" or self.history.first_entry_day is not None

    @property
    def discount_pct(self) -> int:
        value = (self.product.pricing_config or {}).get("member_discount_pct") or 0
        return value if isinstance(value, int) and 0 <= value <= 100 else 0

    @property
    def member_only_dates(self) -> frozenset[date]:
        return _dates((self.product.pricing_config or {}).get("member_only_dates") or ())

    def covers(self, day: date) -> bool:
        """Whether the card is valid on `day`. An unstarted first-entry card is valid on
        any day from its first valid one: used on that day, it starts that day."""
        window = effective_window(self.payload, self.ticket.entitlement or {}, self.history, day)
        return window.valid_from <= day <= window.valid_to


def _dates(raw: Iterable[object]) -> frozenset[date]:
    days = set()
    for item in raw:
        try:
            days.add(date.fromisoformat(str(item)))
        except ValueError:
            continue  # validate_config stores ISO dates; anything else is not a date
    return frozenset(days)


async def load_card(session: AsyncSession, ticket_id: uuid.UUID, today: date) -> MemberCard | None:
    """The card with this ticket id if it makes its holder a member today, else None.

    None, never an error, for anything else: a ticket of another kind, unpaid,
    revoked, refunded, expired, or of another park (the session is bound to this
    park's schema, so another park's ticket is simply not found).
    """
    row = (
        await session.execute(
            select(Ticket, Order, Product)
            .join(Order, Order.id == Ticket.order_id)
            .join(Product, Product.id == Order.product_id)
            .where(Ticket.id == ticket_id)
        )
    ).first()
    if row is None:
        return None
    ticket, order, product = row
    if (
        product.pricing_mode != MEMBER_MODE
        or order.status not in LIVE_ORDER_STATES
        or ticket.qr is None
        or ticket.revoked_at is not None
    ):
        return None
    try:
        payload = decode(ticket.qr)[0]
    except TicketInvalid:
        return None
    history = (await histories(session, [ticket.id], today)).get(ticket.id, History())
    window = effective_window(payload, ticket.entitlement or {}, history, today)
    if window.valid_to < today:
        return None
    return MemberCard(ticket, order, product, history, payload, window.valid_from, window.valid_to)


async def member_only_dates(session: AsyncSession) -> frozenset[date]:
    """Every date some annual card of the park keeps for its members."""
    configs = await session.scalars(
        select(Product.pricing_config).where(
            # A card taken off sale still has members; a draft has none yet.
            Product.pricing_mode == MEMBER_MODE,
            Product.status != "draft",
        )
    )
    days: set[date] = set()
    for config in configs:
        days |= _dates((config or {}).get("member_only_dates") or ())
    return frozenset(days)


async def is_member_only(session: AsyncSession, day: date) -> bool:
    """Whether some annual card of the park keeps `day` for its members.

    Asked on every web quote, so PostgreSQL answers it (JSONB containment) instead
    of every card's configuration coming back to be parsed.
    """
    kept = await session.scalar(
        select(Product.id)
        .where(
            Product.pricing_mode == MEMBER_MODE,
            Product.status != "draft",
            Product.pricing_config["member_only_dates"].contains([day.isoformat()]),
        )
        .limit(1)
    )
    return kept is not None


def applies_to(product: Product, channel: str) -> bool:
    """Member prices and members-only dates touch web sales of products other than cards."""
    return channel == "web" and product.pricing_mode != MEMBER_MODE


def discounted(total: int, pct: int) -> int:
    """`total` at a member discount of `pct`% (the discount in whole minor units)."""
    return total - total * pct // 100


def with_member_discount(quote: Quote, card: MemberCard) -> Quote:
    """The quote with the card's discount taken off its total, as one itemised line.

    Applied to the total the pricing mode arrived at (its own adjustments, such as
    a family pack's discount, included), so it never depends on how a mode prices.
    The discount is pct% of that total in whole minor units (a fraction of a fen
    is not given), and never more than the total.
    """
    discount = quote.total - discounted(quote.total, card.discount_pct)
    if discount <= 0:
        return quote
    reason = f"会员折扣 {card.discount_pct}% / Member discount {card.discount_pct}%"
    return Quote(
        currency=quote.currency,
        lines=quote.lines,
        adjustments=(*quote.adjustments, Adjustment(MEMBER_DISCOUNT, reason, -discount)),
    )


def _pass_key(settings: Settings) -> bytes:
    return derive_key(settings.effective_secret_key().encode("utf-8"), _PASS_INFO)


def _signature(settings: Settings, slug: str, ticket_hex: str, issued: str) -> str:
    message = f"{slug}\n{ticket_hex}\n{issued}".encode()
    digest = hmac.new(_pass_key(settings), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def member_pass(settings: Settings, slug: str, ticket_id: uuid.UUID, issued: int) -> str:
    """`<ticket>.<issued>.<signature>`: names a card for one park, for PASS_DAYS.

    Signed with a key derived for this purpose alone from the platform secret, so a
    pass cannot be forged, moved to another park, or kept alive past its days.
    """
    ticket_hex, stamp = ticket_id.hex, str(issued)
    return f"{ticket_hex}.{stamp}.{_signature(settings, slug, ticket_hex, stamp)}"


def read_pass(settings: Settings, slug: str, value: str | None, now: int) -> uuid.UUID | None:
    """The card a genuine, unexpired pass names; None for anything else."""
    if not value or len(value) > 200 or not value.isascii():
        return None
    ticket_hex, _, rest = value.partition(".")
    stamp, _, signature = rest.partition(".")
    if not stamp.isdigit() or not 0 <= now - int(stamp) <= PASS_SECONDS:
        return None
    expected = _signature(settings, slug, ticket_hex, stamp)
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        return None
    try:
        return uuid.UUID(hex=ticket_hex)
    except ValueError:
        return None
