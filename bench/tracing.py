"""What tracing costs the collector, in process: no HTTP server, no network.

    .venv/bin/python bench/tracing.py [--ratio 0.01] [--requests 20000] [--concurrency 500]
                                      [--runs 6]

The app of ``bench/collector_cpu.py`` (same settings, site and ``POST /api/event``
requests), started with ``LIVEINSIGHT_TRACE_SAMPLE_RATIO=--ratio``, is driven with tracing
off (the front door's gate removed: ``app.trace(None)``), on at ``--ratio``, and on for
every request (a gate admitting all: what one traced request costs), interleaved run by
run (the order turned each run, so none is favoured), and a bare ASGI app as the floor. It
prints the main thread's CPU time per request (best of ``--runs``), each variant's ratio to
the floor, the measured overhead at ``--ratio`` (on / off - 1: of the best runs, and the
median of each run's pair — many short runs, ``--runs 30 --requests 2000``, let the
machine's other load fall on both sides alike), and what the machine's
other load disturbs least: the gate's decision alone in a tight loop, and the overhead it
implies, ``(gate + ratio * (every request traced - off)) / off``.

The spans of the traced requests go the whole way: rendered into rows, queued, appended to
the spans' log by its thread and moved into the ``spans`` table by its writer (threads of
their own: the main thread's CPU does not count theirs; ``bench/ingest.py`` does). They are
flushed into the table after each run, outside the measured time, so no run pays for the
shipping of another's spans.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import timeit
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import uvloop
from collector_cpu import bare, measure, requests

from liveinsight.app import create_app
from liveinsight.ops.spans import Gate, Tracing
from liveinsight.settings import Settings


class _Everyone:
    """Stands for the node's tracing with a gate that admits every request."""

    def __init__(self, tracing: Tracing) -> None:
        self._tracing = tracing

    def gate(self, app: Any, name_of: Any) -> Gate:
        return Gate(app, self._tracing.tracer, 1.0, name_of)


def _gate_alone(tracing: Tracing) -> float:
    """µs per decision of the gate (a request it leaves out), tight loop, best of 5."""
    async def app(scope: Any, receive: Any, send: Any) -> None:
        return None

    gate = tracing.gate(app, lambda scope: "POST /api/event")
    headers, _ = requests(1)[0]
    scope = {"type": "http", "method": "POST", "path": "/api/event", "headers": headers}
    return min(timeit.repeat(lambda: gate.admits(scope), number=200_000, repeat=5)
               ) / 200_000 * 1e6


async def main(args: argparse.Namespace) -> None:
    root = Path(tempfile.mkdtemp(prefix="liveinsight-tracing-"))
    os.environ["LIVEINSIGHT_TRACE_SAMPLE_RATIO"] = str(args.ratio)
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
    if svc.tracing is None:
        raise SystemExit("tracing is off (--ratio 0)")
    svc.meta.create_site("example.com")
    svc.sites.reload()
    modes: dict[str, Any] = {"off": None, "on": svc.tracing, "every": _Everyone(svc.tracing)}
    n, c = args.requests, args.concurrency
    await measure(app, requests(2000, offset=10**7), c)  # warm caches
    results: dict[str, list[float]] = {}
    offset = 0
    for run in range(args.runs):
        results.setdefault("floor", []).append((await measure(bare, requests(n), c))[0])
        order = list(modes) if run % 2 == 0 else list(reversed(modes))
        for name in order:
            app.trace(modes[name])
            offset += n
            results.setdefault(name, []).append(
                (await measure(app, requests(n, offset=offset), c))[0])
            # the spans of this run into their table before the next run starts (their
            # shipping would otherwise load the next variant's run: "every" leaves n)
            await asyncio.to_thread(svc.tracing.flush, 60)
    app.trace(svc.tracing)
    floor = min(results["floor"])
    best = {name: min(values) for name, values in results.items()}
    gate = _gate_alone(svc.tracing)
    print(f"tracing's cost on POST /api/event, in process ({n:,} requests, {c} at a time, "
          f"best of {args.runs}, ratio {args.ratio:g})")
    print(f"  floor (bare ASGI app):   {floor:6.1f} µs CPU")
    for name, label in (("off", "tracing off"), ("on", f"tracing at {args.ratio:g}"),
                        ("every", "every request traced")):
        print(f"  {label + ':':24} {best[name]:6.1f} µs CPU, {best[name] / floor:5.2f}x floor"
              f"  (runs: {', '.join(f'{v:.1f}' for v in results[name])})")
    pairs = sorted(on / off - 1 for on, off in zip(results["on"], results["off"], strict=True))
    middle = (pairs[(len(pairs) - 1) // 2] + pairs[len(pairs) // 2]) / 2
    print(f"  measured overhead:       {best['on'] / best['off'] - 1:+.1%} (best of each); "
          f"median of the {len(pairs)} runs' on/off {middle:+.1%}")
    traced = best["every"] - best["off"]
    print(f"  the gate alone:          {gate:.2f} µs per request (tight loop)")
    print(f"  one traced request:      +{traced:.1f} µs")
    print(f"  implied overhead:        {(gate + args.ratio * traced) / best['off']:+.1%} "
          f"(gate + {args.ratio:g} x traced, over off)")
    await inbox.put({"type": "lifespan.shutdown"})
    await outbox.get()
    await lifespan


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ratio", type=float, default=0.01)
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=500)
    parser.add_argument("--runs", type=int, default=6)
    uvloop.run(main(parser.parse_args()))
