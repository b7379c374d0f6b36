"""Backups of a node: the event store, the metadata database, the node's files and the
write-ahead log's pending segments, with a manifest; restore and verification.

A backup is one directory ``liveinsight-<UTC time>`` under the backup root::

    manifest.json     version, cut-off time, row counts per table, sha256 of every file
    chdb/             ClickHouse ``BACKUP DATABASE … TO File(...)`` of the event store
    wal/              the log's segments not yet in the store at the cut-off
    metadata.sqlite   SQLite online backup (``sqlite3.Connection.backup``), or
    metadata.pgdump   ``pg_dump --format=custom`` of a PostgreSQL metadata database
    node/             node_id and secret_key (the secret signs sessions and tokens)

Consistency: while the snapshot is taken the batch writer is held (``hold``), the open
segment is closed (that instant is the cut-off) and the closed segments are copied before
the store is backed up. Every event acknowledged before the cut-off is therefore either in
the store's backup or in a copied segment, never in both (the writer ingests nothing
meanwhile); events keep being accepted into the log during the backup and flow in after.
Restoring puts the segments back in the log, and the writer ingests them at the next start.

**Incremental backups** (``incremental=True``): the event store's ``BACKUP`` is taken with
``SETTINGS base_backup = File(<the newest backup>/chdb)``, so it holds only the parts that
backup lacks, and names it (``base`` in the manifest); the metadata database, the node's
files and the log's segments are copied whole every time (they are small). Restoring or
verifying one reads its chain of bases, which must all be in the same root (their checksums
are checked first); retention never deletes a backup that a kept one builds on.

Only the embedded engine (chDB) is backed up here; a ClickHouse server is backed up by its
own ``BACKUP`` (to a disk or S3 configured on the server).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy.engine import make_url

from liveinsight.errors import Conflict, Invalid, NotFound, Unavailable
from liveinsight.ingest.wal import WriteAheadLog
from liveinsight.settings import Settings
from liveinsight.storage.embedded import EmbeddedStore
from liveinsight.storage.protocol import Store

VERSION = 1
MANIFEST = "manifest.json"
PREFIX = "liveinsight-"
NODE_FILES = ("node_id", "secret_key")

class Progress(Protocol):
    """Told each step as it begins (``done``/``total`` 0: no measure), then, for a step
    that can measure itself (checksums: bytes; log segments: files), how far it is."""

    def __call__(self, step: str, done: int = 0, total: int = 0) -> None: ...


def quiet(step: str, done: int = 0, total: int = 0) -> None:
    return None


STEPS = {"backup": ("log segments", "event store", "metadata", "checksums", "retention"),
         "verify": ("checksums", "restore into a scratch directory"),
         "restore": ("checksums", "move the current data aside", "event store",
                     "log segments", "metadata")}
"""The steps each operation reports, in order (an incremental backup's event store step
names its base after these words)."""


def _sql_path(path: Path) -> str:
    return str(path).replace("\\", "\\\\").replace("'", "\\'")


def table_counts(store: Store) -> dict[str, int]:
    """Rows per table of the store's database, counted so that merges do not change the
    number (``FINAL`` for the collapsing/replacing/summing engines)."""
    tables = store.query(
        "SELECT name, engine FROM system.tables WHERE database = {db:String} "
        "AND engine LIKE '%MergeTree' ORDER BY name", {"db": store.database}).rows
    counts: dict[str, int] = {}
    for name, engine in tables:
        final = "" if engine == "MergeTree" else " FINAL"
        counts[name] = int(store.query(
            f"SELECT count() FROM `{store.database}`.`{name}`{final}").scalar())
    return counts


def _checksums(root: Path, progress: Progress = quiet) -> dict[str, str]:
    sums: dict[str, str] = {}
    paths = sorted(p for p in root.rglob("*") if p.is_file() and p.name != MANIFEST)
    total, done = sum(p.stat().st_size for p in paths), 0
    for path in paths:
        digest = hashlib.sha256()
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
                done += len(block)
                progress("checksums", done, total)
        sums[str(path.relative_to(root))] = digest.hexdigest()
    return sums


def _pg_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _backup_metadata(metadata_url: str, dest: Path) -> str:
    url = make_url(metadata_url)
    if url.get_backend_name() == "sqlite":
        source = sqlite3.connect(url.database or "")
        target = sqlite3.connect(dest / "metadata.sqlite")
        try:
            with target:
                source.backup(target)
        finally:
            target.close()
            source.close()
        return "sqlite"
    if url.get_backend_name() == "postgresql":
        if shutil.which("pg_dump") is None:
            raise Unavailable("the metadata database is PostgreSQL and pg_dump is not on "
                              "PATH: install the PostgreSQL client tools", retry_after=3600)
        subprocess.run(["pg_dump", "--format=custom", "--no-owner",
                        "--file", str(dest / "metadata.pgdump"), _pg_url(metadata_url)],
                       check=True, capture_output=True, timeout=3600)
        return "postgresql"
    raise Invalid(f"cannot back up a {url.get_backend_name()} metadata database")


def ensure_supported(store: Store) -> None:
    """Raises :class:`Invalid` unless ``store`` is one this module backs up."""
    _embedded(store)


def _embedded(store: Store) -> EmbeddedStore:
    if not isinstance(store, EmbeddedStore):
        raise Invalid("backups here cover the embedded engine (chDB); back a ClickHouse "
                      "server up with its own BACKUP to a disk or S3 configured on it",
                      field="clickhouse_url")
    return store


def create(settings: Settings, store: Store, wal: WriteAheadLog,
           hold: Callable[[], AbstractContextManager[Any]], *, root: Path | None = None,
           progress: Progress = quiet, now: Callable[[], datetime] | None = None,
           incremental: bool = False) -> dict[str, Any]:
    """Take a backup into a new directory under ``root`` (default: the setting) and return
    its manifest (with ``path``); then delete the oldest beyond ``backup_keep`` (and not
    a base of a kept one). ``incremental``: on top of the newest backup under ``root``
    (:class:`Invalid` when there is none). Raises :class:`Invalid` for a ClickHouse server
    store; a failed backup leaves no directory."""
    chdb_store = _embedded(store)
    root = Path(root or settings.backup_path).resolve()
    root.mkdir(parents=True, exist_ok=True)
    base = newest(root) if incremental else None
    if incremental and base is None:
        raise Invalid(f"no backup under {root} to build an incremental one on: take a full "
                      "one first", field="incremental")
    started = (now or (lambda: datetime.now(UTC)))()
    dest = root / f"{PREFIX}{started:%Y%m%dT%H%M%S%fZ}"
    dest.mkdir()
    try:
        manifest = _take(settings, chdb_store, wal, hold, dest, started, progress, base)
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    progress("retention")
    prune(root, settings.backup_keep)
    if settings.wal_archive_dir is not None:
        prune_archive(settings.wal_archive_dir, root)
    return manifest


def _take(settings: Settings, store: EmbeddedStore, wal: WriteAheadLog,
          hold: Callable[[], AbstractContextManager[Any]], dest: Path, started: datetime,
          progress: Progress, base: Path | None = None) -> dict[str, Any]:
    (dest / "wal").mkdir()
    with hold():
        progress("log segments")
        wal.rotate()
        cut_off = datetime.now(UTC)
        after = wal.open_segment  # it and later segments hold what came after the cut-off
        segments = wal.closed_segments()
        for n, segment in enumerate(segments, 1):
            shutil.copy2(segment.path, dest / "wal" / segment.path.name)
            progress("log segments", n, len(segments))
        progress("event store")
        counts = table_counts(store)
        on_base = (f" SETTINGS base_backup = File('{_sql_path(base / 'chdb')}')"
                   if base else "")
        store.command(f"BACKUP DATABASE `{store.database}` TO "
                      f"File('{_sql_path(dest / 'chdb')}'){on_base}")
    progress("metadata")
    metadata = _backup_metadata(settings.metadata_url, dest)
    (dest / "node").mkdir()
    for name in NODE_FILES:
        if (settings.data_dir / name).exists():
            shutil.copy2(settings.data_dir / name, dest / "node" / name)
    progress("checksums")
    manifest = {
        "version": VERSION, "started_at": started.isoformat(), "cut_off": cut_off.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(), "database": store.database,
        "metadata": metadata, "rows": counts, "wal_segments": len(segments),
        "base": base.name if base else None,
        "wal_after": after.name if after is not None else None,
        "files": _checksums(dest, progress),
    }
    (dest / MANIFEST).write_text(json.dumps(manifest, indent=2))
    return {**manifest, "path": str(dest)}


def read_manifest(backup: Path) -> dict[str, Any]:
    path = Path(backup) / MANIFEST
    try:
        manifest: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        raise NotFound(f"{backup} is not a backup (no {MANIFEST})") from None
    except ValueError:
        raise Invalid(f"{path} is not valid JSON") from None
    if manifest.get("version") != VERSION:
        raise Invalid(f"backup version {manifest.get('version')!r}; this release reads "
                      f"version {VERSION}")
    return manifest


def listing(root: Path) -> list[dict[str, Any]]:
    """Backups under ``root``, newest first, each its manifest (without the checksums) and
    path; a directory without a readable manifest is listed with its ``error``."""
    found: list[dict[str, Any]] = []
    for path in _backups(root)[::-1]:
        try:
            manifest = read_manifest(path)
            manifest.pop("files", None)
            found.append({**manifest, "path": str(path)})
        except (NotFound, Invalid) as exc:
            found.append({"path": str(path), "error": str(exc)})
    return found


def _backups(root: Path) -> list[Path]:
    if not Path(root).is_dir():
        return []
    return sorted(p for p in Path(root).iterdir() if p.is_dir() and p.name.startswith(PREFIX))


def newest(root: Path) -> Path | None:
    complete = [p for p in _backups(root) if (p / MANIFEST).exists()]
    return complete[-1] if complete else None


def chain(backup: Path) -> list[Path]:
    """``backup`` and the bases it builds on, newest first (one path for a full backup).
    Raises :class:`NotFound` when a base is missing."""
    out = [Path(backup).resolve()]
    while (base := read_manifest(out[-1]).get("base")) is not None:
        path = out[-1].parent / str(base)
        if not (path / MANIFEST).exists() or path in out:
            raise NotFound(f"{out[-1].name} builds on {base}, which is not in "
                           f"{out[-1].parent}")
        out.append(path)
    return out


def prune(root: Path, keep: int) -> list[Path]:
    """Delete the oldest complete backups beyond ``keep``, but not one that a kept backup
    builds on (its chain of bases); the deleted paths."""
    complete = [p for p in _backups(root) if (p / MANIFEST).exists()]
    kept = complete[max(0, len(complete) - keep):]
    needed = set()
    for path in kept:
        with contextlib.suppress(NotFound, Invalid):
            needed.update(chain(path))
    gone = [p for p in complete if p not in kept and p.resolve() not in needed]
    for path in gone:
        shutil.rmtree(path)
    return gone


def prune_archive(archive: Path, root: Path) -> int:
    """Delete the archived log segments every backup under ``root`` already holds (older
    than the oldest backup's ``wal_after``); how many."""
    oldest = next((m.get("wal_after") for m in
                   (read_manifest(p) for p in _backups(root) if (p / MANIFEST).exists())), None)
    if not oldest or not Path(archive).is_dir():
        return 0
    gone = [p for p in Path(archive).glob("*.wal") if p.name < str(oldest)]
    for path in gone:
        path.unlink(missing_ok=True)
    return len(gone)


def check_files(backup: Path, manifest: dict[str, Any], progress: Progress = quiet
                ) -> list[str]:
    """Files missing or changed since the backup was taken, in it and in its bases (named
    ``<base>/<file>``)."""
    found = _checksums(Path(backup), progress)
    expected: dict[str, str] = manifest["files"]
    changed = sorted(name for name, digest in expected.items() if found.get(name) != digest)
    for base in chain(Path(backup))[1:]:
        changed += [f"{base.name}/{name}" for name in check_files_of(base)]
    return changed


def check_files_of(backup: Path) -> list[str]:
    """:func:`check_files` of one backup alone."""
    found, expected = _checksums(backup), read_manifest(backup)["files"]
    return sorted(name for name, digest in expected.items() if found.get(name) != digest)


def held(chdb_path: Path) -> bool:
    """True when a running process holds the chDB data dir (ClickHouse flocks its
    ``status`` file while the engine is open)."""
    status = Path(chdb_path) / "status"
    if not status.exists():
        return False
    with status.open("rb") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(f, fcntl.LOCK_UN)
    return False


@contextlib.contextmanager
def _opened(chdb_path: Path, database: str, backup: Path) -> Iterator[EmbeddedStore]:
    store = EmbeddedStore(chdb_path, database, backup_root=Path(backup).resolve().parent)
    try:
        yield store
    finally:
        store.close()


def _restore_store(chdb_path: Path, database: str, backup: Path) -> dict[str, int]:
    with _opened(chdb_path, database, backup) as store:
        store.command(f"DROP DATABASE IF EXISTS `{database}`")
        store.command(f"RESTORE DATABASE `{database}` FROM "
                      f"File('{_sql_path(Path(backup).resolve() / 'chdb')}')")
        return table_counts(store)


def verify(backup: Path, *, progress: Progress = quiet) -> dict[str, Any]:
    """Check every file's checksum, restore the event store into a scratch directory and
    compare its row counts with the manifest's. Needs a process with no other chDB data dir
    open (the CLI). Returns ``{"ok", "changed_files", "rows", "expected"}``."""
    backup = Path(backup).resolve()
    manifest = read_manifest(backup)
    progress("checksums")
    changed = check_files(backup, manifest, progress)
    rows: dict[str, int] = {}
    if not changed:
        progress("restore into a scratch directory")
        with tempfile.TemporaryDirectory(prefix="liveinsight-verify-") as scratch:
            rows = _restore_store(Path(scratch) / "chdb", manifest["database"], backup)
    return {"ok": not changed and rows == manifest["rows"], "changed_files": changed,
            "rows": rows, "expected": manifest["rows"],
            "bases": [p.name for p in chain(backup)[1:]]}


def restore(settings: Settings, backup: Path, *, progress: Progress = quiet,
            replay: list[Path] | None = None) -> dict[str, Any]:
    """Replace this node's data with ``backup``: checksums first, then the event store, the
    log's segments, the metadata database and the node's files. What the data dir held
    before is moved to ``<data_dir>/before-restore-<time>`` (SQLite, chDB, log, node files),
    never deleted. Raises :class:`Conflict` while a running process holds the data dir."""
    if settings.clickhouse_url:
        raise Invalid("restore here covers the embedded engine (chDB); restore a ClickHouse "
                      "server with its own RESTORE", field="clickhouse_url")
    backup = Path(backup).resolve()
    manifest = read_manifest(backup)
    if held(settings.chdb_path):
        raise Conflict(f"a running LiveInsight holds {settings.data_dir} (chDB is locked): "
                       "stop the server before restoring")
    progress("checksums")
    changed = check_files(backup, manifest, progress)
    if changed:
        raise Invalid(f"the backup is damaged: {len(changed)} file(s) changed or missing, "
                      f"first {changed[0]}")
    meta_url = make_url(settings.metadata_url)
    if manifest["metadata"] != meta_url.get_backend_name():
        raise Invalid(f"the backup holds a {manifest['metadata']} metadata database and this "
                      f"node uses {meta_url.get_backend_name()}", field="database_url")
    progress("move the current data aside")
    aside = _move_aside(settings, meta_url.database if manifest["metadata"] == "sqlite"
                        else None)
    progress("event store")
    rows = _restore_store(settings.chdb_path, manifest["database"], backup)
    progress("log segments")
    settings.wal_dir.mkdir(parents=True, exist_ok=True)
    for segment in [*sorted((backup / "wal").iterdir()), *(replay or [])]:
        shutil.copy2(segment, settings.wal_dir / segment.name)
    progress("metadata")
    if manifest["metadata"] == "sqlite":
        shutil.copy2(backup / "metadata.sqlite", meta_url.database or "")
    else:
        _pg_restore(settings.metadata_url, backup / "metadata.pgdump")
    for name in NODE_FILES:
        if (backup / "node" / name).exists():
            shutil.copy2(backup / "node" / name, settings.data_dir / name)
    return {"restored": str(backup), "cut_off": manifest["cut_off"], "rows": rows,
            "wal_segments": manifest["wal_segments"], "replayed_segments": len(replay or []),
            "previous_data": str(aside) if aside else None}


def _pg_restore(url: str, dump: Path) -> None:
    if shutil.which("pg_restore") is None:
        raise Unavailable("pg_restore is not on PATH: install the PostgreSQL client tools",
                          retry_after=3600)
    subprocess.run(["pg_restore", "--clean", "--if-exists", "--no-owner",
                    "--dbname", _pg_url(url), str(dump)],
                   check=True, capture_output=True, timeout=3600)


def _move_aside(settings: Settings, sqlite_file: str | None) -> Path | None:
    data = settings.data_dir.resolve()
    candidates = [settings.chdb_path, settings.wal_dir,
                  *(data / name for name in NODE_FILES)]
    if sqlite_file:
        candidates += [Path(sqlite_file + suffix) for suffix in ("", "-wal", "-shm")]
    present = [p for p in candidates if Path(p).exists()]
    if not present:
        return None
    aside = data / f"before-restore-{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}"
    aside.mkdir(parents=True)
    for path in present:
        shutil.move(str(path), aside / Path(path).name)
    return aside
