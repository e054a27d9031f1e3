"""What `vistapass worker` hands to dramatiq: the broker and every actor module.

A domain with background jobs adds its `tasks` module to `ACTOR_MODULES`; one
with jobs on a clock declares them there with `periodic.every`, and the
`PeriodicJobs` middleware of each worker process sends them.
"""

from __future__ import annotations

import importlib

from vistapass.platform.logging import configure_logging
from vistapass.platform.settings import get_settings
from vistapass.platform.worker.broker import configure_broker
from vistapass.platform.worker.periodic import PeriodicJobs

ACTOR_MODULES = [
    "vistapass.platform.audit.tasks",
    "vistapass.platform.mail.tasks",
    "vistapass.tenants.orders.tasks",
    "vistapass.tenants.visitors.tasks",
]

settings = get_settings()
configure_logging(settings)
for module in ACTOR_MODULES:
    importlib.import_module(module)
broker = configure_broker(settings)
broker.add_middleware(PeriodicJobs(settings.redis_url, settings.redis_namespace))
