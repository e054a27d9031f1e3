"""Serves `LocalStorage` signed links; S3 links go to the bucket and never reach us."""

from __future__ import annotations

import time
from typing import Any

from litestar import Request, Response, get
from litestar.params import FromPath, FromQuery

from vistapass.platform.authz.permissions import public
from vistapass.platform.storage.base import ObjectNotFound, content_disposition
from vistapass.platform.storage.local import LocalStorage


# Public: the signature in the link is the permission.
@get("/storage/{key:path}", sync_to_thread=True, include_in_schema=False, opt=public())
def download_object(
    request: Request[Any, Any, Any],
    key: FromPath[str],
    expires: FromQuery[int],
    sig: FromQuery[str],
    filename: FromQuery[str | None] = None,
) -> Response[bytes]:
    storage = getattr(request.app.state, "storage", None)
    if not isinstance(storage, LocalStorage):
        # With S3 this path serves nothing; answer as for any missing object.
        raise ObjectNotFound("No object has this key.")
    key = key.removeprefix("/")
    storage.verify(key, expires, sig, filename)
    stored = storage.get_object(key)
    headers = {
        "Cache-Control": f"private, max-age={max(0, expires - int(time.time()))}",
        "X-Content-Type-Options": "nosniff",
        # Uploaded HTML or SVG opened from this origin must not run script
        # with the app's cookies; the sandbox gives it an opaque origin.
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; sandbox",
    }
    if filename:
        headers["Content-Disposition"] = content_disposition(filename)
    return Response(stored.data, media_type=stored.content_type, headers=headers)


STORAGE_ROUTES = [download_object]
