"""Object storage: one `Storage` contract, a local and an S3 backend, chosen by settings."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from vistapass.platform.settings import Settings, SettingsError
from vistapass.platform.storage.base import (
    InvalidContentType,
    InvalidObjectKey,
    InvalidSignature,
    ObjectNotFound,
    SignatureExpired,
    Storage,
    StoredObject,
    content_disposition,
    tenant_key,
    validate_key,
)
from vistapass.platform.storage.local import LocalStorage
from vistapass.platform.storage.s3 import S3Storage

__all__ = [
    "InvalidContentType",
    "InvalidObjectKey",
    "InvalidSignature",
    "LocalStorage",
    "ObjectNotFound",
    "S3Storage",
    "SignatureExpired",
    "Storage",
    "StoredObject",
    "content_disposition",
    "storage_from_settings",
    "tenant_key",
    "validate_key",
]

_S3_PARAMS = frozenset({"endpoint", "region"})


def storage_from_settings(settings: Settings) -> Storage:
    """The backend `VISTAPASS_STORAGE_URL` names.

    Empty means files under the data directory; `file:///abs/path` puts them
    elsewhere; `s3://bucket?endpoint=...&region=...` uses a bucket.
    """
    url = settings.storage_url.strip()
    if not url:
        return LocalStorage(
            settings.resolved_data_dir / "storage", settings.effective_secret_key(), settings.url
        )
    parts = urlsplit(url)
    if parts.scheme == "file":
        return _local_from_url(settings, url)
    if parts.scheme == "s3":
        return _s3_from_url(url)
    raise SettingsError(
        f"VISTAPASS_STORAGE_URL has the unsupported scheme {parts.scheme or '(none)'!r}; "
        "use file:///absolute/path or s3://bucket?endpoint=...&region=..., or leave it empty"
    )


def _local_from_url(settings: Settings, url: str) -> LocalStorage:
    parts = urlsplit(url)
    path = Path(unquote(parts.path))
    if parts.netloc not in {"", "localhost"} or not path.is_absolute() or parts.query:
        raise SettingsError(
            "VISTAPASS_STORAGE_URL with file:// must be an absolute path like file:///var/lib/vistapass"
        )
    return LocalStorage(path, settings.effective_secret_key(), settings.url)


def _s3_from_url(url: str) -> S3Storage:
    parts = urlsplit(url)
    # Credentials in a URL end up in logs and process listings; boto3's chain
    # (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, profiles, roles) keeps them out.
    if "@" in parts.netloc:
        raise SettingsError(
            "VISTAPASS_STORAGE_URL must not carry credentials; "
            "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY instead"
        )
    bucket = parts.hostname or ""
    if not bucket or parts.path not in {"", "/"}:
        raise SettingsError(
            "VISTAPASS_STORAGE_URL with s3:// must look like s3://bucket?region=..."
        )
    params = parse_qs(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    unknown = set(params) - _S3_PARAMS
    if unknown:
        raise SettingsError(
            f"VISTAPASS_STORAGE_URL has unsupported parameters {sorted(unknown)}; only "
            "endpoint and region are read, credentials come from AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY"
        )
    if any(len(values) > 1 for values in params.values()):
        raise SettingsError("VISTAPASS_STORAGE_URL repeats a parameter")
    endpoint = params.get("endpoint", [""])[0] or None
    if endpoint is not None and urlsplit(endpoint).scheme not in {"http", "https"}:
        raise SettingsError("The s3:// endpoint parameter must be an http:// or https:// URL")
    return S3Storage(bucket, endpoint_url=endpoint, region=params.get("region", [""])[0] or None)
