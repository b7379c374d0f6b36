"""The audit log's chained store (SQLite and PostgreSQL) and its writer: appends from two
"nodes" at once stay one chain; an edited, deleted or cut record is detected; retention
prunes and says so in the chain."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from liveinsight.meta.audit import AuditLog, AuditQuery, AuditStore
from liveinsight.meta.db import make_engine, upgrade
from liveinsight.security.audit import AuditEntry, chain_key
from tests.conftest import POSTGRES_URL, require_service

KEY = chain_key(b"test-secret")
T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        e = make_engine(f"sqlite:///{tmp_path / 'meta.db'}")
        upgrade(e)
        yield e
        e.dispose()
        return
    require_service("PostgreSQL", POSTGRES_URL, 5432)
    request.node.add_marker(pytest.mark.postgres)
    name = f"li_test_{uuid.uuid4().hex[:8]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    e = make_engine(POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}")
    try:
        upgrade(e)
        yield e
    finally:
        e.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _entry(n: int, **fields: object) -> AuditEntry:
    base: dict[str, object] = {"at": T0 + timedelta(minutes=n), "actor": f"user:{n % 3} u@x",
                               "action": "POST /sites/{site_id}/goals", "target": f"/t/{n}",
                               "status": 303, "site_id": n % 2 + 1, "client": "ab" * 8,
                               "request_id": f"r{n}", "details": {"n": n}}
    base.update(fields)
    return AuditEntry(**base)  # type: ignore[arg-type]


def test_appends_from_two_nodes_at_once_make_one_chain(engine: Engine) -> None:
    nodes = [AuditStore(engine, KEY), AuditStore(engine, KEY)]

    def write(node: AuditStore, base: int) -> None:
        for i in range(20):
            node.append([_entry(base + i), _entry(base + i + 1000)])

    threads = [threading.Thread(target=write, args=(n, k * 100)) for k, n in enumerate(nodes)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    verdict = nodes[0].verify()
    assert verdict.ok, verdict.problems
    assert verdict.records == 80 and verdict.last == 80


def test_an_edited_a_deleted_and_a_cut_record_are_named(engine: Engine) -> None:
    store = AuditStore(engine, KEY)
    store.append([_entry(i) for i in range(1, 11)])
    assert store.verify().ok
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET target = '/innocent' WHERE seq = 3"))
    assert store.verify().problems == ("record 3 was changed after it was written",)
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET target = '/t/3' WHERE seq = 3"))
        conn.execute(text("DELETE FROM audit_log WHERE seq = 6"))
    assert store.verify().problems == ("records 6..6 are missing",)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE seq >= 6"))
    cut = store.verify()
    assert cut.problems == ("the chain's head names record 10, the last record is 5: "
                            "records were removed at the end",)


def test_a_record_forged_without_the_key_is_named(engine: Engine) -> None:
    store = AuditStore(engine, KEY)
    store.append([_entry(1)])
    AuditStore(engine, chain_key(b"someone else")).append([_entry(2)])
    assert store.verify().problems == ("record 2 was changed after it was written",)


def test_pages_filter_newest_first(engine: Engine) -> None:
    store = AuditStore(engine, KEY)
    store.append([_entry(i) for i in range(1, 11)]
                 + [_entry(11, action="login.failed", actor="anonymous", site_id=None,
                           details={})])
    assert store.verify().ok  # an entry without details hashes as it reads back
    newest = store.page(AuditQuery(limit=3))
    assert [r.seq for r in newest] == [11, 10, 9]
    assert [r.seq for r in store.page(AuditQuery(limit=3, before=9))] == [8, 7, 6]
    assert [r.seq for r in store.page(AuditQuery(action="login."))] == [11]
    assert {r.entry.actor for r in store.page(AuditQuery(actor="USER:1"))} == {"user:1 u@x"}
    assert all(r.entry.site_id == 2 for r in store.page(AuditQuery(site_id=2)))
    window = store.page(AuditQuery(since=T0 + timedelta(minutes=2),
                                   until=T0 + timedelta(minutes=4)))
    assert [r.seq for r in window] == [3, 2]
    assert store.page(AuditQuery(actor="%")) == []  # a wildcard is a character here
    assert newest[0].entry.details == {} and newest[1].entry.details == {"n": 10}


def test_retention_prunes_and_the_chain_still_verifies(engine: Engine) -> None:
    store = AuditStore(engine, KEY)
    store.append([_entry(i) for i in range(1, 11)])
    now = T0 + timedelta(days=1)
    assert store.prune(T0 + timedelta(minutes=5), now) == 4
    verdict = store.verify()
    assert verdict.ok, verdict.problems
    assert (verdict.records, verdict.pruned_through, verdict.last) == (7, 4, 11)
    pruned = store.page(AuditQuery(action="audit.pruned"))[0]
    assert pruned.entry.details["through"] == 4 and pruned.entry.actor == "system"
    assert store.prune(T0 + timedelta(minutes=5), now) == 0  # nothing older is left
    with engine.begin() as conn:  # removing the oldest kept record is not retention
        conn.execute(text("DELETE FROM audit_log WHERE seq = 5"))
    assert store.verify().problems == ("records 5..5 are missing",)


def test_the_writer_queues_writes_in_batches_and_flushes(engine: Engine) -> None:
    store = AuditStore(engine, KEY)
    writer = AuditLog(store, interval=0.05)
    writer.start()
    try:
        for i in range(1, 1201):
            writer.record(_entry(i))
        assert writer.flush(timeout=60)
        verdict = store.verify()
        assert verdict.ok and verdict.records == 1200
    finally:
        writer.close()


def test_a_full_queue_drops_and_counts_rather_than_blocking(engine: Engine) -> None:
    dropped: list[int] = []
    writer = AuditLog(AuditStore(engine, KEY), on_drop=lambda: dropped.append(1), max_queue=2)
    for i in range(1, 5):
        writer.record(_entry(i))  # the thread is not started: nothing drains
    assert len(dropped) == 2
    writer.close()  # writes what was queued
    assert AuditStore(engine, KEY).verify().records == 2


def test_close_writes_every_queued_batch(engine: Engine) -> None:
    writer = AuditLog(AuditStore(engine, KEY))
    for i in range(1, 1201):  # more than one batch of 500, the thread not started
        writer.record(_entry(i))
    writer.close()
    assert AuditStore(engine, KEY).verify().records == 1200


def test_close_does_not_wait_out_the_writers_interval(engine: Engine) -> None:
    writer = AuditLog(AuditStore(engine, KEY), interval=60)
    writer.start()
    writer.record(_entry(1))
    assert writer.flush(timeout=30)
    began = time.monotonic()
    writer.close()  # the thread sleeps in a 60 s wait for entries: close wakes it
    assert time.monotonic() - began < 5  # not the 10 s join timeout either
    assert AuditStore(engine, KEY).verify().records == 1
