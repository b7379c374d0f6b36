"""LiveInsight as an AWS Lambda function (API Gateway HTTP API, a Function URL or an ALB in
front), through Mangum: ``liveinsight.serverless.handler``.

A function instance has no lasting disk, so the settings must ask for the collector's
direct mode (``LIVEINSIGHT_INGEST_MODE=direct``: every event is answered only once
ClickHouse has confirmed it, see ``ingest/direct.py``), a ClickHouse server
(``LIVEINSIGHT_CLICKHOUSE_URL``), PostgreSQL for the metadata and Redis for the live
sessions every instance shares; ``LIVEINSIGHT_DATA_DIR`` under ``/tmp`` holds only what an
instance may lose (its node id, derived caches). docs/deployment.md, "Serverless".

The app starts once per instance, at its first invocation: its lifespan (services opened,
migrations checked, timers started) runs on one event loop kept for the instance's life,
and every invocation runs on that loop, so the timers advance while invocations run (Lambda
freezes the instance between them). Mangum's own lifespan handling is off: it would open and
close every service around each request.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from mangum import Mangum
from starlette.types import ASGIApp, Message

from liveinsight.app import create_app
from liveinsight.settings import ConfigError, Settings, load_settings


class Instance:
    """The app of one function instance: started once, then called per invocation."""

    def __init__(self, app: ASGIApp) -> None:
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)  # Mangum runs each request on the current loop
        self._messages: asyncio.Queue[Message] = asyncio.Queue()
        self._started: asyncio.Future[None] = self.loop.create_future()
        self._lifespan: asyncio.Future[None] = asyncio.ensure_future(
            app({"type": "lifespan", "asgi": {"version": "3.0"}}, self._messages.get,
                self._send), loop=self.loop)
        self._messages.put_nowait({"type": "lifespan.startup"})
        self.loop.run_until_complete(self._started)
        self.mangum = Mangum(app, lifespan="off")  # type: ignore[arg-type]  # (Starlette's
        # ASGIApp and Mangum's ASGI protocol describe the same callable)

    async def _send(self, message: Message) -> None:
        if message["type"] == "lifespan.startup.complete":
            self._started.set_result(None)
        elif message["type"] == "lifespan.startup.failed":
            self._started.set_exception(RuntimeError(message.get("message", "startup failed")))

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        asyncio.set_event_loop(self.loop)
        return self.mangum(event, context)

    def close(self) -> None:
        """Run the app's shutdown (Lambda never does; tests and local runs do)."""
        self._messages.put_nowait({"type": "lifespan.shutdown"})
        self.loop.run_until_complete(self._lifespan)
        self.loop.close()


def make_instance(settings: Settings) -> Instance:
    """The app built from ``settings``, started (refused unless they ask for direct ingest:
    a function's ``/tmp`` cannot keep a write-ahead log's promise)."""
    if settings.ingest_mode != "direct":
        raise ConfigError("on a serverless platform set LIVEINSIGHT_INGEST_MODE=direct: an "
                          "instance's disk does not outlive it, so the write-ahead log "
                          "cannot keep what it acknowledged")
    return Instance(create_app(settings))


@functools.cache
def _instance() -> Instance:
    return make_instance(load_settings())


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The function's entry point (``liveinsight.serverless.handler``)."""
    return _instance()(event, context)
