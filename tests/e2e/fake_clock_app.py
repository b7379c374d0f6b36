"""The app on a clock the test moves, for ``Server(factory="tests.e2e.fake_clock_app:app")``
(granian's ``--factory``): the server's clock is the real one plus the offset, in seconds,
written in the file ``$E2E_CLOCK_FILE`` names (0 when it is missing or empty).

Test-only: it lives under tests/, is not in the package, and nothing over HTTP moves the
clock — the test writes the file. The product takes its clock as an argument of
``create_app`` (every timestamp, session timeout, salt and "today" comes from it)."""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path

from starlette.types import ASGIApp

from liveinsight.app import create_app
from liveinsight.services import utc_now
from liveinsight.settings import load_settings

CLOCK_FILE_ENV = "E2E_CLOCK_FILE"  # not LIVEINSIGHT_*: the settings read those


def offset_clock(path: Path) -> datetime:
    """The real time moved by the file's offset."""
    try:
        offset = float(path.read_text() or 0)
    except (OSError, ValueError):
        offset = 0.0
    return utc_now() + timedelta(seconds=offset)


def app() -> ASGIApp:
    path = Path(os.environ[CLOCK_FILE_ENV])
    return create_app(load_settings(), clock=lambda: offset_clock(path))
