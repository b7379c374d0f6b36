"""The optional city database: an MMDB file (DB-IP Lite City, MaxMind GeoLite2 City or
their commercial editions) that gives the ``geo`` step a region and a city.

Both layouts name the same fields: ``country.iso_code``, ``subdivisions[0].names.en`` (the
largest subdivision: a state, a German Land, an English nation) and ``city.names.en``. The
region is stored as its English name, as the demo stores it and the Regions card shows it.

The file is opened once with the ``maxminddb`` C extension, memory-mapped: lookups read the
page cache, nothing is loaded per event and no answer is cached (no cache is keyed by IP).
At most once per ``check_every`` seconds (by ``clock``) a lookup also ``stat``s the file;
when it was replaced (another inode, size or mtime), the new file is opened and checked
(metadata, probe lookups) and the reader swapped in one assignment, so a lookup sees the
old reader or the new one, never half of each. A replacement that cannot be opened or
read is logged once and the previous reader kept. Replace the file by renaming a new one
over it (as ``geoipupdate`` does): rewriting it in place under a live memory map can crash
the process (SIGBUS) — the same is true of every memory-mapped reader.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import maxminddb

log = logging.getLogger("liveinsight.ingest.citydb")

CHECK_EVERY_S = 60.0
"""How often (at most) a lookup checks whether the file was replaced."""
_PROBES = ("1.1.1.1", "8.8.8.8", "81.2.69.142", "2001:4860:4860::8888")
"""Looked up in a new file before it replaces the current one: a damaged search tree or
data section raises here rather than on every event."""

Place = tuple[str, str, str]
"""``(country_code, region, city)``; any may be ``""``."""
_Stamp = tuple[int, int, int]  # inode, size, mtime (ns)


def credit(database_type: str) -> tuple[str, str] | None:
    """The attribution a free database's licence asks for where its data is shown, as
    ``(text, link)``: DB-IP Lite (CC BY 4.0) and GeoLite2 (its EULA); None for others (the
    commercial editions ask for none)."""
    if database_type.startswith("DBIP-") and "Lite" in database_type:
        return "IP geolocation by DB-IP", "https://db-ip.com"
    if database_type.startswith("GeoLite2"):
        return ("This product includes GeoLite2 data created by MaxMind, available from "
                "https://www.maxmind.com", "https://www.maxmind.com")
    return None


class CityDatabaseError(Exception):
    """The file is missing, unreadable or not a MaxMind DB; the message says which."""


def _stamp(path: Path) -> _Stamp:
    st = os.stat(path)
    return st.st_ino, st.st_size, st.st_mtime_ns


def _open(path: Path) -> Any:
    """A checked reader of ``path``, or :class:`CityDatabaseError`."""
    try:
        reader = maxminddb.open_database(str(path), maxminddb.MODE_AUTO)
    except FileNotFoundError:
        raise CityDatabaseError(f"no file at {path}") from None
    except (OSError, ValueError, maxminddb.InvalidDatabaseError) as exc:
        raise CityDatabaseError(f"{path} is not a readable MaxMind DB (MMDB) file: "
                                f"{exc}") from None
    try:
        for ip in _PROBES:
            if ":" in ip and reader.metadata().ip_version == 4:
                continue
            reader.get(ip)
    except (ValueError, maxminddb.InvalidDatabaseError) as exc:
        reader.close()
        raise CityDatabaseError(f"{path} is a damaged MaxMind DB (MMDB) file: {exc}") from None
    return reader


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _place(record: object) -> Place | None:
    """The place a DB-IP/GeoLite2 City record names, or None for another layout."""
    if not isinstance(record, dict):
        return None
    country = record.get("country")
    code = _text(country.get("iso_code")) if isinstance(country, dict) else ""
    region = ""
    subdivisions = record.get("subdivisions")
    if isinstance(subdivisions, list) and subdivisions and isinstance(subdivisions[0], dict):
        names = subdivisions[0].get("names")
        region = _text(names.get("en")) if isinstance(names, dict) else ""
    city = ""
    found = record.get("city")
    if isinstance(found, dict) and isinstance(names := found.get("names"), dict):
        city = _text(names.get("en"))
    return code.upper()[:2], region[:200], city[:200]


class CityDatabase:
    """One city database file, kept current. :meth:`lookup` is safe from any thread."""

    def __init__(self, path: Path, *, check_every: float = CHECK_EVERY_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """Opens ``path`` (raises :class:`CityDatabaseError` when it cannot be used)."""
        self.path = path
        self._check_every = check_every
        self._clock = clock
        try:
            self._seen = _stamp(path)
        except OSError as exc:
            raise CityDatabaseError(f"no file at {path} ({exc.strerror})") from None
        self._reader = _open(path)
        self._next_check = clock() + check_every
        self._lock = threading.Lock()
        self._failed_lookups = 0
        self.reload_error: str | None = None  # why the last replacement was refused

    def lookup(self, ip: str) -> Place | None:
        """The address's place, or None when the file has no record for it (private
        ranges, text that is not an address) or the record cannot be read (logged)."""
        if self._clock() >= self._next_check:
            self._maybe_reload()
        reader = self._reader
        try:
            record = reader.get(ip)
        except ValueError:  # not an IP address; or IPv6 in an IPv4-only file
            return None
        except Exception as exc:
            self._failed_lookups += 1
            if self._failed_lookups in (1, 100, 10_000):
                log.error("city database %s: lookup failed (%d so far): %s", self.path,
                          self._failed_lookups, exc)
            return None
        return _place(record) if record is not None else None

    def info(self) -> dict[str, Any]:
        """What ``/health/detailed`` shows: the file, its type and build date."""
        meta = self._reader.metadata()
        out: dict[str, Any] = {
            "type": str(meta.database_type),
            "build_date": datetime.fromtimestamp(meta.build_epoch, UTC).date().isoformat(),
            "path": str(self.path),
        }
        if (found := credit(str(meta.database_type))) is not None:
            out["credit"] = found[0]
        if self.reload_error:
            out["reload_error"] = self.reload_error
        return out

    def check_now(self) -> None:
        """Look for a replaced file at the next lookup, whatever the interval."""
        self._next_check = 0.0

    def _maybe_reload(self) -> None:
        if not self._lock.acquire(blocking=False):
            return  # another thread is checking; this lookup uses the current reader
        try:
            self._next_check = self._clock() + self._check_every
            try:
                stamp = _stamp(self.path)
            except OSError as exc:
                self._refuse(f"cannot read {self.path}: {exc.strerror}; "
                             "keeping the database already open")
                return
            if stamp == self._seen:
                return
            try:
                reader = _open(self.path)
            except CityDatabaseError as exc:
                self._refuse(f"{exc}; keeping the database already open")
                return
            # One assignment: lookups read self._reader once. The old reader is not
            # closed here (a lookup on another thread may be using it); it is unmapped
            # when its last reference goes.
            self._reader, self._seen, self.reload_error = reader, stamp, None
            info = self.info()
            log.info("city database %s replaced: %s built %s", self.path, info["type"],
                     info["build_date"])
        finally:
            self._lock.release()

    def _refuse(self, why: str) -> None:
        """Keep the current reader; log ``why`` once (it is retried every interval)."""
        if why != self.reload_error:
            log.error("city database: %s", why)
        self.reload_error = why
