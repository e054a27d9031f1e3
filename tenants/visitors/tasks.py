"""The periodic sweep of face photos past their retention.

Each photo kept also sweeps the ones due, but a park where nobody buys for a
while would keep its old photos until the next sale; this job removes them on
time whatever the traffic.
"""

from __future__ import annotations

from vistapass.platform.logging import get_logger
from vistapass.platform.storage import storage_from_settings
from vistapass.platform.worker.periodic import every
from vistapass.platform.worker.registry import register
from vistapass.tenants.orders.tasks import worker_selling
from vistapass.tenants.visitors.face_photos import PURGE_BATCH, FacePhotoVault

log = get_logger(__name__)

PURGE_EVERY_SECONDS = 600


async def purge_face_photos() -> None:
    """Delete every face photo whose retention has ended, in all parks."""
    selling = worker_selling()
    settings = selling.settings
    vault = FacePhotoVault(
        storage_from_settings(settings), selling.redis, settings.redis_namespace, selling.wrapper
    )
    total = 0
    while True:
        removed = await vault.purge_due()
        total += removed
        if removed < PURGE_BATCH:
            break
    if total:
        log.info("face photos past retention deleted", photos=total)


register("visitors.purge_face_photos", purge_face_photos)
every(PURGE_EVERY_SECONDS, "visitors.purge_face_photos")
