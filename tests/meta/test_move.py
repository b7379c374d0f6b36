"""``meta/move.py``: the metadata database copied from a node's SQLite file to a new
PostgreSQL database: every row of every table, ids kept (and PostgreSQL's sequences moved
past them), the audit chain still verifying, an API key still accepted."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, MetaData, create_engine, select, text

from liveinsight.errors import Invalid
from liveinsight.meta import move
from liveinsight.meta.audit import AuditStore
from liveinsight.meta.db import make_engine, upgrade
from liveinsight.meta.repo import Metadata
from liveinsight.security.audit import AuditEntry
from tests.conftest import POSTGRES_URL, require_service

KEY = b"audit-key-for-the-move-test-0123"


@pytest.fixture
def postgres(postgres_url: str) -> Iterator[Engine]:
    require_service("PostgreSQL", POSTGRES_URL, 5432)
    name = f"li_move_{uuid.uuid4().hex[:8]}"
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(postgres_url.rsplit("/", 1)[0] + f"/{name}")
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def sqlite(tmp_path: Path) -> Iterator[tuple[Engine, str]]:
    engine = make_engine(f"sqlite:///{tmp_path / 'liveinsight.db'}")
    upgrade(engine)
    meta = Metadata(engine)
    site = meta.create_site("example.com", aliases=["www.example.org"], public=True,
                            blocked_paths=["/admin/**"])
    meta.create_site("shop.example")
    meta.create_user("ann@example.com", "a long enough passphrase 42", role="admin")
    plaintext, _ = meta.create_api_key("reporting", scopes=["stats"], site_ids=[site.id],
                                       rate=5, burst=10)
    meta.salts(date(2026, 12, 4))
    meta.create_goal(site.id, event_name="Signup", currency="EUR")
    audit = AuditStore(engine, KEY)
    audit.append([AuditEntry(at=datetime(2026, 12, 4, 10, 0, 0, 123456, tzinfo=UTC),
                             actor="user:1 ann@example.com", action="site.create",
                             target="example.com", details={"before": None})])
    audit.append([AuditEntry(at=datetime(2026, 12, 4, 11, 0, tzinfo=UTC), actor="anonymous",
                             action="login", outcome="denied", status=401)])
    try:
        yield engine, plaintext
    finally:
        engine.dispose()


def _contents(engine: Engine) -> dict[str, list[tuple[object, ...]]]:
    schema = MetaData()
    schema.reflect(engine)
    out = {}
    with engine.connect() as conn:
        for table in schema.sorted_tables:
            if table.name == "alembic_version":
                continue
            key = [c for c in table.primary_key.columns] or list(table.columns)
            rows = conn.execute(select(table).order_by(*key)).all()
            out[table.name] = [tuple(_plain(v) for v in row) for row in rows]
    return out


def _plain(value: object) -> object:
    """A value as both databases mean it: SQLite keeps datetimes without their zone (UTC)."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def test_every_row_moves_and_still_works(sqlite: tuple[Engine, str], postgres: Engine) -> None:
    source, plaintext = sqlite
    steps: list[str] = []
    copied = move.copy(source, postgres, steps.append)
    assert copied["sites"] == 2 and copied["users"] == 1 and copied["audit_log"] == 2
    assert copied["salts"] >= 1 and copied["goals"] == 1 and copied["api_keys"] == 1
    assert _contents(postgres) == _contents(source)
    assert "metadata: sites (2 rows)" in steps

    moved = Metadata(postgres)
    # the key, its plan and its site still hold; the chain still verifies
    key = moved.verify_api_key(plaintext)
    assert key is not None and key.name == "reporting"
    assert AuditStore(postgres, KEY).verify().problems == ()
    # new rows take new ids: the sequences were moved past the copied ones
    third = moved.create_site("third.example")
    assert third.id == 3


def test_a_target_in_use_is_refused(sqlite: tuple[Engine, str], postgres: Engine) -> None:
    source, _ = sqlite
    move.copy(source, postgres)
    with pytest.raises(Invalid, match=r"not empty \(table '\w+' has rows\)"):
        move.copy(source, postgres)


def test_the_source_is_not_the_target(sqlite: tuple[Engine, str]) -> None:
    source, _ = sqlite
    with pytest.raises(Invalid, match="is the source"):
        move.copy(source, source)
