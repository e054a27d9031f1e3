"""structlog: JSON lines in production, readable console output in development.

Every line logged while serving a request carries its request id and, once
resolved, its park (bound through contextvars by the request middleware).
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import msgspec
import structlog

from vistapass.platform.settings import Settings


class _CurrentStderr:
    """Writes a line to whatever sys.stderr is when the line is written: whoever
    swaps it (a test runner, a daemonising parent) must not leave a logger bound
    earlier writing to a closed file."""

    def msg(self, message: str) -> None:
        stream = sys.stderr
        stream.write(message + "\n")
        stream.flush()

    debug = info = warning = warn = error = critical = exception = fatal = log = msg


_STDERR = _CurrentStderr()


def _stderr_logger(*_args: object) -> _CurrentStderr:
    return _STDERR


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    @property  # type: ignore[override]
    def stream(self) -> object:
        return sys.stderr

    @stream.setter
    def stream(self, _value: object) -> None:
        """The stream is always the current sys.stderr."""


# Anything msgspec cannot write natively is logged as its repr, as structlog's
# stdlib-json renderer would; msgspec writes a line in a tenth of the time.
_ENCODER = msgspec.json.Encoder(enc_hook=repr)


def _json_line(event: Any, **_options: Any) -> str:
    return _ENCODER.encode(event).decode()


class _UtcStamp:
    """`timestamp` as ISO 8601 in UTC with microseconds (as structlog's TimeStamper
    writes it), the date and time formatted once per second rather than per line."""

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def __call__(self, _logger: Any, _method: str, event: dict[str, Any]) -> dict[str, Any]:
        now = time.time()
        second = int(now)
        if second != self._second:
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        event["timestamp"] = f"{self._prefix}.{int((now - second) * 1_000_000):06d}Z"
        return event


def configure_logging(settings: Settings) -> None:
    use_json = settings.log_format == "json" or (
        settings.log_format == "auto" and (settings.is_production or not sys.stderr.isatty())
    )
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        _UtcStamp(),
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer(serializer=_json_line)
        if use_json
        else structlog.dev.ConsoleRenderer()
    )
    level = logging.getLevelNamesMapping().get(settings.log_level.upper(), logging.INFO)
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer]
        if use_json
        else [*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=_stderr_logger,
        # Not cached: a process that reconfigures (tests, `create_app` twice) must take effect.
        cache_logger_on_first_use=False,
    )
    # Libraries that use the standard logging module go through the same renderer.
    handler = _StderrHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processor=renderer, foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name]
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)


class BoundOnce:
    """A logger for a line written on every request (the access log): bound once
    per configuration rather than assembled again for each line, as get_logger's
    proxy is (about 5 µs a line). It binds again whenever structlog's processors
    or level are not those it was bound with: a new `configure_logging`, or a
    test's `structlog.testing.capture_logs`."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._bound_to: tuple[object, object] | None = None
        self._logger: Any = None

    def get(self) -> Any:
        config = structlog.get_config()
        current = (config["processors"], config["wrapper_class"])
        if self._bound_to is None or any(
            a is not b for a, b in zip(self._bound_to, current, strict=True)
        ):
            self._logger = structlog.get_logger(self._name).bind()
            self._bound_to = current
        return self._logger
