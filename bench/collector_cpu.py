"""The collector's CPU per request, in process: no HTTP server, no wrk, no network.

    .venv/bin/python bench/collector_cpu.py [--requests 20000] [--concurrency 500] [--runs 3]
    .venv/bin/python bench/collector_cpu.py --observability --runs 30 --requests 2000

The app (``create_app``, default settings but a trusted proxy, lifespan run, site
``example.com``) is called as an ASGI callable with prepared ``POST /api/event`` requests
shaped like ``bench/ingest.lua``'s (Plausible bodies, six User-Agents, 20,000 client IPs in
``X-Forwarded-For``), ``--concurrency`` at a time on uvloop, as a server hands them over. It
prints the main thread's CPU time per request (``time.thread_time``: what the machine's other
load disturbs least), the wall time, and the time the cyclic garbage collector took; the
floor is a bare ASGI app (read the body, answer 202) driven the same way in the same process.
The best of ``--runs`` runs is reported.

With ``--observability``, the same app is also run with its logging, tracing and metrics
switched off in process, interleaved with the default (on) run by run: the front door's
request counting (``observe``) and tracing gate removed, the tracer uninstalled (our
``ops/tracing.span`` calls make nothing) and the log records' sink removed — what
``LIVEINSIGHT_LOG_STORE=false``, ``LIVEINSIGHT_TRACE_SAMPLE_RATIO=0`` and no counting give.
The collector's own counters (events accepted, a 1-in-64 sample of the enrichment steps'
times) have no switch and stay in both. It prints the best of each, and the median of the
runs' on/off pairs.

This is the figure to compare two versions of the request path with (run both, interleaved,
on the same machine): ``bench/ingest.py`` adds granian, the event loop's own work and wrk,
which share the CPU and move from run to run.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import tempfile
import time
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import uvloop

from liveinsight.app import create_app
from liveinsight.ops import tracing
from liveinsight.ops.logging import add_sink, remove_sink
from liveinsight.settings import Settings

AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
]
REFERRERS = ["", "https://www.google.com/", "https://news.ycombinator.com/", "https://t.co/abc",
             "https://duckduckgo.com/"]
CAMPAIGNS = ["", "?utm_source=newsletter&utm_medium=email&utm_campaign=launch",
             "?utm_source=twitter"]

Request = tuple[list[tuple[bytes, bytes]], bytes]
App = Any


def requests(n: int, offset: int = 0) -> list[Request]:
    out = []
    for i in range(offset + 1, offset + n + 1):
        v = i % 20000
        url = f"https://example.com/p/{i % 500}{CAMPAIGNS[i % 3]}"
        if i % 10 == 0:
            body = (f'{{"n":"signup","u":"{url}","d":"example.com",'
                    f'"p":{{"plan":"pro","n":"{i % 7}"}}}}')
        else:
            body = f'{{"n":"pageview","u":"{url}","d":"example.com","r":"{REFERRERS[i % 5]}"}}'
        data = body.encode()
        headers = [(b"host", b"example.com"), (b"content-type", b"text/plain"),
                   (b"user-agent", AGENTS[v % len(AGENTS)].encode()),
                   (b"x-forwarded-for", f"10.1.{v // 250}.{v % 250 + 1}".encode()),
                   (b"content-length", str(len(data)).encode())]
        out.append((headers, data))
    return out


async def call(app: App, request: Request, statuses: dict[int, int]) -> None:
    headers, body = request
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": "/api/event",
             "raw_path": b"/api/event", "query_string": b"", "root_path": "",
             "headers": list(headers), "client": ("127.0.0.1", 50000),
             "server": ("127.0.0.1", 8000)}
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # the client stays connected
        raise AssertionError

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses[message["status"]] = statuses.get(message["status"], 0) + 1

    await app(scope, receive, send)


async def bare(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await receive()
    await send({"type": "http.response.start", "status": 202,
                "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"ok"})


class GcTimer:
    """Wall time spent in the cyclic garbage collector while installed."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started


async def measure(app: App, batch: list[Request], concurrency: int) -> tuple[float, float, float]:
    """(CPU µs, wall µs, GC µs) per request over ``batch``."""
    statuses: dict[int, int] = {}
    timer = GcTimer()
    gc.callbacks.append(timer)
    cpu, wall = time.thread_time(), time.perf_counter()
    for i in range(0, len(batch), concurrency):
        await asyncio.gather(*(call(app, r, statuses) for r in batch[i:i + concurrency]))
    cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
    gc.callbacks.remove(timer)
    if set(statuses) != {202}:
        raise SystemExit(f"unexpected answers: {statuses}")
    n = len(batch)
    return cpu * 1e6 / n, wall * 1e6 / n, timer.seconds * 1e6 / n


async def main(args: argparse.Namespace) -> None:
    root = Path(tempfile.mkdtemp(prefix="liveinsight-cpu-"))
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
    started = await outbox.get()
    if started["type"] != "lifespan.startup.complete":
        raise SystemExit(f"the app did not start: {started}")
    svc = app.state.services
    svc.meta.create_site("example.com")
    svc.sites.reload()

    await measure(app, requests(2000, offset=10**6), args.concurrency)  # warm caches
    if args.observability:
        await _observability(app, svc, args)
    else:
        await _one(app, args)
    await inbox.put({"type": "lifespan.shutdown"})
    await outbox.get()
    await lifespan


def _switch(app: Any, svc: Any, on: bool) -> None:
    """Logging, tracing and request metrics on (as the app starts) or off."""
    if on:
        app.observe = svc.metrics.observe_request
        if svc.tracing is not None:
            tracing.install(svc.tracing.tracer)
        app.trace(svc.tracing)
        if svc.logs is not None:
            add_sink(svc.logs.sink)
    else:
        app.observe = None
        app.trace(None)
        if svc.tracing is not None:
            tracing.uninstall(svc.tracing.tracer)
        if svc.logs is not None:
            remove_sink(svc.logs.sink)


async def _observability(app: Any, svc: Any, args: argparse.Namespace) -> None:
    results: dict[str, list[float]] = {"floor": [], "off": [], "on": []}
    offset = 0
    for r in range(args.runs):
        results["floor"].append((await measure(bare, requests(args.requests),
                                                args.concurrency))[0])
        for name in (("off", "on") if r % 2 == 0 else ("on", "off")):
            _switch(app, svc, name == "on")
            offset += args.requests
            results[name].append((await measure(app, requests(args.requests, offset=offset),
                                                args.concurrency))[0])
            if svc.tracing is not None:  # this run's spans shipped outside the measured time
                await asyncio.to_thread(svc.tracing.flush, 60)
    _switch(app, svc, True)
    floor = min(results["floor"])
    print(f"collector CPU per request, logging + tracing + metrics on vs off, in process "
          f"({args.requests:,} requests, {args.concurrency} at a time, {args.runs} runs, "
          f"trace ratio {svc.settings.trace_sample_ratio:g})")
    print(f"  floor (bare ASGI app):  {floor:6.1f} µs CPU")
    for name in ("off", "on"):
        best = min(results[name])
        print(f"  {name + ':':23} {best:6.1f} µs CPU, {best / floor:5.2f}x floor  (runs: "
              f"{', '.join(f'{v:.1f}' for v in results[name])})")
    pairs = sorted(on / off - 1 for on, off in zip(results["on"], results["off"], strict=True))
    middle = (pairs[(len(pairs) - 1) // 2] + pairs[len(pairs) // 2]) / 2
    print(f"  overhead: {min(results['on']) / min(results['off']) - 1:+.1%} (best of each); "
          f"median of the {len(pairs)} runs' on/off {middle:+.1%}")


async def _one(app: Any, args: argparse.Namespace) -> None:
    floors, runs = [], []
    for r in range(args.runs):  # interleaved, so both see the same machine
        floors.append(await measure(bare, requests(args.requests), args.concurrency))
        runs.append(await measure(app, requests(args.requests, offset=r * args.requests),
                                  args.concurrency))
    floor, best = min(floors), min(runs)
    print(f"collector CPU per request, in process ({args.requests:,} requests, "
          f"{args.concurrency} at a time, best of {args.runs})")
    print(f"  floor (bare ASGI app):  {floor[0]:6.1f} µs CPU, {floor[1]:6.1f} µs wall")
    print(f"  POST /api/event:        {best[0]:6.1f} µs CPU, {best[1]:6.1f} µs wall, "
          f"of which garbage collector {best[2]:.1f} µs")
    print(f"  ratio to the floor:     {best[0] / floor[0]:.2f}x CPU")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--observability", action="store_true",
                        help="logging + tracing + metrics on vs off, interleaved")
    uvloop.run(main(parser.parse_args()))
