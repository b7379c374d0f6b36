"""Two `liveinsight serve` processes sharing one PostgreSQL metadata database evaluate the
same alert rule: the lease lets one of them send, so the SMTP server (aiosmtpd) receives one
e-mail, within 60 s of the condition; when that node stops, the other takes over."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.ops.alerts.helpers import postgres_database, smtp_server
from tests.support import Server, wait_until

pytestmark = pytest.mark.slow


def test_two_nodes_send_one_notification_and_the_survivor_takes_over(tmp_path: Path) -> None:
    with postgres_database() as url, smtp_server() as (inbox, port):
        common = {"database_url": url, "smtp_host": "127.0.0.1", "smtp_port": str(port),
                  "smtp_security": "none", "alerts_interval_seconds": "1",
                  "alerts_lease": "database"}
        a = Server(tmp_path / "a" / "data", **common)
        b = Server(tmp_path / "b" / "data", **common)
        a.start()
        try:
            b.start()
            key = a.cli("create-api-key", "ops", "--scope", "admin").strip().splitlines()[-1]
            auth = {"authorization": f"Bearer {key}"}
            mail = httpx.post(f"{a.url}/admin/alerts/channel", headers=auth, json={
                "name": "ops", "kind": "email", "to": ["ops@example.com"]})
            assert mail.status_code == 201, mail.text
            # true on both nodes from now on: each has this counter (it starts at 0)
            rule = httpx.post(f"{b.url}/admin/alerts/rule", headers=auth, json={
                "name": "always", "metric": "liveinsight_wal_segments_ingested_total",
                "op": ">=", "threshold": 0, "channels": [mail.json()["id"]],
                "repeat": 0})
            assert rule.status_code == 201, rule.text
            wait_until(lambda: inbox.messages, 60, "the alert e-mail")
            assert inbox.messages[0]["Subject"] == "[LiveInsight] FIRING warning: always"

            time.sleep(5)  # several ticks of both nodes: still one e-mail, one firing
            assert len(inbox.messages) == 1
            history = httpx.get(f"{a.url}/admin/alerts/history", headers=auth,
                                params={"kind": "firing"}).json()["events"]
            assert len(history) == 1
            leader = next(s for s in (a, b) if s.metric(
                "liveinsight_alert_evaluator_leader") == 1)
            other = b if leader is a else a
            assert other.metric("liveinsight_alert_evaluator_leader") == 0
            leader.stop()  # releases the lease: the other node evaluates at its next tick
            wait_until(lambda: other.metric("liveinsight_alert_evaluator_leader") == 1, 60,
                       "the other node to take the lease")
            time.sleep(3)
            assert len(inbox.messages) == 1, "the alert state carried over: no new e-mail"
        finally:
            a.stop()
            b.stop()
