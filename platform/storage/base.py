"""The storage contract every backend meets, its errors, and the one key validator."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol, runtime_checkable
from urllib.parse import quote

from vistapass.platform.errors import VistapassError
from vistapass.platform.tenancy.naming import validate_slug

MAX_KEY_LENGTH = 512
# S3 refuses presigned URLs valid for more than seven days; the local backend
# keeps the same ceiling so code written against one works on the other.
MAX_EXPIRES_IN = 7 * 24 * 3600
DEFAULT_CONTENT_TYPE = "application/octet-stream"

_SEGMENT = re.compile(r"[A-Za-z0-9._-]+")
# The content type ends up in a response header: printable ASCII only, so no
# header injection and no surprises from a client-supplied value.
_CONTENT_TYPE = re.compile(r"[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+(;[ -~]*)?")
_MAX_CONTENT_TYPE_LENGTH = 255


class InvalidObjectKey(VistapassError):
    status_code = 400
    code = "invalid_object_key"


class InvalidContentType(VistapassError):
    status_code = 400
    code = "invalid_content_type"


class ObjectNotFound(VistapassError):
    status_code = 404
    code = "object_not_found"


class InvalidSignature(VistapassError):
    status_code = 403
    code = "invalid_signature"


class SignatureExpired(VistapassError):
    status_code = 403
    code = "signature_expired"


@dataclass(frozen=True, slots=True)
class StoredObject:
    data: bytes
    content_type: str


@runtime_checkable
class Storage(Protocol):
    """Object storage for files: ticket PDFs, park images, exports.

    Keys pass `validate_key` in every backend; put tenant files under
    `tenant_key(slug, ...)` so one park's objects never share a prefix with another's.
    """

    def put(self, key: str, data: bytes, content_type: str) -> None:
        """Store `data` under `key`, replacing any previous object in one step."""
        ...

    def get(self, key: str) -> bytes:
        """The object's bytes; raises `ObjectNotFound` when there is none."""
        ...

    def delete(self, key: str) -> None:
        """Remove the object; a missing object is not an error."""
        ...

    def exists(self, key: str) -> bool: ...

    def signed_url(self, key: str, expires_in: int = 300, filename: str | None = None) -> str:
        """A URL a browser can fetch without credentials for `expires_in` seconds.

        With `filename` the response asks the browser to download under that name.
        """
        ...


def validate_key(key: str) -> str:
    """Return `key` if it is a safe object key, else raise `InvalidObjectKey`.

    The rules are strict enough that a key maps to a file path and to an S3 key
    the same way on every backend, and can never climb out of its prefix.
    """
    if not isinstance(key, str) or not key:
        raise InvalidObjectKey("An object key must be a non-empty string.", details={"key": key})
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidObjectKey(
            f"An object key is at most {MAX_KEY_LENGTH} characters.",
            details={"length": len(key)},
        )
    for segment in key.split("/"):
        if not _SEGMENT.fullmatch(segment) or segment in {".", ".."}:
            raise InvalidObjectKey(
                "An object key is a relative path of '/'-separated segments made of "
                "letters, digits, '.', '_' and '-', with no empty, '.' or '..' segment.",
                details={"key": key},
            )
    return key


def validate_content_type(content_type: str) -> str:
    if len(content_type) > _MAX_CONTENT_TYPE_LENGTH or not _CONTENT_TYPE.fullmatch(content_type):
        raise InvalidContentType(
            "A content type looks like 'type/subtype' with optional parameters.",
            details={"content_type": content_type[:_MAX_CONTENT_TYPE_LENGTH]},
        )
    return content_type


def validate_expires_in(expires_in: int) -> int:
    if not 0 < expires_in <= MAX_EXPIRES_IN:
        raise ValueError(f"expires_in must be between 1 and {MAX_EXPIRES_IN} seconds")
    return expires_in


def tenant_key(slug: str, *parts: str) -> str:
    """`t/<slug>/<parts...>`: the prefix that keeps each park's files apart."""
    return validate_key("/".join(("t", validate_slug(slug), *parts)))


def content_disposition(filename: str) -> str:
    """An `attachment` header value that is safe for any filename (RFC 6266).

    Quotes, backslashes, control characters and path separators could break the
    header or steer the browser's save path, so the plain-ASCII fallback drops
    them; `filename*` carries the exact name for browsers that read UTF-8.
    """
    fallback = "".join(
        char if " " <= char <= "~" and char not in '"\\/' else "_" for char in filename
    )
    fallback = fallback.strip(" .") or "download"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"
