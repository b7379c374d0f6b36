"""Cached answers: the keys, lifetimes and invalidation every analytics answer is cached by.

A key is ``s<site>:<generation token>:<digest of the question>``. The question is whatever
determines the answer's bytes (the endpoint, its canonical parameters, the fully resolved
query); the generation token (:mod:`liveinsight.cache.generation`) is the site's ``live``
counter for ranges that reach into the last :data:`~liveinsight.cache.generation.LIVE_WINDOW`
and its ``past`` counter for older ones. So:

- an answer over a range that includes "now" is never older than the newest ingested data
  (each ingested segment of the site makes new keys for it, on every node);
- an answer over a range wholly in the past stays cached (``past_ttl``, then served stale
  while recomputed for ``stale`` more seconds) until that site's older data changes
  (:meth:`Answers.invalidate_site`, called by imports, resets and deletions);
- with ``live_lag`` (``LIVEINSIGHT_CACHE_LIVE_LAG_SECONDS``, 0 by default) the first point
  is relaxed on purpose: an answer over a range including now may lag the newest data by up
  to that many seconds, so a busy site's dashboards share answers while data flows;
- while Redis cannot be reached in a multi-node set-up, tokens are this node's own and
  answers are kept ``degraded_ttl`` seconds only (another node's ingest is invisible then).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from liveinsight.cache.generation import LIVE_WINDOW, Generations, Token
from liveinsight.cache.protocol import CacheStats, ResultCache
from liveinsight.ops import tracing


@dataclass(frozen=True, slots=True)
class Policy:
    live_ttl: float = 600.0
    past_ttl: float = 86_400.0
    stale: float = 3_600.0
    degraded_ttl: float = 2.0
    timeout: float = 10.0  # how long a caller waits for another's computation of its key
    # Live answers may lag the newest ingested data by up to this many seconds (0: never):
    # a site's live generation is looked at again only this often.
    live_lag: float = 0.0


class Answers:
    """The one way analytics answers are cached (stats now; behaviour analyses too)."""

    def __init__(self, cache: ResultCache, generations: Generations, policy: Policy,
                 clock: Callable[[], datetime],
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.cache = cache
        self.generations = generations
        self.policy = policy
        self._clock = clock
        self._monotonic = monotonic
        self._lagged: dict[int, tuple[Token, float]] = {}  # site → live token, when read

    def is_live(self, end: datetime) -> bool:
        """Whether a range ending at ``end`` (exclusive, UTC) can still receive events."""
        return end > self._clock() - LIVE_WINDOW

    def key(self, site_id: int, end: datetime, question: Sequence[str], *,
            lag: bool = True) -> tuple[str, float, float]:
        """``(key, ttl, stale)`` for an answer of ``site_id`` over a range ending at
        ``end``; ``lag=False``: never behind the newest data, whatever ``live_lag``."""
        live = self.is_live(end)
        if not live:
            token = self.generations.token(site_id, False)
        elif lag:
            token = self._live_token(site_id)
        else:
            token = self.generations.token(site_id, True)
        digest = hashlib.sha256("\x1f".join(question).encode()).hexdigest()[:40]
        p = self.policy
        if token.degraded:
            return f"s{site_id}:{token.text}:{digest}", p.degraded_ttl, 0.0
        if live:
            return f"s{site_id}:{token.text}:{digest}", p.live_ttl, 0.0
        return f"s{site_id}:{token.text}:{digest}", p.past_ttl, p.stale

    def _live_token(self, site_id: int) -> Token:
        """The site's live generation; with ``live_lag``, the one read at most that many
        seconds ago (so answers over ranges including now stay shared while a busy site's
        data moves, at most ``live_lag`` seconds behind it)."""
        lag = self.policy.live_lag
        if lag <= 0:
            return self.generations.token(site_id, True)
        now = self._monotonic()
        held = self._lagged.get(site_id)
        if held is not None and now - held[1] < lag:
            return held[0]
        token = self.generations.token(site_id, True)
        if not token.degraded:
            self._lagged[site_id] = (token, now)
        return token

    def get(self, site_id: int, end: datetime, question: Sequence[str],
            compute: Callable[[], bytes], *, lag: bool = True) -> bytes:
        """The cached answer to ``question`` or ``compute()``'s (stored). ``compute``'s
        exceptions reach the caller and nothing is stored. ``lag=False`` (realtime): never
        behind the newest stored data, whatever ``live_lag`` allows."""
        key, ttl, stale = self.key(site_id, end, question, lag=lag)
        if not tracing.recording():
            return self.cache.get_or_compute(key, compute, ttl=ttl,
                                             timeout=self.policy.timeout, stale=stale)
        computed = False
        kind = (question[0] if question else "")[:100]

        def traced() -> bytes:
            nonlocal computed
            computed = True
            with tracing.span("cache.compute", {"cache.question": kind}):
                return compute()

        with tracing.span("cache.get", {"cache.question": kind}) as span:
            found = self.cache.get_or_compute(key, traced, ttl=ttl,
                                              timeout=self.policy.timeout, stale=stale)
            if span is not None:
                span.set_attribute("cache.hit", not computed)
            return found

    # --- invalidation -------------------------------------------------------------------

    def invalidate_site(self, site_id: int) -> int:
        """A site's stored data changed (import, reset, deletion): every answer of it is
        recomputed on every node. How many entries were dropped here."""
        self.generations.invalidate(site_id)
        self._lagged.pop(site_id, None)
        return self.cache.invalidate(f"s{site_id}:")

    def invalidate_all(self) -> int:
        self.generations.invalidate(None)
        self._lagged.clear()
        return self.cache.invalidate("")

    def invalidate_prefix(self, prefix: str) -> int:
        """Drop the entries whose key starts with ``prefix`` (``s12:`` is site 12's)."""
        return self.cache.invalidate(prefix)

    def layers(self) -> dict[str, CacheStats]:
        return self.cache.layers()
