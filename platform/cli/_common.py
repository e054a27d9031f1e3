"""What the commands share: settings, services, running async code, reporting errors."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import click
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError

from vistapass.platform.db import Database
from vistapass.platform.embedded.services import Services, ensure_services
from vistapass.platform.errors import VistapassError
from vistapass.platform.settings import Settings, SettingsError

T = TypeVar("T")

EXIT_FAILED = 1
EXIT_USAGE = 2


def fail(message: str, code: int = EXIT_FAILED) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def load_settings() -> Settings:
    try:
        settings = Settings()
        settings.check_production()
    except ValidationError as exc:
        problems = "; ".join(
            f"VISTAPASS_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
            for e in exc.errors()
        )
        fail(f"invalid configuration: {problems}", EXIT_USAGE)
    except SettingsError as exc:
        fail(str(exc), EXIT_USAGE)
    return settings


@contextmanager
def services(settings: Settings | None = None) -> Iterator[Services]:
    """Resolved URLs for this command; embedded servers it had to start stop at the end."""
    running = ensure_services(settings or load_settings())
    try:
        yield running
    finally:
        running.stop_started()


def run_async(settings: Settings, work: Callable[[Database], Awaitable[T]]) -> T:
    """Run `work(db)` on a fresh Database; known errors become a message and exit code."""

    async def main() -> T:
        db = Database(settings)
        try:
            return await work(db)
        finally:
            await db.dispose()

    try:
        return asyncio.run(main())
    except VistapassError as exc:
        fail(f"{exc.code}: {exc.message}")
    except DBAPIError as exc:
        fail(f"database_error: {str(exc.orig).strip().splitlines()[0]}")
    raise AssertionError("unreachable")
