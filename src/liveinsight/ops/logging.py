"""Structured logging: structlog renders both our own records and the standard library's
(granian, alembic, …) as one JSON object per line (``log_format=json``) or for people.

Nothing logs a raw client IP: the collector never passes one to a logger, and request
logging (if enabled by the server) is off by default in ``liveinsight serve``.
"""

from __future__ import annotations

import logging
import sys

import structlog

from liveinsight.settings import Settings


def configure(settings: Settings) -> None:
    """Install the handlers for ``settings.log_level`` and ``settings.log_format`` (idempotent)."""
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if settings.log_format == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    handler.set_name("liveinsight")
    root = logging.getLogger()
    root.handlers = [h for h in root.handlers if h.get_name() != "liveinsight"]
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
