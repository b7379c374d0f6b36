"""What a request's log record costs (``log_requests``), in process, on ``GET /health``.

    .venv/bin/python bench/access_log.py [--requests 10000] [--runs 5]

Two apps of ``bench/http_metrics.py``'s kind in one process (``log_level=info``,
``log_format=json`` to a file, the ``logs`` table on): one with ``log_requests=none``, one
with ``all`` (each request gets a record, rendered for the terminal and queued for the
``logs`` table; the default, ``api``, leaves out ``/health``, so ``all`` is measured).
Driven in turn, best of ``--runs``; prints CPU per request and the record's cost. The
collector's accepted events get no record by default; what they pay is the request
context (0.4 µs, a tight loop).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import tempfile
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import uvloop
from http_metrics import health, measure

from liveinsight.app import create_app
from liveinsight.settings import Settings


async def _start(root: Path, mode: str) -> tuple[Any, Any]:
    settings = Settings(_env_file=None, data_dir=root / mode,  # type: ignore[call-arg]
                        secret_key="bench-secret-key-with-enough-entropy-0123456789",
                        log_level="info", log_format="json", log_requests=mode)
    app = create_app(settings)
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    await inbox.put({"type": "lifespan.startup"})

    async def to_outbox(message: MutableMapping[str, Any]) -> None:
        await outbox.put(dict(message))

    task = asyncio.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"}},
                                   inbox.get, to_outbox))
    if (await outbox.get())["type"] != "lifespan.startup.complete":
        raise SystemExit("the app did not start")
    return app, (inbox, outbox, task)


async def main(args: argparse.Namespace) -> None:
    root = Path(tempfile.mkdtemp(prefix="liveinsight-access-"))
    # chDB: one data path per process, so both apps cannot run at once: in turn instead.
    results: dict[str, list[float]] = {"none": [], "all": []}
    sink = logging.FileHandler(root / "terminal.log")
    for run in range(args.runs):
        for mode in (("none", "all") if run % 2 == 0 else ("all", "none")):
            app, (inbox, outbox, task) = await _start(root, mode)
            stream = next(h for h in logging.getLogger().handlers
                          if h.get_name() == "liveinsight")
            stream.setStream(sink.stream)  # type: ignore[attr-defined]
            await measure(app, health(1000), 200, 200)
            results[mode].append(await measure(app, health(args.requests), 200, 200))
            await inbox.put({"type": "lifespan.shutdown"})
            await outbox.get()
            await task
    off, on = min(results["none"]), min(results["all"])
    print(f"GET /health, CPU per request in process ({args.requests:,} requests, best of "
          f"{args.runs})")
    print(f"  log_requests=none: {off:6.1f} µs")
    print(f"  log_requests=all:  {on:6.1f} µs  (+{on - off:.1f} µs, {100 * (on / off - 1):+.0f} %)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=10000)
    parser.add_argument("--runs", type=int, default=5)
    uvloop.run(main(parser.parse_args()))
