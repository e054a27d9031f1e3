"""Step 2: who is going. The contact for the order, a holder per real-name ticket,
then the order itself.

The form carries the step-1 selection in hidden fields and a key made when the
page was drawn. The order is placed through `intake.take_order` under that
key: a form sent twice (a double tap, the back button and "send" again) gets the
first order back, never a second one. Whatever goes wrong comes back on this page,
in the visitor's language, with everything they typed still there.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from datetime import date
from typing import Any

from litestar import Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from vistapass.platform.authz.permissions import public
from vistapass.platform.console.pages import Page
from vistapass.platform.errors import VistapassError
from vistapass.platform.tenancy.binding import tenant_session
from vistapass.platform.tenancy.dependencies import CurrentTenant, TenantDbSession
from vistapass.tenants.booking import offer, photos, who
from vistapass.tenants.booking.controllers import not_found, sellable
from vistapass.tenants.booking.member_pass import member_id
from vistapass.tenants.booking.messages import document_labels, error_text, explain
from vistapass.tenants.booking.selection import Params, Selection, read_selection
from vistapass.tenants.booking.site import frame_from, page_headers, see_other
from vistapass.tenants.inventory.availability import availability
from vistapass.tenants.inventory.service import product_slots
from vistapass.tenants.models import ParkProfile, Product
from vistapass.tenants.orders import idempotency
from vistapass.tenants.orders.context import Selling, local_now, selling_for
from vistapass.tenants.orders.intake import take_order
from vistapass.tenants.orders.service import Buyer, OrderRequest
from vistapass.tenants.park.service import get_profile

FORM_SCOPE = "booking form"
# A double-submitted form: the browser shows the answer to the second request, so
# it waits for the first to finish and then shows that same order.
IN_PROGRESS_TRIES = 40
IN_PROGRESS_WAIT = 0.25


def stripe_publishable_key(selling: Selling) -> str:
    """Stripe.js needs the platform's publishable key (a public value, `pk_...`)."""
    return selling.settings.stripe_publishable_key


def payment_provider(selling: Selling, profile: ParkProfile) -> str | None:
    """Stripe where the park has connected it; the test payment outside production."""
    if selling.stripe is not None and profile.stripe_account_id and stripe_publishable_key(selling):
        return "stripe"
    if not selling.settings.is_production:
        return "test"
    return None


class _Step:
    """What step 2 is about: the product, the selection and its price, read once."""

    def __init__(self, product: Product, selection: Selection, labels: dict[str, str]) -> None:
        self.product = product
        self.selection = selection
        self.labels = labels
        self.quote: offer.QuoteView | None = None
        self.ticket_units: list[str] = []
        self.error: VistapassError | None = None


async def _read_step(
    session: AsyncSession,
    product: Product,
    params: Params,
    english: bool,
    today: date,
    member: uuid.UUID | None = None,
) -> _Step:
    units = await offer.units_of(session, product)
    selection = read_selection(
        params,
        product,
        [u.unit for u in units],
        slots=[s.code for s in product_slots(product)],
    )
    step = _Step(product, selection, offer.unit_labels(units, english))
    try:
        _product, quote, entitlements = await offer.price(session, selection, today, member)
    except VistapassError as exc:
        step.error = exc
        return step
    step.quote = offer.quote_view(quote, entitlements, step.labels)
    step.ticket_units = [step.labels.get(e.unit, e.unit) for e in entitlements]
    return step


def _slot_label(product: Product, slot: str | None) -> str | None:
    for info in product_slots(product):
        if info.code == slot:
            return f"{info.start}–{info.end}"
    return slot


def _page(
    context: dict[str, Any],
    step: _Step,
    form: who.WhoForm,
    key: str,
    *,
    error: str | None = None,
    sold_out: bool = False,
    status: int = 200,
) -> Template:
    base = context["base"]
    selection = step.selection
    english = context["english"]
    day = selection.day
    return Page(
        "booking/step2.html",
        context={
            **context,
            "product_name": offer.product_name(step.product, english),
            "day_label": offer.day_label(day, context["lang"], "full") if day else "",
            "slot_label": _slot_label(step.product, selection.slot),
            "quote": step.quote,
            "ticket_units": step.ticket_units,
            "form": form,
            "key": key,
            "hidden": selection.pairs(),
            "documents": document_labels(),
            "error": error,
            "sold_out": sold_out,
            **photos.page_context(photos.face_mode(step.product, step.quote)),
            "action": f"{base}/buy/{step.product.code}/who",
            "back_url": f"{base}/buy/{step.product.code}?{selection.query()}",
            # The step-2 script checks documents as they are typed, in these words.
            "script": {
                code: error_text(code, {}, "")
                for code in (
                    "invalid_id_number",
                    "invalid_check_digit",
                    "invalid_birth_date",
                    "holder_name_required",
                    "id_limit_reached",
                    "duplicate_document",
                )
            },
        },
        status_code=status,
        headers=page_headers(private=status != 200),
    )


@get("/buy/{product_code:str}/who", opt=public(), include_in_schema=False)
async def who_page(
    request: Request[Any, Any, Any],
    db_session: TenantDbSession,
    tenant: CurrentTenant,
    product_code: FromPath[str],
) -> Template | Redirect:
    """Step 2 of 3, drawn afresh: a new form key each time the page is drawn."""
    profile = await get_profile(db_session)
    context = frame_from(request, profile, tenant.slug)
    product = await sellable(db_session, product_code)
    if product is None:
        return not_found(context)
    today = local_now(profile.time_zone).date()
    step = await _read_step(
        db_session,
        product,
        request.query_params,
        context["english"],
        today,
        member_id(request, tenant.slug),
    )
    back = f"{context['base']}/buy/{product.code}?{step.selection.query()}"
    if step.quote is None or step.selection.day is None:
        return see_other(back)  # step 1 says what is wrong with the selection
    days = await availability(
        db_session, selling_for(request.app.state), product, step.selection.day, 1
    )
    if offer.shortage(days[0] if days else None, step.selection.slot, step.quote.tickets):
        return see_other(back)
    form = who.blank(step.quote.tickets if step.quote.real_name else 0)
    return _page(context, step, form, secrets.token_urlsafe(24))


async def place_once(
    selling: Selling, slug: str, key: str, request: OrderRequest
) -> tuple[dict[str, Any], bool]:
    """The order placed under the form's key, and whether it was placed before."""
    for _ in range(IN_PROGRESS_TRIES):
        try:
            outcome = await take_order(
                selling,
                slug,
                request,
                scope=FORM_SCOPE,
                key=key,
                # The key alone: a resent form whose fields were changed meanwhile still
                # gets the order the key placed, and the payment page shows which one.
                payload={"form": key},
            )
        except VistapassError as exc:
            if exc.code != "request_in_progress":
                raise
            await asyncio.sleep(IN_PROGRESS_WAIT)
            continue
        if isinstance(outcome, idempotency.Replay):
            return dict(outcome.body), True
        return outcome, False
    raise VistapassError(
        "The first request with this form is still being processed.",
        code="request_in_progress",
        status_code=409,
    )


@post(
    "/buy/{product_code:str}/who",
    opt=public(),
    include_in_schema=False,
    request_max_body_size=photos.MAX_FORM_BYTES,
)
async def place_booking(
    request: Request[Any, Any, Any],
    tenant_slug: FromPath[str],
    product_code: FromPath[str],
) -> Template | Redirect:
    """Check the form, place the order, and go on to payment."""
    selling = selling_for(request.app.state)
    params = await request.form()
    # Read in a transaction of its own and closed before the order is placed: `place`
    # opens the order's transactions itself.
    async with tenant_session(selling.db, tenant_slug) as session:
        profile = await get_profile(session)
        context = frame_from(request, profile, tenant_slug)
        product = await sellable(session, product_code)
        if product is None:
            return not_found(context)
        today = local_now(profile.time_zone).date()
        member = member_id(request, tenant_slug)
        step = await _read_step(session, product, params, context["english"], today, member)
    quote = step.quote
    form = who.read_who(params, quote.tickets if quote else 0, bool(quote and quote.real_name))
    key = params.get("key") if isinstance(params.get("key"), str) else ""
    if not who.valid_key(key):
        key = secrets.token_urlsafe(24)
    if step.error is not None or quote is None or step.selection.day is None:
        message = (
            explain(step.error, step.labels) if step.error else error_text("invalid_date", {}, "")
        )
        sold = step.error is not None and step.error.code == "sold_out"
        return _page(context, step, form, key, error=message, sold_out=sold, status=422)
    photo_step = photos.PhotoStep.build(
        product, quote, selling, request.app.state.storage, tenant_slug
    )
    await photo_step.take(params, form)
    who.validate(form, today)
    if not form.ok:
        return _page(context, step, form, key, status=422)
    provider = payment_provider(selling, profile)
    if provider is None:
        message = error_text("payment_method_unavailable", {}, "")
        return _page(context, step, form, key, error=message, status=503)
    order_request = OrderRequest(
        product=product.code,
        visit_date=step.selection.day,
        slot=step.selection.slot,
        channel="web",
        lines=step.selection.lines(),
        buyer=Buyer(form.name, form.email, form.phone, context["lang"]),
        provider=provider,
        holders=who.holders_in(form),
        member=member,  # priced as on this page: the member price shown is the one charged
        renewal_of=member if step.selection.renew else None,
    )
    try:
        order, again = await place_once(selling, tenant_slug, key, order_request)
    except VistapassError as exc:
        message = explain(exc, step.labels)
        status = exc.status_code if 400 <= exc.status_code < 500 else 503
        if exc.code == "id_limit_reached" and isinstance(exc.details.get("ticket"), int):
            form.errors[f"holder_number_{exc.details['ticket']}"] = message
            return _page(context, step, form, key, status=status)
        sold = exc.code == "sold_out"
        return _page(context, step, form, key, error=message, sold_out=sold, status=status)
    await photo_step.attach(form, order["code"])
    target = f"{context['base']}/buy/pay/{order['code']}?t={order['token']}"
    return see_other(target + ("&again=1" if again else ""))


CHECKOUT_ROUTES = [who_page, place_booking]
