"""Resetting a site's stats and deleting a site, as job steps (``ops/jobs.py``).

Reset: every stored row of the site goes (events, sessions, rollups, imported data); its
settings, goals and people stay. Delete: the site's metadata goes first (so this node's
collector drops its new events as an unknown site at once, other nodes within their
directory refresh), then its rows as for a reset, then — after :data:`sweep` seconds — its
rows once more.

Why the order, and why the log is flushed first: events acknowledged before the delete sit
in the write-ahead log with the site's id. This node's log is flushed into ClickHouse
before the rows are deleted, so they are deleted with the rest instead of landing
afterwards. Another process's log (``serve --workers``, other nodes) is flushed by its own
writer within ``writer_flush_ms``; the directory it checks new events against refreshes
within 10 s; the sweep after ``site_delete_sweep_seconds`` deletes what those logs
brought in meanwhile. The sweep is skipped if the site's id belongs to a new site by then
(SQLite hands out the highest id again once it is free): its rows are the new site's.
A log held back longer (ClickHouse away for longer than the sweep's wait) can still bring
rows of a deleted site in later; they belong to no site and no query reads them, until a
new site takes the same id on SQLite (PostgreSQL never reuses ids).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from liveinsight.cache.answers import Answers
from liveinsight.ingest.writer import BatchWriter
from liveinsight.meta.repo import Metadata, SiteDirectory
from liveinsight.meta.site_imports import SiteImports
from liveinsight.ops.jobs import Step
from liveinsight.storage import schema
from liveinsight.storage.protocol import Store
from liveinsight.storage.sitedata import delete_site_rows

log = logging.getLogger("liveinsight.sites")
FLUSH_TIMEOUT_S = 60.0


@dataclass(frozen=True, slots=True)
class SiteData:
    """What resetting and deleting touch; every step is blocking (run it in a job)."""

    store: Store
    cluster: schema.Cluster | None
    writer: BatchWriter
    answers: Answers
    meta: Metadata
    sites: SiteDirectory
    imports: SiteImports | None = None
    sweep_s: float = 15.0
    sleep: Callable[[float], None] = time.sleep

    def reset_steps(self, site_id: int) -> list[Step]:
        """Flush the log, delete the rows, forget the site's imports (their rows are gone),
        drop the cached answers."""
        return [("flush log", self._flush),
                ("delete rows", lambda: delete_site_rows(self.store, site_id, self.cluster)),
                ("forget imports", lambda: self._forget_imports(site_id)),
                ("drop cached answers", lambda: self.answers.invalidate_site(site_id))]

    def _forget_imports(self, site_id: int) -> int:
        if self.imports is None:
            return 0
        listed = self.imports.of_site(site_id)
        for found in listed:
            self.imports.delete(site_id, found.id)
        return len(listed)

    def delete_steps(self, site_id: int) -> list[Step]:
        """Delete the metadata, then as :meth:`reset_steps`, then the sweep (when
        ``sweep_s`` is above 0)."""
        steps: list[Step] = [("delete metadata", lambda: self._forget(site_id)),
                             *self.reset_steps(site_id)]
        if self.sweep_s > 0:
            steps.append(("sweep", lambda: self._sweep(site_id)))
        return steps

    def _flush(self) -> dict[str, Any]:
        if not self.writer.flush(timeout=FLUSH_TIMEOUT_S):
            # The rows stay in the log; deleting now would let them land afterwards.
            raise RuntimeError("could not flush the write-ahead log into ClickHouse "
                               f"({self.writer.last_error}); nothing was deleted: retry")
        return {"flushed": True}

    def _forget(self, site_id: int) -> dict[str, int]:
        revoked = self.meta.delete_site(site_id)
        self.sites.reload()
        return {"keys_revoked": revoked}

    def _sweep(self, site_id: int) -> dict[str, Any]:
        self.sleep(self.sweep_s)
        self._flush()
        if self.meta.site(site_id) is not None:
            log.warning("site %d: its id belongs to a new site already; no sweep", site_id)
            return {"skipped": "the id belongs to a new site"}
        rows = delete_site_rows(self.store, site_id, self.cluster)
        if any(rows.values()):
            self.answers.invalidate_site(site_id)
        return rows
