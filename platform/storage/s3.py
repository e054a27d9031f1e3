"""Objects in an S3-compatible bucket (AWS, MinIO, Ceph, R2), links presigned by S3.

Credentials come from boto3's usual chain (AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY, a profile, an instance role), never from our settings URL.
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from vistapass.platform.storage.base import (
    ObjectNotFound,
    content_disposition,
    validate_content_type,
    validate_expires_in,
    validate_key,
)

_MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})


class S3Storage:
    def __init__(
        self,
        bucket: str,
        endpoint_url: str | None = None,
        region: str | None = None,
    ) -> None:
        if not bucket:
            raise ValueError("S3Storage needs a bucket name")
        self.bucket = bucket
        self.endpoint_url = endpoint_url
        self.region = region
        # A custom endpoint (MinIO, a test server) rarely has wildcard DNS for
        # bucket subdomains, so path-style addressing is the one that works there.
        addressing = "path" if endpoint_url else "auto"
        self._client: Any = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            config=Config(signature_version="s3v4", s3={"addressing_style": addressing}),
        )

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self._client.put_object(
            Bucket=self.bucket,
            Key=validate_key(key),
            Body=data,
            ContentType=validate_content_type(content_type),
        )

    def get(self, key: str) -> bytes:
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=validate_key(key))
        except ClientError as exc:
            if _is_missing(exc):
                raise ObjectNotFound("No object has this key.", details={"key": key}) from None
            raise
        body = response["Body"]
        try:
            return body.read()
        finally:
            body.close()

    def delete(self, key: str) -> None:
        # S3 answers 204 for a missing key too, which is the contract we want.
        self._client.delete_object(Bucket=self.bucket, Key=validate_key(key))

    def exists(self, key: str) -> bool:
        try:
            self._client.head_object(Bucket=self.bucket, Key=validate_key(key))
        except ClientError as exc:
            if _is_missing(exc):
                return False
            raise
        return True

    def signed_url(self, key: str, expires_in: int = 300, filename: str | None = None) -> str:
        params = {"Bucket": self.bucket, "Key": validate_key(key)}
        if filename:
            params["ResponseContentDisposition"] = content_disposition(filename)
        return str(
            self._client.generate_presigned_url(
                "get_object", Params=params, ExpiresIn=validate_expires_in(expires_in)
            )
        )


def _is_missing(exc: ClientError) -> bool:
    return str(exc.response.get("Error", {}).get("Code", "")) in _MISSING_CODES
