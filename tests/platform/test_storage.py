from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import httpx
import pytest
from litestar import Litestar, MediaType, Request, Response
from litestar.testing import TestClient
from moto.server import ThreadedMotoServer

from vistapass.platform.errors import VistapassError, error_body
from vistapass.platform.settings import Settings, SettingsError
from vistapass.platform.storage import (
    InvalidObjectKey,
    InvalidSignature,
    LocalStorage,
    ObjectNotFound,
    S3Storage,
    SignatureExpired,
    Storage,
    storage_from_settings,
    tenant_key,
    validate_key,
)
from vistapass.platform.storage.controllers import STORAGE_ROUTES

SECRET = "test-secret-key-that-is-long-enough-0123456789"
BASE_URL = "http://parks.example"


@pytest.fixture
def local(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "storage", SECRET, BASE_URL + "/")


def _render_error(_: Request[Any, Any, Any], exc: VistapassError) -> Response[dict[str, Any]]:
    return Response(
        error_body(exc.code, exc.message, exc.details),
        status_code=exc.status_code,
        media_type=MediaType.JSON,
    )


@pytest.fixture
def client(local: LocalStorage) -> Iterator[TestClient[Litestar]]:
    app = Litestar(
        route_handlers=STORAGE_ROUTES, exception_handlers={VistapassError: _render_error}
    )
    app.state.storage = local
    with TestClient(app) as test_client:
        yield test_client


def _path_and_query(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def _query(url: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


# Local backend


def test_local_round_trip(local: LocalStorage) -> None:
    key = tenant_key("alpine-park", "tickets", "T-1.pdf")
    assert key == "t/alpine-park/tickets/T-1.pdf"
    assert isinstance(local, Storage)
    assert not local.exists(key)

    local.put(key, b"%PDF-1", "application/pdf")
    assert local.exists(key)
    assert local.get(key) == b"%PDF-1"
    assert local.get_object(key).content_type == "application/pdf"

    local.put(key, b"%PDF-2", "application/pdf")
    assert local.get(key) == b"%PDF-2"

    local.delete(key)
    assert not local.exists(key)
    with pytest.raises(ObjectNotFound):
        local.get(key)
    local.delete(key)


def test_local_keys_do_not_collide_with_each_other_or_sidecars(local: LocalStorage) -> None:
    local.put("a", b"file", "text/plain")
    local.put("a/b", b"nested", "text/plain")
    local.put("a.meta", b"not a sidecar", "text/plain")
    assert local.get("a") == b"file"
    assert local.get("a/b") == b"nested"
    assert local.get_object("a").content_type == "text/plain"
    assert not local.exists("t")
    assert not [p for p in local.root.rglob("*") if "~tmp-" in p.name]


def test_tenant_keys_keep_parks_apart(local: LocalStorage) -> None:
    local.put(tenant_key("alpine-park", "logo.png"), b"alpine", "image/png")
    local.put(tenant_key("lake-park", "logo.png"), b"lake", "image/png")
    assert local.get("t/alpine-park/logo.png") == b"alpine"
    assert local.get("t/lake-park/logo.png") == b"lake"
    with pytest.raises(VistapassError):
        tenant_key("../x", "logo.png")
    with pytest.raises(InvalidObjectKey):
        tenant_key("alpine-park", "../lake-park/logo.png")


@pytest.mark.parametrize(
    "key",
    ["../x", "/abs", "a//b", "a/../b", "a/./b", "a/", "bilet/ü.pdf", "", "x" * 513, "a\nb", "a\\b"],
)
def test_invalid_keys_are_rejected(local: LocalStorage, key: str) -> None:
    with pytest.raises(InvalidObjectKey) as info:
        validate_key(key)
    assert info.value.status_code == 400
    assert info.value.code == "invalid_object_key"
    with pytest.raises(InvalidObjectKey):
        local.put(key, b"x", "text/plain")
    with pytest.raises(InvalidObjectKey):
        local.get(key)
    with pytest.raises(InvalidObjectKey):
        local.signed_url(key)


def test_longest_key_is_accepted() -> None:
    key = "a/" * 255 + "bc"
    assert len(key) == 512
    assert validate_key(key) == key


def test_symlink_out_of_root_is_refused(local: LocalStorage, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    local.root.mkdir(parents=True)
    (local.root / "escape").symlink_to(outside, target_is_directory=True)
    with pytest.raises(InvalidObjectKey):
        local.put("escape/x", b"x", "text/plain")
    assert not any(outside.iterdir())


def test_signed_url_verifies(local: LocalStorage) -> None:
    url = local.signed_url("t/alpine-park/a.pdf", expires_in=60, filename="Ticket 1.pdf")
    assert url.startswith(f"{BASE_URL}/storage/t/alpine-park/a.pdf?")
    query = _query(url)
    expires = int(query["expires"])
    assert time.time() < expires <= time.time() + 61
    assert query["filename"] == "Ticket 1.pdf"

    local.verify("t/alpine-park/a.pdf", expires, query["sig"], "Ticket 1.pdf")

    tampered_sig = ("0" if query["sig"][0] != "0" else "1") + query["sig"][1:]
    with pytest.raises(InvalidSignature):
        local.verify("t/alpine-park/a.pdf", expires, tampered_sig, "Ticket 1.pdf")
    with pytest.raises(InvalidSignature):
        local.verify("t/lake-park/a.pdf", expires, query["sig"], "Ticket 1.pdf")
    with pytest.raises(InvalidSignature):
        local.verify("t/alpine-park/a.pdf", expires + 3600, query["sig"], "Ticket 1.pdf")
    with pytest.raises(InvalidSignature):
        local.verify("t/alpine-park/a.pdf", expires, query["sig"], "other.pdf")
    with pytest.raises(InvalidSignature):
        local.verify("t/alpine-park/a.pdf", expires, "ü" * 64, "Ticket 1.pdf")
    with pytest.raises(SignatureExpired):
        local.verify("t/alpine-park/a.pdf", expires, query["sig"], "Ticket 1.pdf", now=expires + 1)
    with pytest.raises(InvalidSignature):
        LocalStorage(local.root, "another-secret", BASE_URL).verify(
            "t/alpine-park/a.pdf", expires, query["sig"], "Ticket 1.pdf"
        )


def test_signed_url_rejects_out_of_range_lifetimes(local: LocalStorage) -> None:
    with pytest.raises(ValueError):
        local.signed_url("a", expires_in=0)
    with pytest.raises(ValueError):
        local.signed_url("a", expires_in=8 * 24 * 3600)


# HTTP route


def test_download_through_signed_url(local: LocalStorage, client: TestClient[Litestar]) -> None:
    local.put("t/alpine-park/map.png", b"\x89PNG-bytes", "image/png")
    response = client.get(_path_and_query(local.signed_url("t/alpine-park/map.png")))
    assert response.status_code == 200
    assert response.content == b"\x89PNG-bytes"
    assert response.headers["content-type"] == "image/png"
    assert response.headers["x-content-type-options"] == "nosniff"
    cache_control = response.headers["cache-control"]
    assert cache_control.startswith("private, max-age=")
    assert 0 < int(cache_control.rsplit("=", 1)[1]) <= 300
    assert "content-disposition" not in response.headers


def test_download_with_filename(local: LocalStorage, client: TestClient[Litestar]) -> None:
    local.put("t/alpine-park/t.pdf", b"%PDF", "application/pdf")
    url = local.signed_url("t/alpine-park/t.pdf", filename='Bilet "Ü".pdf')
    response = client.get(_path_and_query(url))
    assert response.status_code == 200
    assert response.headers["content-disposition"] == (
        "attachment; filename=\"Bilet ___.pdf\"; filename*=UTF-8''Bilet%20%22%C3%9C%22.pdf"
    )


def test_download_rejects_bad_signature(local: LocalStorage, client: TestClient[Litestar]) -> None:
    local.put("t/alpine-park/map.png", b"png", "image/png")
    query = _query(local.signed_url("t/alpine-park/map.png"))
    response = client.get(
        "/storage/t/alpine-park/map.png", params={"expires": query["expires"], "sig": "0" * 64}
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "invalid_signature"

    # A link for one park's file does not open another park's file.
    local.put("t/lake-park/map.png", b"other", "image/png")
    response = client.get("/storage/t/lake-park/map.png", params=query)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "invalid_signature"


def test_download_rejects_expired_link(local: LocalStorage, client: TestClient[Litestar]) -> None:
    local.put("a.txt", b"a", "text/plain")
    expires = int(time.time()) - 10
    sig = local._sign("a.txt", expires, None)
    response = client.get("/storage/a.txt", params={"expires": expires, "sig": sig})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "signature_expired"


def test_download_missing_object(local: LocalStorage, client: TestClient[Litestar]) -> None:
    response = client.get(_path_and_query(local.signed_url("t/alpine-park/gone.pdf")))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "object_not_found"


@pytest.mark.parametrize(
    "path", ["/storage/..%2Fsecret_key", "/storage/a/%2E%2E/%2E%2E/secret_key"]
)
def test_download_refuses_traversal(client: TestClient[Litestar], path: str) -> None:
    response = client.get(path, params={"expires": 9_999_999_999, "sig": "0" * 64})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_object_key"


def test_download_answers_404_when_storage_is_not_local(
    local: LocalStorage, client: TestClient[Litestar]
) -> None:
    url = local.signed_url("a.txt")
    local.put("a.txt", b"a", "text/plain")
    client.app.state.storage = object()
    response = client.get(_path_and_query(url))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "object_not_found"


# Settings


def test_storage_from_settings_empty_url(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, storage_url="", secret_key="", public_url="")
    storage = storage_from_settings(settings)
    assert isinstance(storage, LocalStorage)
    assert storage.root == tmp_path.resolve() / "storage"
    assert storage.base_url == settings.url
    assert storage._secret == settings.effective_secret_key().encode()


def test_storage_from_settings_file_url(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path, storage_url=f"file://{tmp_path}/files", secret_key=SECRET
    )
    storage = storage_from_settings(settings)
    assert isinstance(storage, LocalStorage)
    assert storage.root == tmp_path.resolve() / "files"
    with pytest.raises(SettingsError):
        storage_from_settings(settings.model_copy(update={"storage_url": "file://relative/x"}))


def test_storage_from_settings_s3_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _dummy_aws_env(monkeypatch)
    settings = Settings(
        data_dir=tmp_path,
        storage_url="s3://tickets?endpoint=http://127.0.0.1:9000&region=eu-central-1",
        secret_key=SECRET,
    )
    storage = storage_from_settings(settings)
    assert isinstance(storage, S3Storage)
    assert (storage.bucket, storage.endpoint_url, storage.region) == (
        "tickets",
        "http://127.0.0.1:9000",
        "eu-central-1",
    )


@pytest.mark.parametrize(
    "url",
    [
        "ftp://x",
        "http://bucket",
        "s3://bucket?access_key=a&secret_key=b",
        "s3://key:secret@bucket",
        "s3://bucket?endpoint=ftp://host",
        "s3://?region=us-east-1",
    ],
)
def test_storage_from_settings_rejects(tmp_path: Path, url: str) -> None:
    with pytest.raises(SettingsError):
        storage_from_settings(Settings(data_dir=tmp_path, storage_url=url, secret_key=SECRET))


# S3 against moto's real HTTP server


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def _dummy_aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)


@pytest.fixture
def s3(
    s3_endpoint: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> S3Storage:
    _dummy_aws_env(monkeypatch)
    bucket = "vistapass-" + request.node.name.replace("_", "-").lower()[:40]
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").create_bucket(
        Bucket=bucket
    )
    return S3Storage(bucket, endpoint_url=s3_endpoint, region="us-east-1")


def test_s3_round_trip(s3: S3Storage) -> None:
    key = tenant_key("alpine-park", "tickets", "T-1.pdf")
    assert isinstance(s3, Storage)
    assert not s3.exists(key)
    s3.put(key, b"%PDF-1", "application/pdf")
    assert s3.exists(key)
    assert s3.get(key) == b"%PDF-1"
    s3.delete(key)
    assert not s3.exists(key)
    with pytest.raises(ObjectNotFound):
        s3.get(key)
    s3.delete(key)
    with pytest.raises(InvalidObjectKey):
        s3.put("../x", b"x", "text/plain")


def test_s3_presigned_url_downloads(s3: S3Storage) -> None:
    s3.put("t/alpine-park/map.png", b"\x89PNG-bytes", "image/png")
    response = httpx.get(s3.signed_url("t/alpine-park/map.png", expires_in=60))
    assert response.status_code == 200
    assert response.content == b"\x89PNG-bytes"
    assert response.headers["content-type"] == "image/png"

    response = httpx.get(s3.signed_url("t/alpine-park/map.png", filename="Map.png"))
    assert response.status_code == 200
    assert response.headers["content-disposition"].startswith('attachment; filename="Map.png"')

    unsigned = s3.signed_url("t/alpine-park/map.png").split("?", 1)[0]
    assert httpx.get(unsigned).status_code == 403
