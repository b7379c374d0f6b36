"""Request rate limits shared by two nodes through Redis: two ``liveinsight serve``
processes (each its own data dir) on one Redis; one client address spends one bucket
whichever node it reaches."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.support import Server, redis_prefix

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


def test_an_address_bucket_is_shared_by_two_nodes(tmp_path: Path, redis_url: str) -> None:
    with redis_prefix(redis_url) as prefix:
        nodes = [Server(tmp_path / f"node{n}", tmp_path / f"node{n}.log", redis_url=redis_url,
                        redis_prefix=prefix, rate_limit_per_minute="6",
                        rate_limit_burst="4") for n in (1, 2)]
        try:
            for node in nodes:
                node.start()
            client = {"x-forwarded-for": "203.0.113.50"}  # the servers trust 127.0.0.1
            answers = [httpx.get(f"{nodes[i % 2].url}/login", headers=client, timeout=10)
                       for i in range(5)]
            assert [a.status_code for a in answers] == [200, 200, 200, 200, 429]
            assert [a.headers["ratelimit-remaining"] for a in answers] == ["3", "2", "1", "0",
                                                                          "0"]
            assert answers[4].json()["error"]["code"] == "rate_limited"
            other = httpx.get(f"{nodes[0].url}/login", headers={
                "x-forwarded-for": "198.51.100.9"}, timeout=10)
            assert other.status_code == 200
        finally:
            for node in nodes:
                node.stop()
