"""The move from one machine to many, as docs/deployment.md walks it, with real processes:
a node with three days of demo data answers the stats API; it is stopped, ``liveinsight
move`` copies its events, sessions and metadata to a ClickHouse server over HTTP (a real one
when LIVEINSIGHT_TEST_CLICKHOUSE_URL is set, else the HTTP interface emulated over chDB) and
a new PostgreSQL database; a node started on those answers the same numbers to the same API
key. The old data dir is left as it was (the rollback)."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.support import LIVEINSIGHT, Server

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


@pytest.fixture
def new_postgres(postgres_url: str) -> Iterator[str]:
    name = f"li_moved_{uuid.uuid4().hex[:8]}"
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield postgres_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _answers(srv: Server, key: str) -> list[Any]:
    today = datetime.now(UTC).date()
    span = [str(today - timedelta(days=6)), str(today)]
    out = []
    with httpx.Client(base_url=srv.url, timeout=30,
                      headers={"authorization": f"Bearer {key}"}) as client:
        for site in ("demo.liveinsight.dev", "shop.example"):
            for dimensions in ([], ["event:page"], ["visit:source"], ["time:day"]):
                r = client.post("/api/v2/query", json={
                    "site_id": site, "date_range": span, "dimensions": dimensions,
                    "metrics": ["visitors", "visits", "pageviews", "bounce_rate",
                                "visit_duration", "events"]})
                assert r.status_code == 200, r.text
                out.append(r.json()["results"])
    return out


def test_a_node_moves_to_a_server_and_postgresql_with_the_same_answers(
        tmp_path: Path, clickhouse_url: str, new_postgres: str) -> None:
    database = f"moved_{uuid.uuid4().hex[:8]}"
    old = Server(tmp_path / "node", tmp_path / "node.log")
    old.cli("demo", "--days", "3", "--scale", "0.05")
    key = old.cli("create-api-key", "reader", "--scope", "stats").strip().splitlines()[-1]
    old.start()
    try:
        before = _answers(old, key)
    finally:
        assert old.terminate() == 0
    assert any(rows for rows in before)

    out = old.cli("move", "--to-clickhouse", clickhouse_url, "--to-database", database,
                  "--to-metadata", new_postgres)
    outcome = json.loads(out[out.index("{"):])
    assert outcome["clickhouse"]["verified"] is True, outcome
    assert outcome["clickhouse"]["rows"]["events"] > 1000
    assert outcome["metadata"]["rows"]["sites"] == 3

    new = Server(tmp_path / "cluster-node", tmp_path / "cluster-node.log",
                 clickhouse_url=clickhouse_url, clickhouse_database=database,
                 database_url=new_postgres)
    new.start()
    try:
        assert _answers(new, key) == before
    finally:
        new.stop()
    # the old node still has its data: rolling back is starting it again
    old.start()
    try:
        assert _answers(old, key) == before
    finally:
        old.stop()


def test_a_running_node_is_not_moved(tmp_path: Path, clickhouse_url: str) -> None:
    node = Server(tmp_path / "node", tmp_path / "node.log")
    node.start()
    try:
        done = subprocess.run([str(LIVEINSIGHT), "move", "--to-clickhouse", clickhouse_url],
                              env=node.env, capture_output=True, text=True, timeout=120,
                              check=False)
        assert done.returncode == 1
        assert "stop it first" in " ".join(done.stdout.split())
    finally:
        node.stop()
