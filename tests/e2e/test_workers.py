"""``liveinsight serve --workers 2`` on the embedded engine, with real processes: the engine
owner holds chDB, two granian workers take the requests and share sessions through Redis.
Every acknowledged event is stored once through SIGKILLs of a worker and of the owner; a
visitor's requests spread over both workers make one visit; a crash of the whole group
followed by a one-process start loses nothing (it ingests the workers' logs); ``/metrics``,
``/admin/monitoring/metrics`` and the alert rules, whichever worker answers or evaluates,
count what both served."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.load import AGENTS, Load, assert_exactly_once
from tests.support import LIVEINSIGHT, METRICS_TOKEN, Server, redis_prefix, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    with redis_prefix(redis_url) as value:
        yield value


def _children(parent: int) -> dict[int, str]:
    """pid → command line of ``parent``'s child processes."""
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == parent:
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                if cmd:  # not a zombie waiting to be reaped
                    out[int(entry.name)] = cmd
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
    return out


def _owner(srv: Server) -> int | None:
    """The engine owner's pid (None while it is being started again)."""
    assert srv.proc is not None
    found = [p for p, cmd in _children(srv.proc.pid).items() if "storage.owner" in cmd]
    assert len(found) <= 1, _children(srv.proc.pid)
    return found[0] if found else None


def _workers(srv: Server) -> list[int]:
    assert srv.proc is not None
    return [p for p, cmd in _children(srv.proc.pid).items() if "storage.owner" not in cmd]


def _ready(srv: Server) -> None:
    """Both workers answer (granian starts them one after the other)."""
    wait_until(lambda: len(_workers(srv)) == 2, 60, "two workers")
    for _ in range(20):
        with httpx.Client(timeout=5, limits=httpx.Limits(max_keepalive_connections=0)) as c:
            assert c.get(srv.url + "/health/ready").status_code == 200


def test_two_workers_store_every_acknowledged_event_once_through_kills(
        tmp_path: Path, redis_url: str, prefix: str) -> None:
    srv = Server(tmp_path / "data", tmp_path / "server.log", workers="2",
                 redis_url=redis_url, redis_prefix=prefix)
    srv.cli("create-site", "example.com")
    srv.start()
    _ready(srv)
    owner_before = _owner(srv)
    assert owner_before is not None
    load = Load(lambda: srv.url, run="w").start()
    try:
        since = time.monotonic()
        wait_until(lambda: load.acked_since(since) >= 300, 60, "acknowledged events")
        victim = _workers(srv)[0]
        os.kill(victim, signal.SIGKILL)
        wait_until(lambda: victim not in _workers(srv) and len(_workers(srv)) == 2, 60,
                   "the worker started again")
        since = time.monotonic()
        wait_until(lambda: load.acked_since(since) >= 300, 60, "events after the worker kill")
        os.kill(owner_before, signal.SIGKILL)
        wait_until(lambda: _owner(srv) not in (None, owner_before), 60, "the owner started again")
        since = time.monotonic()
        wait_until(lambda: load.acked_since(since) >= 300, 150, "events after the owner kill")
    finally:
        load.stop()
    assert srv.terminate() == 0, srv.log()
    assert not _children(srv.proc.pid if srv.proc else 0)
    stored = srv.stored()
    assert_exactly_once(stored, load.acked)
    assert [s for s in load.refused if s[1] >= 500 and s[1] != 503] == []


def test_a_visitor_spread_over_workers_is_one_visit_and_a_crash_loses_nothing(
        tmp_path: Path, redis_url: str, prefix: str) -> None:
    # nothing leaves the workers' logs until the end: only the one-process start moves them
    srv = Server(tmp_path / "data", tmp_path / "server.log", workers="2",
                 redis_url=redis_url, redis_prefix=prefix, writer_flush_ms="600000",
                 writer_batch_rows="1000000000")
    srv.cli("create-site", "example.com")
    key = srv.cli("create-api-key", "r", "--scope", "stats").strip().splitlines()[-1]
    srv.start()
    _ready(srv)
    with httpx.Client(timeout=10, limits=httpx.Limits(max_keepalive_connections=0)) as client:
        for visitor, pages in (("203.0.113.7", 40), ("203.0.113.8", 10)):
            for n in range(pages):
                r = client.post(srv.url + "/api/event", json={
                    "n": "pageview", "u": f"https://example.com/v/{n}", "d": "example.com"},
                    headers={"User-Agent": AGENTS[0], "X-Forwarded-For": visitor})
                assert r.status_code == 202, r.text
    slots = sorted((srv.data_dir / "workers").iterdir())
    logged = [sum(p.stat().st_size for p in (slot / "wal").glob("*.wal")) for slot in slots]
    assert len(logged) == 2 and all(logged), f"both workers took events: {logged}"
    srv.kill()  # the whole group: workers, owner and parent, nothing flushed

    srv.env["LIVEINSIGHT_WORKERS"] = "1"
    srv.start()
    try:
        answer = httpx.post(srv.url + "/api/v2/query", timeout=30, json={
            "site_id": "example.com", "date_range": "day",
            "metrics": ["visitors", "visits", "pageviews"]},
            headers={"authorization": f"Bearer {key}"})
        assert answer.status_code == 200, answer.text
        assert answer.json()["results"][0]["metrics"] == [2, 2, 50]
    finally:
        assert srv.terminate() == 0
    assert not (srv.data_dir / "workers").exists() or not any(
        (srv.data_dir / "workers").iterdir())


def test_workers_without_redis_are_refused(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEINSIGHT_")}
    env["LIVEINSIGHT_DATA_DIR"] = str(tmp_path / "data")
    done = subprocess.run([str(LIVEINSIGHT), "serve", "--workers", "2"], env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode != 0
    assert "LIVEINSIGHT_REDIS_URL" in " ".join((done.stdout + done.stderr).split())


def _scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with httpx.Client(timeout=10, limits=httpx.Limits(max_keepalive_connections=0)) as c:
        text = c.get(url + "/metrics",
                     headers={"authorization": f"Bearer {METRICS_TOKEN}"}).text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_add_up_what_both_workers_served(
        tmp_path: Path, redis_url: str, prefix: str) -> None:
    srv = Server(tmp_path / "data", tmp_path / "server.log", workers="2",
                 redis_url=redis_url, redis_prefix=prefix, alerts_interval_seconds="1")
    srv.cli("create-site", "example.com")
    key = srv.cli("create-api-key", "ops", "--scope", "admin").strip().splitlines()[-1]
    admin = {"authorization": f"Bearer {key}"}
    srv.start()
    _ready(srv)
    sent = 60
    with httpx.Client(timeout=10, limits=httpx.Limits(max_keepalive_connections=0)) as client:
        for n in range(sent):  # a new connection each: the kernel spreads them over both
            r = client.post(srv.url + "/api/event", json={
                "n": "pageview", "u": f"https://example.com/m/{n}", "d": "example.com"},
                headers={"User-Agent": AGENTS[0], "X-Forwarded-For": f"203.0.113.{n}"})
            assert r.status_code == 202, r.text
    accepted = ("liveinsight_events_accepted_total", (("endpoint", "event"),))
    route = ("liveinsight_http_requests_total",
             (("method", "POST"), ("route", "/api/event"), ("status", "202")))

    def own() -> list[float]:
        """Each worker's own count, from its snapshot."""
        counts = []
        for slot in sorted((srv.data_dir / "workers").iterdir()):
            snapshot = orjson.loads((slot / "metrics.json").read_bytes())
            counts.append(sum(s[2] for f in snapshot["families"] for s in f["samples"]
                              if s[0] == accepted[0] and s[1] == dict(accepted[1])))
        return counts

    assert wait_until(lambda: sum(own()) == sent, 15, "both snapshots")
    assert all(own()), f"both workers took events: {own()}"
    # whichever worker answers a scrape (a new connection each), the sums are the server's
    for _ in range(6):
        scraped = _scrape(srv.url)
        assert scraped.get(accepted) == sent, scraped.get(accepted)
        assert scraped[route] == sent
        assert {dict(labels).get("worker") for name, labels in scraped
                if name == "process_resident_memory_bytes"} == {"0", "1"}
    with httpx.Client(timeout=10, limits=httpx.Limits(max_keepalive_connections=0)) as client:
        for _ in range(6):  # /admin/monitoring/metrics too, whichever worker answers
            body = client.get(srv.url + "/admin/monitoring/metrics", headers=admin).json()
            assert body["workers"] == ["0", "1"]
            assert body["ingest"]["events_accepted"] == {"event": sent}
        # and the alert rules, on whichever worker holds the evaluator's lease
        r = client.post(srv.url + "/admin/alerts/rule", headers=admin, json={
            "name": "accepted", "metric": "liveinsight_events_accepted_total", "op": ">=",
            "threshold": sent})
        assert r.status_code == 201, r.text

        def series() -> list[dict[str, object]]:
            rules = client.get(srv.url + "/admin/monitoring/alerts", headers=admin).json()
            found: list[dict[str, object]] = rules["rules"][0]["series"]
            return found

        [accepted_series] = wait_until(series, 30, "the rule evaluated")
        assert accepted_series["value"] == sent and accepted_series["state"] == "firing"
    assert srv.terminate() == 0, srv.log()
