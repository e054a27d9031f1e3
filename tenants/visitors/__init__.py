"""Visitors: the people real-name tickets are issued to, and their identity documents."""

from __future__ import annotations

from vistapass.tenants.visitors.documents import (
    DOCUMENT_TYPES,
    DocumentInvalid,
    birth_date,
    mask_document,
    normalise_document,
)

__all__ = [
    "DOCUMENT_TYPES",
    "DocumentInvalid",
    "birth_date",
    "mask_document",
    "normalise_document",
]
