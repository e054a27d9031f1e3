"""`create_app()`: the one place the Litestar application is assembled."""

from __future__ import annotations

from litestar import Litestar

from vistapass.platform.core import FAST_ROUTES, CorePlugin
from vistapass.platform.http.context import RequestContext, TenantHostRouting
from vistapass.platform.http.fast_lane import FastLane
from vistapass.platform.settings import Settings, get_settings


def create_app(settings: Settings | None = None) -> Litestar:
    """Build the app. Without arguments it reads `VISTAPASS_*` (granian calls it so)."""
    settings = settings or get_settings()
    core = CorePlugin(settings)
    app = Litestar(plugins=[core])
    # Host-based tenancy must act before routing; Litestar middleware runs after it.
    # The fast lane comes after it, so that a park's own host reaches it too.
    routed = FastLane(app.asgi_handler, FAST_ROUTES)
    app.asgi_handler = RequestContext(
        TenantHostRouting(routed, settings.base_domain, core.lookup_domain)
    )
    return app
