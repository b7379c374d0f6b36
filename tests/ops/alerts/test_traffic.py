"""Traffic rules: the store's question (a pure builder, run by the query runner on chDB)
and the evaluator's decision on it."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from liveinsight.ops.alerts import traffic
from liveinsight.ops.alerts.rules import Rule
from tests.conftest import make_site, stored_events
from tests.ops.alerts.world import START, alert_world

UA = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/126.0.0.0 Safari/537.36")


def test_the_drop_query_asks_for_the_same_window_of_earlier_weeks() -> None:
    rule = Rule(name="d", kind="traffic", severity="warning", for_s=0, channels=(),
                site_id=7, mode="drop", percent=50, weeks=2, window_s=3600)
    sql, params = traffic.query(rule, START, "liveinsight")
    assert params["site"] == 7
    assert (params["s0"], params["e0"]) == ("2026-03-02 11:00:00.000", "2026-03-02 12:00:00.000")
    assert (params["s2"], params["e2"]) == ("2026-02-16 11:00:00.000", "2026-02-16 12:00:00.000")
    assert "{s2:DateTime64(3, 'UTC')}" in sql and "site_id = {site:UInt32}" in sql
    assert traffic.value(rule, [[0, 5], [1, 10], [2, 10]]) == 50.0
    assert traffic.value(rule, [[0, 5]]) is None, "nothing to compare with"


def test_a_spike_of_visitors_fires_a_traffic_rule(tmp_path: Path) -> None:
    with alert_world(tmp_path) as world:
        make_site(world.client, "example.com")
        mail = world.channel(name="m", kind="email", to=["ops@example.com"])
        world.rule(name="spike", kind="traffic", site_id="example.com", mode="spike",
                   visitors=2, window="1h", channels=[mail])
        for i in range(3):  # three visitors (three browsers) in the last hour
            world.clock.now = START - timedelta(minutes=10 - i)
            answer = world.client.post(
                "/api/event", content=json.dumps({"n": "pageview", "d": "example.com",
                                                  "u": "https://example.com/"}),
                headers={"user-agent": UA.replace("126.0", f"12{i}.0"),
                         "content-type": "text/plain"})
            assert answer.status_code == 202, answer.text
        assert len(stored_events(world.client)) == 3
        world.clock.now = START
        world.tick()
        [message] = world.inbox.messages
        assert message["Subject"] == "[LiveInsight] FIRING warning: spike"
        assert "site=example.com: 3" in message.get_payload(decode=True).decode()
