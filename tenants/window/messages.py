"""What a refused window sale tells the cashier, in the cashier's language.

Services raise errors with a stable code and an English message that may carry
details (a date, a count). The page shows a translated sentence per known code
and falls back to the service's own message for the rare rest.
"""

from __future__ import annotations

from vistapass.platform.console.i18n import gettext_current
from vistapass.platform.errors import VistapassError

MESSAGES: dict[str, str] = {
    "sold_out": "Sold out for this date or slot.",
    "closed_day": "The park is closed on this date.",
    "park_closed": "The park is closed on this date.",
    "date_in_past": "This date has passed.",
    "date_required": "Choose the visit date.",
    "outside_visit_window": "This product cannot be used on this date.",
    "not_on_sale_now": "This product is not on sale today.",
    "channel_not_allowed": "This product is not sold at the window.",
    "product_not_found": "This product is not on sale.",
    "empty_basket": "Add at least one person.",
    "invalid_quantity": "A quantity is a whole number from 0 to 99.",
    "unknown_unit": "This product has no such ticket type.",
    "slot_required": "Choose a time slot.",
    "unknown_slot": "Choose one of the time slots shown.",
    "slot_capacity": "Not enough places left in this slot.",
    "bundle_composition": "This bundle needs a different mix of people.",
    "holders_required": "Give the name and ID document of every person.",
    "holder_name_required": "Each person needs a name.",
    "unknown_document_type": "Choose the type of ID document.",
    "invalid_id_number": "This ID document number is not valid.",
    "invalid_check_digit": "This ID number's last character does not match: check it.",
    "invalid_birth_date": "This ID number holds an impossible birth date.",
    "id_limit_reached": "This ID document already has the most tickets allowed for the day.",
    "invalid_tendered": "Type the cash received as an amount, e.g. 200 or 200.50.",
    "tendered_too_little": "The cash received is less than the total.",
    "invalid_payment_method": "Choose cash or the card terminal.",
    "idempotency_key_reused": "This sale was already completed. Start a new sale.",
    "request_in_progress": "This sale is still being processed. Wait a moment.",
}


def error_message(exc: VistapassError) -> str:
    text = MESSAGES.get(exc.code)
    return gettext_current(text) if text else exc.message
