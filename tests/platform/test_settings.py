"""Settings: one typed object, safe defaults, and production refuses what is unsafe."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from vistapass.platform.db import normalise_url
from vistapass.platform.settings import Settings, SettingsError


def test_defaults_are_the_embedded_development_setup(monkeypatch) -> None:
    for name in ("VISTAPASS_HOST", "VISTAPASS_PORT", "VISTAPASS_DATABASE_URL", "VISTAPASS_ENV"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert (settings.host, settings.port, settings.env) == ("127.0.0.1", 8000, "development")
    assert settings.database_url == settings.redis_url == settings.storage_url == ""
    assert settings.url == "http://127.0.0.1:8000"


def test_values_come_from_vistapass_variables(monkeypatch) -> None:
    monkeypatch.setenv("VISTAPASS_PORT", "9100")
    monkeypatch.setenv("VISTAPASS_BASE_DOMAIN", "Tickets.Example.CN.")
    settings = Settings()
    assert settings.port == 9100
    assert settings.base_domain == "tickets.example.cn"


def test_bad_values_are_refused_with_the_variable_named(monkeypatch) -> None:
    monkeypatch.setenv("VISTAPASS_PORT", "99999")
    with pytest.raises(ValidationError, match="port"):
        Settings()


@pytest.mark.parametrize(
    ("overrides", "missing"),
    [
        ({}, "VISTAPASS_DATABASE_URL"),
        ({"database_url": "postgresql://db/x", "redis_url": "redis://r"}, "VISTAPASS_STORAGE_URL"),
        (
            {
                "database_url": "postgresql://db/x",
                "redis_url": "redis://r",
                "storage_url": "s3://b",
            },
            "VISTAPASS_SECRET_KEY",
        ),
    ],
)
def test_production_refuses_embedded_servers_and_empty_secrets(overrides, missing) -> None:
    with pytest.raises(SettingsError, match=missing):
        Settings(env="production", **overrides).check_production()


def test_production_refuses_a_short_secret() -> None:
    settings = Settings(
        env="production",
        database_url="postgresql://db/x",
        redis_url="redis://r",
        storage_url="s3://b",
        smtp_host="smtp.example.cn",
        secret_key="short",
    )
    with pytest.raises(SettingsError, match="32 characters"):
        settings.check_production()


def test_a_development_secret_is_generated_once_and_kept(tmp_path: Path) -> None:
    first = Settings(data_dir=tmp_path).effective_secret_key()
    again = Settings(data_dir=tmp_path).effective_secret_key()
    assert first == again and len(first) >= 48
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0
    assert Settings(data_dir=tmp_path, secret_key="given").effective_secret_key() == "given"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u@h:5432/d", "postgresql+psycopg://u@h:5432/d"),
        ("postgres://u:p@h/d", "postgresql+psycopg://u:p@h/d"),
        ("postgresql+psycopg://u@h/d", "postgresql+psycopg://u@h/d"),
    ],
)
def test_database_urls_use_psycopg_3(url: str, expected: str) -> None:
    assert normalise_url(url) == expected
