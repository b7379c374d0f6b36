"""How long the health endpoints take, on a real server, idle and while the collector is
loaded.

    .venv/bin/python bench/health.py [--requests 300] [--load-clients 64] [--load-seconds 20]

Starts ``liveinsight serve`` (default settings, site ``example.com``, an admin API key) and,
as the floor, ``bench/bare_app.py`` on granian the same way. Each endpoint is asked
``--requests`` times in a row over one keep-alive connection (httpx), first idle, then
while ``--load-clients`` concurrent clients in another process post pageviews to
``/api/event`` as fast as they can. Prints p50, p99 and the maximum per endpoint, and the
p50's ratio to the floor's p50 (a GET answered by the bare app).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from ingest import BENCH, BIN, _cli, _env, _free_port, _stop, _wait_http

ENDPOINTS = ("/health", "/health/ready", "/health/dependencies", "/health/detailed")

LOAD = r"""
import asyncio, sys, httpx
url, clients, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
async def client(i):
    async with httpx.AsyncClient(timeout=30) as c:
        loop = asyncio.get_running_loop(); end = loop.time() + seconds; n = 0
        while loop.time() < end:
            n += 1
            await c.post(url + "/api/event", content=(
                '{"n":"pageview","u":"https://example.com/p/%d","d":"example.com"}' % (n % 50)),
                headers={"content-type": "text/plain", "user-agent": "Mozilla/5.0 Firefox/133.0",
                         "x-forwarded-for": "10.2.%d.%d" % (i, n % 250 + 1)})
async def main():
    await asyncio.gather(*(client(i) for i in range(clients)))
asyncio.run(main())
"""


def _times(client: httpx.Client, url: str, n: int, headers: dict[str, str]) -> list[float]:
    out = []
    for _ in range(n):
        started = time.perf_counter()
        r = client.get(url, headers=headers)
        out.append((time.perf_counter() - started) * 1000)
        if r.status_code >= 500 and not url.endswith("/ready"):
            raise SystemExit(f"{url}: {r.status_code} {r.text}")
    return out


def _row(name: str, ms: list[float], floor: float) -> str:
    ms = sorted(ms)
    p50 = statistics.median(ms)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    return (f"  {name:24} p50 {p50:7.2f} ms  p99 {p99:7.2f} ms  max {ms[-1]:7.2f} ms  "
            f"({p50 / floor:.1f}x floor)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--load-clients", type=int, default=64)
    parser.add_argument("--load-seconds", type=float, default=20)
    args = parser.parse_args()

    port = _free_port()
    bare = subprocess.Popen(
        [str(BIN / "granian"), "--interface", "asgi", "--host", "127.0.0.1", "--port",
         str(port), "--workers", "1", "--loop", "uvloop", "--no-access-log", "--log-level",
         "warning", "--working-dir", str(BENCH), "bare_app:app"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_http(f"http://127.0.0.1:{port}/", bare)
        with httpx.Client() as client:
            floor = statistics.median(_times(client, f"http://127.0.0.1:{port}/",
                                             args.requests, {}))
    finally:
        _stop(bare, "the floor")

    data_dir = Path(tempfile.mkdtemp(prefix="liveinsight-health-"))
    env = _env(data_dir, {})
    try:
        _cli(env, "create-site", "example.com")
        key = _cli(env, "create-api-key", "ops", "--scope", "admin").strip().splitlines()[-1]
        port = _free_port()
        proc = subprocess.Popen([str(BIN / "liveinsight"), "serve", "--port", str(port)],
                                env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        base = f"http://127.0.0.1:{port}"
        auth = {"authorization": f"Bearer {key}"}
        try:
            _wait_http(base + "/health", proc)
            print(f"health endpoints ({args.requests} requests each, one connection); floor: "
                  f"bare app GET p50 {floor:.2f} ms")
            with httpx.Client(timeout=30) as client:
                print(" idle")
                for path in ENDPOINTS:
                    print(_row(path, _times(client, base + path, args.requests, auth), floor))
                load = subprocess.Popen(
                    [sys.executable, "-c", LOAD, base, str(args.load_clients),
                     str(args.load_seconds)], env=dict(os.environ))
                time.sleep(2)
                print(f" while {args.load_clients} clients post /api/event")
                try:
                    for path in ENDPOINTS:
                        print(_row(path, _times(client, base + path, args.requests, auth),
                                   floor))
                finally:
                    load.wait(timeout=args.load_seconds + 60)
                events = client.get(base + "/admin/monitoring/metrics", headers=auth).json()
                print(f"  (events accepted meanwhile: {events['ingest']['events_accepted']})")
        finally:
            _stop(proc, "the server")
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
