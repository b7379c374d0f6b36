"""Metadata repository against SQLite (always) and PostgreSQL (when reachable; required in CI)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from liveinsight.meta.db import make_engine, upgrade
from liveinsight.meta.repo import Metadata, MetaError, SiteDirectory
from tests.conftest import POSTGRES_URL, require_service


@pytest.fixture(params=["sqlite", "postgres"])
def meta(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Metadata]:
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'meta.db'}")
        upgrade(engine)
        yield Metadata(engine)
        engine.dispose()
        return
    require_service("PostgreSQL", POSTGRES_URL, 5432)
    name = f"li_test_{uuid.uuid4().hex[:8]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}")
    try:
        upgrade(engine)
        yield Metadata(engine)
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_sites_are_created_normalised_and_unique(meta: Metadata) -> None:
    site = meta.create_site("https://www.Example.com/", aliases=["www.example.org"])
    assert (site.domain, site.aliases) == ("example.com", ("example.org",))
    assert len(site.uuid) == 36
    with pytest.raises(MetaError, match="already exists"):
        meta.create_site("example.com")
    updated = meta.update_site(site.id, timezone="Europe/Berlin", retention_days=30)
    assert (updated.timezone, updated.retention_days) == ("Europe/Berlin", 30)
    with pytest.raises(MetaError):
        meta.update_site(site.id, nonsense=1)


def test_site_directory_finds_by_domain_alias_uuid_and_id(meta: Metadata) -> None:
    site = meta.create_site("example.com", aliases=["example.org"])
    directory = SiteDirectory(meta)
    assert directory.by_domain("www.example.com") == site
    assert directory.by_domain("example.org") == site
    assert directory.by_uuid(site.uuid) == site
    assert directory.by_id(site.id) == site
    assert directory.by_domain("other.com") is None


def test_users_authenticate_with_argon2(meta: Metadata) -> None:
    user = meta.create_user("Ann@Example.com", "correct horse", role="admin")
    assert meta.authenticate("ann@example.com", "correct horse") == user
    assert meta.authenticate("ann@example.com", "wrong password") is None
    assert meta.authenticate("nobody@example.com", "correct horse") is None
    with pytest.raises(MetaError):
        meta.create_user("bob@example.com", "short")
    with pytest.raises(MetaError):
        meta.create_user("bob@example.com", "long enough", role="root")


def test_api_keys_verify_scope_and_revoke(meta: Metadata) -> None:
    site = meta.create_site("example.com")
    plaintext, key = meta.create_api_key("server", ["ingest"], [site.id])
    found = meta.verify_api_key(plaintext)
    assert found is not None and key.last_used_at is None
    assert (found.id, found.scopes, found.site_ids) == (key.id, key.scopes, key.site_ids)
    assert found.last_used_at is not None  # its use is noted
    assert found.allows("ingest", site.id) and not found.allows("stats", site.id)
    assert not found.allows("ingest", site.id + 1)
    wrong = plaintext[:-1] + ("y" if plaintext.endswith("x") else "x")  # never the same key
    assert meta.verify_api_key(wrong) is None
    assert meta.verify_api_key("garbage") is None
    meta.revoke_api_key(key.id)
    assert meta.verify_api_key(plaintext) is None
    with pytest.raises(MetaError):
        meta.create_api_key("bad", ["everything"])


def test_salts_rotate_daily_and_old_ones_are_deleted(meta: Metadata) -> None:
    d1, d2, d3 = date(2026, 11, 1), date(2026, 11, 2), date(2026, 11, 3)
    s1, prev = meta.salts(d1)
    assert prev is None and len(s1) == 32
    assert meta.salts(d1) == (s1, None)
    s2, prev2 = meta.salts(d2)
    assert prev2 == s1 and s2 != s1
    _s3, prev3 = meta.salts(d3)
    assert prev3 == s2
    # d1's salt is gone: asking for d2 again cannot see it as "yesterday"
    assert meta.salts(d2)[1] is None


def test_goals(meta: Metadata) -> None:
    site = meta.create_site("example.com")
    meta.create_goal(site.id, event_name="Signup")
    meta.create_goal(site.id, page_path="/thanks")
    assert [g.display_name for g in meta.goals(site.id)] == ["Signup", "Visit /thanks"]
    revenue = meta.create_goal(site.id, event_name="Purchase", currency="eur",
                               display_name="Purchases")
    assert (revenue.display_name, revenue.currency) == ("Purchases", "EUR")
    for bad, message in (({}, "either an event name or a page path"),
                         ({"event_name": "a", "page_path": "/a"}, "either"),
                         ({"page_path": "thanks"}, "starts with /"),
                         ({"event_name": "x" * 121}, "at most 120"),
                         ({"event_name": "Signup"}, "already has a goal 'Signup'"),
                         ({"page_path": "/new", "display_name": "Signup"}, "already has"),
                         ({"event_name": "Refund", "currency": "euro"}, "ISO 4217")):
        with pytest.raises(MetaError, match=message):
            meta.create_goal(site.id, **bad)
    with pytest.raises(MetaError, match="no site"):
        meta.create_goal(999, event_name="Signup")
    meta.delete_goal(site.id, revenue.id)
    assert [g.event_name for g in meta.goals(site.id)] == ["Signup", None]
    with pytest.raises(MetaError, match="no goal"):
        meta.delete_goal(site.id, revenue.id)


def test_site_directory_keeps_its_last_copy_while_the_database_is_unreachable(
        tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'db' / 'meta.db'}")
    upgrade(engine)
    meta = Metadata(engine)
    site = meta.create_site("example.com")
    directory = SiteDirectory(meta, refresh_s=0)  # reloads on every lookup
    (tmp_path / "db").rename(tmp_path / "away")  # a new connection cannot open the file
    engine.dispose()
    assert directory.by_domain("example.com") == site  # the reload failed: the last copy
    assert directory.by_id(site.id) == site
    (tmp_path / "away").rename(tmp_path / "db")
    other = meta.create_site("other.example")
    assert directory.by_domain("other.example") == other  # reloads again once it answers
    engine.dispose()
