"""What every booking page shares: the park's frame, links that stay on the host the
visitor came in on, the language switch, and the response headers.

A park is served at `/p/<slug>/`, at `<slug>.<base domain>` and at its verified
domains; on those hosts `TenantHostRouting` rewrites `/x` to `/p/<slug>/x` and marks
the request. Pages build every link from `base` so a visitor on the park's own
domain never sees (or is sent to) the platform's `/p/<slug>` form of it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from litestar import Request
from litestar.response import Redirect

from vistapass.platform.console.i18n import LANGUAGES, current_language
from vistapass.platform.http.context import park_base
from vistapass.tenants.models import ParkProfile
from vistapass.tenants.orders.ticket_page import park_context

STRIPE_ORIGIN = "https://js.stripe.com"

# Our pages run our own scripts only; the payment page alone may load Stripe.js, the
# payment provider's own script, with the frames and API calls it needs.
_CSP = (
    "default-src 'self'; img-src * data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'{script}; connect-src 'self'{connect}; frame-src {frames}; "
    "base-uri 'none'; object-src 'none'; frame-ancestors 'self'"
)


def content_security_policy(*, stripe: bool = False) -> str:
    if stripe:
        return _CSP.format(
            script=f" {STRIPE_ORIGIN}",
            connect=" https://api.stripe.com",
            frames=f"{STRIPE_ORIGIN} https://hooks.stripe.com",
        )
    return _CSP.format(script="", connect="", frames="'none'")


def page_headers(*, private: bool = False, stripe: bool = False) -> dict[str, str]:
    """Public pages may be kept for the back button; an order's pages never are.

    `private` pages carry the buyer's link token or their personal data: no shared
    or back-button cache keeps them, no Referer passes the token on, no crawler
    lists them.
    """
    headers = {"Content-Security-Policy": content_security_policy(stripe=stripe)}
    if private:
        headers.update(
            {
                "Cache-Control": "no-store",
                # Stripe.js wants to know the site it runs on: the origin alone, never
                # the path with its token.
                "Referrer-Policy": "strict-origin" if stripe else "no-referrer",
                "X-Robots-Tag": "noindex, nofollow",
            }
        )
    else:
        # `no-cache`, not `no-store`: the back button shows the very page (and its
        # form key) the visitor left, so a resent form replays instead of buying twice.
        headers.update({"Cache-Control": "private, no-cache", "Referrer-Policy": "same-origin"})
    return headers


def base_path(request: Request[Any, Any, Any], slug: str) -> str:
    """`/p/<slug>` when the visitor used that form, "" on the park's own host."""
    return park_base(request.scope.get("state"), slug)


def visible_path(request: Request[Any, Any, Any], slug: str) -> str:
    """This request's path and query as the visitor's browser shows them."""
    path = request.url.path
    prefix = f"/p/{slug}"
    if not base_path(request, slug) and (path == prefix or path.startswith(prefix + "/")):
        path = path[len(prefix) :] or "/"
    return path + (f"?{request.url.query}" if request.url.query else "")


def switch_url(request: Request[Any, Any, Any], slug: str, offered: list[str]) -> str | None:
    """`/lang/<other>` and back to this very page, if the park offers the other language."""
    language = current_language.get()
    other = next((lang for lang in LANGUAGES if lang != language), None)
    if other is None or other not in (offered or LANGUAGES):
        return None
    return f"/lang/{other}?next={quote(visible_path(request, slug), safe='')}"


def frame_from(request: Request[Any, Any, Any], profile: ParkProfile, slug: str) -> dict[str, Any]:
    """The park-branded frame's values, from a profile already loaded."""
    context = park_context(request, profile, slug)
    base = base_path(request, slug)
    context.update(
        base=base,
        switch_url=switch_url(request, slug, list(profile.languages or [])),
        english=context["lang"] == "en",
    )
    return context


def see_other(location: str) -> Redirect:
    """After a form: the browser GETs the next page, so reloading it resends nothing."""
    return Redirect(location, status_code=303)
