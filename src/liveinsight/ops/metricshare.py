"""``/metrics`` for the whole server under ``serve --workers N``: every worker's figures.

Each worker keeps its metrics in its own registry (``ops/metrics.py``), and a scrape is
answered by whichever worker the kernel hands the connection to. So each worker publishes a
snapshot of its registry — every sample, as a collection gives it — into its slot
(``<data_dir>/workers/<n>/metrics.json``, written whole and renamed into place) every
:data:`PUBLISH_EVERY_S` and once more when it stops, and the worker that answers merges the
others' snapshots with its own live registry (:meth:`MetricsShare.families`):

- counters, histograms and summaries are **summed** sample by sample (same name, same
  labels): the server's request counts, latency buckets, events accepted...; their
  ``_created`` samples take the earliest;
- gauges (and info/state sets) are **kept per worker** with a ``worker`` label (the slot's
  number): a WAL backlog, a resident memory or a writer lag is one process's, and whether
  the server's is the sum, the maximum or the minimum is the query's choice
  (``sum(liveinsight_wal_bytes)``, ``max(liveinsight_writer_lag_seconds)``).

The alert evaluator reads another view of the same snapshots (:meth:`MetricsShare.by_worker`,
:func:`label_workers`): every sample of every worker labelled by its worker, counters
included, so a rule takes a counter's growth per worker before summing (a worker started
again counts from zero without the server's sum seeming to fall) and keeps gauges apart per
worker (``ops/alerts/samples.py``). ``GET /admin/monitoring/metrics`` reads the merged view
and sums or picks the gauges of its summary (``ops/monitoring.py``).

A snapshot older than :data:`STALE_S` is left out (its worker died and was not replaced);
a worker started again in the same slot starts its counters from zero, which Prometheus'
``rate()`` reads as a counter reset. The parent removes every slot's snapshot before the
workers start (:func:`clear`).

Why not prometheus_client's multiprocess mode: it keeps every value in memory-mapped files
through a process-wide switch set before the library is imported, supports neither custom
collectors nor function gauges, and would drop what this node exposes through them (the
per-route request histogram kept as plain numbers for the event loop's sake, the answer
cache's figures, the WAL and writer gauges read at each scrape, the process collector).
Snapshots keep every metric as it is, cost one collection per worker every
:data:`PUBLISH_EVERY_S` (a few milliseconds, in a thread of their own), and at most that
much staleness for the other workers' figures.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson
from prometheus_client import CollectorRegistry
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

PUBLISH_EVERY_S = 2.0
"""How often a worker writes its snapshot (the other workers' figures are at most this
old in an answer)."""
STALE_S = 30.0
"""A snapshot this old is a dead worker's: left out."""
SNAPSHOT = "metrics.json"
"""The snapshot's file name in a worker's slot."""
SUMMED = frozenset({"counter", "histogram", "summary", "gaugehistogram"})
WORKER_LABEL = "worker"


def clear(root: Path) -> None:
    """Remove every slot's snapshot under ``root`` (the parent, before its workers start:
    a previous run's figures must never be added to this one's)."""
    if root.is_dir():
        for path in root.glob(f"*/{SNAPSHOT}"):
            with contextlib.suppress(OSError):
                path.unlink()


def snapshot(families: Iterable[Metric], worker: str, at: float) -> bytes:
    """One worker's collection as the JSON of its snapshot file."""
    return orjson.dumps({
        "worker": worker, "pid": os.getpid(), "at": at,
        "families": [{"name": f.name, "type": f.type, "help": f.documentation,
                      "unit": f.unit,
                      "samples": [[s.name, s.labels, s.value] for s in f.samples]}
                     for f in families],
    })


def _family_into(merged: dict[str, Metric], family: Metric) -> Metric | None:
    """The merged family ``family``'s samples go into (made at its first worker), or None
    for a worker whose family of that name has another type (another version: left out)."""
    into = merged.get(family.name)
    if into is None:
        into = merged[family.name] = Metric(family.name, family.documentation,
                                            family.type, family.unit)
    elif into.type != family.type:
        return None
    return into


def merge(workers: Iterable[tuple[str, Iterable[Metric]]]) -> list[Metric]:
    """The families of several workers (``(worker, its families)``) as one server's (see
    the module doc: summed, or kept per worker)."""
    merged: dict[str, Metric] = {}
    summed: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]] = {}
    for worker, families in workers:
        for family in families:
            into = _family_into(merged, family)
            if into is None:
                continue
            if family.type in SUMMED:
                values = summed.setdefault(family.name, {})
                for s in family.samples:
                    key = (s.name, tuple(sorted(s.labels.items())))
                    if key not in values:
                        values[key] = s.value
                    elif s.name.endswith("_created"):
                        values[key] = min(values[key], s.value)
                    else:
                        values[key] += s.value
            else:
                for s in family.samples:
                    into.add_sample(s.name, {**s.labels, WORKER_LABEL: worker}, s.value)
    for name, values in summed.items():
        for (sample, labels), value in values.items():
            merged[name].add_sample(sample, dict(labels), value)
    return list(merged.values())


def label_workers(workers: Iterable[tuple[str, Iterable[Metric]]]) -> list[Metric]:
    """The families of several workers (``(worker, its families)``), every sample labelled
    with its worker (``worker``) and none summed: the view alert rules read."""
    merged: dict[str, Metric] = {}
    for worker, families in workers:
        for family in families:
            into = _family_into(merged, family)
            if into is None:
                continue
            for s in family.samples:
                into.add_sample(s.name, {**s.labels, WORKER_LABEL: worker}, s.value)
    return list(merged.values())


def _families(data: dict[str, Any]) -> list[Metric]:
    out = []
    for f in data["families"]:
        family = Metric(f["name"], f["help"], f["type"], f.get("unit", ""))
        for name, labels, value in f["samples"]:
            family.add_sample(name, labels, value)
        out.append(family)
    return out


class MetricsShare(Collector):
    """A worker's side: publishes ``registry`` into ``slot`` (:meth:`start`, :meth:`stop`)
    and collects the whole server's families (:meth:`families`; also a prometheus_client
    collector, so :attr:`registry` can be handed to ``generate_latest``); :attr:`by_worker`
    is a registry of every worker's samples labelled by worker (:meth:`worker_families`),
    for the alert evaluator."""

    def __init__(self, registry: CollectorRegistry, root: Path, slot: Path) -> None:
        self._own = registry
        self._root = root
        self._slot = slot
        self.worker = slot.name
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)
        self.by_worker = CollectorRegistry(auto_describe=False)
        self.by_worker.register(_ByWorker(self))

    def publish(self) -> None:
        """Write this worker's snapshot now (whole, then renamed into place)."""
        data = snapshot(self._own.collect(), self.worker, time.time())
        part = self._slot / f".{SNAPSHOT}.{os.getpid()}"
        part.write_bytes(data)
        part.replace(self._slot / SNAPSHOT)

    def _run(self) -> None:
        while not self._stop.wait(PUBLISH_EVERY_S):
            try:
                self.publish()
            except Exception:  # a full disk must not stop the thread; the next try may pass
                log.warning("could not publish this worker's metrics", exc_info=True)

    def start(self) -> None:
        with contextlib.suppress(OSError):
            self.publish()
        self._thread = threading.Thread(target=self._run, name="metrics-share", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with contextlib.suppress(OSError):
            self.publish()  # the counts of its last requests

    def others(self, now: float | None = None) -> list[tuple[str, list[Metric]]]:
        """The other workers' families, from their snapshots no older than
        :data:`STALE_S`."""
        now = time.time() if now is None else now
        out = []
        for path in sorted(self._root.glob(f"*/{SNAPSHOT}")):
            if path.parent.name == self.worker:
                continue
            try:
                data = orjson.loads(path.read_bytes())
                if now - float(data["at"]) > STALE_S:
                    continue
                out.append((str(data["worker"]), _families(data)))
            except (OSError, ValueError, KeyError, TypeError):
                continue  # being replaced, or unreadable: this answer goes without it
        return out

    def families(self) -> list[Metric]:
        """The whole server's families: this worker's live, the others' last snapshots
        (blocking: call it off the event loop)."""
        return merge([(self.worker, list(self._own.collect())), *self.others()])

    def worker_families(self) -> list[Metric]:
        """Every worker's families, each sample labelled by its worker (:func:`label_workers`;
        blocking)."""
        return label_workers([(self.worker, list(self._own.collect())), *self.others()])

    def collect(self) -> Iterator[Metric]:
        yield from self.families()


class _ByWorker(Collector):
    def __init__(self, share: MetricsShare) -> None:
        self._share = share

    def collect(self) -> Iterator[Metric]:
        yield from self._share.worker_families()
