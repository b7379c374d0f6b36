"""Shared links in the metadata database: a site's read-only dashboard opened without
signing in (``/share/<token>``), made, listed and revoked by the site's admins.

The token is 32 random bytes (``secrets.token_urlsafe``), shown once when the link is made;
only its SHA-256 is kept, so the database cannot give links away. An optional password is
checked by the password policy and kept as an argon2 hash (as users' passwords are).
``allowed_origins`` (``https://blog.example.com``) are the pages that may frame the link's
embedded dashboard (``?embed=true``): its ``frame-ancestors``. A revoked link is kept (who
made it, when) but opens nothing. At most :data:`MAX_PER_SITE` live links per site.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, func, select

from liveinsight.errors import Conflict, Invalid, NotFound
from liveinsight.meta import models
from liveinsight.meta.db import session_factory
from liveinsight.security.passwords import PasswordPolicy

MAX_PER_SITE = 100
MAX_LABEL = 120
MAX_ORIGINS = 20
_hasher = PasswordHasher()
_ORIGIN = re.compile(r"https?://(\[[0-9a-f:.]+\]|[a-z0-9]([a-z0-9-]*[a-z0-9])?"
                     r"(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*)(:[0-9]{1,5})?")


@dataclass(frozen=True, slots=True)
class SharedLinkInfo:
    id: int
    site_id: int
    label: str
    protected: bool  # a password is needed
    allowed_origins: tuple[str, ...]
    created_at: datetime
    created_by: int | None = None

    def doc(self) -> dict[str, Any]:
        return {"id": self.id, "label": self.label, "password_protected": self.protected,
                "allowed_origins": list(self.allowed_origins),
                "created_at": self.created_at.isoformat()}


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def parse_origins(raw: Any) -> list[str]:
    """Origins (``scheme://host[:port]``, lower-cased, without a path), from a list or a
    text of one per line or comma-separated; ``Invalid`` naming ``allowed_origins``."""
    if raw is None:
        return []
    items = (raw.replace(",", "\n").splitlines() if isinstance(raw, str) else raw)
    if not isinstance(items, list | tuple):
        raise Invalid("allowed_origins is a list of origins", field="allowed_origins")
    origins: list[str] = []
    for item in items:
        text = str(item).strip().lower().rstrip("/")
        if not text:
            continue
        if len(text) > 300 or not _ORIGIN.fullmatch(text):
            raise Invalid(f"{str(item)[:80]!r} is not an origin like https://blog.example.com "
                          "(scheme and host, no path)", field="allowed_origins")
        if text not in origins:
            origins.append(text)
    if len(origins) > MAX_ORIGINS:
        raise Invalid(f"at most {MAX_ORIGINS} allowed origins", field="allowed_origins")
    return origins


def _label(raw: Any) -> str:
    text = str(raw or "").strip() or "Shared link"
    if len(text) > MAX_LABEL:
        raise Invalid(f"a label is at most {MAX_LABEL} characters", field="label")
    return text


def _info(row: models.SharedLink) -> SharedLinkInfo:
    created = row.created_at
    return SharedLinkInfo(row.id, row.site_id, row.label, row.password_hash is not None,
                          tuple(row.allowed_origins or ()),
                          created.replace(tzinfo=UTC) if created.tzinfo is None else created,
                          row.created_by)


class SharedLinks:
    """Every method is one short blocking transaction (run it off the event loop)."""

    def __init__(self, engine: Engine, passwords: PasswordPolicy | None = None) -> None:
        self._sessions = session_factory(engine)
        self._passwords = passwords or PasswordPolicy()

    def create(self, site_id: int, label: Any = None, password: str | None = None,
               allowed_origins: Any = None, created_by: int | None = None
               ) -> tuple[str, SharedLinkInfo]:
        """A new link of the site: its token (shown once) and its info. ``Invalid`` naming
        ``label``, ``password`` (the policy's rules) or ``allowed_origins``; ``Conflict``
        past :data:`MAX_PER_SITE`; ``NotFound`` for no such site."""
        name = _label(label)
        origins = parse_origins(allowed_origins)
        hashed = None
        if password:
            self._passwords.check(password)
            hashed = _hasher.hash(password)
        token = secrets.token_urlsafe(32)
        with self._sessions() as s:
            if s.get(models.Site, site_id) is None:
                raise NotFound(f"no site with id {site_id}")
            live = s.scalar(select(func.count()).select_from(models.SharedLink).where(
                models.SharedLink.site_id == site_id,
                models.SharedLink.revoked_at.is_(None))) or 0
            if live >= MAX_PER_SITE:
                raise Conflict(f"a site has at most {MAX_PER_SITE} shared links; revoke some",
                               field="label")
            row = models.SharedLink(site_id=site_id, label=name, token_hash=token_hash(token),
                                    password_hash=hashed, allowed_origins=origins,
                                    created_by=created_by)
            s.add(row)
            s.commit()
            return token, _info(row)

    def of_site(self, site_id: int) -> list[SharedLinkInfo]:
        """The site's live (not revoked) links, newest first."""
        with self._sessions() as s:
            rows = s.scalars(select(models.SharedLink).where(
                models.SharedLink.site_id == site_id, models.SharedLink.revoked_at.is_(None))
                .order_by(models.SharedLink.id.desc())).all()
            return [_info(r) for r in rows]

    def revoke(self, site_id: int, link_id: int) -> None:
        """Revoke one of the site's live links at once; ``NotFound`` otherwise."""
        with self._sessions() as s:
            row = s.get(models.SharedLink, link_id)
            if row is None or row.site_id != site_id or row.revoked_at is not None:
                raise NotFound(f"no shared link {link_id} on this site", field="link_id")
            row.revoked_at = datetime.now(UTC)
            s.commit()

    def by_token(self, token: str) -> SharedLinkInfo | None:
        """The live link of ``token``, or None (unknown, revoked)."""
        if not token or len(token) > 200:
            return None
        with self._sessions() as s:
            row = s.scalar(select(models.SharedLink).where(
                models.SharedLink.token_hash == token_hash(token)))
            return _info(row) if row is not None and row.revoked_at is None else None

    def by_id(self, link_id: int) -> SharedLinkInfo | None:
        """The live link ``link_id``, or None (unknown, revoked)."""
        with self._sessions() as s:
            row = s.get(models.SharedLink, link_id)
            return _info(row) if row is not None and row.revoked_at is None else None

    def check_password(self, link_id: int, password: str) -> bool:
        """Whether ``password`` is the live link's password (False for a link without one:
        nothing to check)."""
        with self._sessions() as s:
            row = s.get(models.SharedLink, link_id)
            if row is None or row.revoked_at is not None or row.password_hash is None:
                return False
            try:
                return bool(_hasher.verify(row.password_hash, password[:1000]))
            except (VerificationError, InvalidHashError):
                return False
