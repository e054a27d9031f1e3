"""A named ticket's holder check for the gates: the ID number hashed slowly, salted per ticket.

An edge must tell whether the ID card a visitor presents with a named ticket is
the holder's, with the uplink down, yet a stolen edge disk must not give up the
holders' ID numbers. The park's lookup hash (`holders.document_hash`) cannot go
to edges with its key: with both, the small ID-number space falls to a brute
force in minutes. So each named ticket gets its own check, made when it is sold:
a random 16-byte salt and scrypt of the normalised number with it. An edge
compares a presented number by hashing it with that ticket's salt (a few
milliseconds, once per scan with an ID); someone holding the disk must run the
whole ID-number space through scrypt for each ticket separately.

Only mainland ID cards get one: that is the document a gate's reader reads.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from vistapass.tenants.visitors.documents import CN_ID, normalise_document

SALT_BYTES = 16
DIGEST_BYTES = 16
CHECK_BYTES = SALT_BYTES + DIGEST_BYTES
# scrypt cost: 2 MiB of memory and a few milliseconds per hash on a gate's edge.
SCRYPT_N = 2**11
SCRYPT_R = 8
SCRYPT_P = 1


def holder_digest(salt: bytes, number: str) -> bytes:
    """scrypt of a normalised mainland ID number with a ticket's salt."""
    return hashlib.scrypt(
        f"{CN_ID}:{number}".encode(),
        salt=salt,
        n=SCRYPT_N,
        r=SCRYPT_R,
        p=SCRYPT_P,
        maxmem=4 * 128 * SCRYPT_R * SCRYPT_N,
        dklen=DIGEST_BYTES,
    )


def new_holder_check(document_type: str, number: str) -> bytes | None:
    """The check stored with a named ticket's holder (salt + digest); None but for ID cards.

    `number` is already normalised (`normalise_document`)."""
    if document_type != CN_ID:
        return None
    salt = os.urandom(SALT_BYTES)
    return salt + holder_digest(salt, number)


def presented_digest(check: bytes, presented: str) -> bytes:
    """The digest a presented ID number gives under this check's salt.

    Raises `DocumentInvalid` for a number that is not a valid ID card number."""
    return holder_digest(check[:SALT_BYTES], normalise_document(CN_ID, presented))


def matches(check: bytes, digest: bytes) -> bool:
    return len(check) == CHECK_BYTES and hmac.compare_digest(check[SALT_BYTES:], digest)
