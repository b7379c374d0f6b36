"""Metric values for alert rules, read from the app's Prometheus registry (``ops/metrics.py``).

The evaluator takes a :class:`Snapshot` of the registry each tick and keeps a short history
of them (:class:`History`); a rule's statistic for each of its series is a pure function of
that history:

- ``value``: the current value (summed over the samples the rule's labels match);
- ``increase`` / ``rate``: a counter's growth over the rule's window (per second for
  ``rate``), a reset counted from zero;
- ``change``: a gauge's difference from its value one window ago (a drop is negative);
- ``p50`` ``p90`` ``p95`` ``p99`` / ``mean``: a histogram's quantile (linear within a bucket,
  as Prometheus's ``histogram_quantile``) or mean over the observations of the window;

optionally divided by the same statistic over other labels (``ratio_of``: an error rate is
``increase`` of ``status=5*`` over ``increase`` of every status), and optionally compared
with itself one window earlier (``compare="previous_window"``, :func:`measure`: the value
now minus the same measured over the window before; a cache hit ratio that fell by 5
points is ``increase`` of ``outcome=hit`` over every outcome of
``liveinsight_cache_lookups_total``, compared, ``<= -0.05``). A statistic that needs a
window answers None until the history covers 90 % of it, and None when nothing was observed.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from prometheus_client import CollectorRegistry

from liveinsight.ops.metricshare import SUMMED, WORKER_LABEL

Labels = tuple[tuple[str, str], ...]
QUANTILES = {"p50": 0.5, "p90": 0.9, "p95": 0.95, "p99": 0.99}
WINDOW_STATS = ("increase", "rate", "change", "mean", *QUANTILES)
STATS = ("value", *WINDOW_STATS)
COMPARES = ("previous_window",)
_HISTOGRAM_STATS = ("mean", *QUANTILES, "rate", "increase")


@dataclass(frozen=True, slots=True)
class MetricInfo:
    """A metric as rules name it: its kind and the label names seen on it."""

    name: str
    kind: str  # counter | gauge | histogram | summary | unknown
    labels: frozenset[str]

    def allows(self, stat: str) -> bool:
        if self.kind == "histogram":
            return stat in _HISTOGRAM_STATS or stat == "value"
        return stat in ("value", "increase", "rate", "change")


def kept_apart(info: MetricInfo, by: tuple[str, ...]) -> tuple[str, ...]:
    """The labels a rule's series of ``info`` are kept apart by: ``by``, plus ``worker``
    for a gauge read from the workers of ``serve --workers`` (a gauge is one process's
    figure — its backlog, its memory, the free space it sees — whose sum over the workers
    is often meaningless, as ``/metrics`` lists gauges per worker; counters and histograms
    are summed over the workers unless ``by`` names ``worker``)."""
    if info.kind in SUMMED or WORKER_LABEL not in info.labels or WORKER_LABEL in by:
        return by
    return (*by, WORKER_LABEL)


def catalogue(registry: CollectorRegistry) -> dict[str, MetricInfo]:
    """Every metric of the registry by the name rules use: a counter's exposed name (with
    ``_total``), a gauge's, a histogram's base name."""
    found: dict[str, MetricInfo] = {}
    for family in registry.collect():
        name = family.name + "_total" if family.type == "counter" else family.name
        labels = frozenset(k for s in family.samples for k in s.labels
                           if k not in ("le", "quantile"))
        found[name] = MetricInfo(name, family.type, labels)
    return found


@dataclass(frozen=True, slots=True)
class Snapshot:
    at: datetime
    values: Mapping[tuple[str, Labels], float]


def snapshot(registry: CollectorRegistry, at: datetime, names: Iterable[str]) -> Snapshot:
    """The samples of the metrics named (rules' names, see :func:`catalogue`) at ``at``."""
    wanted = set(names)
    values: dict[tuple[str, Labels], float] = {}
    for family in registry.collect():
        base = family.name + "_total" if family.type == "counter" else family.name
        if base not in wanted:
            continue
        for s in family.samples:
            if s.name.endswith("_created"):
                continue
            values[(s.name, tuple(sorted(s.labels.items())))] = float(s.value)
    return Snapshot(at, values)


@dataclass
class History:
    """Snapshots of the last ``keep`` (oldest dropped as new ones come)."""

    keep: timedelta
    items: deque[Snapshot] = field(default_factory=deque)

    def add(self, snap: Snapshot) -> None:
        self.items.append(snap)
        while self.items and self.items[0].at < snap.at - self.keep:
            self.items.popleft()

    def latest(self) -> Snapshot | None:
        return self.items[-1] if self.items else None

    def at_or_before(self, when: datetime) -> Snapshot | None:
        """The newest snapshot taken at or before ``when``."""
        best = None
        for snap in self.items:
            if snap.at > when:
                break
            best = snap
        return best


@dataclass(frozen=True, slots=True)
class Selector:
    """Which samples of a metric a rule reads: ``matchers`` (a value ending in ``*`` matches
    by prefix) and ``by``, the labels that keep series apart (the rest are summed)."""

    metric: str
    matchers: Mapping[str, str]
    by: tuple[str, ...] = ()

    def series_of(self, labels: Labels) -> Labels | None:
        found = dict(labels)
        for key, want in self.matchers.items():
            have = found.get(key)
            if have is None:
                return None
            if want.endswith("*") and not have.startswith(want[:-1]):
                return None
            if not want.endswith("*") and have != want:
                return None
        return tuple((k, found.get(k, "")) for k in self.by)


def _sums(snap: Snapshot, sample: str, sel: Selector, extra: str | None = None, *,
          since: Snapshot | None = None) -> dict[tuple[Labels, str], float]:
    """Per series (and per value of label ``extra``, e.g. ``le``): summed samples; with
    ``since``, each sample's growth since that snapshot (a reset counted from zero), summed.
    Growth is taken sample by sample, before the sum: under ``serve --workers`` each
    worker's samples are apart (label ``worker``), so a worker started again (its counters
    from zero) or gone does not make the server's sum look reset."""
    out: dict[tuple[Labels, str], float] = {}
    for (name, labels), value in snap.values.items():
        if name != sample:
            continue
        key = tuple(p for p in labels if p[0] != extra) if extra else labels
        series = sel.series_of(key)
        if series is None:
            continue
        sub = dict(labels).get(extra, "") if extra else ""
        if since is not None:
            value = _delta(value, since.values.get((name, labels)))
        out[(series, sub)] = out.get((series, sub), 0.0) + value
    return out


def _delta(new: float, old: float | None) -> float:
    return new if old is None or new < old else new - old  # a reset counts from zero


def histogram_quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """Prometheus's histogram_quantile over cumulative (upper bound, count) pairs."""
    buckets.sort()
    total = buckets[-1][1] if buckets else 0.0
    if total <= 0:
        return None
    rank = q * total
    lower, below = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return lower
            span = count - below
            return lower + (bound - lower) * ((rank - below) / span if span else 1.0)
        lower, below = bound, count
    return lower


def evaluate(history: History, sel: Selector, stat: str, kind: str, window: timedelta,
             *, at: Snapshot | None = None) -> dict[Labels, float | None]:
    """``stat`` of each series of ``sel`` at the snapshot ``at`` (the newest by default; see
    the module doc)."""
    now = history.latest() if at is None else at
    if now is None:
        return {}
    base = sel.metric
    if stat == "value" and kind != "histogram":
        return {s: v for (s, _), v in _sums(now, base, sel).items()}
    old = history.at_or_before(now.at - window)
    covered = old is not None and (now.at - old.at) >= window * 0.9
    if kind == "histogram":
        return _histogram(now, old if covered else None, sel, stat, covered)
    current = _sums(now, base, sel)
    if not covered or old is None:
        return {s: None for (s, _) in current}
    seconds = (now.at - old.at).total_seconds()
    out: dict[Labels, float | None] = {}
    if stat == "change":
        before = _sums(old, base, sel)
        for key, value in current.items():
            prior = before.get(key)
            out[key[0]] = None if prior is None else value - prior
        return out
    if kind in SUMMED:  # a counter: each sample's growth, summed
        grown = _sums(now, base, sel, since=old)
    else:  # a gauge's sum, as it moved (its samples may go down, which is no reset)
        before = _sums(old, base, sel)
        grown = {key: _delta(value, before.get(key)) for key, value in current.items()}
    for key, value in grown.items():
        out[key[0]] = value / seconds if stat == "rate" else value
    return out


def _histogram(now: Snapshot, old: Snapshot | None, sel: Selector, stat: str, covered: bool
               ) -> dict[Labels, float | None]:
    name = sel.metric
    counts_now = _sums(now, name + "_count", sel)
    if stat == "value":
        return {s: v for (s, _), v in counts_now.items()}
    if not covered or old is None:
        return {s: None for (s, _) in counts_now}
    seconds = (now.at - old.at).total_seconds()
    counts = _sums(now, name + "_count", sel, since=old)
    out: dict[Labels, float | None] = {}
    if stat in ("rate", "increase"):
        for key, grown in counts.items():
            out[key[0]] = grown / seconds if stat == "rate" else grown
        return out
    if stat == "mean":
        sums = _sums(now, name + "_sum", sel, since=old)
        for key, n in counts.items():
            out[key[0]] = sums.get(key, 0.0) / n if n else None
        return out
    per_series: dict[Labels, list[tuple[float, float]]] = {}
    for (series, le), grown in _sums(now, name + "_bucket", sel, extra="le",
                                     since=old).items():
        per_series.setdefault(series, []).append((float(le), grown))
    for series, buckets in per_series.items():
        out[series] = histogram_quantile(QUANTILES[stat], buckets)
    return out


def measure(history: History, sel: Selector, stat: str, kind: str, window: timedelta, *,
            ratio_of: Selector | None = None, compare: str = "") -> dict[Labels, float | None]:
    """A rule's value per series: ``stat`` of ``sel``, divided by the same of ``ratio_of``
    when given; with ``compare="previous_window"``, that value minus the same measured at
    the newest snapshot one ``window`` before the newest (None for a series where either
    is None: no data, or a history shorter than two windows for a window statistic)."""

    def one(at: Snapshot | None) -> dict[Labels, float | None]:
        values = evaluate(history, sel, stat, kind, window, at=at)
        if ratio_of is not None:
            values = ratio(values, evaluate(history, ratio_of, stat, kind, window, at=at))
        return values

    values = one(None)
    latest = history.latest()
    if not compare or latest is None:
        return values
    earlier = history.at_or_before(latest.at - window)
    before = one(earlier) if earlier is not None else {}
    out: dict[Labels, float | None] = {}
    for series, value in values.items():
        prior = before.get(series)
        out[series] = None if value is None or prior is None else value - prior
    return out


def ratio(top: Mapping[Labels, float | None], bottom: Mapping[Labels, float | None]
          ) -> dict[Labels, float | None]:
    """``top / bottom`` per series (None where either is None or the bottom is zero)."""
    out: dict[Labels, float | None] = {}
    for series, value in top.items():
        under = bottom.get(series)
        out[series] = value / under if value is not None and under else None
    for series, under in bottom.items():
        if series not in out:
            out[series] = 0.0 if under else None
    return out
