"""Each channel against a real receiver (aiosmtpd, a local HTTP server), test sends, and
what a channel or rule refuses (400 naming the field)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from tests.ops.alerts.world import World, alert_world


@pytest.fixture
def world(tmp_path: Path) -> World:
    with alert_world(tmp_path) as w:
        yield w  # type: ignore[misc]


def _fire(world: World, channels: list[int]) -> None:
    world.rule(name="bots", metric="liveinsight_events_dropped_total", op=">", threshold=0,
               severity="critical", channels=channels)
    world.drop()
    world.tick()


def test_slack_gets_the_alert_as_text(world: World) -> None:
    slack = world.channel(name="slack", kind="slack", url=world.receiver_url + "/slack")
    _fire(world, [slack])
    [got] = world.received
    assert got.path == "/slack"
    text = json.loads(got.body)["text"]
    assert text.startswith(":red_circle: *[LiveInsight] FIRING critical: bots*")


def test_webhook_payload_is_signed_and_verifiable(world: World) -> None:
    made = world.post("/admin/alerts/channel", {"name": "hook", "kind": "webhook",
                                                "url": world.receiver_url + "/hook"})
    secret = made.json()["secret"]
    assert len(secret) >= 32
    listed = world.get("/admin/alerts/channels").json()[0]
    assert listed["secret"] == "…" + secret[-4:], "never shown again"
    _fire(world, [made.json()["id"]])
    [got] = world.received
    stamp = got.headers["x-liveinsight-timestamp"]
    mac = hmac.new(secret.encode(), stamp.encode() + b"." + got.body, hashlib.sha256)
    assert hmac.compare_digest(got.headers["x-liveinsight-signature"],
                               "sha256=" + mac.hexdigest())
    payload = json.loads(got.body)
    assert (payload["event"], payload["rule"]["name"], payload["severity"]) == (
        "firing", "bots", "critical")
    assert payload["series"][0]["value"] == 1.0


def test_sms_goes_through_the_twilio_style_api(world: World) -> None:
    sms = world.channel(name="sms", kind="sms", account_sid="AC123", auth_token="tok-secret",
                        **{"from": "+15550000000"}, to=["+15551112222", "+15553334444"])
    _fire(world, [sms])
    assert [g.path for g in world.received] == [
        "/sms/2010-04-01/Accounts/AC123/Messages.json"] * 2
    form = parse_qs(world.received[0].body.decode())
    assert form["To"] == ["+15551112222"] and form["From"] == ["+15550000000"]
    assert form["Body"][0].startswith("[LiveInsight] FIRING critical: bots")
    auth = world.received[0].headers["authorization"]
    assert base64.b64decode(auth.split()[1]) == b"AC123:tok-secret"


def test_each_channel_has_a_test_send(world: World) -> None:
    mail = world.channel(name="mail", kind="email", to=["ops@example.com"])
    hook = world.channel(name="hook", kind="webhook", url=world.receiver_url + "/t")
    for cid in (mail, hook):
        assert world.post(f"/admin/alerts/channel/{cid}/test", {}).json()["sent"] is True
    assert world.inbox.messages[0]["Subject"] == "[LiveInsight] Test notification to mail"
    assert json.loads(world.received[0].body)["event"] == "test"
    assert world.post("/admin/alerts/channel/999/test", {}).status_code == 404


def test_a_failed_test_send_says_why(world: World) -> None:
    dead = world.channel(name="dead", kind="slack", url="http://127.0.0.1:9/nothing")
    answer = world.post(f"/admin/alerts/channel/{dead}/test", {})
    assert answer.status_code == 503
    assert answer.json()["error"]["code"] == "delivery_failed"


@pytest.mark.parametrize(("body", "field"), [
    ({"name": "x", "metric": "no_such_metric", "op": ">", "threshold": 1}, "metric"),
    ({"name": "x", "metric": "liveinsight_events_dropped_total", "op": ">",
      "threshold": "high"}, "threshold"),
    ({"name": "x", "metric": "liveinsight_events_dropped_total", "op": ">"}, "threshold"),
    ({"name": "x", "metric": "liveinsight_events_dropped_total", "op": "~", "threshold": 1},
     "op"),
    ({"name": "x", "metric": "liveinsight_events_dropped_total", "threshold": 1,
      "for": "5 minutes"}, "for"),
    ({"name": "x", "metric": "liveinsight_events_dropped_total", "threshold": 1,
      "window": "10s", "stat": "rate"}, "window"),
    ({"name": "x", "metric": "liveinsight_events_dropped_total", "threshold": 1,
      "stat": "p95"}, "stat"),
    ({"name": "x", "metric": "liveinsight_events_dropped_total", "threshold": 1,
      "channels": [42]}, "channels"),
    ({"name": "x", "metric": "liveinsight_events_dropped_total", "threshold": 1,
      "severity": "apocalyptic"}, "severity"),
    ({"name": "x", "metric": "liveinsight_events_dropped_total", "threshold": 1,
      "escalation": [{"after": "soon", "channels": [1]}]}, "escalation[0].after"),
    ({"name": "", "metric": "liveinsight_events_dropped_total", "threshold": 1}, "name"),
    ({"name": "x", "kind": "traffic", "mode": "spike", "site_id": "nope.example",
      "visitors": 10}, "site_id"),
    ({"name": "x", "kind": "traffic", "mode": "drop", "site_id": "nope.example"}, "site_id"),
])
def test_bad_rules_answer_400_naming_the_field(world: World, body: dict[str, object],
                                               field: str) -> None:
    answer = world.post("/admin/alerts/rule", body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["field"] == field


@pytest.mark.parametrize(("body", "field"), [
    ({"name": "x", "kind": "pigeon"}, "kind"),
    ({"name": "x", "kind": "email", "to": ["not an address"]}, "to"),
    ({"name": "x", "kind": "webhook", "url": "ftp://example.com/x"}, "url"),
    ({"name": "x", "kind": "webhook", "url": "not a url"}, "url"),
    ({"name": "x", "kind": "slack", "url": "https://user:pw@example.com/"}, "url"),
    ({"name": "x", "kind": "sms", "account_sid": "AC1", "auth_token": "t", "from": "+1555",
      "to": ["555-1234"]}, "to"),
    ({"name": "x", "kind": "email", "to": ["a@example.com"], "max_per_hour": 0},
     "max_per_hour"),
    ({"name": "x", "kind": "email", "to": ["a@example.com"],
      "quiet_hours": {"start": "25:00", "end": "07:00"}}, "quiet_hours.start"),
    ({"name": "x", "kind": "email", "to": ["a@example.com"],
      "quiet_hours": {"start": "22:00", "end": "07:00", "timezone": "Mars/Base"}},
     "quiet_hours.timezone"),
])
def test_bad_channels_answer_400_naming_the_field(world: World, body: dict[str, object],
                                                  field: str) -> None:
    answer = world.post("/admin/alerts/channel", body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["field"] == field


def test_internal_webhook_targets_are_refused_by_default(tmp_path: Path) -> None:
    with alert_world(tmp_path, alerts_allow_private_targets=False) as world:
        for url in ("http://127.0.0.1:8080/x", "http://169.254.169.254/latest/meta-data",
                    "http://10.1.2.3/hook", "http://[::1]/x", "http://localhost/x"):
            answer = world.post("/admin/alerts/channel", {"name": "x", "kind": "webhook",
                                                          "url": url})
            assert answer.status_code == 400, url
            assert answer.json()["error"]["field"] == "url"
            assert "internal address" in answer.json()["error"]["message"]


def test_threshold_sets_a_metric_rule_by_name(world: World) -> None:
    first = world.post("/admin/monitoring/threshold", {
        "metric": "liveinsight_wal_bytes", "op": ">", "threshold": 100, "for": "5m"})
    assert first.status_code == 200, first.text
    again = world.post("/admin/monitoring/threshold", {
        "metric": "liveinsight_wal_bytes", "op": ">", "threshold": 200, "for": "5m"})
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["threshold"] == 200
    assert again.json()["name"] == "value liveinsight_wal_bytes"
    assert len(world.get("/admin/alerts/rules").json()) == 1
