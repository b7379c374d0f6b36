"""The answer cache with Redis as L2, and Redis failing under load: a private Redis server
the test starts, kills and starts again. Answers keep coming from this node's memory (L1)
and the store, health says ``degraded`` while Redis is away, and the node goes back to
Redis by itself once it answers (the circuit breaker's trial)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import make_client, make_site, svc_of
from tests.support import METRICS_TOKEN, RedisServer, private_redis, wait_until

UA = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/130.0 Safari/537.36")
OPS = {"authorization": f"Bearer {METRICS_TOKEN}"}
QUERIES = [{"period": p, "property": prop} for p in ("day", "7d", "30d")
           for prop in ("event:page", "visit:source")]


def _pageview(client: TestClient, path: str) -> int:
    return client.post("/api/event", json={"n": "pageview", "u": f"https://a.example{path}",
                                           "d": "a.example"},
                       headers={"user-agent": UA}).status_code


def _breakdown(client: TestClient, auth: dict[str, str], params: dict[str, str]) -> Any:
    return client.get("/api/stats/breakdown", params={"site_id": "a.example", **params},
                      headers=auth)


def _health(client: TestClient) -> dict[str, Any]:
    return dict(client.get("/health/detailed", headers=OPS).json())


def _l2(client: TestClient) -> Any:
    return svc_of(client).answers.layers()["l2"]


def test_redis_down_under_load_answers_from_l1_then_recovers(tmp_path: Path) -> None:
    with private_redis(tmp_path / "redis") as redis_server, make_client(
            tmp_path / "app", redis_url=redis_server.url, redis_timeout_seconds=0.2,
            redis_retry_seconds=1, metrics_token=METRICS_TOKEN) as client:
        make_site(client, "a.example")
        key, _ = svc_of(client).meta.create_api_key("stats", ["stats"])
        auth = {"authorization": f"Bearer {key}"}
        for n in range(5):
            assert _pageview(client, f"/p{n}") == 202
        for params in QUERIES:  # computed once, kept in both layers
            assert _breakdown(client, auth, params).status_code == 200
        assert _l2(client).keys >= len(QUERIES)
        assert _health(client)["checks"]["result_cache"] == "shared"

        statuses: list[int] = []
        stop = threading.Event()

        def load() -> None:
            n = 0
            while not stop.is_set():
                statuses.append(_breakdown(client, auth, QUERIES[n % len(QUERIES)]).status_code)
                statuses.append(_pageview(client, f"/load{n % 7}"))
                n += 1

        worker = threading.Thread(target=load)
        worker.start()
        try:
            redis_server.stop()  # SIGKILL, as a crash
            # The sessions and the live bus may notice first (health degraded already):
            # the result cache's own check is the one waited for.
            checks = wait_until(
                lambda: (c := _health(client)["checks"])["result_cache"] != "shared" and c,
                20, "the result cache to leave Redis")
            assert checks["result_cache"].startswith("node-local: Redis unreachable"), checks
            assert _health(client)["status"] == "degraded"
            metrics = client.get("/metrics", headers=OPS).text
            assert 'liveinsight_breaker_open{dependency="redis"} 1.0' in metrics
            during = len(statuses)
            wait_until(lambda: len(statuses) > during + 20, 60, "answers while Redis is down")
            RedisServer.start(redis_server)  # same port, empty (no persistence)
            wait_until(lambda: _health(client)["checks"]["result_cache"] == "shared", 30,
                       "the node to go back to Redis")
        finally:
            stop.set()
            worker.join(30)
        assert statuses and set(statuses) <= {200, 202}, sorted(set(statuses))
        # Sessions and the live feed (their own reconnect loops) are back within seconds too.
        # Each Redis user reconnects on its own schedule; a timeout names the checks left.
        last: dict[str, Any] = {}

        def healthy() -> bool:
            last.update(_health(client))
            return bool(last["status"] == "ok")

        wait_until(healthy, 120, lambda: f"health to say ok again; last: {last.get('checks')}")
        assert 'liveinsight_breaker_open{dependency="redis"} 0.0' in client.get(
            "/metrics", headers=OPS).text
        before = _l2(client).keys
        for params in QUERIES:  # kept in Redis again
            assert _breakdown(client, auth, {**params, "limit": "7"}).status_code == 200
        assert _l2(client).keys >= before + len(QUERIES)
