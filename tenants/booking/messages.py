"""What the booking pages say about errors and states, in the visitor's language.

The services answer with stable codes and English messages for developers; a
visitor reads these instead. `error_templates()` is also handed to the step-1
script, so a price the script fetches fails with the very words the server would
use (it fills the same `%(name)s` placeholders from the error's details).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vistapass.platform.console.i18n import gettext_current as _
from vistapass.platform.errors import VistapassError


def error_templates() -> dict[str, str]:
    """Code (or code variant, see `template_key`) to message, translated now."""
    closed = _("The park is closed on that date. Choose another day.")
    not_online = _("This ticket is not on sale online.")
    ages = _("Give the age of each %(unit)s.")
    return {
        "park_closed": closed,
        "closed_day": closed,
        "date_in_past": _("That date has passed. Choose another day."),
        "invalid_date": _("Choose a visit date."),
        "outside_visit_window": _("This ticket cannot be used on that date. Choose another day."),
        "date_out_of_range": _("This ticket cannot be used on that date. Choose another day."),
        "not_on_sale_now": _("This ticket is not on sale today."),
        "channel_not_allowed": not_online,
        "mode_not_enabled": not_online,
        "product_not_found": not_online,
        "empty_basket": _("Choose at least one ticket."),
        "invalid_quantity": _("Choose from 1 to 99 tickets of each kind."),
        "unknown_unit": _("Choose from the tickets shown."),
        "duplicate_unit": _("Choose from the tickets shown."),
        "slot_required": _("Choose a time slot."),
        "unknown_slot": _("Choose one of the time slots shown."),
        "slot_capacity": _("This time slot takes at most %(capacity)s people."),
        "bundle_composition": _(
            "This pack takes %(min)s to %(max)s × %(unit)s; you chose %(count)s."
        ),
        "bundle_composition_exact": _(
            "This pack takes exactly %(min)s × %(unit)s; you chose %(count)s."
        ),
        "ages_required": ages,
        "ages_mismatch": ages,
        "invalid_ages": ages,
        "invalid_age": _("An age is a whole number of years."),
        "child_too_old": _("Each %(unit)s in this pack must be %(max_age)s or younger."),
        "sold_out": _("Sold out: no places are left for that date and time. Choose another."),
        "sold_out_few": _("Only %(left)s places are left for that date and time."),
        "holders_required": _("Give the name and ID document of each ticket holder."),
        "holder_name_required": _("Give the holder's name as it appears on the ID document."),
        "invalid_holder": _("Give the name and ID document of each ticket holder."),
        "unknown_document_type": _("Choose the type of ID document."),
        "invalid_id_number": _("This is not a number of that kind of document. Check it."),
        "invalid_check_digit": _(
            "The last character of this ID number does not match the rest: check for a typo."
        ),
        "invalid_birth_date": _(
            "The birth date in this ID number is not possible: check for a typo."
        ),
        "id_limit_reached": _(
            "This ID document already has the most tickets allowed for that day."
        ),
        "duplicate_document": _("This document is already given for another ticket in this order."),
        "renewal_holder_mismatch": _("A card is renewed for its own holder: give the same ID."),
        "payment_method_unavailable": _("Online payment is not available here right now."),
        "invalid_payment_method": _("Online payment is not available here right now."),
        "order_not_payable": _("This order can no longer be paid."),
        "payment_failed": _(
            "The payment did not go through. Try again, or choose another way to pay."
        ),
        "request_in_progress": _("Your order is still being placed. Wait a moment, then reload."),
        "refund_window_closed": _(
            "The visit has started; tickets can no longer be refunded online."
        ),
        "refund_window_closed_hours": _("Refunds close %(hours)s hours before the visit."),
        "not_refundable": _("These tickets cannot be refunded."),
        "order_not_refundable": _("Only a paid order can be refunded."),
        "already_refunded": _("These tickets were refunded already."),
        "refund_exceeds_paid": _("That is more than is left of what was paid."),
        "unknown_ticket": _("Choose from the tickets shown."),
        "payment_provider_error": _("The payment service did not answer. Try again in a moment."),
        "renewal_basket": _("A renewal is for one card: choose one person of the card's kind."),
        "renewal_window_closed": _("This card can no longer be renewed. Buy a new card instead."),
        "members_only": _(
            "That date is for annual card members only. Sign in with your card, or choose "
            "another day."
        ),
    }


def template_key(code: str, details: Mapping[str, Any]) -> str:
    """Some codes read better in two ways, by their details (the script does the same)."""
    if code == "bundle_composition" and details.get("min") == details.get("max"):
        return "bundle_composition_exact"
    if code == "sold_out" and isinstance(details.get("left"), int) and details["left"] > 0:
        return "sold_out_few"
    if code == "refund_window_closed" and details.get("hours") is not None:
        return "refund_window_closed_hours"
    return code


class _Blank(dict[str, Any]):
    """A detail a message names but the error lacks reads as nothing, not a KeyError."""

    def __missing__(self, key: str) -> str:
        return ""


def error_text(
    code: str,
    details: Mapping[str, Any],
    fallback: str,
    unit_labels: Mapping[str, str] | None = None,
) -> str:
    """The visitor's words for an error; the service's own message when we have none."""
    template = error_templates().get(template_key(code, details))
    if template is None:
        return fallback
    params = _Blank(details)
    unit = details.get("unit")
    if isinstance(unit, str):
        params["unit"] = (unit_labels or {}).get(unit, unit)
    return template % params


def explain(exc: VistapassError, unit_labels: Mapping[str, str] | None = None) -> str:
    return error_text(exc.code, exc.details, exc.message, unit_labels)


def state_labels() -> dict[str, str]:
    return {
        "available": _("Available"),
        "limited": _("Few left"),
        "sold_out": _("Sold out"),
        "closed": _("Closed"),
        "renewal_basket": _("A renewal is for one card: choose one person of the card's kind."),
        "renewal_window_closed": _("This card can no longer be renewed. Buy a new card instead."),
        "members_only": _("Members only"),
    }


def document_labels() -> dict[str, str]:
    """The kinds of ID document a real-name ticket takes (`visitors.documents`)."""
    return {
        "cn_id": _("Mainland China resident ID card"),
        "passport": _("Passport"),
        "hk_mo_permit": _("Mainland Travel Permit for Hong Kong and Macao Residents"),
        "tw_permit": _("Mainland Travel Permit for Taiwan Residents"),
        "foreign_permanent": _("Foreign Permanent Resident ID Card"),
    }


def adjustment_labels() -> dict[str, str]:
    """Basket adjustments a visitor sees by name; others show the mode's own reason."""
    return {
        "bundle_discount": _("Family pack discount"),
        "bundle_price": _("Pack price"),
        "member_discount": _("Member discount"),
    }


def adjustment_label(code: str, reason: str) -> str:
    return adjustment_labels().get(code, reason)
