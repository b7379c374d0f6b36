"""Alerting end to end in one app: rules over the metric registry, the e-mail channel on a
real SMTP server (aiosmtpd), the lease, escalation, fatigue control, incidents. The clock is
fake and each evaluation is run by the test."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from liveinsight.ops.alerts.evaluator import HISTORY_KEEP, history_needed
from liveinsight.ops.alerts.rules import Rule
from tests.conftest import svc_of
from tests.ops.alerts.world import World, alert_world


@pytest.fixture
def world(tmp_path: Path) -> World:
    with alert_world(tmp_path) as w:
        yield w  # type: ignore[misc]


def _mail_rule(world: World, **extra: object) -> tuple[int, int]:
    mail = world.channel(name="ops mail", kind="email", to=["ops@example.com"])
    body = {"name": "bots dropped", "metric": "liveinsight_events_dropped_total",
            "labels": {"reason": "bot"}, "op": ">=", "threshold": 3, "for": "1m",
            "severity": "warning", "channels": [mail], **extra}
    return mail, world.rule(**body)


def test_an_alert_email_arrives_once_the_condition_held_for_its_duration(world: World
                                                                         ) -> None:
    _, rule_id = _mail_rule(world)
    world.drop(n=3)
    assert world.tick()
    state = world.get("/admin/monitoring/alerts").json()["rules"][0]
    assert (state["id"], state["state"]) == (rule_id, "pending")
    assert world.inbox.messages == []
    world.tick(30)
    assert world.inbox.messages == [], "'for' has not passed yet"
    world.tick(30)
    [mail] = world.inbox.messages
    assert mail["Subject"] == "[LiveInsight] FIRING warning: bots dropped"
    assert mail["X-Envelope-To"] == "ops@example.com"
    text = mail.get_payload(decode=True).decode()
    assert "liveinsight_events_dropped_total{reason=bot} >= 3" in text
    assert "(all): 3" in text
    assert world.get("/admin/monitoring/alerts").json()["rules"][0]["state"] == "firing"
    world.tick(15)
    assert len(world.inbox.messages) == 1, "one notification per firing"
    kinds = [e["kind"] for e in world.get("/admin/alerts/history").json()["events"]]
    assert {"pending", "firing", "notify_firing", "sent"} <= set(kinds)


def test_resolve_notification_and_dedup_within_the_cooldown(world: World) -> None:
    _mail_rule(world, **{"for": 0, "cooldown": "10m"})
    world.drop(n=3)
    world.tick()
    assert len(world.inbox.messages) == 1
    # a counter cannot go down: a higher threshold makes it resolve
    rule_id = world.get("/admin/alerts/rules").json()[0]["id"]
    body = {**world.get(f"/admin/alerts/rule/{rule_id}").json()}
    body["threshold"] = 100
    assert world.client.put(f"/admin/alerts/rule/{rule_id}", json=body,
                            headers=world.headers).status_code == 200
    world.tick(60)
    assert [m["Subject"] for m in world.inbox.messages][-1].startswith(
        "[LiveInsight] RESOLVED")
    world.drop(n=100)
    world.tick(60)  # fires again 2 minutes after the first notification: within cooldown
    assert len(world.inbox.messages) == 2
    assert world.history("suppressed")[0]["detail"]["reason"] == "cooldown"


def test_series_of_one_group_make_one_notification(world: World) -> None:
    mail = world.channel(name="m", kind="email", to=["ops@example.com"])
    world.rule(name="drops", metric="liveinsight_events_dropped_total", by=["reason"],
               op=">", threshold=0, channels=[mail])
    world.drop("bot", 1)
    world.drop("spam", 1)
    world.drop("blocked_ip", 1)
    world.tick()
    [mail_msg] = world.inbox.messages
    text = mail_msg.get_payload(decode=True).decode()
    for reason in ("bot", "spam", "blocked_ip"):
        assert f"reason={reason}: 1" in text
    series = world.get("/admin/monitoring/alerts").json()["rules"][0]["series"]
    assert sorted(s["labels"]["reason"] for s in series if s["state"] == "firing") == [
        "blocked_ip", "bot", "spam"]


def test_escalation_after_its_delay_until_acknowledged(world: World) -> None:
    first = world.channel(name="first", kind="email", to=["first@example.com"])
    second = world.channel(name="second", kind="email", to=["boss@example.com"])
    rule_id = world.rule(name="bots", metric="liveinsight_events_dropped_total", op=">",
                         threshold=0, channels=[first],
                         escalation=[{"after": "5m", "channels": [second]}],
                         repeat="30m")
    world.drop()
    world.tick()
    assert [m["X-Envelope-To"] for m in world.inbox.messages] == ["first@example.com"]
    world.tick(4 * 60)
    assert len(world.inbox.messages) == 1
    world.tick(60)
    assert [m["X-Envelope-To"] for m in world.inbox.messages] == [
        "first@example.com", "boss@example.com"]
    assert world.inbox.messages[1]["Subject"].startswith("[LiveInsight] ESCALATED")
    assert world.post("/admin/alerts/ack", {"rule_id": rule_id}).json() == {"acknowledged": 1}
    world.tick(3600)  # past the repeat interval: acknowledged, nothing more
    assert len(world.inbox.messages) == 2
    assert world.history("acknowledged")


def test_quiet_hours_hold_notifications_until_they_end(world: World) -> None:
    quiet = world.channel(name="quiet", kind="email", to=["ops@example.com"],
                          quiet_hours={"start": "11:00", "end": "13:00", "timezone": "UTC"})
    world.rule(name="bots", metric="liveinsight_events_dropped_total", op=">", threshold=0,
               channels=[quiet])
    world.drop()
    world.tick()  # 12:00 UTC
    assert world.inbox.messages == []
    assert world.history("held")
    world.tick(50 * 60)
    assert world.inbox.messages == []
    world.tick(10 * 60)  # 13:00
    assert len(world.inbox.messages) == 1


def test_the_rate_cap_drops_what_passes_it(world: World) -> None:
    capped = world.channel(name="capped", kind="email", to=["ops@example.com"],
                           max_per_hour=1)
    world.rule(name="a", metric="liveinsight_events_dropped_total", op=">", threshold=0,
               channels=[capped])
    world.rule(name="b", metric="liveinsight_events_accepted_total", op=">=", threshold=0,
               channels=[capped])
    world.drop()
    world.tick()
    assert len(world.inbox.messages) == 1
    assert world.history("rate_limited")


def test_flapping_alerts_are_not_notified(world: World) -> None:
    mail = world.channel(name="m", kind="email", to=["ops@example.com"])
    rule_id = world.rule(name="flappy", metric="liveinsight_events_dropped_total", op=">",
                         threshold=0, channels=[mail], cooldown=0, notify_resolved=False,
                         flap={"changes": 3, "window": "30m"})
    body = world.get(f"/admin/alerts/rule/{rule_id}").json()
    world.drop()
    for threshold in (100, 0, 100, 0):
        world.tick(60)
        body["threshold"] = threshold
        world.client.put(f"/admin/alerts/rule/{rule_id}", json=body, headers=world.headers)
    world.tick(60)
    assert len(world.inbox.messages) == 1, "only the first firing, before it flapped"
    assert world.history("suppressed")[0]["detail"]["reason"] == "flapping"


def test_a_critical_alert_opens_an_incident_that_resolves_with_it(world: World) -> None:
    mail = world.channel(name="m", kind="email", to=["ops@example.com"])
    rule_id = world.rule(name="store down", metric="liveinsight_events_dropped_total", op=">",
                         threshold=0, severity="critical", channels=[mail])
    world.drop()
    world.tick()
    [incident] = world.get("/admin/incidents").json()
    assert (incident["status"], incident["source"], incident["severity"]) == (
        "open", "alert", "critical")
    assert incident["alerts"] == [{"rule_id": rule_id, "group": "", "state": "firing"}]
    body = world.get(f"/admin/alerts/rule/{rule_id}").json()
    body["threshold"] = 10
    world.client.put(f"/admin/alerts/rule/{rule_id}", json=body, headers=world.headers)
    world.tick(60)
    incident = world.get(f"/admin/incidents/{incident['id']}").json()
    assert incident["status"] == "resolved"
    assert [e["kind"] for e in incident["timeline"]] == ["opened", "alert_resolved",
                                                         "resolved"]


def test_incidents_by_hand(world: World) -> None:
    made = world.post("/admin/incidents/create", {"title": "Slow dashboard",
                                                  "severity": "warning", "note": "support"})
    assert made.status_code == 201
    incident = made.json()
    assert (incident["status"], incident["source"]) == ("open", "manual")
    changed = world.post(f"/admin/incidents/{incident['id']}",
                         {"status": "acknowledged", "assignee": "oncall@example.com",
                          "note": "looking"}).json()
    assert (changed["status"], changed["assignee"]) == ("acknowledged", "oncall@example.com")
    assert [e["kind"] for e in changed["timeline"]] == ["opened", "assigned", "acknowledged",
                                                        "note"]
    assert world.get("/admin/incidents", status="acknowledged").json()[0]["id"] == incident["id"]
    bad = world.post(f"/admin/incidents/{incident['id']}", {"status": "closed"})
    assert (bad.status_code, bad.json()["error"]["field"]) == (400, "status")
    assert world.post("/admin/incidents/create", {}).json()["error"]["field"] == "title"


def test_a_security_rule_emails_an_admin_on_failed_sign_ins(world: World) -> None:
    """Security events of the audit log (here failed sign-ins) counted over the rule's
    window; the e-mail names the condition; events older than the window stop counting."""
    from tests.conftest import login

    svc = svc_of(world.client)
    svc.meta.create_user("ann@example.com", "tide orbit lantern", role="admin")
    mail = world.channel(name="security mail", kind="email", to=["sec@example.com"])
    world.rule(name="sign-in failures", kind="security", events=3, action="login.",
               window="5m", severity="critical", channels=[mail])
    for _ in range(2):
        assert login(world.client, "ann@example.com", "not the password").status_code == 401
    svc.audit.flush()
    world.tick()
    assert world.inbox.messages == []
    assert login(world.client, "ann@example.com", "not the password").status_code == 401
    svc.audit.flush()
    world.tick(10)
    [message] = world.inbox.messages
    assert message["Subject"] == "[LiveInsight] FIRING critical: sign-in failures"
    assert "3 or more security events (login....) in 5m" in message.get_payload(
        decode=True).decode()
    world.tick(6 * 60)  # the failures left the window
    assert world.inbox.messages[-1]["Subject"].startswith("[LiveInsight] RESOLVED")


def test_a_security_rule_is_checked_when_saved(world: World) -> None:
    bad = world.post("/admin/alerts/rule", {"name": "x", "kind": "security", "events": 0})
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "events"
    saved = world.post("/admin/alerts/rule", {"name": "denials", "kind": "security",
                                              "events": 5, "window": "10m"})
    assert saved.status_code == 201
    rule = world.get(f"/admin/alerts/rule/{saved.json()['id']}").json()
    assert (rule["kind"], rule["events"], rule["action"], rule["window"]) == (
        "security", 5, "", "10m")
    assert "metric" not in rule and "site_id" not in rule


def test_a_nan_duration_is_a_400_naming_the_field(world: World) -> None:
    """Python's JSON reads NaN; int(NaN) raised ValueError, a 500 (property tests found it)."""
    bad = world.client.post("/admin/alerts/rule", content=b'{"name": "x", "for": NaN}',
                            headers={**world.headers, "content-type": "application/json"})
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "for", bad.text


def test_the_rule_form_saves_a_security_rule(world: World) -> None:
    from tests.conftest import csrf_of, login

    svc_of(world.client).meta.create_user("ann@example.com", "tide orbit lantern",
                                          role="admin")
    assert login(world.client, "ann@example.com", "tide orbit lantern").status_code == 303
    form = world.client.get("/alerting/rules/new")
    assert 'value="security"' in form.text
    saved = world.client.post("/alerting/rules", data={
        "csrf": csrf_of(form.text), "name": "new networks", "kind": "security",
        "severity": "warning", "events": "1", "action": "apikey.", "window": "15m",
        "for": "0s", "enabled": "on"}, follow_redirects=False)
    assert saved.status_code == 303, saved.text
    [rule] = world.get("/admin/alerts/rules").json()
    assert (rule["kind"], rule["events"], rule["action"], rule["window"]) == (
        "security", 1, "apikey.", "15m")


def _lookups(world: World, hits: int, misses: int) -> None:
    """``hits`` and ``misses`` of the real answer cache (a key already held is a hit, a new
    key a miss)."""
    cache = svc_of(world.client).answers.cache
    for _ in range(hits):
        cache.get_or_compute("hit-ratio-test", lambda: b"answer", ttl=3600, timeout=5)
    for _ in range(misses):
        cache.get_or_compute(f"hit-ratio-test-{uuid.uuid4().hex}", lambda: b"answer",
                             ttl=3600, timeout=5)


def test_a_cache_hit_ratio_that_drops_5_points_fires_and_one_that_stays_does_not(
        world: World) -> None:
    mail = world.channel(name="m", kind="email", to=["ops@example.com"])
    _lookups(world, 1, 0)  # the key held from now on (its first lookup is a miss)
    rule_id = world.rule(
        name="cache hit ratio dropped", metric="liveinsight_cache_lookups_total",
        labels={"outcome": "hit"}, ratio_of={}, by=["layer"], stat="increase",
        compare="previous_window", window="1m", op="<=", threshold=-0.05,
        channels=[mail])
    rule = world.get(f"/admin/alerts/rule/{rule_id}").json()
    assert rule["compare"] == "previous_window"
    assert rule["condition"] == ("(increase(liveinsight_cache_lookups_total{outcome=hit}[1m])"
                                 " / all) minus the same 1m earlier <= -0.05")
    world.tick()
    _lookups(world, 90, 10)  # window 1: 90 %
    world.tick(60)
    _lookups(world, 88, 12)  # window 2: 88 %, 2 points down: stays
    world.tick(60)
    [series] = world.get("/admin/monitoring/alerts").json()["rules"][0]["series"]
    assert series["labels"] == {"layer": "l1"} and series["state"] == "ok"
    assert series["value"] == pytest.approx(-0.02)
    assert world.inbox.messages == []
    _lookups(world, 80, 20)  # window 3: 80 %, 8 points down
    world.tick(60)
    [series] = world.get("/admin/monitoring/alerts").json()["rules"][0]["series"]
    assert series["state"] == "firing" and series["value"] == pytest.approx(-0.08)
    [message] = world.inbox.messages
    assert message["Subject"] == "[LiveInsight] FIRING warning: cache hit ratio dropped"
    _lookups(world, 81, 19)  # window 4: 81 %, up again: resolves
    world.tick(60)
    assert world.inbox.messages[-1]["Subject"].startswith("[LiveInsight] RESOLVED")


def test_the_evaluator_keeps_only_the_history_its_rules_read(world: World) -> None:
    """A snapshot of the rules' metrics is kept per evaluation; a fixed day of them grew the
    soak's server all along. Kept: the longest window (twice it when compared) plus 5 min."""
    evaluator = svc_of(world.client).evaluator
    world.rule(name="hit ratio", metric="liveinsight_cache_lookups_total",
               labels={"outcome": "hit"}, ratio_of={}, stat="increase",
               compare="previous_window", window="1m", op="<=", threshold=-0.05)
    for _ in range(60):  # an hour, a minute apart
        _lookups(world, 9, 1)
        world.tick(60)
    kept = evaluator.history.items
    assert len(kept) == 8, [s.at for s in kept]  # 2 windows of 1 min + 5 min, both ends
    assert kept[-1].at - kept[0].at == timedelta(minutes=7)
    [series] = world.get("/admin/monitoring/alerts").json()["rules"][0]["series"]
    assert series["value"] == pytest.approx(0.0)  # the same ratio as the minute before
    world.rule(name="slow", metric="liveinsight_cache_lookups_total", stat="rate",
               window="30m", op=">=", threshold=1e9)
    for _ in range(40):
        world.tick(60)
    assert evaluator.history.items[-1].at - evaluator.history.items[0].at == timedelta(
        minutes=35)


def test_history_needed_by_rules() -> None:
    def rule(window_s: int, kind: str = "metric", compare: str = "") -> Rule:
        return Rule(name="r", kind=kind, severity="warning", for_s=0, channels=(),
                    metric="liveinsight_events_dropped_total", window_s=window_s,
                    compare=compare)

    assert history_needed([], 15) == timedelta(minutes=5)
    assert history_needed([rule(600)], 15) == timedelta(minutes=15)
    assert history_needed([rule(600, compare="previous_window"), rule(60)],
                          15) == timedelta(minutes=25)
    assert history_needed([rule(600)], 300) == timedelta(minutes=20)  # two evaluations
    assert history_needed([rule(86400, kind="traffic")], 15) == timedelta(minutes=5)
    assert history_needed([rule(86400)], 15) == HISTORY_KEEP


def test_compare_is_checked_when_saved(world: World) -> None:
    base = {"name": "x", "metric": "liveinsight_cache_lookups_total", "stat": "increase",
            "op": "<", "threshold": 0}
    for extra, field in (({"compare": "yesterday"}, "compare"),
                         ({"compare": "previous_window", "stat": "change"}, "compare"),
                         ({"compare": "previous_window", "window": "13h"}, "window")):
        bad = world.post("/admin/alerts/rule", {**base, **extra})
        assert bad.status_code == 400 and bad.json()["error"]["field"] == field, bad.text
    assert world.post("/admin/alerts/rule", {**base, "compare": "previous_window",
                                             "window": "12h"}).status_code == 201
