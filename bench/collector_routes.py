"""How much the web framework costs the collector's hot path: ``POST /api/event`` parsed by
``parse_plausible`` and answered 202, served by granian as ``liveinsight serve`` does, as

1. the floor: ``bench/bare_app.py`` (raw ASGI, reads the body, answers 202, no parsing);
2. raw ASGI + parsing;
3. a plain Starlette ``Route`` + parsing;
4. a FastAPI ``APIRouter`` route + parsing (dependency solving, validation wrapper);
5. a plain Starlette ``Route`` (function endpoint) inside a FastAPI app + parsing;
6. a raw ASGI endpoint inside a FastAPI app + parsing.

No pipeline and no write-ahead log: this isolates routing and request handling; the whole
collector is measured by ``bench/ingest.py``. Prints each rate and its ratio to the floor.

    .venv/bin/python bench/collector_routes.py [--duration 5] [--connections 200]
"""

from __future__ import annotations

import argparse
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

from liveinsight.ingest.parse import Client, parse_plausible

BENCH = Path(__file__).resolve().parent
BODY = (b'{"n":"pageview","u":"https://example.com/p/1?utm_source=x","d":"example.com",'
        b'"r":"https://www.google.com/"}')
_OK = [(b"content-type", b"text/plain"), (b"content-length", b"2"),
       (b"access-control-allow-origin", b"*")]


def _parse(body: bytes, content_type: str, agent: str) -> None:
    parse_plausible(body, content_type, Client("127.0.0.1", agent, datetime.now(UTC)))


async def raw_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    body, more = b"", True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    headers = dict(scope["headers"])
    _parse(body, headers.get(b"content-type", b"").decode(),
           headers.get(b"user-agent", b"").decode())
    await send({"type": "http.response.start", "status": 202, "headers": _OK})
    await send({"type": "http.response.body", "body": b"ok"})


async def _handler(request: Request) -> Response:
    body = await request.body()
    _parse(body, request.headers.get("content-type", ""), request.headers.get("user-agent", ""))
    return Response(b"ok", 202, {"access-control-allow-origin": "*"}, "text/plain")


starlette_app = Starlette(routes=[Route("/api/event", _handler, methods=["POST"])])
_router = APIRouter()
_router.add_api_route("/api/event", _handler, methods=["POST"], status_code=202)
fastapi_app = FastAPI()
fastapi_app.include_router(_router)
_plain = APIRouter()
_plain.add_route("/api/event", _handler, methods=["POST"])  # a Starlette Route in FastAPI
fastapi_plain_app = FastAPI()
fastapi_plain_app.include_router(_plain)
_asgi = APIRouter()


class _RawEndpoint:  # a class instance, so Starlette treats it as an ASGI app, not a handler
    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await raw_app(scope, receive, send)


_asgi.routes.append(Route("/api/event", _RawEndpoint(), methods=["POST"]))
fastapi_asgi_app = FastAPI()
fastapi_asgi_app.include_router(_asgi)

VARIANTS = {
    "floor (bare ASGI, no parsing)": "bare_app:app",
    "raw ASGI + parse": "collector_routes:raw_app",
    "Starlette Route + parse": "collector_routes:starlette_app",
    "FastAPI route + parse": "collector_routes:fastapi_app",
    "FastAPI app, Starlette Route": "collector_routes:fastapi_plain_app",
    "FastAPI app, raw ASGI endpoint": "collector_routes:fastapi_asgi_app",
}


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(url: str) -> None:
    for _ in range(200):
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing answered at {url}")


def _run(target: str, args: argparse.Namespace, lua: Path) -> float:
    port = _port()
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "granian"), "--interface", "asgi", "--workers", "1",
         "--no-ws", "--log-level", "error", "--host", "127.0.0.1", "--port", str(port),
         "--working-dir", str(BENCH), target],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait(f"http://127.0.0.1:{port}/api/event")
        out = subprocess.run(
            ["wrk", "-t1", f"-c{args.connections}", f"-d{args.duration}s", "-s", str(lua),
             f"http://127.0.0.1:{port}/api/event"], capture_output=True, text=True, check=True)
    finally:
        server.terminate()
        server.wait(10)
    match = re.search(r"Requests/sec:\s+([\d.]+)", out.stdout)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out.stdout)
    if match is None or non2xx:
        raise SystemExit(f"{target}: wrk failed or saw errors:\n{out.stdout}")
    return float(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--connections", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    lua = Path("/tmp/collector_routes.lua")
    body = BODY.decode().replace('"', '\\"')
    lua.write_text(f'wrk.method = "POST"\nwrk.body = "{body}"\n'
                   'wrk.headers["Content-Type"] = "text/plain"\n'
                   'wrk.headers["User-Agent"] = "Mozilla/5.0 bench"\n')
    rates: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for _ in range(args.rounds):  # interleaved, so load from elsewhere hits every variant
        for name, target in VARIANTS.items():
            rates[name].append(_run(target, args, lua))
    floor = max(rates["floor (bare ASGI, no parsing)"])
    print(f"wrk -t1 -c{args.connections} -d{args.duration}s, best of {args.rounds} rounds")
    for name, values in rates.items():
        print(f"  {name:32s} {max(values):9.0f} req/s  {max(values) / floor:5.2f} x floor")


if __name__ == "__main__":
    main()
