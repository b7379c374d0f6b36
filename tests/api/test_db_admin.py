"""/admin/db/...: performance, slow queries, optimize jobs; on the embedded engine and over
the HTTP transport (ClickHouse's HTTP interface; emulated over chDB without a server)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from liveinsight.storage import admin
from tests.conftest import CLICKHOUSE_ID, make_client, make_site, svc_of
from tests.support import wait_until

UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0"


@pytest.fixture(params=["chdb", pytest.param("clickhouse", id=CLICKHOUSE_ID,
                                              marks=pytest.mark.clickhouse)])
def app(request: pytest.FixtureRequest, tmp_path: Path
        ) -> Iterator[tuple[TestClient, dict[str, str]]]:
    extra: dict[str, Any] = {}
    if request.param == "clickhouse":
        extra = {"clickhouse_url": request.getfixturevalue("clickhouse_url"),
                 "clickhouse_database": f"li_{uuid.uuid4().hex[:10]}"}
    with make_client(tmp_path, **extra) as client:
        make_site(client, "a.example")
        for i in range(5):
            r = client.post("/api/event", json={"n": "pageview", "d": "a.example",
                                                "u": f"https://a.example/p{i}"},
                            headers={"user-agent": UA, "x-forwarded-for": f"198.51.100.{i}"})
            assert r.status_code == 202
        svc = svc_of(client)
        assert svc.writer.flush(30)
        key, _ = svc.meta.create_api_key("root", ["admin", "stats"])
        yield client, {"authorization": f"Bearer {key}"}


def _summary(client: TestClient, auth: dict[str, str]) -> Any:
    r = client.get("/api/stats/aggregate", params={"site_id": "a.example", "period": "day",
                                                   "metrics": "visitors,pageviews,visits"},
                   headers=auth)
    assert r.status_code == 200, r.text
    return r.json()["results"]


def test_performance_reports_tables_partitions_disks_and_latency(
        app: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = app
    _summary(client, auth)
    r = client.get("/admin/db/performance", headers=auth)
    assert r.status_code == 200, r.text
    doc = r.json()
    tables = {t["table"]: t for t in doc["tables"]}
    assert tables["events"]["rows"] == 5 and tables["events"]["parts"] >= 1
    assert tables["events"]["bytes_on_disk"] > 0 and tables["events"]["compression_ratio"] > 0
    assert {"events", "sessions"} <= {p["table"] for p in doc["partitions"]}
    assert doc["disks"] and doc["disks"][0]["total_space"] > 0
    assert doc["source"].startswith("this node")  # the engine keeps no system.query_log
    assert doc["latency"]["aggregate"]["count"] >= 1
    assert doc["latency"]["aggregate"]["p95_ms"] >= doc["latency"]["aggregate"]["p50_ms"]


def test_slow_queries_are_grouped_by_shape(app: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = app
    for _ in range(3):
        client.get("/api/stats/breakdown", params={"site_id": "a.example", "period": "day",
                                                   "property": "event:page"}, headers=auth)
        svc_of(client).answers.invalidate_all()  # computed each time, not cached
    doc = client.get("/admin/db/slow-queries", params={"threshold_ms": 1},
                     headers=auth).json()
    breakdown = [q for q in doc["queries"] if q["kind"] == "breakdown"]
    assert len(breakdown) == 1 and breakdown[0]["count"] == 3, doc
    assert "FROM" in breakdown[0]["query"] and "a.example" not in breakdown[0]["query"]
    none = client.get("/admin/db/slow-queries", params={"threshold_ms": 3_600_000},
                      headers=auth).json()
    assert none["queries"] == []


def test_optimize_runs_as_a_job_and_rebuilt_rollups_answer_the_same(
        app: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = app
    before = _summary(client, auth)
    r = client.post("/admin/db/optimize", json={"final": True, "rebuild_rollups": True},
                    headers=auth)
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["status"] == "running" and "rebuild rollups" in job["steps"]

    def finished() -> Any:
        doc = client.get(f"/admin/db/jobs/{job['id']}", headers=auth).json()
        return doc if doc["status"] != "running" else None

    done = wait_until(finished, 120, "the optimize job")
    assert (done["status"], done["progress"], done["error"]) == ("done", 1.0, None)
    assert _summary(client, auth) == before


@pytest.mark.parametrize(("body", "field"), [
    ({"tables": ["nope"]}, "tables"), ({"tables": []}, "tables"),
    ({"partition": "2026-11"}, "partition"), ({"partition": "1; DROP"}, "partition")])
def test_bad_optimizations_are_refused_naming_the_field(
        app: tuple[TestClient, dict[str, str]], body: dict[str, Any], field: str) -> None:
    client, auth = app
    r = client.post("/admin/db/optimize", json=body, headers=auth)
    assert r.status_code == 400 and r.json()["error"]["field"] == field, r.text


def test_an_unknown_job_is_a_404(app: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = app
    assert client.get("/admin/db/jobs/nope", headers=auth).status_code == 404


def test_the_query_log_sql_parses(tmp_path: Path) -> None:
    """A server's ``system.query_log`` cannot be had here: its queries are checked by the
    engine's own parser."""
    from liveinsight.storage.embedded import EmbeddedStore

    captured: list[str] = []

    class Capture:
        database = "liveinsight"

        def query(self, sql: str, params: Any = None, **_: Any) -> Any:
            captured.append(sql)
            raise RuntimeError("captured")

    for call in (lambda s: admin.latency_from_log(s, 1),
                 lambda s: admin.slow_from_log(s, 500, 24, 10)):
        with pytest.raises(RuntimeError):
            call(Capture())
    store = EmbeddedStore(tmp_path / "chdb", "liveinsight")
    try:
        for sql in captured:
            assert store.query("SELECT formatQuery({q:String})", {"q": sql}).scalar()
    finally:
        store.close()
