"""Objects as files under one directory, with HMAC-signed download links.

The embedded and single-host mode: the app itself serves the signed links
(see `controllers.py`), so nothing but the secret key is needed.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

from vistapass.platform.storage.base import (
    DEFAULT_CONTENT_TYPE,
    InvalidContentType,
    InvalidObjectKey,
    InvalidSignature,
    ObjectNotFound,
    SignatureExpired,
    StoredObject,
    validate_content_type,
    validate_expires_in,
    validate_key,
)

# Every file name gets a suffix with '~', a character keys cannot contain: a
# directory (always a key segment) then never collides with an object file, so
# `a` and `a/b` can both exist as in S3, and no key can land on a sidecar.
_DATA_SUFFIX = "~data"
_META_SUFFIX = "~meta"
_TEMP_MARK = "~tmp-"


class LocalStorage:
    def __init__(self, root: Path, secret_key: str, base_url: str) -> None:
        if not secret_key:
            raise ValueError("LocalStorage needs a secret key to sign download URLs")
        self.root = Path(root).expanduser().resolve()
        self.base_url = base_url.rstrip("/")
        self._secret = secret_key.encode()

    def put(self, key: str, data: bytes, content_type: str) -> None:
        validate_content_type(content_type)
        data_path, meta_path = self._paths(key)
        data_path.parent.mkdir(parents=True, exist_ok=True)
        # The sidecar goes first: once the data file is in place, its content
        # type is too, so a reader never sees a finished object without one.
        _write_atomically(meta_path, json.dumps({"content_type": content_type}).encode())
        _write_atomically(data_path, data)

    def get(self, key: str) -> bytes:
        return self.get_object(key).data

    def get_object(self, key: str) -> StoredObject:
        data_path, meta_path = self._paths(key)
        try:
            data = data_path.read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise ObjectNotFound("No object has this key.", details={"key": key}) from None
        return StoredObject(data=data, content_type=_read_content_type(meta_path))

    def delete(self, key: str) -> None:
        data_path, meta_path = self._paths(key)
        # Data first: an object without its sidecar still reads (as octet-stream),
        # a sidecar without data is invisible.
        data_path.unlink(missing_ok=True)
        meta_path.unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        data_path, _ = self._paths(key)
        return data_path.is_file()

    def signed_url(self, key: str, expires_in: int = 300, filename: str | None = None) -> str:
        validate_key(key)
        expires = int(time.time()) + validate_expires_in(expires_in)
        query: dict[str, str | int] = {
            "expires": expires,
            "sig": self._sign(key, expires, filename),
        }
        if filename:
            query["filename"] = filename
        return f"{self.base_url}/storage/{key}?{urlencode(query)}"

    def verify(
        self,
        key: str,
        expires: int,
        sig: str,
        filename: str | None = None,
        now: float | None = None,
    ) -> None:
        """Raise unless `sig` was made by `signed_url` for these values and is still valid.

        The signature is checked before the expiry so that a forged expiry reads
        as a bad signature, not as a merely stale link.
        """
        validate_key(key)
        expected = self._sign(key, expires, filename)
        # compare_digest raises on non-ASCII str, and a hostile query may hold some.
        if not sig.isascii() or not hmac.compare_digest(expected, sig):
            raise InvalidSignature("The download link is not valid.")
        if (time.time() if now is None else now) > expires:
            raise SignatureExpired("The download link has expired.", details={"expires": expires})

    def _sign(self, key: str, expires: int, filename: str | None) -> str:
        message = f"{key}\n{expires}\n{filename or ''}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def _paths(self, key: str) -> tuple[Path, Path]:
        validate_key(key)
        target = (self.root / key).resolve()
        # validate_key already rules out '..', but a symlink planted under the
        # root could still point elsewhere; the resolved path must stay inside.
        if not target.is_relative_to(self.root) or target == self.root:
            raise InvalidObjectKey("The object key leaves the storage root.", details={"key": key})
        return (
            target.with_name(target.name + _DATA_SUFFIX),
            target.with_name(target.name + _META_SUFFIX),
        )


def _read_content_type(meta_path: Path) -> str:
    try:
        meta = json.loads(meta_path.read_bytes())
    except (FileNotFoundError, ValueError):
        return DEFAULT_CONTENT_TYPE
    content_type = meta.get("content_type") if isinstance(meta, dict) else None
    # Re-checked on the way out because it becomes a response header.
    try:
        return (
            validate_content_type(content_type)
            if isinstance(content_type, str)
            else DEFAULT_CONTENT_TYPE
        )
    except InvalidContentType:
        return DEFAULT_CONTENT_TYPE


def _write_atomically(path: Path, data: bytes) -> None:
    # A temp file in the same directory and a rename: readers see the old
    # object or the new one, never a half-written file, even after a crash.
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=path.name + _TEMP_MARK)
    temp_path = Path(temp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        temp_path.replace(path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temp_path.unlink()
        raise
