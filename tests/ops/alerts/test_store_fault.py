"""A fault end to end: the store (ClickHouse's HTTP interface, a process the test kills and
starts again) stops while events keep coming: the events wait in the write-ahead log, the
health routes say so, a critical alert on ``liveinsight_store_up`` e-mails (aiosmtpd) and
opens an incident; once the store is back the events are stored, the alert resolves and so
does the incident."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from tests.api.test_health import Emulator
from tests.conftest import make_site, svc_of
from tests.ops.alerts.world import World, alert_world
from tests.support import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def _store_up(world: World) -> str:
    text = generate_latest(svc_of(world.client).metrics.registry).decode()
    return next(line.split()[-1] for line in text.splitlines()
                if line.startswith("liveinsight_store_up "))


def _send(world: World, n: int, offset: int) -> None:
    for i in range(offset, offset + n):
        r = world.client.post("/api/event", json={
            "n": "pageview", "u": f"https://example.com/f/{i}", "d": "example.com"},
            headers={"user-agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0",
                     "x-forwarded-for": f"198.51.100.{i % 250}"})
        assert r.status_code == 202, r.text


def test_the_store_stopping_fires_an_alert_keeps_the_events_and_recovers(
        tmp_path: Path) -> None:
    emulator = Emulator(tmp_path / "ch")
    emulator.start()
    try:
        with alert_world(tmp_path / "app", clickhouse_url=emulator.url,
                         clickhouse_database=f"li_{uuid.uuid4().hex[:10]}",
                         writer_flush_ms=100, writer_retry_max_seconds=2) as world:
            make_site(world.client)
            svc = svc_of(world.client)
            mail = world.channel(name="ops", kind="email", to=["ops@example.com"])
            rule = world.rule(name="store down", metric="liveinsight_store_up", op="<",
                              threshold=1, severity="critical", channels=[mail])
            _send(world, 20, 0)
            assert wait_until(lambda: _store_up(world) == "1.0", 30, "the store up")
            assert world.tick()  # this node evaluates; nothing fires while the store is up
            assert world.get("/admin/incidents").json() == [] and not world.inbox.messages

            emulator.kill()
            _send(world, 50, 20)  # still acknowledged: they wait in the log
            assert wait_until(lambda: _store_up(world) == "0.0", 60, "the writer's failure")
            deps = {d["name"]: d for d in world.get("/health/dependencies").json()[
                "dependencies"]}
            assert deps["clickhouse"]["state"] == "down"
            assert world.client.get("/health/ready").status_code == 503
            world.tick()
            assert wait_until(lambda: world.inbox.messages, 60, "the alert e-mail")
            assert "store down" in str(world.inbox.messages[0]["Subject"])
            [incident] = world.get("/admin/incidents").json()
            assert (incident["status"], incident["severity"]) == ("open", "critical")
            assert incident["alerts"] == [{"rule_id": rule, "group": "", "state": "firing"}]
            assert svc.wal.total_bytes > 0

            emulator.start()
            assert wait_until(lambda: _store_up(world) == "1.0", 120, "the store back")
            assert svc.writer.flush(60)
            stored = svc.store.query(
                f"SELECT count() FROM `{svc.store.database}`.events").scalar()
            assert stored == 70
            world.tick(60)
            incident = world.get(f"/admin/incidents/{incident['id']}").json()
            assert incident["status"] == "resolved"
            assert wait_until(lambda: len(world.inbox.messages) >= 2, 60, "the resolve e-mail")
            assert wait_until(lambda: world.client.get("/health/ready").status_code == 200,
                              60, "readiness after the store's return")  # one CI run: 503 at once
    finally:
        emulator.kill()
