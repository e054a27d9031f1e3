"""The daily audit purge: entries older than `VISTAPASS_AUDIT_RETENTION_DAYS` go.

`vistapass audit purge` does the same by hand (and with another retention).
"""

from __future__ import annotations

from vistapass.platform.audit.retention import purge
from vistapass.platform.logging import get_logger
from vistapass.platform.worker.actors import worker_database
from vistapass.platform.worker.broker import broker_settings
from vistapass.platform.worker.periodic import every
from vistapass.platform.worker.registry import register

log = get_logger(__name__)

PURGE_EVERY_SECONDS = 24 * 3600


async def purge_audit() -> None:
    days = broker_settings().audit_retention_days
    results = await purge(worker_database(), days)
    removed = sum(result.removed for result in results)
    if removed:
        log.info("audit entries past retention removed", entries=removed, days=days)


register("audit.purge", purge_audit)
every(PURGE_EVERY_SECONDS, "audit.purge")
