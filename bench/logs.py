"""The logs table: how soon a record can be found, and how long searches take on a big table.

    .venv/bin/python bench/logs.py [--rows 5000000] [--samples 20]

1. Collection delay: ``liveinsight serve`` (default settings) answers ``GET /health`` with a
   unique ``X-Request-ID``; the time from its answer until ``/admin/logs/search?request_id=``
   finds the request's record (polled every 20 ms), ``--samples`` times.
2. Search time: ``--rows`` synthetic records spread over 7 days are inserted into the data
   directory's ``logs`` table before the server starts (about 1 in 20 warnings, 1 in 100
   errors of 50 kinds, 30 routes); each search, analytics and export below is timed
   end to end over HTTP (best and worst of 3), against the floor: a search of one
   minute's range.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from ingest import BIN, _cli, _env, _free_port, _stop, _wait_http
from liveinsight.storage.embedded import EmbeddedStore
from liveinsight.storage.migrate import migrate


def _fill(data_dir: Path, rows: int) -> None:
    store = EmbeddedStore(data_dir / "chdb", "liveinsight")
    try:
        migrate(store)
        store.command(
            "INSERT INTO liveinsight.logs (timestamp, level, logger, message, request_id,"
            " route, method, status, duration_ms, node, fingerprint, exception, fields,"
            " retention_days) SELECT now64(3) - toIntervalMillisecond(intDiv(number * 604800000,"
            f" {rows})) AS ts, multiIf(number % 100 = 0, 'error', number % 20 = 0, 'warning',"
            " 'info'), if(number % 3 = 0, 'liveinsight.access', 'liveinsight.app'),"
            " if(number % 100 = 0, concat('checkout failed for order ', toString(number),"
            " ' kind ', toString(number % 50)), concat('GET /route/', toString(number % 30),"
            " ' ', toString(200 + (number % 7 = 0) * 300))), lower(hex(number)),"
            " concat('/route/', toString(number % 30)), 'GET', if(number % 7 = 0, 500, 200),"
            " (number % 1000) / 10, 'bench', lower(hex(number % 50)), '', map('kind',"
            f" toString(number % 4)), 14 FROM numbers({rows})")
    finally:
        store.close()


def _timed(client: httpx.Client, method: str, url: str, **kw: object) -> tuple[float, float]:
    out = []
    for _ in range(3):
        started = time.perf_counter()
        r = client.request(method, url, **kw)  # type: ignore[arg-type]
        if r.status_code != 200:
            raise SystemExit(f"{url}: {r.status_code} {r.text[:300]}")
        _ = r.content
        out.append((time.perf_counter() - started) * 1000)
    return min(out), max(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--samples", type=int, default=20)
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="liveinsight-logs-"))
    env = _env(data_dir, {"LIVEINSIGHT_LOG_LEVEL": "info"})
    try:
        _cli(env, "create-site", "example.com")
        key = _cli(env, "create-api-key", "ops", "--scope", "admin").strip().splitlines()[-1]
        started = time.perf_counter()
        _fill(data_dir, args.rows)
        print(f"{args.rows:,} records inserted in {time.perf_counter() - started:.1f} s")
        port = _free_port()
        proc = subprocess.Popen([str(BIN / "liveinsight"), "serve", "--port", str(port)],
                                env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        base = f"http://127.0.0.1:{port}"
        auth = {"authorization": f"Bearer {key}"}
        try:
            _wait_http(base + "/health", proc)
            with httpx.Client(timeout=60, headers=auth) as client:
                delays = []
                for _ in range(args.samples):
                    rid = uuid.uuid4().hex[:16]
                    client.get(base + "/health", headers={"x-request-id": rid})
                    answered = time.perf_counter()
                    while True:
                        found = client.get(base + "/admin/logs/search",
                                           params={"request_id": rid, "since": (
                                               datetime.now(UTC) - timedelta(minutes=5)
                                           ).isoformat()}).json()
                        if found["total"]:
                            break
                        time.sleep(0.02)
                    delays.append((time.perf_counter() - answered) * 1000)
                delays.sort()
                print(f"collection delay ({args.samples} requests): p50 "
                      f"{statistics.median(delays):.0f} ms, max {delays[-1]:.0f} ms")

                now = datetime.now(UTC)
                day, week = (now - timedelta(days=1)).isoformat(), \
                    (now - timedelta(days=7)).isoformat()
                minute = (now - timedelta(minutes=1)).isoformat()
                floor = _timed(client, "GET", base + "/admin/logs/search",
                               params={"since": minute})
                print(f"floor: search of the last minute {floor[0]:.0f}-{floor[1]:.0f} ms")
                cases = [
                    ("search 24 h, newest 100", "GET", "/admin/logs/search",
                     {"params": {"since": day}}),
                    ("search 7 d, level=error", "GET", "/admin/logs/search",
                     {"params": {"since": week, "level": "error"}}),
                    ("search 7 d, text 'order 4242'", "GET", "/admin/logs/search",
                     {"params": {"since": week, "text": "order 4242"}}),
                    ("search 7 d, field kind:3, status 500", "GET", "/admin/logs/search",
                     {"params": {"since": week, "field": "kind:3", "status": "500"}}),
                    ("search 7 d, offset 10000", "GET", "/admin/logs/search",
                     {"params": {"since": week, "offset": "10000", "limit": "500"}}),
                    ("analytics 24 h", "GET", "/admin/logs/analytics",
                     {"params": {"since": day}}),
                    ("analytics 7 d", "GET", "/admin/logs/analytics",
                     {"params": {"since": week}}),
                    ("export 7 d errors, NDJSON (50,000)", "POST", "/admin/logs/export",
                     {"json": {"since": week, "level": "error"}}),
                ]
                for name, method, path, kw in cases:
                    best, worst = _timed(client, method, base + path, **kw)
                    print(f"  {name:38} {best:7.0f}-{worst:7.0f} ms  "
                          f"({best / floor[0]:.1f}x floor)")
        finally:
            _stop(proc, "the server")
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
