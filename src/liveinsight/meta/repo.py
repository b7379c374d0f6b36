"""The metadata repository: every read and write of sites, users, API keys, salts and goals.

Hot-path readers (the collector) use :class:`SiteDirectory`, an in-memory snapshot of the
sites refreshed on every change made through this process and every ``refresh_s`` seconds
(so changes made by another node show up within that time).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, delete, select
from sqlalchemy.exc import IntegrityError

from liveinsight import names
from liveinsight.meta import models
from liveinsight.meta.db import UNREACHABLE, session_factory
from liveinsight.security.passwords import PasswordPolicy, WeakPassword

ROLES = ("admin", "viewer")
SCOPES = ("ingest", "stats", "admin")
_hasher = PasswordHasher()


class MetaError(Exception):
    """A metadata change that cannot be made (duplicate, not found, invalid value);
    ``field``: the input it is about, when known."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True)
class SiteInfo:
    id: int
    uuid: str
    domain: str
    name: str
    aliases: tuple[str, ...]
    timezone: str
    currency: str
    retention_days: int
    enabled: bool
    public: bool
    require_signed_ingest: bool
    blocked_ips: tuple[str, ...]
    blocked_paths: tuple[str, ...]
    blocked_hosts: tuple[str, ...]
    team_id: int | None = None  # the team owning it (None: instance admins and guests)
    salt_rotation: str = "daily"  # daily | weekly | monthly: how long visitor ids last

    @classmethod
    def of(cls, site: models.Site) -> SiteInfo:
        return cls(
            id=site.id,
            uuid=site.uuid,
            domain=site.domain,
            name=site.name or site.domain,
            aliases=tuple(site.aliases or ()),
            timezone=site.timezone,
            currency=site.currency,
            retention_days=site.retention_days,
            enabled=site.enabled,
            public=site.public,
            require_signed_ingest=site.require_signed_ingest,
            blocked_ips=tuple(site.blocked_ips or ()),
            blocked_paths=tuple(site.blocked_paths or ()),
            blocked_hosts=tuple(site.blocked_hosts or ()),
            team_id=site.team_id,
            salt_rotation=site.salt_rotation or "daily",
        )


@dataclass(frozen=True, slots=True)
class UserInfo:
    id: int
    email: str
    role: str


@dataclass(frozen=True, slots=True)
class ApiKeyInfo:
    id: int
    name: str
    prefix: str
    scopes: tuple[str, ...]
    site_ids: tuple[int, ...] | None  # None: every site
    created_at: datetime | None = None
    last_used_at: datetime | None = None  # written at most once a minute
    expires_at: datetime | None = None
    rate: float | None = None  # the key's usage plan; None: the settings' defaults
    burst: int | None = None
    daily_quota: int | None = None  # per UTC day; None: the settings' default

    def allows(self, scope: str, site_id: int | None = None) -> bool:
        if scope not in self.scopes:
            return False
        return site_id is None or self.site_ids is None or site_id in self.site_ids


SALT_ROTATIONS = ("daily", "weekly", "monthly")
MAX_EXCLUSIONS = 100  # entries in each of blocked_ips, blocked_paths, blocked_hosts


def _exclusions(fields: dict[str, Any]) -> None:
    """Check (and normalise) a site's exclusions and currency in ``fields``, in place;
    MetaError naming the first bad entry."""
    for name in ("blocked_ips", "blocked_paths", "blocked_hosts"):
        if name in fields and len(fields[name]) > MAX_EXCLUSIONS:
            raise MetaError(f"{name}: at most {MAX_EXCLUSIONS} entries")
    for entry in fields.get("blocked_ips", ()):
        try:
            ipaddress.ip_network(entry.strip(), strict=False)
        except ValueError:
            raise MetaError(f"blocked IPs: {entry[:60]!r} is not an address or CIDR range"
                            ) from None
    for entry in fields.get("blocked_paths", ()):
        if not entry.startswith("/") or len(entry) > 300:
            raise MetaError(f"blocked paths: {entry[:60]!r} must start with / (at most 300 "
                            "characters)")
    if "blocked_hosts" in fields:
        fields["blocked_hosts"] = [normalize_domain(h) for h in fields["blocked_hosts"]]
    if "currency" in fields:
        fields["currency"] = _currency(str(fields["currency"]))
    if "salt_rotation" in fields and fields["salt_rotation"] not in SALT_ROTATIONS:
        raise MetaError(f"salt rotation is one of {', '.join(SALT_ROTATIONS)}")


def check_site_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """A copy of a site's new settings, each checked and normalised as :meth:`Metadata.
    update_site` would; MetaError with ``field`` set to the first bad one's name."""
    out = dict(fields)
    for name, value in fields.items():
        try:
            if name == "domain":
                out[name] = normalize_domain(value)
            elif name == "aliases":
                out[name] = [normalize_domain(a) for a in value]
            else:
                one = {name: value}
                _exclusions(one)
                out[name] = one[name]
        except MetaError as exc:
            raise MetaError(str(exc), field=name) from None
    return out


def _currency(value: str) -> str:
    """An ISO 4217 code, upper-cased; MetaError otherwise."""
    code = value.strip().upper()
    if not (len(code) == 3 and code.isalpha() and code.isascii()):
        raise MetaError(f"{value!r} is not an ISO 4217 currency code")
    return code


def normalize_domain(domain: str) -> str:
    """:func:`liveinsight.names.domain`, raising :class:`MetaError`."""
    try:
        return names.domain(domain)
    except ValueError as exc:
        raise MetaError(str(exc)) from None


@dataclass(frozen=True, slots=True)
class GoalInfo:
    id: int
    site_id: int
    display_name: str
    event_name: str | None
    page_path: str | None
    currency: str | None = None  # a revenue goal's currency


class Metadata:
    """All metadata reads and writes. Thread-safe; every method is one short transaction.
    Callbacks given to :meth:`watch` run after each change of sites or goals made here."""

    def __init__(self, engine: Engine, passwords: PasswordPolicy | None = None) -> None:
        self.engine = engine
        self._sessions = session_factory(engine)
        self._passwords = passwords or PasswordPolicy()
        self._watchers: list[Callable[[], None]] = []

    def watch(self, callback: Callable[[], None]) -> None:
        self._watchers.append(callback)

    def _changed(self) -> None:
        for callback in self._watchers:
            callback()

    # --- sites -----------------------------------------------------------------------------

    def create_site(self, domain: str, **fields: Any) -> SiteInfo:
        _exclusions(fields)
        domain = normalize_domain(domain)
        fields["name"] = str(fields.get("name") or "").strip()[:255] or domain
        site = models.Site(domain=domain, **fields)
        if "aliases" in fields:
            site.aliases = [normalize_domain(a) for a in fields["aliases"]]
        with self._sessions() as s:
            s.add(site)
            try:
                s.commit()
            except IntegrityError as exc:
                raise MetaError(f"a site with domain {site.domain!r} already exists") from exc
            info = SiteInfo.of(site)
        self._changed()
        return info

    def update_site(self, site_id: int, **fields: Any) -> SiteInfo:
        with self._sessions() as s:
            site = s.get(models.Site, site_id)
            if site is None:
                raise MetaError(f"no site with id {site_id}")
            if "domain" in fields:
                fields["domain"] = normalize_domain(fields["domain"])
            if "aliases" in fields:
                fields["aliases"] = [normalize_domain(a) for a in fields["aliases"]]
            _exclusions(fields)
            for key, value in fields.items():
                if not hasattr(models.Site, key) or key in ("id", "uuid", "created_at",
                                                            "team_id"):
                    raise MetaError(f"site has no editable field {key!r}")
                setattr(site, key, value)
            try:
                s.commit()
            except IntegrityError as exc:
                raise MetaError("another site already uses that domain") from exc
            info = SiteInfo.of(site)
        self._changed()
        return info

    def delete_site(self, site_id: int) -> int:
        """Delete the site and what hangs on it (goals, funnels, segments, shared links,
        guests, invitations, report subscriptions, assets, KPI targets: by the foreign
        keys' ``ON DELETE CASCADE``); take it out of every API key limited to some sites,
        revoking a key left with none. How many keys were revoked."""
        revoked = 0
        with self._sessions() as s:
            for key in s.scalars(select(models.ApiKey).where(models.ApiKey.site_ids.is_not(None))):
                if key.site_ids is None or site_id not in key.site_ids:
                    continue
                key.site_ids = [i for i in key.site_ids if i != site_id]
                if not key.site_ids and key.revoked_at is None:
                    key.revoked_at = datetime.now(UTC)
                    revoked += 1
            s.execute(delete(models.Site).where(models.Site.id == site_id))
            s.commit()
        self._changed()
        return revoked

    def sites(self) -> list[SiteInfo]:
        with self._sessions() as s:
            rows = s.scalars(select(models.Site).order_by(models.Site.id)).all()
            return [SiteInfo.of(r) for r in rows]

    def site(self, site_id: int) -> SiteInfo | None:
        with self._sessions() as s:
            row = s.get(models.Site, site_id)
            return SiteInfo.of(row) if row else None

    # --- users -----------------------------------------------------------------------------

    def create_user(self, email: str, password: str, role: str = "viewer") -> UserInfo:
        if role not in ROLES:
            raise MetaError(f"role must be one of {', '.join(ROLES)}")
        self._check_password(password, email)
        user = models.User(email=email.strip().lower(), password_hash=_hasher.hash(password))
        user.role = role
        with self._sessions() as s:
            s.add(user)
            try:
                s.commit()
            except IntegrityError as exc:
                raise MetaError(f"a user {user.email!r} already exists") from exc
            return UserInfo(user.id, user.email, user.role)

    def _check_password(self, password: str, email: str) -> None:
        try:
            self._passwords.check(password, email)
        except WeakPassword as exc:
            raise MetaError(exc.message) from exc

    def set_password(self, email: str, password: str) -> None:
        """Raises MetaError for an unknown user or a password the policy refuses."""
        self._check_password(password, email)
        with self._sessions() as s:
            user = s.scalar(select(models.User).where(models.User.email == email.lower()))
            if user is None:
                raise MetaError(f"no user {email!r}")
            user.password_hash = _hasher.hash(password)
            s.commit()

    def authenticate(self, email: str, password: str) -> UserInfo | None:
        """The user when the password matches, else None (same cost either way)."""
        with self._sessions() as s:
            user = s.scalar(select(models.User).where(models.User.email == email.strip().lower()))
            stored = user.password_hash if user else _dummy_hash()
            try:
                _hasher.verify(stored, password)
            except (VerificationError, InvalidHashError):
                return None
            if user is None:
                return None
            user.last_login_at = datetime.now(UTC)
            s.commit()
            return UserInfo(user.id, user.email, user.role)

    def user(self, user_id: int) -> UserInfo | None:
        with self._sessions() as s:
            user = s.get(models.User, user_id)
            return UserInfo(user.id, user.email, user.role) if user else None

    def user_by_email(self, email: str) -> UserInfo | None:
        with self._sessions() as s:
            user = s.scalar(select(models.User).where(models.User.email == email.strip().lower()))
            return UserInfo(user.id, user.email, user.role) if user else None

    def users(self) -> list[UserInfo]:
        with self._sessions() as s:
            rows = s.scalars(select(models.User).order_by(models.User.id)).all()
            return [UserInfo(u.id, u.email, u.role) for u in rows]

    # --- API keys --------------------------------------------------------------------------

    def create_api_key(
        self,
        name: str,
        scopes: list[str] | None = None,
        site_ids: list[int] | None = None,
        user_id: int | None = None,
        expires_at: datetime | None = None,
        rate: float | None = None,
        burst: int | None = None,
        daily_quota: int | None = None,
    ) -> tuple[str, ApiKeyInfo]:
        """A new key; the plaintext ``li_<prefix>_<secret>`` is returned once, only its hash
        is kept. ``expires_at``: it stops working then (None: until revoked). ``rate``,
        ``burst`` and ``daily_quota``: its usage plan (None: the settings' defaults)."""
        _check_plan(rate, burst, daily_quota)
        scopes = scopes or ["ingest", "stats"]
        bad = [x for x in scopes if x not in SCOPES]
        if bad:
            raise MetaError(f"unknown scope(s) {bad}; scopes are {', '.join(SCOPES)}")
        if site_ids is not None:
            with self._sessions() as s:
                known = set(s.scalars(select(models.Site.id).where(
                    models.Site.id.in_(site_ids))).all())
            missing = sorted(set(site_ids) - known)
            if missing:
                raise MetaError(f"no site with id {', '.join(map(str, missing))}")
        prefix = secrets.token_hex(4)
        plaintext = f"li_{prefix}_{secrets.token_urlsafe(24)}"
        row = models.ApiKey(
            name=name,
            prefix=prefix,
            key_hash=hashlib.sha256(plaintext.encode()).hexdigest(),
            scopes=scopes,
            site_ids=site_ids,
            user_id=user_id,
            expires_at=expires_at,
            rate_limit=rate,
            burst_limit=burst,
            daily_quota=daily_quota,
        )
        with self._sessions() as s:
            s.add(row)
            s.commit()
            return plaintext, _key_info(row)

    def verify_api_key(self, plaintext: str) -> ApiKeyInfo | None:
        """The key's info, or None for an unknown, revoked or expired key; notes its use
        (at most once a minute)."""
        parts = plaintext.split("_")
        if len(parts) < 3 or parts[0] != "li":
            return None
        digest = hashlib.sha256(plaintext.encode()).hexdigest()
        now = datetime.now(UTC)
        with self._sessions() as s:
            row = s.scalar(select(models.ApiKey).where(models.ApiKey.prefix == parts[1]))
            if row is None or row.revoked_at is not None:
                return None
            if not hmac.compare_digest(row.key_hash, digest):
                return None
            if row.expires_at is not None and aware(row.expires_at) <= now:
                return None
            if row.last_used_at is None or now - aware(row.last_used_at) >= timedelta(
                    minutes=1):
                row.last_used_at = now
                s.commit()
            return _key_info(row)

    def set_api_key_plan(self, key_id: int, rate: float | None, burst: int | None,
                         daily_quota: int | None = None) -> ApiKeyInfo:
        """Give a key its own usage plan, the whole plan at once (None: back to the
        settings' default for that part). Nodes see it within ``api_key_cache_seconds``."""
        _check_plan(rate, burst, daily_quota)
        with self._sessions() as s:
            row = s.get(models.ApiKey, key_id)
            if row is None or row.revoked_at is not None:
                raise MetaError(f"no API key with id {key_id}")
            row.rate_limit, row.burst_limit, row.daily_quota = rate, burst, daily_quota
            s.commit()
            return _key_info(row)

    def revoke_api_key(self, key_id: int) -> None:
        with self._sessions() as s:
            row = s.get(models.ApiKey, key_id)
            if row is None:
                raise MetaError(f"no API key with id {key_id}")
            row.revoked_at = datetime.now(UTC)
            s.commit()

    def api_keys(self) -> list[ApiKeyInfo]:
        with self._sessions() as s:
            rows = s.scalars(select(models.ApiKey).where(models.ApiKey.revoked_at.is_(None)))
            return [_key_info(r) for r in rows]

    # --- salts -----------------------------------------------------------------------------

    def salts(self, today: date) -> tuple[bytes, bytes | None]:
        """``(today's salt, yesterday's salt or None)``. Creates today's salt when missing and
        deletes every salt older than yesterday, so old visitor ids cannot be recomputed."""
        yesterday = today - timedelta(days=1)
        with self._sessions() as s:
            s.execute(delete(models.Salt).where(models.Salt.day < yesterday))
            current = s.get(models.Salt, today)
            if current is None:
                current = models.Salt(day=today, salt=secrets.token_bytes(32))
                s.add(current)
                try:
                    s.commit()
                except IntegrityError:  # another node made it first
                    s.rollback()
                    current = s.get(models.Salt, today)
                    assert current is not None
            else:
                s.commit()
            previous = s.get(models.Salt, yesterday)
            return current.salt, previous.salt if previous else None

    def period_salts(self, rotation: str, today: date) -> tuple[bytes, bytes | None]:
        """``(this week's or month's salt, the previous period's or None)`` for ``rotation``
        (weekly: weeks from Monday, monthly: calendar months, UTC). The previous period's
        salt is kept (and given) on the first day of a period only, for visits crossing
        the boundary; older ones are deleted."""
        current, previous = period_starts(rotation, today)
        name = f"{rotation[0]}{current.isoformat()}"
        with self._sessions() as s:
            s.execute(delete(models.PeriodSalt).where(models.PeriodSalt.starts < previous))
            row = s.get(models.PeriodSalt, name)
            if row is None:
                row = models.PeriodSalt(period=name, starts=current,
                                        salt=secrets.token_bytes(32))
                s.add(row)
                try:
                    s.commit()
                except IntegrityError:  # another node made it first
                    s.rollback()
                    row = s.get(models.PeriodSalt, name)
                    assert row is not None
            else:
                s.commit()
            before = (s.get(models.PeriodSalt, f"{rotation[0]}{previous.isoformat()}")
                      if today == current else None)
            return row.salt, before.salt if before else None

    def delete_old_salts(self, today: date) -> int:
        """Delete every daily salt older than yesterday's and every period salt whose period
        (and the next one's first day) is over (also done when salts are read, which a
        quiet site does not do); how many."""
        with self._sessions() as s:
            done = s.execute(delete(models.Salt).where(
                models.Salt.day < today - timedelta(days=1)))
            count = int(done.rowcount)  # type: ignore[attr-defined]
            for rotation in ("weekly", "monthly"):
                current, previous = period_starts(rotation, today)
                keep = previous if today == current else current
                gone = s.execute(delete(models.PeriodSalt).where(
                    models.PeriodSalt.period.startswith(rotation[0]),
                    models.PeriodSalt.starts < keep))
                count += int(gone.rowcount)  # type: ignore[attr-defined]
            s.commit()
            return count

    # --- goals -----------------------------------------------------------------------------

    def create_goal(
        self,
        site_id: int,
        *,
        event_name: str | None = None,
        page_path: str | None = None,
        display_name: str | None = None,
        currency: str | None = None,
    ) -> GoalInfo:
        """A conversion goal: a custom event name, or a pageview of a path (``*`` any run of
        characters but ``/``, ``**`` any run); with ``currency`` (ISO 4217), a revenue goal.
        Raises :class:`MetaError` naming what is wrong (both or neither of event and path,
        a path not starting with ``/``, too long, a duplicate, an unknown site)."""
        event_name = (event_name or "").strip() or None
        page_path = (page_path or "").strip() or None
        if bool(event_name) == bool(page_path):
            raise MetaError("a goal has either an event name or a page path")
        if event_name is not None and len(event_name) > 120:
            raise MetaError("an event name is at most 120 characters")
        if page_path is not None and (not page_path.startswith("/") or len(page_path) > 2048):
            raise MetaError("a page path starts with / and is at most 2048 characters")
        code = _currency(currency) if currency and currency.strip() else None
        name = ((display_name or "").strip() or event_name or f"Visit {page_path}")[:255]
        with self._sessions() as s:
            if s.get(models.Site, site_id) is None:
                raise MetaError(f"no site with id {site_id}")
            clash = s.scalar(select(models.Goal).where(
                models.Goal.site_id == site_id,
                (models.Goal.display_name == name)
                | ((models.Goal.event_name == event_name) if event_name
                   else (models.Goal.page_path == page_path))))
            if clash is not None:
                raise MetaError(f"the site already has a goal {clash.display_name!r}")
            goal = models.Goal(site_id=site_id, event_name=event_name, page_path=page_path,
                               display_name=name, currency=code)
            s.add(goal)
            s.commit()
            info = _goal_info(goal)
        self._changed()
        return info

    def delete_goal(self, site_id: int, goal_id: int) -> None:
        """Delete one of the site's goals (its events stay); MetaError when there is none."""
        with self._sessions() as s:
            done = s.execute(delete(models.Goal).where(models.Goal.id == goal_id,
                                                       models.Goal.site_id == site_id))
            s.commit()
        if not done.rowcount:  # type: ignore[attr-defined]
            raise MetaError(f"the site has no goal with id {goal_id}")
        self._changed()

    def all_goals(self) -> list[GoalInfo]:
        with self._sessions() as s:
            rows = s.scalars(select(models.Goal).order_by(models.Goal.id)).all()
            return [_goal_info(g) for g in rows]

    def goals(self, site_id: int) -> list[GoalInfo]:
        with self._sessions() as s:
            q = select(models.Goal).where(models.Goal.site_id == site_id).order_by(models.Goal.id)
            return [_goal_info(g) for g in s.scalars(q).all()]


@functools.cache
def _dummy_hash() -> str:
    """A hash of a random password, verified against when no user has the e-mail (the same
    cost either way). Made once per process when the app starts (:func:`warm_sign_in`,
    beside the start rather than in it) or on first use, not at import: an argon2 hash
    costs ~0.1 s, which every CLI command paid."""
    return _hasher.hash(secrets.token_hex(16))


def warm_sign_in() -> None:
    """Make the unknown-user hash in the background, so that the first sign-in with an
    unknown e-mail costs what one with a known e-mail does."""
    threading.Thread(target=_dummy_hash, name="sign-in-warm-up", daemon=True).start()


def period_starts(rotation: str, today: date) -> tuple[date, date]:
    """The first days of the week or month holding ``today`` and of the one before."""
    if rotation == "weekly":
        current = today - timedelta(days=today.weekday())
        return current, current - timedelta(days=7)
    current = today.replace(day=1)
    return current, (current - timedelta(days=1)).replace(day=1)


def _goal_info(g: models.Goal) -> GoalInfo:
    return GoalInfo(g.id, g.site_id, g.display_name, g.event_name, g.page_path, g.currency)


def aware(value: datetime) -> datetime:
    """SQLite gives back naive datetimes: they were written as UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _key_info(row: models.ApiKey) -> ApiKeyInfo:
    site_ids = tuple(row.site_ids) if row.site_ids is not None else None
    return ApiKeyInfo(row.id, row.name, row.prefix, tuple(row.scopes), site_ids,
                      aware(row.created_at) if row.created_at else None,
                      aware(row.last_used_at) if row.last_used_at else None,
                      aware(row.expires_at) if row.expires_at else None,
                      row.rate_limit, row.burst_limit, row.daily_quota)


MAX_PLAN_RATE, MAX_PLAN_BURST, MAX_PLAN_QUOTA = 1_000_000.0, 10_000_000, 1_000_000_000


def _check_plan(rate: float | None, burst: int | None, daily_quota: int | None = None
                ) -> None:
    if daily_quota is not None and not 1 <= daily_quota <= MAX_PLAN_QUOTA:
        raise MetaError(f"a key's daily quota is between 1 and {MAX_PLAN_QUOTA}")
    if rate is not None and not 0.001 <= rate <= MAX_PLAN_RATE:
        raise MetaError(f"a key's rate is between 0.001 and {MAX_PLAN_RATE:.0f} requests a "
                        "second")
    if burst is not None and not 1 <= burst <= MAX_PLAN_BURST:
        raise MetaError(f"a key's burst is between 1 and {MAX_PLAN_BURST}")


class SiteDirectory:
    """In-memory lookup of sites by domain, alias, UUID and id, for the hot path, reloaded
    every ``refresh_s``. While the metadata database cannot be reached, the last copy keeps
    answering (the collector goes on for the sites it knows) and the reload is tried again
    ``refresh_s`` later; the first load raises."""

    def __init__(self, meta: Metadata, refresh_s: float = 10.0) -> None:
        self._meta = meta
        self._refresh_s = refresh_s
        self._lock = threading.Lock()
        self._loaded_at = 0.0
        self._by_domain: dict[str, SiteInfo] = {}
        self._by_uuid: dict[str, SiteInfo] = {}
        self._by_id: dict[int, SiteInfo] = {}
        self._goals: dict[int, tuple[GoalInfo, ...]] = {}
        self.reload()
        meta.watch(self.reload)  # changes made through this process show at once

    def reload(self) -> None:
        goals: dict[int, list[GoalInfo]] = {}
        for goal in self._meta.all_goals():
            goals.setdefault(goal.site_id, []).append(goal)
        self._goals = {site: tuple(found) for site, found in goals.items()}
        by_domain, by_uuid, by_id = {}, {}, {}
        for site in self._meta.sites():
            by_id[site.id] = site
            by_uuid[site.uuid] = site
            by_domain[site.domain] = site
            for alias in site.aliases:
                by_domain.setdefault(alias, site)
        with self._lock:
            self._by_domain, self._by_uuid, self._by_id = by_domain, by_uuid, by_id
            self._loaded_at = time.monotonic()

    def _fresh(self) -> None:
        if time.monotonic() - self._loaded_at > self._refresh_s:
            try:
                self.reload()
            except UNREACHABLE as exc:
                with self._lock:
                    self._loaded_at = time.monotonic()
                logging.getLogger("liveinsight.meta").warning(
                    "the metadata database cannot be reached: the site directory keeps its "
                    "last copy: %s", str(exc).splitlines()[0][:300])

    def by_domain(self, domain: str) -> SiteInfo | None:
        self._fresh()
        return self._by_domain.get(domain.lower().removeprefix("www."))

    def by_uuid(self, value: str) -> SiteInfo | None:
        self._fresh()
        return self._by_uuid.get(value.lower())

    def by_id(self, site_id: int) -> SiteInfo | None:
        self._fresh()
        return self._by_id.get(site_id)

    def goals(self, site_id: int) -> tuple[GoalInfo, ...]:
        """The site's goals (kept with the sites: no query per request)."""
        self._fresh()
        return self._goals.get(site_id, ())

    def all(self) -> list[SiteInfo]:
        self._fresh()
        return sorted(self._by_id.values(), key=lambda s: s.id)
