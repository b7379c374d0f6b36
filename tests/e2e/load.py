"""Steady ingest load for the multi-process tests (``test_durability``, ``test_faults``):
Plausible events posted over HTTP from a thread of the test process, each with a unique
marker in its path (``/p/<run>-<worker>-<seq>``), so what was acknowledged can be checked
per event against what the store holds."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
]



@dataclass
class Load:
    """Plausible events posted by ``workers`` concurrent senders from a thread of this
    process until :meth:`stop`. Each attempt has a fresh marker; a marker is *acknowledged*
    only when its answer was 2xx. ``pause``: seconds each sender waits after an answer (0:
    as fast as the server answers). ``refusal_bodies``: the first 50 non-2xx answers' bodies."""

    url: Callable[[], str]
    workers: int = 12
    run: str = "r"
    pause: float = 0.0
    acked: list[str] = field(default_factory=list)
    refused: list[tuple[str, int, str | None]] = field(default_factory=list)
    refusal_bodies: list[bytes] = field(default_factory=list)
    transport_errors: int = 0
    ack_times: list[float] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Load:
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(timeout=30)

    def acked_since(self, moment: float) -> int:
        return sum(1 for t in self.ack_times if t >= moment)

    async def _main(self) -> None:
        limits = httpx.Limits(max_connections=self.workers)
        async with httpx.AsyncClient(timeout=5, limits=limits) as client:
            await asyncio.gather(*(self._sender(client, w) for w in range(self.workers)))

    async def _sender(self, client: httpx.AsyncClient, w: int) -> None:
        seq = 0
        while not self._stop.is_set():
            seq += 1
            marker = f"/p/{self.run}-{w}-{seq}"
            headers = {"Content-Type": "text/plain", "User-Agent": AGENTS[seq % len(AGENTS)],
                       "X-Forwarded-For": f"10.{w}.{seq // 250 % 250}.{seq % 250 + 1}"}
            body = {"n": "pageview", "u": f"https://example.com{marker}", "d": "example.com"}
            try:
                resp = await client.post(self.url() + "/api/event", json=body, headers=headers)
            except httpx.TransportError:
                self.transport_errors += 1
                await asyncio.sleep(0.05)
                continue
            if 200 <= resp.status_code < 300:
                self.acked.append(marker)
                self.ack_times.append(time.monotonic())
            else:
                self.refused.append((marker, resp.status_code, resp.headers.get("retry-after")))
                if len(self.refusal_bodies) < 50:
                    self.refusal_bodies.append(resp.content)
                await asyncio.sleep(0.02)
            if self.pause:
                await asyncio.sleep(self.pause)


def assert_exactly_once(stored: dict[str, int], acked: list[str]) -> None:
    assert len(acked) == len(set(acked))
    duplicated = {m: c for m, c in stored.items() if c > 1}
    assert not duplicated, f"{len(duplicated)} markers stored more than once"
    missing = [m for m in acked if stored.get(m) != 1]
    assert not missing, f"{len(missing)} of {len(acked)} acknowledged events were lost"


