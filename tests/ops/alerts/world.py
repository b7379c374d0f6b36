"""A started app with alerting driven by hand: a fake clock, ticks run on the app's own event
loop, an admin API key, an SMTP inbox and an HTTP receiver."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import make_client, svc_of
from tests.ops.alerts.helpers import Inbox, Received, http_receiver, smtp_server

START = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # a Monday, noon UTC


class Clock:
    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class World:
    client: TestClient
    clock: Clock
    inbox: Inbox
    received: list[Received]
    receiver_url: str
    headers: dict[str, str]

    def tick(self, advance_s: float = 0) -> bool:
        """Move the clock on, then run one evaluation on the app's loop."""
        self.clock.now += timedelta(seconds=advance_s)
        portal = self.client.portal
        assert portal is not None
        return bool(portal.call(svc_of(self.client).evaluator.tick))

    def post(self, path: str, body: Any) -> Any:
        return self.client.post(path, json=body, headers=self.headers)

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(path, params=params, headers=self.headers)

    def channel(self, **body: Any) -> int:
        response = self.post("/admin/alerts/channel", body)
        assert response.status_code == 201, response.text
        return int(response.json()["id"])

    def rule(self, **body: Any) -> int:
        response = self.post("/admin/alerts/rule", body)
        assert response.status_code == 201, response.text
        return int(response.json()["id"])

    def drop(self, reason: str = "bot", n: int = 1) -> None:
        """Move the ``liveinsight_events_dropped_total{reason}`` counter on."""
        svc_of(self.client).metrics.events_dropped.labels(reason).inc(n)

    def history(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.get("/admin/alerts/history", limit=500).json()["events"]
                if e["kind"] == kind]


@contextmanager
def alert_world(tmp_path: Path, **settings: Any) -> Iterator[World]:
    clock = Clock()
    with ExitStack() as stack:
        inbox, port = stack.enter_context(smtp_server())
        received, url = stack.enter_context(http_receiver())
        base: dict[str, Any] = {"smtp_host": "127.0.0.1", "smtp_port": port,
                                "smtp_security": "none", "alerts_enabled": False,
                                "alerts_allow_private_targets": True,
                                "alerts_sms_base_url": url + "/sms"}
        client = stack.enter_context(make_client(tmp_path, clock=clock,
                                                 **{**base, **settings}))
        key, _ = svc_of(client).meta.create_api_key("alerts", ["admin"])
        yield World(client, clock, inbox, received, url, {"authorization": f"Bearer {key}"})
