"""Resolve the PostgreSQL and Redis URLs a process uses, starting embedded ones if empty."""

from __future__ import annotations

from dataclasses import dataclass, field

from vistapass.platform.embedded.postgres import EmbeddedPostgres
from vistapass.platform.embedded.redis import EmbeddedRedis
from vistapass.platform.settings import Settings


@dataclass
class Services:
    """The settings with every URL filled in, and the servers this process started."""

    settings: Settings
    started: list[EmbeddedPostgres | EmbeddedRedis] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        """Variables that hand the resolved URLs to child processes."""
        return {
            "VISTAPASS_DATABASE_URL": self.settings.database_url,
            "VISTAPASS_REDIS_URL": self.settings.redis_url,
            "VISTAPASS_DATA_DIR": str(self.settings.resolved_data_dir),
        }

    def stop_started(self) -> None:
        """Stop only what this process started; a reused server belongs to its starter."""
        for server in reversed(self.started):
            server.stop()
        self.started.clear()


def ensure_services(settings: Settings) -> Services:
    settings.check_production()
    data_dir = settings.resolved_data_dir
    updates: dict[str, str] = {}
    services = Services(settings=settings)
    if not settings.database_url:
        postgres = EmbeddedPostgres(data_dir)
        running = postgres.ensure_running()
        if running.started_here:
            services.started.append(postgres)
        updates["database_url"] = running.url()
    if not settings.redis_url:
        redis = EmbeddedRedis(data_dir)
        running_redis = redis.ensure_running()
        if running_redis.started_here:
            services.started.append(redis)
        updates["redis_url"] = running_redis.url
    if updates:
        services.settings = settings.model_copy(update=updates)
    return services
