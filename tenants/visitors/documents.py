"""Identity documents of real-name ticket holders: checked and put in one canonical form.

The canonical form is what gets hashed for lookups and daily limits, so the
same document must always normalise to the same string however it was typed:
full-width characters (common with Chinese input methods) become ASCII,
whitespace goes, letters are upper-cased.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date

from vistapass.platform.errors import VistapassError

CN_ID = "cn_id"  # mainland resident identity card, GB 11643-1999
PASSPORT = "passport"
HK_MO_PERMIT = "hk_mo_permit"  # 港澳居民来往内地通行证
TW_PERMIT = "tw_permit"  # 台湾居民来往大陆通行证 (台胞证)
FOREIGN_PERMANENT = "foreign_permanent"  # 外国人永久居留身份证

# [0-9] and [A-Z], never \d or \w: those also match other scripts' digits and letters.
PATTERNS = {
    CN_ID: re.compile(r"[0-9]{17}[0-9X]"),
    PASSPORT: re.compile(r"[A-Z0-9]{5,20}"),
    HK_MO_PERMIT: re.compile(r"[HM][0-9]{8}(?:[0-9]{2})?"),
    TW_PERMIT: re.compile(r"[0-9]{8}|[A-Z0-9]{10}"),
    FOREIGN_PERMANENT: re.compile(r"[A-Z0-9]{15}|[A-Z0-9]{18}"),
}
DOCUMENT_TYPES = tuple(PATTERNS)
DESCRIPTIONS = {
    CN_ID: "18 characters: 17 digits and a digit or X",
    PASSPORT: "5 to 20 letters and digits",
    HK_MO_PERMIT: "H or M followed by 8 or 10 digits",
    TW_PERMIT: "8 digits or 10 letters and digits",
    FOREIGN_PERMANENT: "15 or 18 letters and digits",
}

# GB 11643-1999: ISO 7064 MOD 11-2 over the first 17 digits.
CN_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CN_ID_CHECK_CHARS = "10X98765432"
EARLIEST_BIRTH = date(1900, 1, 1)


class DocumentInvalid(VistapassError):
    """A document number that cannot be right; `code` says what is wrong with it."""

    status_code = 422
    code = "invalid_document"

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, code=code)


def cn_id_check_char(first17: str) -> str:
    total = sum(int(digit) * weight for digit, weight in zip(first17, CN_ID_WEIGHTS, strict=True))
    return CN_ID_CHECK_CHARS[total % 11]


def _canonical(number: str) -> str:
    folded = unicodedata.normalize("NFKC", number)
    return "".join(folded.split()).upper()


def _birth_date(digits: str, today: date) -> date:
    try:
        born = date(int(digits[0:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        raise DocumentInvalid(
            "invalid_birth_date", f"{digits} in the ID number is not a date."
        ) from None
    if not EARLIEST_BIRTH <= born <= today:
        raise DocumentInvalid(
            "invalid_birth_date", f"The birth date {born} in the ID number is not possible."
        )
    return born


def normalise_document(doc_type: str, number: str, *, today: date | None = None) -> str:
    """The canonical number, or DocumentInvalid saying why it cannot be a real one.

    `today` (default: the machine's date) bounds the birth date in a `cn_id`.
    """
    pattern = PATTERNS.get(doc_type)
    if pattern is None:
        raise DocumentInvalid(
            "unknown_document_type",
            f"'{doc_type}' is not a document type; use one of {', '.join(DOCUMENT_TYPES)}.",
        )
    canonical = _canonical(number)
    if not pattern.fullmatch(canonical):
        raise DocumentInvalid(
            "invalid_id_number", f"This is not a {doc_type} number: {DESCRIPTIONS[doc_type]}."
        )
    if doc_type == CN_ID:
        # The checksum first: a mistyped digit anywhere, the birth date included,
        # is reported as the typo it most likely is.
        if cn_id_check_char(canonical[:17]) != canonical[17]:
            raise DocumentInvalid(
                "invalid_check_digit", "The ID number's last character does not match the rest."
            )
        _birth_date(canonical[6:14], today or date.today())
    return canonical


def birth_date(cn_id: str, *, today: date | None = None) -> date:
    """The holder's birth date, from a mainland ID number (checked in full first)."""
    canonical = normalise_document(CN_ID, cn_id, today=today)
    return _birth_date(canonical[6:14], today or date.today())


def mask_document(number: str) -> str:
    """The number for display: the middle starred, at most a quarter shown at each end.

    18-character ID numbers keep 4 and 4 (1101**********123X); shorter numbers
    show less, so a 5-character passport number is never shown whole.
    """
    keep = min(4, len(number) // 4)
    if keep == 0:
        return "*" * len(number)
    return number[:keep] + "*" * (len(number) - 2 * keep) + number[-keep:]
