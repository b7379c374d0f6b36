"""Several nodes, for real: two ``liveinsight serve`` processes sharing PostgreSQL (a database
of the test's own), Redis and a ClickHouse HTTP endpoint (a real server with
LIVEINSIGHT_TEST_CLICKHOUSE_URL, else ClickHouse's HTTP interface emulated over chDB), behind
a round-robin TCP proxy of the test's own on loopback (no stickiness).

- A visitor's pageviews alternate between the nodes; sessions, visitors, bounce rate, pages,
  sources and realtime equal those of one node given the same events.
- One node is SIGKILLed under load and restarted: every acknowledged event is stored exactly
  once (each request carries a unique path), and every session's rows still collapse.
- Redis (a private redis-server) is stopped under load and started again: ingest goes on,
  health says degraded meanwhile, then ok again.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from liveinsight.storage.http import HttpStore
from tests.conftest import POSTGRES_URL, require_service
from tests.e2e.load import AGENTS, Load, assert_exactly_once
from tests.support import (
    METRICS_TOKEN,
    RoundRobinProxy,
    Server,
    private_redis,
    redis_prefix,
    wait_until,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """A PostgreSQL database of this test's own; its URL."""
    require_service("PostgreSQL", POSTGRES_URL, 5432)
    name = f"li_test_{uuid.uuid4().hex[:8]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextlib.contextmanager
def clickhouse_database(url: str) -> Iterator[str]:
    database = f"t_{uuid.uuid4().hex[:12]}"
    try:
        yield database
    finally:
        store = HttpStore(url, database)
        store.command(f"DROP DATABASE IF EXISTS `{database}`")
        store.close()


class Cluster:
    """The nodes of one deployment (same settings but their own data dir and port)."""

    def __init__(self, tmp_path: Path, **settings: str) -> None:
        self.tmp_path = tmp_path
        self.settings = {"writer_flush_ms": "100", **settings}
        self.nodes: list[Server] = []

    def node(self) -> Server:
        n = len(self.nodes)
        server = Server(self.tmp_path / f"node{n}", self.tmp_path / f"node{n}.log",
                        **self.settings)
        self.nodes.append(server)
        return server

    def stop(self) -> None:
        for server in self.nodes:
            if server.running():
                server.kill()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Callable[..., Cluster]]:
    made: list[Cluster] = []

    def make(**settings: str) -> Cluster:
        c = Cluster(tmp_path / f"c{len(made)}", **settings)
        made.append(c)
        return c

    yield make
    for c in made:
        c.stop()


def _start(cluster: Cluster, nodes: int) -> tuple[list[Server], str]:
    """Migrate once, create the site and a stats key, start ``nodes`` nodes; the key."""
    first = cluster.node()
    *_, made = first.cli_many(["migrate"], ["create-site", "example.com"],
                              ["create-api-key", "t", "--scope", "stats"])
    key = made.strip().splitlines()[-1]
    servers = [first, *(cluster.node() for _ in range(nodes - 1))]
    for server in servers:
        server.start()
    return servers, key


# --- the same visits, alternating nodes or on one ------------------------------------------

def _visits() -> list[tuple[str, str, list[tuple[str, str, str]]]]:
    """(ip, user agent, [(event name, path, referrer)]) for 24 visitors: 1 to 4 pageviews,
    a signup for every fifth (not a bounce even with one pageview), some from Google."""
    out = []
    for i in range(24):
        referrer = "https://www.google.com/" if i % 3 == 0 else ""
        events = [("pageview", f"/page/{p}", referrer if p == 0 else "")
                  for p in range(1 + i % 4)]
        if i % 5 == 0:
            events.append(("Signup", "/signup", ""))
        out.append((f"203.0.113.{i + 1}", AGENTS[i % len(AGENTS)], events))
    return out


def _send(url: str, visits: list[tuple[str, str, list[tuple[str, str, str]]]]) -> int:
    """Each event on a connection of its own (through the proxy: the next node), one after
    the other; the number of pageviews sent."""
    pageviews = 0
    limits = httpx.Limits(max_keepalive_connections=0)
    with httpx.Client(timeout=10, limits=limits) as client:
        for ip, agent, events in visits:
            for name, path, referrer in events:
                body = {"n": name, "u": f"https://example.com{path}", "d": "example.com",
                        "r": referrer}
                response = client.post(url + "/api/event", json=body, headers={
                    "content-type": "text/plain", "user-agent": agent,
                    "x-forwarded-for": ip})
                assert response.status_code == 202, response.text
                pageviews += name == "pageview"
    return pageviews


def _numbers(url: str, key: str) -> dict[str, Any]:
    auth = {"authorization": f"Bearer {key}"}
    site = {"site_id": "example.com", "period": "7d"}
    with httpx.Client(base_url=url, headers=auth, timeout=30) as client:
        summary = client.get("/api/stats", params=site).json()["results"]
        pages = client.get("/api/stats/breakdown", params={
            **site, "property": "event:page", "metrics": "visitors,pageviews,bounce_rate"}
        ).json()["results"]
        sources = client.get("/api/stats/breakdown", params={
            **site, "property": "visit:source", "metrics": "visitors,visits,bounce_rate"}
        ).json()["results"]
        realtime = client.get("/api/realtime", params={"site_id": "example.com"}).json()
    summary.pop("visit_duration", None)  # seconds between requests: timing, not counting
    return {
        "summary": summary, "pages": pages, "sources": sources,
        "realtime": {"visitors": realtime["visitors"], "top_pages": realtime["top_pages"],
                     "top_sources": realtime["top_sources"],
                     "pageviews": sum(m["pageviews"] for m in realtime[
                         "pageviews_per_minute"])},
    }


def _settled(url: str, key: str, pageviews: int) -> dict[str, Any]:
    """The numbers once every pageview is stored and two reads in a row agree: a visit's
    session rows come from both nodes' logs, so the pageviews can all be in while the last
    session versions are still on their way."""
    last: list[dict[str, Any]] = []

    def done() -> dict[str, Any] | None:
        numbers = _numbers(url, key)
        if numbers["summary"]["pageviews"]["value"] != pageviews:
            return None
        stable = bool(last) and last[-1] == numbers
        last.append(numbers)
        return numbers if stable else None

    result: dict[str, Any] = wait_until(done, 30, f"{pageviews} pageviews to be stored", 0.2)
    return result


def test_visits_alternating_between_nodes_count_as_on_one_node(
        cluster: Callable[..., Cluster], clickhouse_url: str, redis_url: str) -> None:
    visits = _visits()
    with postgres_database() as pg, redis_prefix(redis_url) as prefix, \
            clickhouse_database(clickhouse_url) as shared_db, \
            clickhouse_database(clickhouse_url) as single_db:
        nodes, key = _start(cluster(
            database_url=pg, clickhouse_url=clickhouse_url, clickhouse_database=shared_db,
            redis_url=redis_url, redis_prefix=prefix), 2)
        proxy = RoundRobinProxy([n.port for n in nodes])
        try:
            pageviews = _send(proxy.url, visits)
            assert set(proxy.routed) == {n.port for n in nodes}
            assert all(a != b for a, b in zip(proxy.routed, proxy.routed[1:], strict=False))
        finally:
            proxy.close()
        several = _settled(nodes[0].url, key, pageviews)
        # both nodes read the same store (node 1's cache may hold an answer of a moment ago
        # for up to LIVEINSIGHT_CACHE_LIVE_LAG_SECONDS)
        wait_until(lambda: _numbers(nodes[1].url, key) == several, 30,
                   "node 1 to give node 0's numbers", 0.2)

        (single,), single_key = _start(cluster(
            clickhouse_url=clickhouse_url, clickhouse_database=single_db), 1)
        assert _send(single.url, visits) == pageviews
        one = _settled(single.url, single_key, pageviews)

    assert several == one
    summary = several["summary"]
    assert summary["visitors"]["value"] == summary["visits"]["value"] == len(visits)
    # 1 pageview and no signup: i % 4 == 0 and i % 5 != 0 → 4, 8, 12, 16
    assert summary["bounce_rate"]["value"] == round(100 * 4 / 24)
    assert several["realtime"]["visitors"] == len(visits)


# --- a node killed under load ----------------------------------------------------------------

def _stored(url: str, database: str) -> dict[str, int]:
    store = HttpStore(url, database)
    try:
        rows = store.query(f"SELECT pathname, count() FROM `{database}`.events "
                           "GROUP BY pathname").rows
        return {r[0]: int(r[1]) for r in rows}
    finally:
        store.close()


def _open_sessions(url: str, database: str) -> list[tuple[int, int]]:
    """Sessions whose rows do not collapse to exactly one state: ``(id, sum(sign))``."""
    store = HttpStore(url, database)
    try:
        rows = store.query(f"SELECT session_id, sum(sign) AS s FROM `{database}`.sessions "
                           "GROUP BY session_id HAVING s != 1").rows
        return [(int(r[0]), int(r[1])) for r in rows]
    finally:
        store.close()


def _drained(nodes: list[Server]) -> None:
    for server in nodes:
        wait_until(lambda s=server: s.wal_bytes() == 0, 30,  # type: ignore[misc]
                   "the node's log to drain into the store")


def test_a_node_killed_under_load_loses_and_duplicates_nothing(
        cluster: Callable[..., Cluster], clickhouse_url: str, redis_url: str) -> None:
    with postgres_database() as pg, redis_prefix(redis_url) as prefix, \
            clickhouse_database(clickhouse_url) as database:
        nodes, _ = _start(cluster(
            database_url=pg, clickhouse_url=clickhouse_url, clickhouse_database=database,
            redis_url=redis_url, redis_prefix=prefix,
            writer_flush_ms="2000"), 2)  # rows wait in the log: the kill leaves some there
        proxy = RoundRobinProxy([n.port for n in nodes])
        load = Load(lambda: proxy.url, run="m", workers=8).start()
        try:
            since = time.monotonic()
            wait_until(lambda: load.acked_since(since) >= 150, 30, "acknowledged events")
            victim = nodes[1]
            victim.kill()
            assert victim.wal_bytes() > 0  # acknowledged rows only in the dead node's log
            since = time.monotonic()
            wait_until(lambda: load.acked_since(since) >= 100, 30, "events on the survivor")
            victim.start()
            proxy.backends[1] = victim.port
            since = time.monotonic()
            wait_until(lambda: load.acked_since(since) >= 150, 30, "events after the restart")
        finally:
            load.stop()
            proxy.close()
        _drained(nodes)
        stored = _stored(clickhouse_url, database)
        open_sessions = _open_sessions(clickhouse_url, database)
    assert_exactly_once(stored, load.acked)
    assert [r for r in load.refused if r[1] >= 500] == []
    assert open_sessions == []


# --- Redis stopped and started under load ----------------------------------------------------

def _health(server: Server) -> dict[str, Any]:
    doc: dict[str, Any] = httpx.get(server.url + "/health/detailed", timeout=10, headers={
        "authorization": f"Bearer {METRICS_TOKEN}"}).json()
    return doc


def test_ingest_goes_on_while_redis_is_down_and_recovers(
        cluster: Callable[..., Cluster], clickhouse_url: str, tmp_path: Path) -> None:
    with postgres_database() as pg, private_redis(tmp_path / "redis") as redis_server, \
            clickhouse_database(clickhouse_url) as database:
        nodes, _ = _start(cluster(
            database_url=pg, clickhouse_url=clickhouse_url, clickhouse_database=database,
            redis_url=redis_server.url, redis_timeout_seconds="0.3"), 2)
        proxy = RoundRobinProxy([n.port for n in nodes])
        load = Load(lambda: proxy.url, run="r", workers=6).start()
        try:
            since = time.monotonic()
            wait_until(lambda: load.acked_since(since) >= 100, 30, "acknowledged events")
            assert all(_health(n)["status"] == "ok" for n in nodes)
            redis_server.stop()
            since = time.monotonic()
            wait_until(lambda: load.acked_since(since) >= 200, 30, "events without Redis")
            for server in nodes:
                doc = wait_until(lambda s=server: (  # type: ignore[misc]
                    (d := _health(s))["status"] == "degraded" and d), 20, "degraded health")
                assert doc["checks"]["sessions"].startswith("node-local: Redis unreachable")
                assert doc["checks"]["store"] == "ok"
            redis_server.start()
            for server in nodes:
                wait_until(lambda s=server: _health(s)["status"] == "ok", 30,  # type: ignore[misc]
                           "health back to ok")
            since = time.monotonic()
            wait_until(lambda: load.acked_since(since) >= 100, 30, "events after recovery")
        finally:
            load.stop()
            proxy.close()
        _drained(nodes)
        stored = _stored(clickhouse_url, database)
    assert_exactly_once(stored, load.acked)
    assert load.refused == []  # nothing was refused for Redis's sake
