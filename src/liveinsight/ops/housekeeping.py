"""Chores run on a timer in every node: what must go even when no event or request comes.

- Salts older than yesterday's are deleted from the metadata database, and this node forgets
  the ones it holds once their day is over: with the default daily salt a quiet site keeps
  no salt past 48 hours from the start of its day (the collector deletes them too, but only
  when a new day's first event arrives).
- Sign-in sessions over for a day and failed sign-ins older than the throttle's window are
  deleted.
- Audit records older than ``audit_retention_days`` are deleted (the chain notes it).

The chores run at every UTC midnight (a second after) and every ``EVERY_S`` seconds; a
failing chore is logged and retried at the next run.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from liveinsight.services import Services

log = logging.getLogger("liveinsight.housekeeping")

EVERY_S = 600.0


def run_once(svc: Services, now: datetime) -> None:
    """Every chore, once (blocking: metadata writes)."""
    svc.meta.delete_old_salts(now.astimezone(UTC).date())
    svc.salts.expire(now)
    svc.logins.purge(now, now - svc.throttle.limits.window)
    if svc.settings.audit_retention_days:
        svc.audit.store.prune(now - timedelta(days=svc.settings.audit_retention_days), now)


def next_delay(now: datetime, every_s: float = EVERY_S) -> float:
    """Seconds until the next run: ``every_s``, or a second past the next UTC midnight when
    that is sooner."""
    utc = now.astimezone(UTC)
    midnight = datetime.combine(utc.date() + timedelta(days=1), time(0, 0, 1), UTC)
    return max(0.0, min(every_s, (midnight - utc).total_seconds()))


async def run(svc: Services, sleep: Callable[[float], Awaitable[object]] = asyncio.sleep
              ) -> None:
    """Run the chores until cancelled."""
    while True:
        try:
            await asyncio.to_thread(run_once, svc, svc.clock())
        except Exception:
            log.exception("housekeeping failed; it runs again later")
        await sleep(next_delay(svc.clock()))
