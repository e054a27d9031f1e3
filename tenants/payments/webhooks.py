"""`POST /webhooks/stripe`: one endpoint for every park's connected account.

It verifies the signature, stores the event once by its id and answers 200 at
once; a job applies it to the park named in the PaymentIntent's metadata. A
replayed delivery finds its id stored and is acknowledged without a second job.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, post
from sqlalchemy import text

from vistapass.platform.authz.permissions import public
from vistapass.platform.errors import VistapassError
from vistapass.platform.tenancy.binding import control_session
from vistapass.platform.worker.enqueue import enqueue_for_tenant
from vistapass.tenants.orders.context import selling_for

APPLY_ACTOR = "payments.apply_stripe_event"


def _tenant_of(obj: dict[str, Any]) -> str | None:
    metadata = obj.get("metadata") or {}
    if metadata.get("vistapass_tenant"):
        return str(metadata["vistapass_tenant"])
    # A charge's refunds carry no metadata of ours; the charge does, via its intent.
    return None


class StripeWebhookController(Controller):
    path = "/webhooks/stripe"
    tags = ["payments"]

    @post("/", summary="Stripe events (signed)", opt=public(), status_code=200)
    async def receive(self, request: Request[Any, Any, Any]) -> dict[str, Any]:
        selling = selling_for(request.app.state)
        if selling.stripe is None:
            raise VistapassError(
                "Stripe is not configured here.", code="stripe_not_configured", status_code=404
            )
        payload = await request.body()
        event = selling.stripe.parse_webhook(payload, request.headers.get("stripe-signature"))
        tenant = _tenant_of(event.object)
        async with control_session(selling.db) as session:
            stored = (
                await session.execute(
                    text(
                        "INSERT INTO stripe_events (id, type, account, tenant_slug, payload) "
                        "VALUES (:id, :type, :account, :tenant, CAST(:payload AS jsonb)) "
                        "ON CONFLICT (id) DO NOTHING RETURNING id"
                    ),
                    {
                        "id": event.id,
                        "type": event.type,
                        "account": event.account,
                        "tenant": tenant,
                        "payload": payload.decode(),
                    },
                )
            ).first()
            if stored is not None and tenant is not None:
                enqueue_for_tenant(
                    session, APPLY_ACTOR, tenant, event_type=event.type, obj=event.object
                )
        return {"received": True, "duplicate": stored is None}


WEBHOOK_ROUTES = [StripeWebhookController]
