"""Versioned static assets: ``/static/app.3f9c2a1b7d4e.css`` names a file by its content.

Pages link each file through :func:`url` (the template global ``static``): its name with the
first 12 hex digits of its SHA-256 before the extension. Such a URL never changes meaning,
so it is served ``immutable`` with a year's max-age (a CDN and browsers keep it until a new
version links another name); plain names stay servable, revalidated hourly. Hashes are
computed once per file per process (the package's files do not change while it runs).
"""

from __future__ import annotations

import functools
import hashlib
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent / "static"
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "public, max-age=3600"
_HASHED = re.compile(r"^(?P<stem>.+)\.(?P<digest>[0-9a-f]{12})(?P<ext>\.[A-Za-z0-9]+)$")


@functools.lru_cache(maxsize=512)
def digest(relative: str) -> str:
    """The first 12 hex digits of the file's SHA-256."""
    return hashlib.sha256((ROOT / relative).read_bytes()).hexdigest()[:12]


def url(relative: str) -> str:
    """The versioned URL of ``relative`` (a path under ``dashboard/static``)."""
    path = Path(relative)
    return f"/static/{path.with_name(f'{path.stem}.{digest(relative)}{path.suffix}')}"


def resolve(requested: str) -> tuple[Path, str] | None:
    """The file a ``/static/...`` path names and the Cache-Control to serve it with, or
    None (outside the static root, missing, or a versioned name whose digest is not the
    file's current one — an old page's link after an upgrade gets a 404 rather than another
    version's bytes marked immutable)."""
    target, cache = _file(requested), REVALIDATE
    if target is None:
        hashed = _HASHED.match(Path(requested).name)
        if hashed is None:
            return None
        plain = str(Path(requested).with_name(hashed["stem"] + hashed["ext"]))
        target = _file(plain)
        if target is None or digest(plain) != hashed["digest"]:
            return None
        cache = IMMUTABLE
    return target, cache


def _file(relative: str) -> Path | None:
    try:
        target = (ROOT / relative).resolve()
        return target if target.is_relative_to(ROOT) and target.is_file() else None
    except (ValueError, OSError):  # a null byte, a name too long for the file system
        return None
