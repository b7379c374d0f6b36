"""Circuit breakers around the notification servers (SMTP; Slack, webhooks, SMS over HTTP):
a server that keeps failing opens its breaker, ``/health/dependencies`` shows it, a delivery
refused by the open breaker is recorded as failed and retried at the next ticks, and the
first trial once the server is back delivers and closes it. Real servers: aiosmtpd stopped
and started again on its port, a local HTTP receiver answering 503 then 200."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from tests.conftest import svc_of
from tests.ops.alerts.helpers import Inbox
from tests.ops.alerts.world import World, alert_world
from tests.support import free_port

TICK = 15.0  # alerts_interval_seconds' default: the breakers pause max(30 s, two ticks)


def _fire(world: World, channel: int) -> None:
    world.rule(name="bots", metric="liveinsight_events_dropped_total", op=">", threshold=0,
               severity="critical", channels=[channel])
    world.drop()


def _shown(world: World, name: str) -> dict[str, Any]:
    """The dependency as ``/health/dependencies`` shows it (its checks are reused for a
    second: ask once per test, :func:`_now` for the other moments)."""
    body = world.get("/health/dependencies").json()
    found: dict[str, Any] = next(d for d in body["dependencies"] if d["name"] == name)
    return found


def _now(world: World, name: str) -> dict[str, Any]:
    """The dependency's report from the registry the route reads, run now."""
    report = next(r for r in svc_of(world.client).dependencies.check() if r.name == name)
    assert report.breaker is not None
    return {"state": report.state, "error": report.error,
            "breaker": {"state": report.breaker.state}}


def _failures(world: World) -> list[str]:
    return [e["text"] for e in reversed(world.history("delivery_failed"))]


def test_smtp_down_opens_its_breaker_and_the_alert_goes_once_it_is_back(
        tmp_path: Path) -> None:
    inbox, port = Inbox(), free_port()
    server = Controller(inbox, hostname="127.0.0.1", port=port)
    server.start()
    server.stop()  # the SMTP server is down from the start
    with alert_world(tmp_path, smtp_port=port) as world:
        mail = world.channel(name="mail", kind="email", to=["ops@example.com"])
        _fire(world, mail)
        world.tick()
        world.tick(TICK)
        assert _now(world, "smtp")["breaker"]["state"] == "closed"
        world.tick(TICK)  # the third failure in a row opens it
        smtp = _shown(world, "smtp")
        assert smtp["breaker"]["state"] == "open" and smtp["state"] != "up"
        world.tick(TICK)  # refused at once: recorded, not lost
        failures = _failures(world)
        assert len(failures) == 4 and all("(will retry)" in f for f in failures)
        assert "circuit breaker open" not in failures[2]
        assert "circuit breaker open" in failures[3]
        assert inbox.messages == []
        server = Controller(inbox, hostname="127.0.0.1", port=port)
        server.start()  # back; the breaker's pause ends with the next tick
        try:
            world.tick(TICK)
            assert [m["Subject"] for m in inbox.messages] == [
                "[LiveInsight] FIRING critical: bots"]
            assert world.history("sent")
            assert _now(world, "smtp")["breaker"]["state"] == "closed"
            assert _now(world, "smtp")["state"] == "up"
        finally:
            server.stop()


class _Switch:
    """An HTTP receiver answering ``status`` (503 while "down"), recording each POST."""

    def __init__(self) -> None:
        self.status = 503
        self.bodies: list[tuple[str, bytes]] = []


@contextmanager
def _receiver() -> Iterator[tuple[_Switch, str]]:
    switch = _Switch()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            switch.bodies.append((self.path, body))
            self.send_response(switch.status)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield switch, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_failing_webhook_opens_the_webhook_breaker_until_it_answers_again(
        tmp_path: Path) -> None:
    with _receiver() as (switch, url), alert_world(tmp_path) as world:
        hook = world.channel(name="hook", kind="webhook", url=url + "/hook")
        _fire(world, hook)
        for advance in (0, TICK, TICK):
            world.tick(advance)
        assert len(switch.bodies) == 3  # three 503s
        webhook = _shown(world, "alerts_webhook")
        assert webhook["breaker"]["state"] == "open" and webhook["state"] == "degraded"
        assert "503" in (webhook["error"] or "")
        world.tick(TICK)
        assert len(switch.bodies) == 3  # not tried while open
        assert "circuit breaker open" in _failures(world)[-1]
        assert _now(world, "alerts_slack")["breaker"]["state"] == "closed"
        switch.status = 200
        world.tick(TICK)  # the trial: delivered, closed
        assert len(switch.bodies) == 4
        assert json.loads(switch.bodies[-1][1])["rule"]["name"] == "bots"
        assert _now(world, "alerts_webhook")["state"] == "up"
        assert world.history("sent")


def test_a_4xx_answer_is_not_the_servers_failure(tmp_path: Path) -> None:
    with _receiver() as (switch, url), alert_world(tmp_path) as world:
        switch.status = 404
        slack = world.channel(name="slack", kind="slack", url=url + "/gone")
        _fire(world, slack)
        for advance in (0, TICK, TICK, TICK):
            world.tick(advance)
        assert len(switch.bodies) == 4  # every attempt tried: the breaker stays closed
        assert _shown(world, "alerts_slack")["breaker"]["state"] == "closed"
        assert all("answered 404" in f for f in _failures(world))
