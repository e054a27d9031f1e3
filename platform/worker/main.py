"""What `vistapass worker` hands to dramatiq: the broker and every actor module.

A domain with background jobs adds its `tasks` module to `ACTOR_MODULES`.
"""

from __future__ import annotations

import importlib

from vistapass.platform.logging import configure_logging
from vistapass.platform.settings import get_settings
from vistapass.platform.worker.broker import configure_broker

ACTOR_MODULES = ["vistapass.platform.mail.tasks", "vistapass.tenants.orders.tasks"]

settings = get_settings()
configure_logging(settings)
for module in ACTOR_MODULES:
    importlib.import_module(module)
broker = configure_broker(settings)
