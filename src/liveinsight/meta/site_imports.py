"""Imports of a site in the metadata database (``models.SiteImport``): what was imported,
the days kept, how it ended. The rows themselves are in ClickHouse (``imported_*``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Engine, select

from liveinsight.errors import NotFound
from liveinsight.meta import models
from liveinsight.meta.db import session_factory


@dataclass(frozen=True, slots=True)
class ImportInfo:
    id: int
    site_id: int
    source: str
    filename: str
    status: str  # importing | completed | failed
    start_date: date | None
    end_date: date | None
    rows: int
    skipped_rows: int
    error: str | None
    created_at: datetime
    finished_at: datetime | None

    def doc(self) -> dict[str, Any]:
        return {"id": self.id, "source": self.source, "filename": self.filename,
                "status": self.status,
                "start_date": self.start_date.isoformat() if self.start_date else None,
                "end_date": self.end_date.isoformat() if self.end_date else None,
                "rows": self.rows, "skipped_rows": self.skipped_rows, "error": self.error,
                "created_at": self.created_at.isoformat(),
                "finished_at": self.finished_at.isoformat() if self.finished_at else None}


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _info(row: models.SiteImport) -> ImportInfo:
    return ImportInfo(row.id, row.site_id, row.source, row.filename, row.status,
                      row.start_date, row.end_date, row.rows, row.skipped_rows, row.error,
                      _utc(row.created_at) or datetime.now(UTC), _utc(row.finished_at))


class SiteImports:
    """Every method is one short blocking transaction (run it off the event loop)."""

    def __init__(self, engine: Engine) -> None:
        self._sessions = session_factory(engine)

    def of_site(self, site_id: int) -> list[ImportInfo]:
        """Newest first."""
        with self._sessions() as s:
            rows = s.scalars(select(models.SiteImport)
                             .where(models.SiteImport.site_id == site_id)
                             .order_by(models.SiteImport.id.desc())).all()
            return [_info(r) for r in rows]

    def completed(self, site_id: int) -> list[ImportInfo]:
        return [i for i in self.of_site(site_id) if i.status == "completed"]

    def ranges(self, site_id: int) -> tuple[tuple[int, date, date], ...]:
        """The site's completed imports as the stats read them: (id, first, last day)."""
        with self._sessions() as s:
            rows = s.execute(select(models.SiteImport.id, models.SiteImport.start_date,
                                    models.SiteImport.end_date)
                             .where(models.SiteImport.site_id == site_id,
                                    models.SiteImport.status == "completed")
                             .order_by(models.SiteImport.id)).all()
            return tuple((i, a, b) for i, a, b in rows if a is not None and b is not None)

    def get(self, site_id: int, import_id: int) -> ImportInfo:
        if not 0 < import_id < 2**31:
            raise NotFound(f"no import {import_id} in this site", field="import_id")
        with self._sessions() as s:
            row = s.get(models.SiteImport, import_id)
            if row is None or row.site_id != site_id:
                raise NotFound(f"no import {import_id} in this site", field="import_id")
            return _info(row)

    def create(self, site_id: int, source: str, filename: str, start: date, end: date,
               created_by: int | None = None) -> ImportInfo:
        with self._sessions() as s:
            row = models.SiteImport(site_id=site_id, source=source, filename=filename[:255],
                                    status="importing", start_date=start, end_date=end,
                                    rows=0, skipped_rows=0, created_by=created_by)
            s.add(row)
            s.commit()
            return _info(row)

    def finish(self, import_id: int, *, status: str, rows: int = 0, skipped_rows: int = 0,
               error: str | None = None) -> None:
        with self._sessions() as s:
            row = s.get(models.SiteImport, import_id)
            if row is None:  # deleted while it ran
                return
            row.status, row.rows, row.skipped_rows = status, rows, skipped_rows
            row.error = error[:1000] if error else None
            row.finished_at = datetime.now(UTC)
            s.commit()

    def delete(self, site_id: int, import_id: int) -> ImportInfo:
        """Forget an import (its rows are no longer read); the record as it was."""
        if not 0 < import_id < 2**31:
            raise NotFound(f"no import {import_id} in this site", field="import_id")
        with self._sessions() as s:
            row = s.get(models.SiteImport, import_id)
            if row is None or row.site_id != site_id:
                raise NotFound(f"no import {import_id} in this site", field="import_id")
            info = _info(row)
            s.delete(row)
            s.commit()
            return info
