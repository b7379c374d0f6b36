"""The ``visitor`` step: a cookieless visitor id from a rotating salt, the site, IP and UA.

``visitor_id = blake2b(site_id, IP, User-Agent; key = the salt)`` truncated to 64 bits.
By default salts rotate every UTC day (``Metadata.salts`` creates today's and deletes older
than yesterday's), so an id cannot be linked across days once yesterday's salt is gone. A
site may choose a weekly or monthly rotation (its ``salt_rotation``; ``Metadata.period_salts``):
its visitors then keep one id for the week or month, which lets retention see returns
within it, at the price that one visitor's visits of the whole period can be linked while
that period's salt exists (see the user guide). The id under the previous salt lets a
session crossing the boundary continue: the session step computes it, and only for an event
whose id under the current salt has no live session. The IP is only hashed: never stored,
cached or logged.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, date, datetime

from liveinsight.ingest.context import Context, Env
from liveinsight.meta.repo import Metadata
from liveinsight.types import DropReason


class SaltCache:
    """Today's and yesterday's salt, read from the metadata store once per UTC day.

    The first event of a day makes one short metadata transaction (creating the salt when
    this node is first); every other event reads memory.
    """

    def __init__(self, meta: Metadata, clock: Callable[[], datetime]) -> None:
        self._meta = meta
        self._clock = clock
        self._state: tuple[date, bytes, bytes | None] | None = None
        self._periods: dict[str, tuple[date, bytes, bytes | None]] = {}

    def current(self, now: datetime | None = None, rotation: str = "daily"
                ) -> tuple[bytes, bytes | None]:
        """``(the current salt, the previous one or None)`` for the UTC day of ``now`` (the
        clock's reading when None): today's and yesterday's for ``daily``, the week's or
        month's (and on its first day the previous period's) for ``weekly``/``monthly``."""
        today = (now if now is not None else self._clock()).astimezone(UTC).date()
        if rotation != "daily":
            held = self._periods.get(rotation)
            if held is None or held[0] != today:
                salt, before = self._meta.period_salts(rotation, today)
                held = self._periods[rotation] = (today, salt, before)
            return held[1], held[2]
        state = self._state
        if state is None or state[0] != today:
            salt, previous = self._meta.salts(today)
            state = self._state = (today, salt, previous)
        return state[1], state[2]


    @property
    def held_day(self) -> date | None:
        """The UTC day whose salts are held in memory, if any."""
        return self._state[0] if self._state is not None else None

    def expire(self, now: datetime) -> None:
        """Forget the salts held in memory once ``now`` is a later UTC day than theirs (the
        next event reads today's); housekeeping calls this, so no salt outlives its days
        here either."""
        state = self._state
        today = now.astimezone(UTC).date()
        if state is not None and state[0] < today:
            self._state = None
        self._periods = {k: v for k, v in self._periods.items() if v[0] >= today}


def visitor_id(salt: bytes, site_id: int, ip: str, user_agent: str) -> int:
    """A 64-bit unsigned id; the same inputs and salt always give the same id."""
    digest = hashlib.blake2b(
        f"{site_id}\x00{ip}\x00{user_agent}".encode(), digest_size=8, key=salt
    ).digest()
    return int.from_bytes(digest, "big")


def put_visitor(ctx: Context, env: Env) -> DropReason | None:
    assert ctx.site is not None
    raw = ctx.raw
    salt, previous = env.salts.current(ctx.now, ctx.site.salt_rotation)
    ctx.visitor_id = visitor_id(salt, ctx.site.id, raw.ip, raw.user_agent)
    ctx.previous_salt = previous  # the session step hashes with it only if it needs to
    return None
