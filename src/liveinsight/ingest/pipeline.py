"""The enrichment pipeline: a named list of steps over a per-event context.

``STEPS`` then ``BATCH_STEPS`` are the whole pipeline, in order. Each step takes the event's
:class:`Context` and the shared :class:`Env`, fills in its part, and returns None or a
:class:`DropReason`; the runner stops at the first drop. A batch step takes the contexts of
every event of a batch still kept and returns a reason (or None) for each: the session step
is one, so a shared session store is asked once per batch, not once per event
(``Pipeline.run_many``; the collector enriches a group of requests as one batch). Step
durations are observed in
``liveinsight_pipeline_step_seconds{step=...}`` for one event in ``sample_every`` (64 by
default): a Prometheus observation costs about as much as a cheap step, and a 1-in-64 sample
describes the distribution as well at a fraction of the cost.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from time import perf_counter

from liveinsight.ingest.blocked import drop_blocked
from liveinsight.ingest.bots import drop_bots
from liveinsight.ingest.citydb import CityDatabase
from liveinsight.ingest.context import Context, Env
from liveinsight.ingest.geo import put_geo
from liveinsight.ingest.referrer import put_referrer
from liveinsight.ingest.rows import build_row
from liveinsight.ingest.session_store import SessionStore
from liveinsight.ingest.sessions import (
    SESSION_KIND,
    SessionTracker,
    register_sessions,
    warm_tracker,
)
from liveinsight.ingest.site import resolve_site
from liveinsight.ingest.spam import drop_spam
from liveinsight.ingest.ua import parse_ua
from liveinsight.ingest.urls import parse_url
from liveinsight.ingest.visitor import SaltCache, put_visitor
from liveinsight.ingest.wal import logged_lines
from liveinsight.meta.repo import Metadata, SiteDirectory
from liveinsight.ops import tracing
from liveinsight.ops.metrics import Metrics
from liveinsight.settings import Settings
from liveinsight.storage.protocol import Store
from liveinsight.types import DropReason, EventRow, RawEvent, SessionRow

log = logging.getLogger("liveinsight.ingest.pipeline")

Step = Callable[[Context, Env], DropReason | None]
BatchStep = Callable[[Sequence[Context], Env], list[DropReason | None]]
Out = tuple[EventRow, list[SessionRow]] | DropReason

STEPS: list[tuple[str, Step]] = [
    ("site", resolve_site),
    ("url", parse_url),
    ("drop_bots", drop_bots),
    ("drop_spam", drop_spam),
    ("drop_blocked", drop_blocked),
    ("ua", parse_ua),
    ("geo", put_geo),
    ("referrer", put_referrer),
    ("visitor", put_visitor),
    ("row", build_row),
]
BATCH_STEPS: list[tuple[str, BatchStep]] = [
    ("session", register_sessions),
]


class Pipeline:
    """Runs ``steps`` then ``batch_steps`` over each event. Called on the event loop when
    every step is in memory (the salt lookup touches the metadata store once per UTC day),
    on a worker thread when the session store is remote (``services.open_services``)."""

    def __init__(
        self, env: Env, metrics: Metrics, steps: list[tuple[str, Step]] = STEPS,
        *, batch_steps: list[tuple[str, BatchStep]] = BATCH_STEPS, sample_every: int = 64,
    ) -> None:
        self.env = env
        histogram = metrics.pipeline_step_seconds
        self._steps = [(name, step, histogram.labels(name).observe) for name, step in steps]
        self._batch_steps = [(name, step, histogram.labels(name).observe)
                             for name, step in batch_steps]
        self._sample_every = max(sample_every, 1)
        self._count = 0

    def run(self, raw: RawEvent, now: datetime | None = None) -> Out:
        """The event's row and the session rows it changes, or why it is dropped. ``now`` is
        the clock's reading for the request that brought the event (read here when None).

        A step that raises on an event it cannot handle drops that event as ``invalid``
        (logged with the step's name) rather than failing the whole request.
        """
        return self.run_many([(raw, now)])[0]

    def run_many(self, events: Sequence[tuple[RawEvent, datetime | None]]) -> list[Out]:
        """:meth:`run` for each ``(raw, now)``, in order, with each batch step called once
        for the events still kept. A batch step that raises (a bug) drops every event of
        the batch as ``invalid``."""
        if tracing.recording():
            with tracing.span("ingest.enrich", {"ingest.events": len(events)}):
                return self._run_many(events, traced=True)
        return self._run_many(events, traced=False)

    def _run_many(self, events: Sequence[tuple[RawEvent, datetime | None]], *, traced: bool
                  ) -> list[Out]:
        env = self.env
        outs: list[Out] = []
        kept: list[tuple[int, Context, bool]] = []  # (index in outs, context, timed)
        if traced:
            kept = self._per_step(events, outs)
        for raw, now in () if traced else events:
            ctx = Context(raw, now if now is not None else env.clock())
            self._count += 1
            timed = self._count % self._sample_every == 0
            reason = self._per_event(ctx, timed)
            if reason is None:
                kept.append((len(outs), ctx, timed))
            outs.append(reason or DropReason.INVALID)  # replaced below when kept
        for name, step, observe in self._batch_steps:
            if not kept:
                break
            started = perf_counter()
            with tracing.span(f"ingest.step {name}", {"ingest.events": len(kept)}):
                reasons = self._batch(name, step, [ctx for _, ctx, _ in kept])
            sampled = sum(1 for _, _, t in kept if t)
            if sampled:  # each sampled event observes its share of the batch's time
                share = (perf_counter() - started) / len(kept)
                for _ in range(sampled):
                    observe(share)
            survivors = []
            for entry, reason in zip(kept, reasons, strict=True):
                if reason is None:
                    survivors.append(entry)
                else:
                    outs[entry[0]] = reason
            kept = survivors
        for index, ctx, _ in kept:
            assert ctx.row is not None
            outs[index] = (ctx.row, ctx.session_rows)
        return outs

    def _per_step(self, events: Sequence[tuple[RawEvent, datetime | None]], outs: list[Out]
                  ) -> list[tuple[int, Context, bool]]:
        """The per-event steps of a traced batch, step by step over its events (each step
        one span; an event still goes through its steps in order and stops at its first
        drop, as :meth:`_per_event` does). The kept events, as :meth:`_run_many` wants
        them; ``outs`` gets a slot per event: its drop reason, or for a kept event
        ``DropReason.INVALID`` until :meth:`_run_many` writes the event's rows over it."""
        env = self.env
        contexts = [Context(raw, now if now is not None else env.clock())
                    for raw, now in events]
        self._count += len(contexts)
        reasons: list[DropReason | None] = [None] * len(contexts)
        for name, step, _ in self._steps:
            alive = [i for i, reason in enumerate(reasons) if reason is None]
            if not alive:
                break
            with tracing.span(f"ingest.step {name}", {"ingest.events": len(alive)}):
                for i in alive:
                    try:
                        reasons[i] = step(contexts[i], env)
                    except Exception:
                        log.exception("enrichment step %r failed; event dropped as invalid",
                                      name)
                        reasons[i] = DropReason.INVALID
        outs.extend(reason or DropReason.INVALID for reason in reasons)
        return [(i, ctx, False) for i, (ctx, reason) in enumerate(zip(contexts, reasons,
                                                                      strict=True))
                if reason is None]

    def _per_event(self, ctx: Context, timed: bool) -> DropReason | None:
        env = self.env
        for name, step, observe in self._steps:
            started = perf_counter() if timed else 0.0
            try:
                reason = step(ctx, env)
            except Exception:
                log.exception("enrichment step %r failed; event dropped as invalid", name)
                return DropReason.INVALID
            if timed:
                observe(perf_counter() - started)
            if reason is not None:
                return reason
        return None

    def _batch(self, name: str, step: BatchStep, contexts: list[Context]
               ) -> list[DropReason | None]:
        try:
            return step(contexts, self.env)
        except Exception:
            # Not retried event by event: the step may have changed state for some of them
            # (a session version taken), and a retry would take it again.
            log.exception("enrichment step %r failed; its %d events dropped as invalid",
                          name, len(contexts))
            return [DropReason.INVALID] * len(contexts)


def build_pipeline(
    *,
    settings: Settings,
    meta: Metadata,
    sites: SiteDirectory,
    metrics: Metrics,
    store: Store,
    clock: Callable[[], datetime],
    salts: SaltCache | None = None,
    sessions: SessionStore | None = None,
    cities: CityDatabase | None = None,
) -> Pipeline:
    """The pipeline for one app: salts from ``meta``, sites from ``sites``, and ``sessions``
    (default: an in-memory tracker) warmed with the sessions still live at ``clock()``, from
    ``store`` and from the session lines of the write-ahead log in ``settings.wal_dir``
    (rows not ingested yet). ``cities``: the city database (None: country only)."""
    timeout = timedelta(minutes=settings.session_timeout_minutes)
    tracker = sessions if sessions is not None else SessionTracker(timeout, clock)
    warmed = warm_tracker(tracker, store, clock(), logged_lines(settings.wal_dir, SESSION_KIND))
    if warmed:
        log.info("session tracker warmed with %d live sessions", warmed)
    metrics.sessions_live.set_function(lambda: len(tracker))
    env = Env(sites=sites, salts=salts or SaltCache(meta, clock), tracker=tracker, clock=clock,
              cities=cities)
    return Pipeline(env, metrics)
