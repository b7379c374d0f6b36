"""The list of routers the app serves and the async hooks run at start and stop.

Each feature adds its router here (one line) rather than editing ``app.py``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter

if TYPE_CHECKING:
    from liveinsight.app import Services

Hook = Callable[["Services"], Awaitable[Any]]
STARTUP: list[Hook] = []
SHUTDOWN: list[Hook] = []


def all_routers() -> list[APIRouter]:
    from liveinsight.api import collect, dashboard, ops, realtime, stats, tracker

    return [ops.router, collect.router, tracker.router, stats.router, realtime.router,
            dashboard.router]
