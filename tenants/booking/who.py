"""Step 2's form: the order's contact and, for real-name tickets, a holder per ticket.

Everything is kept as typed, so a page sent back with an error shows the visitor
their own input. Documents are checked by `visitors.documents.normalise_document`,
the very check the order service makes; the page's script runs a port of it as
the visitor types, and this is the check that counts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from vistapass.platform.console.i18n import gettext_current as _
from vistapass.tenants.booking.messages import error_text
from vistapass.tenants.booking.selection import Params
from vistapass.tenants.orders.holders import MAX_NAME, HolderIn
from vistapass.tenants.visitors.documents import DOCUMENT_TYPES, DocumentInvalid, normalise_document

MAX_EMAIL = 254
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]{2,}")
PHONE = re.compile(r"\+?[0-9][0-9 ()\-]{4,28}")
KEY = re.compile(r"[A-Za-z0-9_-]{16,64}")


@dataclass
class Holder:
    name: str = ""
    document_type: str = "cn_id"
    document_number: str = ""
    photo_token: str = ""  # an accepted face photo, kept (see booking/photos.py)


@dataclass
class WhoForm:
    name: str = ""
    email: str = ""
    phone: str = ""
    holders: list[Holder] = field(default_factory=list)
    photo_token: str = ""  # the order's face photo when its tickets are not named
    errors: dict[str, str] = field(default_factory=dict)  # field id -> message

    @property
    def ok(self) -> bool:
        return not self.errors


def _text(params: Params, key: str) -> str:
    value = params.get(key)
    return value.strip() if isinstance(value, str) else ""


def _texts(params: Params, key: str, count: int) -> list[str]:
    values = [v.strip() if isinstance(v, str) else "" for v in params.getall(key, [])]
    return (values + [""] * count)[:count]


def blank(tickets: int) -> WhoForm:
    return WhoForm(holders=[Holder() for _ in range(tickets)])


def read_who(params: Params, tickets: int, real_name: bool) -> WhoForm:
    holders = []
    if real_name:
        names = _texts(params, "holder_name", tickets)
        kinds = _texts(params, "holder_type", tickets)
        numbers = _texts(params, "holder_number", tickets)
        holders = [
            Holder(name, kind or "cn_id", number)
            for name, kind, number in zip(names, kinds, numbers, strict=True)
        ]
    return WhoForm(
        name=_text(params, "contact_name"),
        email=_text(params, "contact_email"),
        phone=_text(params, "contact_phone"),
        holders=holders,
    )


def validate(form: WhoForm, today: date) -> None:
    """Fill `form.errors`: one message per field, in the visitor's language."""
    if not 1 <= len(form.name) <= MAX_NAME:
        form.errors["contact_name"] = _("Give your name.")
    if len(form.email) > MAX_EMAIL or not EMAIL.fullmatch(form.email):
        form.errors["contact_email"] = _("Give an e-mail address, like name@example.com.")
    if form.phone and not PHONE.fullmatch(form.phone):
        form.errors["contact_phone"] = _("Give a phone number in digits, or leave it empty.")
    for index, holder in enumerate(form.holders):
        name = " ".join(holder.name.split())
        if not 1 <= len(name) <= MAX_NAME:
            form.errors[f"holder_name_{index}"] = error_text("holder_name_required", {}, "")
        if holder.document_type not in DOCUMENT_TYPES:
            form.errors[f"holder_type_{index}"] = error_text("unknown_document_type", {}, "")
            continue
        try:
            normalise_document(holder.document_type, holder.document_number, today=today)
        except DocumentInvalid as exc:
            form.errors[f"holder_number_{index}"] = error_text(exc.code, {}, exc.message)


def holders_in(form: WhoForm) -> tuple[HolderIn, ...]:
    return tuple(HolderIn(h.name, h.document_type, h.document_number) for h in form.holders)


def valid_key(raw: str) -> bool:
    return bool(KEY.fullmatch(raw))
