"""The order errors every part of selling raises."""

from __future__ import annotations

from vistapass.platform.errors import VistapassError


class OrderError(VistapassError):
    status_code = 422
    code = "order_rejected"


class OrderNotFound(VistapassError):
    status_code = 404
    code = "order_not_found"
