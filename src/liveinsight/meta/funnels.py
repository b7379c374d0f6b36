"""Saved funnels in the metadata database (so every node reads the same): a name and a
definition per funnel, at most :data:`MAX_PER_SITE` per site, names unique in a site.
Definitions are stored as given (the caller checks them: ``behaviour.funnels``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError

from liveinsight.errors import Conflict, Invalid, NotFound
from liveinsight.meta import models
from liveinsight.meta.db import session_factory

MAX_PER_SITE = 100
MAX_NAME = 120


@dataclass(frozen=True, slots=True)
class SavedFunnel:
    id: int
    site_id: int
    name: str
    definition: dict[str, Any]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: models.Funnel) -> SavedFunnel:
        return cls(row.id, row.site_id, row.name, dict(row.definition), row.created_at,
                   row.updated_at)

    def doc(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, **self.definition,
                "created_at": self.created_at.isoformat(),
                "updated_at": self.updated_at.isoformat()}


def _name(raw: Any) -> str:
    if not isinstance(raw, str) or not raw.strip() or len(raw.strip()) > MAX_NAME:
        raise Invalid(f"a funnel needs a name of 1 to {MAX_NAME} characters", field="name")
    return raw.strip()


class SavedFunnels:
    def __init__(self, engine: Engine) -> None:
        self._sessions = session_factory(engine)

    def of_site(self, site_id: int) -> list[SavedFunnel]:
        with self._sessions() as s:
            rows = s.scalars(select(models.Funnel).where(models.Funnel.site_id == site_id)
                             .order_by(models.Funnel.name)).all()
            return [SavedFunnel.of(r) for r in rows]

    def get(self, site_id: int, funnel_id: int) -> SavedFunnel:
        """The site's funnel; ``NotFound`` for another site's or none."""
        with self._sessions() as s:
            row = s.get(models.Funnel, funnel_id)
            if row is None or row.site_id != site_id:
                raise NotFound(f"no funnel {funnel_id} in this site", field="funnel_id")
            return SavedFunnel.of(row)

    def create(self, site_id: int, name: Any, definition: dict[str, Any]) -> SavedFunnel:
        """Keep a new funnel; ``Conflict`` for a name taken in the site or past the limit."""
        name = _name(name)
        with self._sessions() as s:
            count = s.scalar(select(func.count()).select_from(models.Funnel).where(
                models.Funnel.site_id == site_id)) or 0
            if count >= MAX_PER_SITE:
                raise Conflict(f"a site keeps at most {MAX_PER_SITE} funnels; delete some",
                               field="name")
            row = models.Funnel(site_id=site_id, name=name, definition=definition)
            s.add(row)
            try:
                s.commit()
            except IntegrityError:
                raise Conflict(f"the site has a funnel named {name!r}", field="name") from None
            return SavedFunnel.of(row)

    def update(self, site_id: int, funnel_id: int, name: Any,
               definition: dict[str, Any]) -> SavedFunnel:
        name = _name(name)
        with self._sessions() as s:
            row = s.get(models.Funnel, funnel_id)
            if row is None or row.site_id != site_id:
                raise NotFound(f"no funnel {funnel_id} in this site", field="funnel_id")
            row.name, row.definition, row.updated_at = name, definition, datetime.now(UTC)
            try:
                s.commit()
            except IntegrityError:
                raise Conflict(f"the site has a funnel named {name!r}", field="name") from None
            return SavedFunnel.of(row)

    def delete(self, site_id: int, funnel_id: int) -> None:
        with self._sessions() as s:
            row = s.get(models.Funnel, funnel_id)
            if row is None or row.site_id != site_id:
                raise NotFound(f"no funnel {funnel_id} in this site", field="funnel_id")
            s.delete(row)
            s.commit()
