"""The core plugin: settings, resources, routes, error handling and docs for the app.

A domain package joins the app by adding its controllers to `PLATFORM_ROUTES`
(platform-wide) or `TENANT_ROUTES` (served per park under `/p/<slug>/`), and its
template folder to `TEMPLATE_DIRS`. Every route declares its permission
(`vistapass.platform.authz.permissions`); the app-wide guard checks it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from litestar import Litestar, Request
from litestar.config.app import AppConfig
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import CacheControlHeader
from litestar.openapi.config import OpenAPIConfig
from litestar.plugins import InitPluginProtocol
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from vistapass.platform.admin.controllers import AdminApiController, AdminConsoleController
from vistapass.platform.audit.controllers import AUDIT_ROUTES
from vistapass.platform.authz.enforcer import Authorizer
from vistapass.platform.authz.guard import authorization_guard
from vistapass.platform.authz.permissions import public
from vistapass.platform.cache import redis_client
from vistapass.platform.console.controllers import (
    ConsoleHomeController,
    ParkConsoleController,
    switch_language,
)
from vistapass.platform.console.i18n import (
    LANG_COOKIE,
    current_language,
    gettext_current,
    ngettext_current,
    pick_language,
)
from vistapass.platform.db import Database
from vistapass.platform.domains.controllers import DomainsApiController, DomainsPageController
from vistapass.platform.embedded.services import ensure_services
from vistapass.platform.health.controllers import HealthController
from vistapass.platform.http.exceptions import EXCEPTION_HANDLERS
from vistapass.platform.http.fast_lane import FastRoute
from vistapass.platform.logging import configure_logging, get_logger
from vistapass.platform.login.controllers import LOGIN_ROUTES
from vistapass.platform.mail.controllers import MAIL_ROUTES
from vistapass.platform.mfa.controllers import MFA_ROUTES
from vistapass.platform.settings import Settings
from vistapass.platform.signup.controllers import SIGNUP_ROUTES
from vistapass.platform.staff.accept import InvitationController
from vistapass.platform.staff.controllers import StaffApiController, StaffConsoleController
from vistapass.platform.storage import storage_from_settings
from vistapass.platform.storage.controllers import STORAGE_ROUTES
from vistapass.platform.tenancy.dependencies import tenant_router
from vistapass.platform.tenancy.resolution import DomainResolver
from vistapass.platform.tokens.controllers import TOKEN_ROUTES
from vistapass.platform.worker.broker import configure_broker
from vistapass.tenants.booking.routes import BOOKING_ROUTES
from vistapass.tenants.capacity.controllers import CAPACITY_ROUTES
from vistapass.tenants.catalog.api import CatalogApiController
from vistapass.tenants.catalog.controllers import CATALOG_ROUTES
from vistapass.tenants.catalog.quote_controllers import QUOTE_ROUTES
from vistapass.tenants.checkin.controllers import CHECKIN_ROUTES
from vistapass.tenants.gates.console import GATE_CONSOLE_ROUTES
from vistapass.tenants.gates.hub import GATE_HUB_ROUTES
from vistapass.tenants.ledger.controllers import REPORT_ROUTES
from vistapass.tenants.orders.context import Selling
from vistapass.tenants.orders.controllers import ORDER_ROUTES
from vistapass.tenants.orders.fast_route import FAST_ORDER_ROUTES
from vistapass.tenants.orders.ticket_page import TICKET_PAGE_ROUTES
from vistapass.tenants.orders_console.controllers import ORDERS_CONSOLE_ROUTES
from vistapass.tenants.park.controllers import ParkController
from vistapass.tenants.park.settings_controllers import SETTINGS_ROUTES
from vistapass.tenants.payments.webhooks import WEBHOOK_ROUTES
from vistapass.tenants.tickets.controllers import TICKET_ROUTES
from vistapass.tenants.window.controllers import WINDOW_ROUTES

ROOT = Path(__file__).resolve().parents[1]
log = get_logger(__name__)

PLATFORM_ROUTES: list[Any] = [
    HealthController,
    ConsoleHomeController,
    switch_language,
    *STORAGE_ROUTES,
    *LOGIN_ROUTES,
    *SIGNUP_ROUTES,
    *MAIL_ROUTES,
    *MFA_ROUTES,
    InvitationController,
    AdminConsoleController,
    AdminApiController,
    *WEBHOOK_ROUTES,
    *GATE_HUB_ROUTES,
]
# Routes that also have a way around Litestar for their busiest requests (the
# Litestar route of each stays declared and answers whatever the fast one hands on).
FAST_ROUTES: list[FastRoute] = [*FAST_ORDER_ROUTES]
TENANT_ROUTES: list[Any] = [
    ParkController,
    ParkConsoleController,
    DomainsPageController,
    DomainsApiController,
    *AUDIT_ROUTES,
    *SETTINGS_ROUTES,
    *TOKEN_ROUTES,
    StaffConsoleController,
    StaffApiController,
    *QUOTE_ROUTES,
    CatalogApiController,
    *CATALOG_ROUTES,
    *ORDER_ROUTES,
    *TICKET_PAGE_ROUTES,
    *REPORT_ROUTES,
    *TICKET_ROUTES,
    *ORDERS_CONSOLE_ROUTES,
    *CAPACITY_ROUTES,
    *BOOKING_ROUTES,
    *CHECKIN_ROUTES,
    *WINDOW_ROUTES,
    *GATE_CONSOLE_ROUTES,
]
TEMPLATE_DIRS = [
    ROOT / "platform" / "console" / "templates",
    ROOT / "platform" / "domains" / "templates",
    ROOT / "platform" / "audit" / "templates",
    ROOT / "tenants" / "park" / "templates",
    ROOT / "platform" / "login" / "templates",
    ROOT / "platform" / "signup" / "templates",
    ROOT / "platform" / "mail" / "templates",
    ROOT / "platform" / "mfa" / "templates",
    ROOT / "platform" / "tokens" / "templates",
    ROOT / "platform" / "staff" / "templates",
    ROOT / "platform" / "admin" / "templates",
    ROOT / "tenants" / "catalog" / "templates",
    ROOT / "tenants" / "orders" / "templates",
    ROOT / "tenants" / "orders_console" / "templates",
    ROOT / "tenants" / "capacity" / "templates",
    ROOT / "tenants" / "booking" / "templates",
    ROOT / "tenants" / "checkin" / "templates",
    ROOT / "tenants" / "window" / "templates",
    ROOT / "tenants" / "gates" / "templates",
]
# Our own small scripts and styles, served under /static/ (a folder per domain,
# e.g. tenants/booking/static/booking/step.js is /static/booking/step.js). Libraries
# never live here: they come from a Python package or npm at build time.
STATIC_DIRS = [
    ROOT / "platform" / "static",
    ROOT / "tenants" / "booking" / "static",
    ROOT / "tenants" / "checkin" / "static",
    ROOT / "tenants" / "window" / "static",
    ROOT / "tenants" / "gates" / "static",
]
# JSON APIs: their writes are checked by the authorization guard instead (token
# clients carry no cookie; cookie sessions must echo the CSRF cookie in a header).
CSRF_EXEMPT = [r"^/api/", r"^/p/[^/]+/api/", r"^/schema", r"^/webhooks/", r"^/gate/"]


def _setup_jinja(engine: JinjaTemplateEngine) -> None:
    engine.engine.add_extension("jinja2.ext.i18n")
    engine.engine.install_gettext_callables(  # type: ignore[attr-defined]
        gettext_current, ngettext_current, newstyle=True
    )


async def _choose_language(request: Request[Any, Any, Any]) -> None:
    current_language.set(
        pick_language(request.cookies.get(LANG_COOKIE), request.headers.get("accept-language"))
    )


async def _close_selling(selling: Selling) -> None:
    try:
        await selling.close()
    except Exception:
        # Nothing is lost: unsent cache drops lapse by themselves (availability).
        log.exception("closing selling at shutdown")


class CorePlugin(InitPluginProtocol):
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.domains: DomainResolver | None = None

    async def lookup_domain(self, host: str) -> str | None:
        if self.domains is None:  # before startup finished: nothing is known yet
            return None
        return await self.domains(host)

    @asynccontextmanager
    async def lifespan(self, app: Litestar) -> AsyncIterator[None]:
        services = ensure_services(self.settings)
        settings = services.settings
        db = Database(settings)
        redis = redis_client(settings)
        app.state.update(
            settings=settings,
            db=db,
            redis=redis,
            broker=configure_broker(settings),
            storage=storage_from_settings(settings),
            authorizer=Authorizer(db.sync_engine, redis, settings.redis_namespace),
        )
        self.domains = DomainResolver(db)
        app.state.domains = self.domains
        try:
            yield
        finally:
            self.domains = None
            # Selling (tenants/orders/context.py) is made on first use; it may hold
            # a connection, cache entries to drop and Stripe's connections.
            selling = getattr(app.state, "selling", None)
            if selling is not None:
                await _close_selling(selling)
            await redis.aclose()
            await db.dispose()
            app.state.broker.close()
            services.stop_started()

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        configure_logging(self.settings)
        app_config.debug = False
        app_config.route_handlers.extend([*PLATFORM_ROUTES, tenant_router(TENANT_ROUTES)])
        app_config.route_handlers.append(
            create_static_files_router(
                path="/static",
                directories=[folder for folder in STATIC_DIRS if folder.is_dir()],
                opt=public(),
                cache_control=CacheControlHeader(max_age=3600, public=True),
            )
        )
        app_config.guards.append(authorization_guard)
        app_config.exception_handlers.update(EXCEPTION_HANDLERS)
        app_config.lifespan.append(self.lifespan)
        app_config.before_request = _choose_language
        app_config.csrf_config = CSRFConfig(
            secret=self.settings.effective_secret_key(),
            cookie_secure=self.settings.is_production,
            exclude=CSRF_EXEMPT,
        )
        app_config.template_config = TemplateConfig(
            directory=TEMPLATE_DIRS, engine=JinjaTemplateEngine, engine_callback=_setup_jinja
        )
        app_config.openapi_config = OpenAPIConfig(
            title="Vistapass",
            version="1",
            description="Ticketing for scenic areas, parks and attractions.",
        )
        return app_config
