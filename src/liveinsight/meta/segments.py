"""Saved segments in the metadata database: named filter sets of a site, shared with every
person holding a role on it (viewers apply them; editors and up save and delete them).

``filters`` are v2 filter conditions (``[op, dimension, [values]]``), checked by the caller
(``api/segments.py``: the stats parser, and what the dashboard can show) before they are
stored. At most :data:`MAX_PER_SITE` per site; names unique in a site.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError

from liveinsight.errors import Conflict, Invalid, NotFound
from liveinsight.meta import models
from liveinsight.meta.db import session_factory

MAX_PER_SITE = 200
MAX_NAME = 120


@dataclass(frozen=True, slots=True)
class SegmentInfo:
    id: int
    site_id: int
    name: str
    filters: list[Any]
    created_at: datetime

    def doc(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "filters": self.filters,
                "created_at": self.created_at.isoformat()}


def _info(row: models.Segment) -> SegmentInfo:
    created = row.created_at
    return SegmentInfo(row.id, row.site_id, row.name, list(row.filters),
                       created.replace(tzinfo=UTC) if created.tzinfo is None else created)


def segment_name(raw: Any) -> str:
    if not isinstance(raw, str) or not raw.strip() or len(raw.strip()) > MAX_NAME:
        raise Invalid(f"a segment needs a name of 1 to {MAX_NAME} characters", field="name")
    return raw.strip()


class Segments:
    """Every method is one short blocking transaction (run it off the event loop)."""

    def __init__(self, engine: Engine) -> None:
        self._sessions = session_factory(engine)

    def of_site(self, site_id: int) -> list[SegmentInfo]:
        with self._sessions() as s:
            rows = s.scalars(select(models.Segment).where(models.Segment.site_id == site_id)
                             .order_by(models.Segment.name)).all()
            return [_info(r) for r in rows]

    def create(self, site_id: int, name: Any, filters: list[Any],
               created_by: int | None = None) -> SegmentInfo:
        """Keep a new segment; ``Invalid`` for a bad name, ``Conflict`` for a name taken in
        the site or past the limit."""
        name = segment_name(name)
        with self._sessions() as s:
            count = s.scalar(select(func.count()).select_from(models.Segment).where(
                models.Segment.site_id == site_id)) or 0
            if count >= MAX_PER_SITE:
                raise Conflict(f"a site keeps at most {MAX_PER_SITE} segments; delete some",
                               field="name")
            row = models.Segment(site_id=site_id, name=name, filters=filters,
                                 created_by=created_by)
            s.add(row)
            try:
                s.commit()
            except IntegrityError:
                raise Conflict(f"the site has a segment named {name!r}", field="name") from None
            return _info(row)

    def delete(self, site_id: int, segment_id: int) -> None:
        with self._sessions() as s:
            row = s.get(models.Segment, segment_id)
            if row is None or row.site_id != site_id:
                raise NotFound(f"no segment {segment_id} in this site", field="segment_id")
            s.delete(row)
            s.commit()
