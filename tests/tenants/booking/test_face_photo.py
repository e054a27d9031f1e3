"""Face photos on step 2, through the pages as a browser without scripts sends them:
refused with a reason in the visitor's language and everything typed kept, or
accepted, sealed in object storage and tied to the ticket holder (or the order)."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import pytest
from sqlalchemy import select

from tests.conftest import run
from tests.tenants.booking.conftest import (
    CONTACT,
    EN,
    ID_A,
    ID_B,
    ID_C,
    ZH,
    as_form,
    form_fields,
    who_form,
)
from tests.tenants.orders.conftest import open_weekday
from tests.tenants.visitors import face_images
from vistapass.platform.audit.service import Actor
from vistapass.platform.cache import redis_client
from vistapass.platform.crypto.envelope import CryptoError, wrapper_for
from vistapass.platform.settings import Settings
from vistapass.platform.storage import storage_from_settings
from vistapass.platform.tenancy.binding import tenant_session
from vistapass.tenants.catalog.service import update_product
from vistapass.tenants.models import Order, Ticket
from vistapass.tenants.orders import tasks as orders_tasks
from vistapass.tenants.orders.context import Selling
from vistapass.tenants.visitors import tasks as visitor_tasks
from vistapass.tenants.visitors.face_photos import (
    KEPT_SECONDS,
    FacePhotoMissing,
    FacePhotoVault,
    holder_key,
    order_key,
    pending_key,
)
from vistapass.tenants.visitors.faces import check_face_photo

CARD = "annual-card"  # the demo's named card, face entry optional
DAY = "day-ticket"  # made to require face entry in this module's park

Files = list[tuple[str, tuple[str, bytes, str]]]


@pytest.fixture(scope="module")
def face_park(booking_park: str, migrated: Settings) -> str:
    """The booking park with its day ticket requiring face entry, as an operator sets it."""

    async def require_face(db: Any) -> None:
        async with tenant_session(db, booking_park) as session:
            actor = Actor(None, "test", None)
            await update_product(session, actor, DAY, {"face_required": True})

    run(migrated, require_face)
    return booking_park


def photo(name: str, data: bytes) -> Files:
    return [(name, ("me.jpg", data, "image/jpeg"))]


def send(
    client: Any,
    slug: str,
    product: str,
    fields: list[tuple[str, str]],
    typed: list[tuple[str, str]],
    files: Files | None = None,
    headers: dict[str, str] = EN,
) -> Any:
    """Step 2 posted as the browser posts it: multipart, with the chosen photo."""
    names = {name for name, _ in typed}
    kept = [(name, value) for name, value in fields if name not in names]
    return client.post(
        f"/p/{slug}/buy/{product}/who",
        data=as_form(kept + typed),
        files=files or [],
        headers=headers,
        follow_redirects=False,
    )


def card_holder(name: str, number: str, email: str) -> list[tuple[str, str]]:
    return [
        *{**CONTACT, "contact_email": email}.items(),
        ("holder_name", name),
        ("holder_type", "cn_id"),
        ("holder_number", number),
    ]


def card_query(days_ahead: int) -> str:
    return f"date={open_weekday(days_ahead)}&qty_adult=1&qty_senior=0"


def order_of(settings: Settings, slug: str, email: str) -> tuple[uuid.UUID, list[uuid.UUID]] | None:
    """The order placed with this e-mail: its id and its tickets' holder ids."""

    async def find(db: Any) -> tuple[uuid.UUID, list[uuid.UUID]] | None:
        async with tenant_session(db, slug) as session:
            order = await session.scalar(select(Order).where(Order.contact_email == email))
            if order is None:
                return None
            holders = await session.scalars(
                select(Ticket.holder_id)
                .where(Ticket.order_id == order.id)
                .order_by(Ticket.position)
            )
            return order.id, list(holders)

    return run(settings, find)


def with_vault(settings: Settings, slug: str, work: Any) -> Any:
    """`work(vault, session)` with a vault built as the app builds it, on the same storage."""

    async def go(db: Any) -> Any:
        redis = redis_client(settings)
        vault = FacePhotoVault(
            storage_from_settings(settings), redis, settings.redis_namespace, wrapper_for(settings)
        )
        try:
            async with tenant_session(db, slug) as session:
                return await work(vault, session)
        finally:
            await redis.aclose()

    return run(settings, go)


def value_of(page: str, field_id: str) -> str:
    found = re.search(
        rf'id="{field_id}"[^>]*value="([^"]*)"|value="([^"]*)"[^>]*id="{field_id}"', page
    )
    assert found, f"no value for {field_id}"
    return found.group(1) or found.group(2)


@pytest.mark.parametrize("headers", [EN, ZH], ids=["en", "zh"])
def test_a_face_product_offers_the_camera_and_a_saved_photo(client, face_park, headers):
    page, fields = who_form(client, face_park, CARD, card_query(17), headers)
    assert 'enctype="multipart/form-data"' in page
    # One input opens the front camera, the other the phone's photos; both one name.
    assert re.search(
        r'id="holder_photo_0" name="holder_photo_0" type="file" accept="image/\*" capture="user"',
        page,
    )
    assert re.search(
        r'id="holder_photo_0_file" name="holder_photo_0" type="file" accept="image/\*"(?! capture)',
        page,
    )
    assert not any(name.startswith("holder_photo") for name, _ in fields)
    if headers is EN:
        assert "Take a photo" in page and "(optional)" in page
        assert "deleted within 3 days" in page
    else:
        assert "拍照" in page and "（选填）" in page and "3 天内删除" in page
    # A product without face entry has no photo and posts as a plain form.
    plain, _ = who_form(
        client,
        face_park,
        "family-pack",
        f"date={open_weekday(17)}&qty_adult=2&qty_child=1&age_child=5",
        headers,
    )
    assert 'type="file"' not in plain and "multipart" not in plain


@pytest.mark.parametrize(
    ("image", "english", "chinese"),
    [
        (face_images.no_face, "No face was found in this photo.", "照片中未找到人脸。"),
        (face_images.two_faces, "This photo shows more than one face.", "照片中有多张人脸。"),
        (face_images.far_away, "The face is too small in this photo.", "照片中的人脸太小。"),
        (face_images.in_the_dark, "This photo is too dark.", "照片太暗。"),
    ],
    ids=["none", "two", "small", "dark"],
)
@pytest.mark.parametrize("headers", [EN, ZH], ids=["en", "zh"])
def test_a_refused_photo_says_why_and_keeps_what_was_typed(
    client, face_park, migrated, image, english, chinese, headers
):
    email = f"refused-{uuid.uuid4().hex[:8]}@example.com"
    _, fields = who_form(client, face_park, CARD, card_query(24), headers)
    typed = card_holder("Wang Fang", ID_B, email)
    response = send(
        client, face_park, CARD, fields, typed, photo("holder_photo_0", image()), headers
    )
    assert response.status_code == 422
    page = response.text
    message = english if headers is EN else chinese
    error = re.search(r'id="holder_photo_0-error"[^>]*>([^<]*)<', page)
    assert error and error.group(1).startswith(message)
    assert value_of(page, "holder_name_0") == "Wang Fang"
    assert value_of(page, "holder_number_0") == ID_B
    assert value_of(page, "contact_email") == email
    assert 'name="holder_photo_0_token"' not in page
    assert order_of(migrated, face_park, email) is None


def test_an_accepted_photo_is_sealed_and_goes_with_its_ticket_holder(client, face_park, migrated):
    email = f"kept-{uuid.uuid4().hex[:8]}@example.com"
    _, fields = who_form(client, face_park, CARD, card_query(31))
    typed = card_holder("Han Meimei", ID_A, email)
    response = send(
        client, face_park, CARD, fields, typed, photo("holder_photo_0", face_images.one_face())
    )
    assert response.status_code == 303, response.text
    placed = order_of(migrated, face_park, email)
    assert placed is not None
    (holder_id,) = placed[1]
    key = holder_key(face_park, holder_id)

    async def inspect(vault: FacePhotoVault, session: Any) -> tuple[bytes, bytes, float | None]:
        crop = await vault.read(session, key)
        sealed = vault.storage.get(key)
        deadline = await vault.redis.zscore(f"{vault.namespace}:face-photos:due", key)
        # Sealed to its own key: the same bytes under another holder's key do not open.
        stranger = holder_key(face_park, uuid.uuid4())
        vault.storage.put(stranger, sealed, "application/octet-stream")
        try:
            with pytest.raises(CryptoError):
                await vault.read(session, stranger)
        finally:
            vault.storage.delete(stranger)
        return crop, sealed, deadline

    crop, sealed, deadline = with_vault(migrated, face_park, inspect)
    # What is stored is no picture anyone could open; unsealed, it is the face crop.
    assert not sealed.startswith(b"\xff\xd8") and crop.startswith(b"\xff\xd8")
    assert check_face_photo(crop).face[2] >= 80
    assert deadline is not None and abs(deadline - (time.time() + KEPT_SECONDS)) < 600

    async def purge(vault: FacePhotoVault, session: Any) -> bool:
        await vault.purge_due(now=time.time() + KEPT_SECONDS + 60)
        with pytest.raises(FacePhotoMissing):
            await vault.read(session, key)
        return vault.storage.exists(key)

    # Past its retention the photo is deleted.
    assert with_vault(migrated, face_park, purge) is False


def test_an_accepted_photo_is_kept_while_the_page_is_sent_back(client, face_park, migrated):
    email = f"again-{uuid.uuid4().hex[:8]}@example.com"
    _, fields = who_form(client, face_park, CARD, card_query(38), ZH)
    typo = ID_C[:-1] + ("0" if ID_C[-1] != "0" else "1")
    typed = card_holder("李雷", typo, email)
    first = send(
        client, face_park, CARD, fields, typed, photo("holder_photo_0", face_images.one_face()), ZH
    )
    assert first.status_code == 422
    assert "照片已通过检查" in first.text
    assert value_of(first.text, "holder_number_0") == typo
    # The page carries the kept photo; sent again with the number put right, no new photo.
    again = form_fields(first.text, "who")
    token = dict(again)["holder_photo_0_token"]
    corrected = [(n, ID_C if n == "holder_number" else v) for n, v in again]
    second = send(client, face_park, CARD, corrected, [], None, ZH)
    assert second.status_code == 303, second.text
    placed = order_of(migrated, face_park, email)
    assert placed is not None

    async def photos(vault: FacePhotoVault, session: Any) -> tuple[bytes, bool]:
        crop = await vault.read(session, holder_key(face_park, placed[1][0]))
        return crop, await vault.pending_exists(face_park, token)

    crop, still_pending = with_vault(migrated, face_park, photos)
    assert check_face_photo(crop).face[2] >= 80
    assert still_pending is False  # moved, not copied


def test_a_product_requiring_face_entry_needs_one_photo_for_the_order(client, face_park, migrated):
    email = f"day-{uuid.uuid4().hex[:8]}@example.com"
    query = f"date={open_weekday(19)}&qty_adult=2"
    page, fields = who_form(client, face_park, DAY, query)
    assert 'name="photo"' in page and "Take a photo</label>" in page  # not optional
    typed = list({**CONTACT, "contact_email": email, "contact_name": "Zhang Wei"}.items())
    missing = send(client, face_park, DAY, fields, typed)
    assert missing.status_code == 422
    assert "Add a photo of the face: this ticket uses face entry." in missing.text
    assert value_of(missing.text, "contact_name") == "Zhang Wei"
    assert order_of(migrated, face_park, email) is None
    garbage = send(client, face_park, DAY, fields, typed, photo("photo", b"GIF89a not really"))
    assert garbage.status_code == 422
    assert "This file could not be read as a photo." in garbage.text
    placed = send(client, face_park, DAY, fields, typed, photo("photo", face_images.one_face()))
    assert placed.status_code == 303, placed.text
    order = order_of(migrated, face_park, email)
    assert order is not None and order[1] == [None, None]

    async def read(vault: FacePhotoVault, session: Any) -> bytes:
        return await vault.read(session, order_key(face_park, order[0]))

    assert check_face_photo(with_vault(migrated, face_park, read)).face[2] >= 80


def test_the_periodic_sweep_deletes_photos_past_retention_with_no_new_photo(
    face_park, migrated
) -> None:
    """With no visitor keeping a photo (which sweeps too), the worker's job still does."""

    async def keep_two(vault: FacePhotoVault, session: Any) -> tuple[str, str]:
        tokens = [await vault.keep_pending(session, face_park, b"\xff\xd8 crop") for _ in "ab"]
        return pending_key(face_park, tokens[0]), pending_key(face_park, tokens[1])

    overdue, fresh = with_vault(migrated, face_park, keep_two)

    async def sweep(db: Any) -> None:
        redis = redis_client(migrated)
        # The first photo's time is up (as `PENDING_SECONDS` later); the second's is not.
        await redis.zadd(f"{migrated.redis_namespace}:face-photos:due", {overdue: 1.0})
        orders_tasks.use_selling(Selling.build(db, migrated, redis))
        try:
            await visitor_tasks.purge_face_photos()
        finally:
            orders_tasks.use_selling(None)
            await redis.aclose()

    run(migrated, sweep)
    storage = storage_from_settings(migrated)
    assert not storage.exists(overdue)
    assert storage.exists(fresh)
    storage.delete(fresh)
