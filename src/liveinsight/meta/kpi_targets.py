"""KPI targets in the metadata database: one number per (site or the total, KPI)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select

from liveinsight.errors import Conflict, Invalid
from liveinsight.meta import models
from liveinsight.meta.db import session_factory

KPIS = ("visitors", "visits", "pageviews", "bounce_rate", "visit_duration")
GOAL_PREFIX = "goal:"
MAX_TARGETS = 1000

Targets = dict[int | None, dict[str, float]]


def check(metric: Any, target: Any) -> tuple[str, float | None]:
    """The KPI's name and target, or ``Invalid`` naming ``metric`` or ``target``."""
    if not isinstance(metric, str) or not (
            metric in KPIS or (metric.startswith(GOAL_PREFIX)
                               and 0 < len(metric) - len(GOAL_PREFIX) <= 120)):
        raise Invalid(f"metric is one of {', '.join(KPIS)} or goal:<goal name>",
                      field="metric")
    if target is None:
        return metric, None
    if isinstance(target, bool) or not isinstance(target, int | float) \
            or not math.isfinite(target) or target < 0:
        raise Invalid("target is a number, 0 or more (null removes it)", field="target")
    if (metric == "bounce_rate" or metric.startswith(GOAL_PREFIX)) and target > 100:
        raise Invalid("a rate's target is a percentage, at most 100", field="target")
    return metric, float(target)


class KpiTargets:
    def __init__(self, engine: Engine) -> None:
        self._sessions = session_factory(engine)

    def all(self) -> Targets:
        with self._sessions() as s:
            out: Targets = {}
            for row in s.scalars(select(models.KpiTarget)).all():
                out.setdefault(row.site_id, {})[row.metric] = row.target
            return out

    def set(self, site_id: int | None, metric: str, target: float | None) -> None:
        """Set (or with None remove) a target; ``Conflict`` past :data:`MAX_TARGETS`."""
        with self._sessions() as s:
            found = s.scalars(select(models.KpiTarget).where(
                models.KpiTarget.site_id.is_(None) if site_id is None
                else models.KpiTarget.site_id == site_id,
                models.KpiTarget.metric == metric)).all()
            for row in found[1:]:
                s.delete(row)
            if target is None:
                if found:
                    s.delete(found[0])
            elif found:
                found[0].target, found[0].updated_at = target, datetime.now(UTC)
            else:
                if len(s.scalars(select(models.KpiTarget.id)).all()) >= MAX_TARGETS:
                    raise Conflict(f"at most {MAX_TARGETS} KPI targets", field="metric")
                s.add(models.KpiTarget(site_id=site_id, metric=metric, target=target))
            s.commit()
