"""Step 2's face photos: taken from the form, checked, kept, and tied to the order.

The form is posted as multipart, so it works without scripts: each holder (or the
order, when tickets are not named) has a file field `holder_photo_<i>` (`photo`).
An accepted photo is kept at once and the page carries its token in a hidden
`..._token` field, so a page sent back for any other reason keeps the photo as it
keeps the typed name. A rejected one says why, in the visitor's language, and is
not kept. Once the order is placed, the photos move to its ticket holders.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from litestar.datastructures import UploadFile
from redis.exceptions import RedisError
from sqlalchemy import select

from vistapass.platform.console.i18n import gettext_current as _
from vistapass.platform.crypto.envelope import CryptoError
from vistapass.platform.logging import get_logger
from vistapass.platform.storage import Storage
from vistapass.platform.tenancy.binding import tenant_session
from vistapass.tenants.booking.offer import QuoteView
from vistapass.tenants.booking.selection import Params
from vistapass.tenants.booking.who import Holder, WhoForm
from vistapass.tenants.models import Order, Product, Ticket
from vistapass.tenants.orders.context import Selling
from vistapass.tenants.visitors.face_photos import (
    KEPT_SECONDS,
    FacePhotoVault,
    holder_key,
    order_key,
)
from vistapass.tenants.visitors.faces import (
    MAX_PHOTO_BYTES,
    FacePhotoRejected,
    PhotoTooLarge,
    check_face_photo_async,
)

log = get_logger(__name__)

REQUIRED = "required"
OPTIONAL = "optional"
READ_CHUNK = 1024 * 1024
# The form's body may hold a photo per holder, each up to 8 MB (the page's script
# refuses a bigger one before sending); phone photos are 1-5 MB, so this ceiling for
# the whole form lets several holders send theirs at once without inviting abuse.
MAX_FORM_BYTES = 40 * 1024 * 1024
# What object storage, Redis or a data key may raise when a service is away.
STORE_ERRORS = (OSError, BotoCoreError, ClientError, CryptoError, RedisError)


def face_mode(product: Product, quote: QuoteView | None) -> str | None:
    """`required` when a ticket needs face entry, `optional` when the product offers it
    (the annual card's `face: optional`), None when the product does not use faces."""
    if quote is None:
        return None
    if quote.face:
        return REQUIRED
    config = product.pricing_config if isinstance(product.pricing_config, dict) else {}
    return OPTIONAL if config.get("face") == OPTIONAL else None


def retention_days() -> int:
    return KEPT_SECONDS // 86400


def photo_messages() -> dict[str, str]:
    """Why a photo was refused, by the check's code, in the visitor's language."""
    return {
        "no_face": _("No face was found in this photo. Take one facing the camera."),
        "several_faces": _("This photo shows more than one face. Take one of this visitor alone."),
        "face_too_small": _(
            "The face is too small in this photo. Come closer, so the face fills most of it."
        ),
        "face_blurred": _("The face is blurred in this photo. Hold the phone still and retake it."),
        "photo_too_dark": _("This photo is too dark. Take another in better light."),
        "photo_unreadable": _(
            "This file could not be read as a photo. Choose a JPEG or PNG photo."
        ),
        "photo_too_large": _("This photo is larger than 8 MB. Choose a smaller one."),
        "photo_not_kept": _("The photo could not be saved just now. Send it again in a moment."),
        "face_photo_required": _("Add a photo of the face: this ticket uses face entry."),
    }


def _slots(form: WhoForm, real_name: bool) -> Iterator[tuple[str, Holder | WhoForm]]:
    """Each photo field and what it belongs to: a holder, or the whole order."""
    if real_name:
        for index, holder in enumerate(form.holders):
            yield f"holder_photo_{index}", holder
    else:
        yield "photo", form


def _upload(params: Params, name: str) -> UploadFile | None:
    # Two inputs share the name (take a photo / choose one); an unused one arrives
    # as an empty string or as a file without a name.
    for value in params.getall(name, []):
        if isinstance(value, UploadFile) and value.filename:
            return value
    return None


async def _read(upload: UploadFile) -> bytes:
    """The upload's bytes, refusing it as soon as it passes the size cap."""
    data = bytearray()
    while chunk := await upload.read(READ_CHUNK):
        data.extend(chunk)
        if len(data) > MAX_PHOTO_BYTES:
            raise PhotoTooLarge("A photo is at most 8 MB.", details={"max_bytes": MAX_PHOTO_BYTES})
    return bytes(data)


@dataclass(frozen=True)
class PhotoStep:
    """The photos of one posted step-2 form: what the product asks and where they go."""

    mode: str | None
    real_name: bool
    selling: Selling
    vault: FacePhotoVault
    slug: str

    @classmethod
    def build(
        cls, product: Product, quote: QuoteView, selling: Selling, storage: Storage, slug: str
    ) -> PhotoStep:
        vault = FacePhotoVault(
            storage, selling.redis, selling.settings.redis_namespace, selling.wrapper
        )
        return cls(face_mode(product, quote), quote.real_name, selling, vault, slug)

    async def take(self, params: Params, form: WhoForm) -> None:
        """Check and keep the photos sent with the form; tokens go on the form, refusals
        into `form.errors` under the photo field's id."""
        if self.mode is None:
            return
        messages = photo_messages()
        accepted: list[tuple[Holder | WhoForm, bytes]] = []
        for field, owner in _slots(form, self.real_name):
            token = params.get(f"{field}_token")
            if isinstance(token, str) and await self.vault.pending_exists(self.slug, token):
                owner.photo_token = token
            upload = _upload(params, field)
            if upload is not None:
                # A new photo replaces the one kept before, even when it is refused:
                # the page then speaks of the photo the visitor chose last.
                owner.photo_token = ""
                try:
                    photo = await check_face_photo_async(await _read(upload))
                except FacePhotoRejected as exc:
                    form.errors[field] = messages.get(exc.code, exc.message)
                else:
                    accepted.append((owner, photo.jpeg))
            elif self.mode == REQUIRED and not owner.photo_token:
                form.errors[field] = messages["face_photo_required"]
        if accepted:
            await self._keep(form, accepted, messages["photo_not_kept"])

    async def _keep(
        self, form: WhoForm, accepted: list[tuple[Holder | WhoForm, bytes]], failed: str
    ) -> None:
        try:
            async with tenant_session(self.selling.db, self.slug) as session:
                for owner, jpeg in accepted:
                    owner.photo_token = await self.vault.keep_pending(session, self.slug, jpeg)
        except STORE_ERRORS as exc:
            log.warning("face photo not kept", tenant=self.slug, error=str(exc))
            for field, owner in _slots(form, self.real_name):
                if any(owner is kept for kept, _ in accepted) and not owner.photo_token:
                    form.errors[field] = failed

    async def attach(self, form: WhoForm, code: str) -> None:
        """Move the form's photos to the placed order's holders (or to the order).

        The order stands whatever happens here: a photo that cannot be moved is
        logged, and the visitor can still register at the park, which beats an
        error page for an order that was placed."""
        if not any(owner.photo_token for _, owner in _slots(form, self.real_name)):
            return
        try:
            async with tenant_session(self.selling.db, self.slug) as session:
                order = await session.scalar(select(Order).where(Order.code == code))
                if order is None:
                    return
                if self.real_name:
                    holders = await session.scalars(
                        select(Ticket.holder_id)
                        .where(Ticket.order_id == order.id)
                        .order_by(Ticket.position)
                    )
                    for holder_id, holder in zip(holders, form.holders, strict=False):
                        if holder_id is not None and holder.photo_token:
                            target = holder_key(self.slug, holder_id)
                            await self.vault.attach(session, self.slug, holder.photo_token, target)
                elif form.photo_token:
                    target = order_key(self.slug, order.id)
                    await self.vault.attach(session, self.slug, form.photo_token, target)
        except STORE_ERRORS as exc:
            log.warning("face photo not attached", order=code, tenant=self.slug, error=str(exc))


def page_context(mode: str | None) -> dict[str, Any]:
    """What step 2's template needs to draw the photo fields; the size message is for
    the page's script, which refuses a too big file before it is sent."""
    return {
        "face_mode": mode,
        "face_days": retention_days(),
        "photo_max_bytes": MAX_PHOTO_BYTES,
        "photo_too_large": photo_messages()["photo_too_large"] if mode else "",
    }
