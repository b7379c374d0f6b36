"""The floor for ``bench/ingest.py``: an ASGI app that reads the request body and answers 202,
served by granian exactly as ``liveinsight serve`` serves LiveInsight."""

from __future__ import annotations

from typing import Any

_HEADERS = [(b"content-type", b"text/plain"), (b"content-length", b"2")]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 202, "headers": _HEADERS})
    await send({"type": "http.response.body", "body": b"ok"})
