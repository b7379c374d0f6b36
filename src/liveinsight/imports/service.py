"""Imports of a site: start one (checked at once, stored by a job), follow it, list, delete.

Life of an import: the upload is checked whole (``runner.check``: a bad file is refused
before anything is recorded); the days kept are chosen (``runner.kept_range``); the import
is recorded as ``importing``; a job (``ops/jobs.py``, kind ``import:<site id>``: one import
per site at a time, 409 otherwise) inserts the rows in batches and records the import
``completed`` (or ``failed``, its rows removed); the site's cached answers are dropped. Only
completed imports are read by the stats (``completed_ids``). Deleting an import forgets it
first (the stats stop reading it at once), then deletes its rows.

Progress (rows checked and inserted) is kept in this node's memory beside the job; the
record in the metadata database outlives both. An import interrupted by a stop of the node
stays ``importing`` (its rows are not read); delete it and import again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from liveinsight.errors import Invalid
from liveinsight.imports import runner
from liveinsight.imports.reader import Limits, Upload
from liveinsight.imports.runner import Progress
from liveinsight.meta.repo import SiteInfo
from liveinsight.meta.site_imports import ImportInfo, SiteImports
from liveinsight.ops.jobs import Busy, Jobs
from liveinsight.storage.protocol import Store
from liveinsight.storage.schema import Cluster

log = logging.getLogger("liveinsight.imports")


@dataclass(slots=True)
class _Progress:
    step: str = "check"
    done: int = 0
    total: int = 0
    job_id: str | None = None

    def __call__(self, step: str, done: int, total: int) -> None:
        self.step, self.done, self.total = step, done, total

    def doc(self) -> dict[str, Any]:
        share = self.done / self.total if self.total else 0.0
        return {"step": self.step, "done": self.done, "total": self.total,
                "progress": round(share, 4), "job_id": self.job_id}


class Importer:
    def __init__(self, store: Store, imports: SiteImports, jobs: Jobs,
                 invalidate: Callable[[int], object],
                 limits: Limits, scratch: Path, cluster: Cluster | None = None) -> None:
        self._store = store
        self.imports = imports
        self._jobs = jobs
        self._invalidate = invalidate  # drops a site's cached answers
        self.limits = limits
        self._scratch = scratch
        self._cluster = cluster
        self._lock = threading.Lock()
        self._progress: dict[int, _Progress] = {}
        # Uploads and batches a stopped process left (no import runs here yet).
        for left in (*scratch.glob("*.upload"), *scratch.glob("*.jsonl")):
            left.unlink(missing_ok=True)

    # --- starting -----------------------------------------------------------------------------

    def prepare(self, site: SiteInfo, source: str, path: Path, filename: str,
                progress: Progress | None = None) -> tuple[Upload, runner.Checked,
                                                           tuple[Any, Any]]:
        """Check the upload at ``path`` and choose its days (blocking; raises Invalid,
        TooLarge or Conflict)."""
        if source not in runner.SOURCES:
            raise Invalid(f"source must be one of {', '.join(runner.SOURCES)}", field="source")
        upload = Upload(path, filename, self.limits)
        checked = runner.check(upload, source, progress)
        assert checked.first is not None and checked.last is not None
        taken = [(i.start_date, i.end_date) for i in self.imports.of_site(site.id)
                 if i.status != "failed" and i.start_date and i.end_date]
        native = runner.native_first_day(self._store, site.id, site.timezone)
        keep = runner.kept_range(checked.first, checked.last, native, taken)
        return upload, checked, keep

    def start(self, site: SiteInfo, source: str, path: Path, filename: str,
              user_id: int | None = None) -> ImportInfo:
        """Check the upload, record the import, and store it in a job; the import at once.
        The job owns ``path`` from here on (deletes it when done)."""
        self._scratch.mkdir(parents=True, exist_ok=True)
        upload, checked, keep = self.prepare(site, source, path, filename)
        kind = f"import:{site.id}"
        self._jobs.ensure_idle(kind)
        info = self.imports.create(site.id, source, upload.filename, keep[0], keep[1], user_id)
        state = _Progress("insert", 0, checked.rows)
        with self._lock:
            self._progress[info.id] = state

        def store_rows() -> dict[str, int]:
            try:
                done = self._store_rows(site, source, upload, info, keep, checked.rows, state)
            finally:
                path.unlink(missing_ok=True)
            return done

        try:
            job = self._jobs.start(kind, [("insert", store_rows)])
        except Busy:
            self.imports.delete(site.id, info.id)
            raise
        state.job_id = job.id
        return info

    def run(self, site: SiteInfo, source: str, path: Path, filename: str,
            progress: Progress | None = None, user_id: int | None = None) -> ImportInfo:
        """The whole import in this thread (the command line's): check, record, store."""
        self._scratch.mkdir(parents=True, exist_ok=True)
        upload, checked, keep = self.prepare(site, source, path, filename, progress)
        info = self.imports.create(site.id, source, upload.filename, keep[0], keep[1], user_id)
        self._store_rows(site, source, upload, info, keep, checked.rows, progress)
        return self.imports.get(site.id, info.id)

    def _store_rows(self, site: SiteInfo, source: str, upload: Upload, info: ImportInfo,
                    keep: tuple[Any, Any], total: int, progress: Progress | None
                    ) -> dict[str, int]:
        try:
            done = runner.insert(self._store, upload, source, site.id,  # type: ignore[arg-type]
                                 info.id, keep, total, progress, scratch=self._scratch)
        except Exception as exc:
            log.exception("import %s of site %s failed", info.id, site.id)
            self.imports.finish(info.id, status="failed", error=str(exc))
            try:
                runner.delete_rows(self._store, site.id, info.id, self._cluster)
            except Exception:
                log.exception("import %s: its partial rows stay (never read)", info.id)
            raise
        self.imports.finish(info.id, status="completed", rows=done.rows,
                            skipped_rows=done.skipped)
        self._invalidate(site.id)
        return {"rows": done.rows, "skipped_rows": done.skipped}

    # --- reading and deleting -----------------------------------------------------------------

    def listed(self, site_id: int) -> list[dict[str, Any]]:
        """The site's imports, newest first, with the progress of those running here."""
        out = []
        for info in self.imports.of_site(site_id):
            out.append(self.doc(info))
        return out

    def doc(self, info: ImportInfo) -> dict[str, Any]:
        doc = info.doc()
        with self._lock:
            state = self._progress.get(info.id)
        if info.status == "importing" and state is not None:
            doc["progress"] = state.doc()
        elif info.status == "completed":
            doc["progress"] = {"step": "done", "done": info.rows + info.skipped_rows,
                               "total": info.rows + info.skipped_rows, "progress": 1.0,
                               "job_id": state.job_id if state else None}
        else:
            doc["progress"] = None
        return doc

    def delete(self, site_id: int, import_id: int) -> ImportInfo:
        """Forget the import (stats stop reading it), delete its rows, drop the cached
        answers."""
        info = self.imports.delete(site_id, import_id)
        with self._lock:
            self._progress.pop(import_id, None)
        self._invalidate(site_id)
        runner.delete_rows(self._store, site_id, import_id, self._cluster)
        return info

    def completed_ids(self, site_id: int) -> tuple[int, ...]:
        return tuple(sorted(i.id for i in self.imports.completed(site_id)))




def save_upload(read: Callable[[int], bytes], scratch: Path, limit: int) -> Path:
    """Copy an upload (``read(n)`` chunks) into ``scratch``; TooLarge past ``limit`` bytes."""
    import tempfile

    from liveinsight.errors import TooLarge

    scratch.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("wb", dir=scratch, suffix=".upload", delete=False) as fh:
        path = Path(fh.name)
        size = 0
        try:
            while chunk := read(1 << 20):
                size += len(chunk)
                if size > limit:
                    raise TooLarge(f"the upload is larger than {limit} bytes", field="file")
                fh.write(chunk)
        except BaseException:
            fh.close()
            path.unlink(missing_ok=True)
            raise
    return path

