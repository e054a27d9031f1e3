"""One typed settings object, read from `VISTAPASS_*` environment variables.

Empty URLs mean "use the embedded server" (see `vistapass.platform.embedded`);
production refuses that and refuses empty secrets.
"""

from __future__ import annotations

import secrets
from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class SettingsError(Exception):
    """The configuration cannot be used as it is; the message says why."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VISTAPASS_", extra="ignore")

    env: Environment = Environment.DEVELOPMENT
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    worker_processes: int = Field(default=1, ge=1, le=64)
    worker_threads: int = Field(default=4, ge=1, le=64)

    data_dir: Path = Path(".vistapass")
    database_url: str = ""
    redis_url: str = ""
    storage_url: str = ""
    # Used to sign storage URLs (and, later, sessions). Empty in development:
    # a random one is kept in the data directory so signed links survive restarts.
    secret_key: str = ""

    base_domain: str = "localhost"
    public_url: str = ""
    # Prefix of the per-park PostgreSQL roles (`<prefix>_t_<slug>`). Roles are
    # cluster-wide, so two deployments sharing one server need different prefixes.
    db_role_prefix: str = Field(default="vp", pattern=r"^[a-z][a-z0-9]{0,11}$")
    db_pool_size: int = Field(default=10, ge=1, le=200)
    db_connect_timeout: float = Field(default=2.0, gt=0, le=60)
    # How long a request waits for a pooled connection: a rush queues rather than fails.
    db_pool_timeout: float = Field(default=15.0, gt=0, le=120)
    migrate_concurrency: int = Field(default=4, ge=1, le=64)
    redis_namespace: str = Field(default="vistapass", pattern=r"^[a-zA-Z0-9_.:-]{1,40}$")

    # Outgoing mail. Without an SMTP host, mail goes to the dev mailbox (/dev/mailbox).
    smtp_host: str = ""
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = True
    mail_from: str = "Vistapass <no-reply@vistapass.localhost>"
    audit_retention_days: int = Field(default=180, ge=1)
    signups_per_ip_per_hour: int = Field(default=10, ge=1)
    # Where a custom domain's verification token is fetched from ({domain} is
    # filled in); behind a proxy or in tests it can point elsewhere.
    domain_verify_url: str = "http://{domain}/.well-known/vistapass-domain-verification.txt"

    # Real-name data and ticket keys are sealed with per-park data keys, which are
    # wrapped by a key derived from the secret key, or by this AWS KMS key when set.
    kms_key_id: str = ""
    # Stripe (card, WeChat Pay, Alipay); parks are connected accounts. Without an API
    # key, web orders take the labelled test payment outside production.
    stripe_api_key: str = ""
    stripe_webhook_secret: str = ""
    stripe_publishable_key: str = ""  # pk_...: the booking page's Stripe.js needs it
    stripe_api_base: str = ""  # tests point the real client at a local stand-in
    platform_fee_bp: int = Field(default=100, ge=0, le=10_000)  # of each Stripe payment
    platform_fee_fixed: int = Field(default=0, ge=0)  # minor units per Stripe payment
    # How many requests past the last place a hot slot's Redis gate still lets through
    # to PostgreSQL, so a buyer whose payment fails does not strand a place.
    flash_sale_margin: int = Field(default=5, ge=0, le=1000)

    log_level: str = "INFO"
    log_format: str = Field(default="auto", pattern="^(auto|json|console)$")
    demo_park: bool = True

    @field_validator("base_domain")
    @classmethod
    def _lower_domain(cls, value: str) -> str:
        return value.strip().lower().strip(".")

    @property
    def is_production(self) -> bool:
        return self.env == Environment.PRODUCTION

    @property
    def resolved_data_dir(self) -> Path:
        return self.data_dir.expanduser().resolve()

    @property
    def url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"

    def check_production(self) -> None:
        """Refuse a production start with an embedded server or an empty secret."""
        if not self.is_production:
            return
        missing = [
            name
            for name, value in (
                ("VISTAPASS_DATABASE_URL", self.database_url),
                ("VISTAPASS_REDIS_URL", self.redis_url),
                ("VISTAPASS_STORAGE_URL", self.storage_url),
                ("VISTAPASS_SECRET_KEY", self.secret_key),
                ("VISTAPASS_SMTP_HOST", self.smtp_host),
            )
            if not value
        ]
        if missing:
            raise SettingsError(
                "VISTAPASS_ENV=production refuses embedded servers and empty secrets; "
                f"set {', '.join(missing)}"
            )
        if len(self.secret_key) < 32:
            raise SettingsError("VISTAPASS_SECRET_KEY must be at least 32 characters")

    def effective_secret_key(self) -> str:
        """The configured secret, or (outside production) one kept in the data dir."""
        if self.secret_key:
            return self.secret_key
        self.check_production()
        path = self.resolved_data_dir / "secret_key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path.read_text().strip()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
