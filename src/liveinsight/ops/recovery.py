"""Point-in-time recovery: a backup, then the archived log segments up to a moment.

With ``wal_archive_dir`` set, the writer moves each log segment ClickHouse confirmed into
the archive instead of deleting it (``ingest/wal.py``), keeping its modification time (its
last append). A backup's manifest names the first segment it does not hold (``wal_after``:
the segment open at its cut-off). Recovering to a moment T restores the newest backup whose
cut-off is at or before T, then puts back into the log, for the writer to ingest at the
next start, the archived segments from ``wal_after`` on, in order, up to the last one whose
last append was at or before T.

What that gives: every event acknowledged before T whose segment was closed by T. The
recovery points are the segments' closes: a segment is closed at least every
``writer_flush_ms`` (1 s by default) while events come, so T is met to about a second; the
events of the segment still open at T are left out (they were appended after its
predecessor closed, some before T, some after). What it cannot know: segments missing from
the archive (it was turned on after the backup, or files were deleted by hand) — the events
in them are missing from the result, silently; keep the archive and the backups together.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from liveinsight.errors import Invalid, NotFound
from liveinsight.ops.backup import (
    MANIFEST,
    Progress,
    listing,
    quiet,
    read_manifest,
    restore,
)
from liveinsight.settings import Settings


def pick(root: Path, until: datetime) -> Path:
    """The newest complete backup under ``root`` whose cut-off is at or before ``until``."""
    for found in listing(root):  # newest first
        if "error" not in found and datetime.fromisoformat(found["cut_off"]) <= until:
            return Path(found["path"])
    raise NotFound(f"no backup under {root} was taken before {until.isoformat()}")


def segments_until(archive: Path, manifest: dict[str, Any], until: datetime) -> list[Path]:
    """The archived segments to replay on top of the backup of ``manifest``, in order."""
    after = manifest.get("wal_after")
    if after is None:
        raise Invalid("this backup was taken before point-in-time recovery existed (its "
                      "manifest has no wal_after): recover from a newer one", field="until")
    out: list[Path] = []
    for path in sorted(Path(archive).glob("*.wal")):
        if path.name < after:
            continue
        if datetime.fromtimestamp(path.stat().st_mtime, UTC) > until:
            break
        out.append(path)
    return out


def recover(settings: Settings, source: Path, until: datetime, *,
            progress: Progress = quiet) -> dict[str, Any]:
    """Restore this node as it was at ``until`` (see the module doc): ``source`` is a
    backup, or the directory of backups to pick one from. Raises :class:`Invalid` without
    ``wal_archive_dir`` or when the backup was taken after ``until``."""
    if settings.wal_archive_dir is None:
        raise Invalid("point-in-time recovery replays the archived log segments: set "
                      "LIVEINSIGHT_WAL_ARCHIVE_DIR to the archive", field="wal_archive_dir")
    until = until if until.tzinfo else until.replace(tzinfo=UTC)
    source = Path(source)
    backup = source if (source / MANIFEST).exists() else pick(source, until)
    manifest = read_manifest(backup)
    if datetime.fromisoformat(manifest["cut_off"]) > until:
        raise Invalid(f"{backup.name} was taken at {manifest['cut_off']}, after "
                      f"{until.isoformat()}: give an older backup or the backups' directory",
                      field="until")
    replay = segments_until(settings.wal_archive_dir, manifest, until)
    outcome = restore(settings, backup, progress=progress, replay=replay)
    last = (datetime.fromtimestamp(replay[-1].stat().st_mtime, UTC).isoformat() if replay
            else manifest["cut_off"])
    return {**outcome, "until": until.isoformat(), "recovered_to": last}
