from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vistapass.platform.errors import VistapassError
from vistapass.tenants.visitors import (
    DOCUMENT_TYPES,
    DocumentInvalid,
    birth_date,
    mask_document,
    normalise_document,
)

SAMPLE = "11010519491231002X"  # the standard's well-known sample number
TODAY = date(2026, 5, 1)


def iso7064_check(first17: str) -> str:
    """MOD 11-2 from its definition: weights 2^(17-i) mod 11, check value (12 - S mod 11) mod 11.

    Written independently of the module's weight and character tables on purpose.
    """
    total = sum(int(digit) * pow(2, 17 - i, 11) for i, digit in enumerate(first17))
    value = (12 - total % 11) % 11
    return "X" if value == 10 else str(value)


def cn_id(region: str, born: date, sequence: str) -> str:
    first17 = f"{region}{born:%Y%m%d}{sequence}"
    return first17 + iso7064_check(first17)


def _code(doc_type: str, number: str) -> str:
    with pytest.raises(DocumentInvalid) as info:
        normalise_document(doc_type, number, today=TODAY)
    return info.value.code


cn_ids = st.builds(
    cn_id,
    st.from_regex(r"[1-8][0-9]{5}", fullmatch=True),
    st.dates(date(1900, 1, 1), TODAY),
    st.from_regex(r"[0-9]{3}", fullmatch=True),
)


# Mainland identity cards


def test_the_sample_number_is_valid() -> None:
    assert iso7064_check(SAMPLE[:17]) == "X"
    assert normalise_document("cn_id", SAMPLE, today=TODAY) == SAMPLE
    assert normalise_document("cn_id", SAMPLE.lower(), today=TODAY) == SAMPLE
    assert normalise_document("cn_id", " 110105 19491231 002x ", today=TODAY) == SAMPLE
    # Full-width digits, as some Chinese input methods type them.
    assert (
        normalise_document("cn_id", "１１０１０５１９４９１２３１００２Ｘ", today=TODAY) == SAMPLE
    )
    assert birth_date(SAMPLE) == date(1949, 12, 31)


@given(cn_ids)
def test_numbers_built_by_the_standard_are_valid(number: str) -> None:
    assert normalise_document("cn_id", number, today=TODAY) == number


@given(cn_ids, st.data())
def test_any_single_changed_digit_is_caught(number: str, data: st.DataObject) -> None:
    position = data.draw(st.integers(0, 17), label="position")
    alphabet = "0123456789X" if position == 17 else "0123456789"
    replacement = data.draw(st.sampled_from(alphabet.replace(number[position], "")))
    altered = number[:position] + replacement + number[position + 1 :]
    assert _code("cn_id", altered) == "invalid_check_digit"


@given(cn_ids, st.integers(0, 15))
def test_swapped_neighbours_are_caught(number: str, position: int) -> None:
    if number[position] != number[position + 1]:
        swapped = (
            number[:position] + number[position + 1] + number[position] + number[position + 2 :]
        )
        assert _code("cn_id", swapped) == "invalid_check_digit"


@pytest.mark.parametrize(
    "number", ["", "11010519491231002", "110105194912310021X", "1101051949123100XX", "A1010519491"]
)
def test_malformed_ids_are_refused(number: str) -> None:
    assert _code("cn_id", number) == "invalid_id_number"


@pytest.mark.parametrize(
    "digits", ["19491331", "19490230", "18991231", "20260502", "00000000", "20250229"]
)
def test_impossible_birth_dates_are_refused(digits: str) -> None:
    first17 = f"110105{digits}002"
    assert _code("cn_id", first17 + iso7064_check(first17)) == "invalid_birth_date"


def test_birth_dates_at_the_bounds_are_accepted() -> None:
    for born in (date(1900, 1, 1), TODAY, date(2024, 2, 29)):
        number = cn_id("440305", born, "123")
        assert birth_date(number, today=TODAY) == born


def test_birth_date_checks_the_whole_number() -> None:
    with pytest.raises(DocumentInvalid) as info:
        birth_date(SAMPLE[:-1] + "1")
    assert info.value.code == "invalid_check_digit"


# Other documents


@pytest.mark.parametrize(
    ("doc_type", "number", "canonical"),
    [
        ("passport", "e 1234 5678", "E12345678"),
        ("passport", "G1234", "G1234"),
        ("passport", "A" * 20, "A" * 20),
        ("hk_mo_permit", "h12345678", "H12345678"),
        ("hk_mo_permit", "M1234567890", "M1234567890"),
        ("tw_permit", "12345678", "12345678"),
        ("tw_permit", "1234567890", "1234567890"),
        ("tw_permit", "a123456789", "A123456789"),
        ("foreign_permanent", "usa123456789012", "USA123456789012"),
        ("foreign_permanent", "911234198001011234", "911234198001011234"),
    ],
)
def test_other_documents_are_normalised(doc_type: str, number: str, canonical: str) -> None:
    assert normalise_document(doc_type, number) == canonical


@pytest.mark.parametrize(
    ("doc_type", "number"),
    [
        ("passport", "E123"),
        ("passport", "A" * 21),
        ("passport", "E1234-5678"),
        ("passport", "É12345678"),
        ("passport", "\u041512345678"),  # Cyrillic IE, which looks like E
        ("passport", "E１２３٤٥"),  # Arabic-Indic digits are digits, but not ours
        ("hk_mo_permit", "K12345678"),
        ("hk_mo_permit", "H1234567"),
        ("hk_mo_permit", "H123456789"),
        ("hk_mo_permit", "H1234567A"),
        ("tw_permit", "1234567"),
        ("tw_permit", "123456789"),
        ("tw_permit", "1234567A"),
        ("foreign_permanent", "USA12345678901"),
        ("foreign_permanent", "USA1234567890123"),
    ],
)
def test_other_documents_are_checked(doc_type: str, number: str) -> None:
    assert _code(doc_type, number) == "invalid_id_number"


def test_unknown_document_types_are_refused() -> None:
    assert set(DOCUMENT_TYPES) == {
        "cn_id",
        "passport",
        "hk_mo_permit",
        "tw_permit",
        "foreign_permanent",
    }
    assert _code("driving_licence", "12345678") == "unknown_document_type"
    assert _code("CN_ID", SAMPLE) == "unknown_document_type"


def test_document_errors_are_unprocessable_entities() -> None:
    with pytest.raises(VistapassError) as info:
        normalise_document("passport", "x")
    assert info.value.status_code == 422
    assert "5 to 20" in info.value.message


# Display


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        (SAMPLE, "1101**********002X"),
        ("E12345678", "E1*****78"),
        ("G1234", "G***4"),
        ("H12345678", "H1*****78"),
        ("ABC", "***"),
        ("", ""),
    ],
)
def test_mask_document(number: str, masked: str) -> None:
    assert mask_document(number) == masked
