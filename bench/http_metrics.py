"""What counting every request costs (``liveinsight_http_requests_total`` and the latency
histogram, recorded by the front door), in process: no HTTP server, no network.

    .venv/bin/python bench/http_metrics.py [--requests 20000] [--concurrency 500] [--runs 5]

The app of ``bench/collector_cpu.py`` (same settings, site, requests) is driven with
``POST /api/event`` (the collector's hot path) and ``GET /health`` (a FastAPI route: the
front door wraps ``send`` to see the status), each with the front door's counting switched
off (``observe = None``) and on, interleaved run by run (each first in turn), and a bare
ASGI app as the floor. It prints the main thread's CPU time per request (best of
``--runs``), each variant's ratio to the floor, the overhead of counting (on / off - 1),
and the counting call alone in a tight loop (what the machine's other load disturbs least).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import timeit
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import uvloop
from collector_cpu import bare, requests

from liveinsight.app import create_app
from liveinsight.settings import Settings

App = Any
Request = tuple[str, str, list[tuple[bytes, bytes]], bytes]


async def call(app: App, request: Request, statuses: dict[int, int]) -> None:
    method, path, headers, body = request
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": method, "scheme": "http", "path": path,
             "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": list(headers), "client": ("127.0.0.1", 50000),
             "server": ("127.0.0.1", 8000)}
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()
        raise AssertionError

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses[message["status"]] = statuses.get(message["status"], 0) + 1

    await app(scope, receive, send)


async def measure(app: App, batch: list[Request], concurrency: int, ok: int) -> float:
    """CPU µs per request over ``batch``."""
    statuses: dict[int, int] = {}
    cpu = time.thread_time()
    for i in range(0, len(batch), concurrency):
        await asyncio.gather(*(call(app, r, statuses) for r in batch[i:i + concurrency]))
    cpu = time.thread_time() - cpu
    if set(statuses) != {ok}:
        raise SystemExit(f"unexpected answers: {statuses}")
    return cpu * 1e6 / len(batch)


def _observe_alone(metrics: Any) -> float:
    """µs per call of the counting itself, in a tight loop (best of 5): the part of the
    overhead that the machine's load disturbs least."""
    def once() -> None:
        metrics.observe_request("/api/event", "POST", 202, 0.0004)
    return min(timeit.repeat(once, number=200_000, repeat=5)) / 200_000 * 1e6


def events(n: int, offset: int) -> list[Request]:
    return [("POST", "/api/event", h, b) for h, b in requests(n, offset)]


def health(n: int) -> list[Request]:
    return [("GET", "/health", [(b"host", b"example.com")], b"")] * n


async def main(args: argparse.Namespace) -> None:
    root = Path(tempfile.mkdtemp(prefix="liveinsight-httpm-"))
    settings = Settings(_env_file=None, data_dir=root / "data",  # type: ignore[call-arg]
                        secret_key="bench-secret-key-with-enough-entropy-0123456789",
                        trusted_proxies=["127.0.0.1"], log_level="warning")
    app = create_app(settings)
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    await inbox.put({"type": "lifespan.startup"})

    async def to_outbox(message: MutableMapping[str, Any]) -> None:
        await outbox.put(dict(message))

    lifespan = asyncio.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"}},
                                       inbox.get, to_outbox))
    if (await outbox.get())["type"] != "lifespan.startup.complete":
        raise SystemExit("the app did not start")
    svc = app.state.services
    svc.meta.create_site("example.com")
    svc.sites.reload()
    observe = app.observe
    n, c = args.requests, args.concurrency
    await measure(app, events(2000, 10**6), c, 202)
    await measure(app, health(2000), c, 200)
    results: dict[str, list[float]] = {}
    offset = 0
    for run in range(args.runs):
        results.setdefault("floor", []).append(
            await measure(bare, events(n, 0), c, 202))
        for on in ((False, True) if run % 2 == 0 else (True, False)):  # no order favoured
            app.observe = observe if on else None
            offset += n
            results.setdefault(f"event {on}", []).append(
                await measure(app, events(n, offset), c, 202))
            results.setdefault(f"health {on}", []).append(
                await measure(app, health(n), c, 200))
    app.observe = observe
    best = {k: min(v) for k, v in results.items()}
    floor = best["floor"]
    print(f"HTTP request metrics, CPU per request in process ({n:,} requests, {c} at a time, "
          f"best of {args.runs})")
    print(f"  floor (bare ASGI app):        {floor:6.1f} µs")
    for name, label in (("event", "POST /api/event"), ("health", "GET /health")):
        off, on = best[f"{name} False"], best[f"{name} True"]
        print(f"  {label + ', not counted:':29} {off:6.1f} µs  ({off / floor:.2f}x floor)")
        print(f"  {label + ', counted:':29} {on:6.1f} µs  ({on / floor:.2f}x floor), "
              f"overhead {100 * (on / off - 1):+.1f} %")
    alone = _observe_alone(svc.metrics)
    print(f"  observe_request alone:        {alone:6.2f} µs  "
          f"({100 * alone / best['event False']:.1f} % of POST /api/event)")
    await inbox.put({"type": "lifespan.shutdown"})
    await outbox.get()
    await lifespan


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=500)
    parser.add_argument("--runs", type=int, default=5)
    uvloop.run(main(parser.parse_args()))
