"""The alerting API where it refuses, and what a change keeps: unknown ids are 404s naming
``id``, duplicate names 400s naming ``name``, a channel a rule uses cannot go, bad bodies
are 400s naming the field; a rule's series keep their state when only its channels change
and start again when what it watches changes; the history filters and pages; an alert
firing while a hand-made incident links it joins that incident."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.ops.alerts.world import World, alert_world


@pytest.fixture
def world(tmp_path: Path) -> World:
    with alert_world(tmp_path) as w:
        yield w  # type: ignore[misc]


def _error(answer: Any) -> tuple[int, str | None]:
    return answer.status_code, answer.json()["error"].get("field")


def _bots_rule(world: World, channel: int, **extra: Any) -> int:
    return world.rule(name="bots", metric="liveinsight_events_dropped_total",
                      labels={"reason": "bot"}, op=">", threshold=0, channels=[channel],
                      **extra)


def test_unknown_ids_are_404s_naming_the_id(world: World) -> None:
    c, h = world.client, world.headers
    mail = world.channel(name="m", kind="email", to=["ops@example.com"])
    rule = {"name": "r", "metric": "liveinsight_events_dropped_total", "op": ">",
            "threshold": 0, "channels": [mail]}
    for answer in (c.get("/admin/alerts/rule/999", headers=h),
                   c.put("/admin/alerts/rule/999", json=rule, headers=h),
                   c.delete("/admin/alerts/rule/999", headers=h),
                   # 404 before 400: an unknown rule with a bad body is unknown first
                   c.put("/admin/alerts/rule/999", json={"name": ""}, headers=h),
                   c.put("/admin/alerts/channel/999", json={"name": "x", "kind": "email",
                                                            "to": ["a@example.com"]},
                         headers=h),
                   c.delete("/admin/alerts/channel/999", headers=h),
                   c.post("/admin/alerts/channel/999/test", headers=h),
                   c.get("/admin/incidents/999", headers=h),
                   c.post("/admin/incidents/999", json={"note": "x"}, headers=h),
                   world.post("/admin/alerts/ack", {"rule_id": 999})):
        assert _error(answer) == (404, "id"), answer.text
    assert world.get("/admin/alerts/rules").json() == []


def test_names_are_unique_and_a_channel_in_use_stays(world: World) -> None:
    mail = world.channel(name="ops mail", kind="email", to=["ops@example.com"])
    other = world.channel(name="boss mail", kind="email", to=["boss@example.com"])
    twin = world.post("/admin/alerts/channel", {"name": "ops mail", "kind": "email",
                                                "to": ["x@example.com"]})
    assert _error(twin) == (400, "name") and "exists" in twin.text
    renamed = world.client.put(f"/admin/alerts/channel/{other}", json={
        "name": "ops mail", "kind": "email", "to": ["boss@example.com"]},
        headers=world.headers)
    assert _error(renamed) == (400, "name")

    rule_id = _bots_rule(world, mail, escalation=[{"after": "5m", "channels": [other]}])
    again = world.post("/admin/alerts/rule", {"name": "bots", "op": ">", "threshold": 1,
                                              "metric": "liveinsight_wal_bytes"})
    assert _error(again) == (400, "name")
    for used in (mail, other):  # as a channel of the rule, and of its escalation
        refused = world.client.delete(f"/admin/alerts/channel/{used}", headers=world.headers)
        assert _error(refused) == (400, "id") and "bots" in refused.text
    assert {c["name"] for c in world.get("/admin/alerts/channels").json()} == {
        "ops mail", "boss mail"}

    assert world.client.delete(f"/admin/alerts/rule/{rule_id}",
                               headers=world.headers).status_code == 204
    assert world.client.delete(f"/admin/alerts/channel/{other}",
                               headers=world.headers).status_code == 204
    assert [c["name"] for c in world.get("/admin/alerts/channels").json()] == ["ops mail"]


def test_bad_bodies_are_400s_naming_the_field(world: World) -> None:
    mail = world.channel(name="m", kind="email", to=["ops@example.com"])
    rule_id = _bots_rule(world, mail)
    cases = [
        ("/admin/alerts/rule", {"id": "1", "name": "x"}, "id"),
        ("/admin/alerts/rule", {"id": True, "name": "x"}, "id"),
        ("/admin/alerts/ack", {"rule_id": "1"}, "rule_id"),
        ("/admin/alerts/ack", {"rule_id": rule_id, "group": 5}, "group"),
        ("/admin/incidents/create", {"title": "t", "severity": "dire"}, "severity"),
        ("/admin/incidents/create", {"title": "t", "alerts": [{"rule_id": "x"}]}, "alerts"),
        ("/admin/incidents/create", {"title": "t", "alerts": [{"rule_id": 1}] * 51},
         "alerts"),
        ("/admin/incidents/create", {"title": "t" * 201}, "title"),
        ("/admin/incidents/create", {"title": "t", "assignee": ""}, "assignee"),
    ]
    for path, body, field in cases:
        answer = world.post(path, body)
        assert _error(answer) == (400, field), (path, body, answer.text)
    for body in ([1, 2], "text"):  # JSON, but not an object
        for path in ("/admin/monitoring/threshold", "/admin/alerts/ack",
                     "/admin/incidents/create"):
            answer = world.client.post(path, json=body, headers=world.headers)
            assert answer.status_code == 400, (path, answer.text)
    listed = world.get("/admin/incidents", status="closed")
    assert _error(listed) == (400, "status")
    assert world.get("/admin/incidents").json() == []


def test_changing_channels_keeps_a_firing_alert_and_changing_the_watch_restarts_it(
        world: World) -> None:
    first = world.channel(name="first", kind="email", to=["first@example.com"])
    second = world.channel(name="second", kind="email", to=["second@example.com"])
    rule_id = _bots_rule(world, first)
    world.drop(n=2)
    world.tick()
    assert len(world.inbox.messages) == 1
    body = world.get(f"/admin/alerts/rule/{rule_id}").json()

    body["channels"] = [second]
    assert world.client.put(f"/admin/alerts/rule/{rule_id}", json=body,
                            headers=world.headers).status_code == 200
    [state] = world.get("/admin/monitoring/alerts").json()["rules"]
    assert state["state"] == "firing" and state["series"][0]["value"] == 2
    world.tick(60)
    assert len(world.inbox.messages) == 1, "still the same firing: not notified again"

    body["labels"] = {"reason": "spam"}  # another series: what it watched is forgotten
    assert world.client.put(f"/admin/alerts/rule/{rule_id}", json=body,
                            headers=world.headers).status_code == 200
    [state] = world.get("/admin/monitoring/alerts").json()["rules"]
    assert (state["state"], state["series"]) == ("ok", [])


def test_the_threshold_shortcut_names_its_rule_and_replaces_it_by_name(world: World) -> None:
    mail = world.channel(name="m", kind="email", to=["ops@example.com"])
    body = {"metric": "liveinsight_wal_bytes", "op": ">", "threshold": 100,
            "labels": {"node": "a"}, "channels": [mail]}
    made = world.post("/admin/monitoring/threshold", body).json()
    assert made["name"] == "value liveinsight_wal_bytes node=a"
    again = world.post("/admin/monitoring/threshold", {**body, "threshold": 200}).json()
    assert again["id"] == made["id"] and again["threshold"] == 200
    assert len(world.get("/admin/alerts/rules").json()) == 1


def test_the_history_filters_and_pages(world: World) -> None:
    mail = world.channel(name="m", kind="email", to=["ops@example.com"])
    rule_id = _bots_rule(world, mail, **{"for": "1m"})
    start = world.clock.now
    world.drop()
    world.tick()  # pending
    world.tick(60)  # firing, notified, sent
    everything = world.get("/admin/alerts/history", limit=500).json()
    assert everything["next_before_id"] is None
    ids = [e["id"] for e in everything["events"]]
    assert ids == sorted(ids, reverse=True) and len(ids) >= 4

    page = world.get("/admin/alerts/history", limit=2).json()
    assert [e["id"] for e in page["events"]] == ids[:2]
    assert page["next_before_id"] == ids[1]
    rest = world.get("/admin/alerts/history", limit=500,
                     before_id=page["next_before_id"]).json()
    assert [e["id"] for e in rest["events"]] == ids[2:]

    pending = world.get("/admin/alerts/history", kind="pending").json()["events"]
    assert [e["kind"] for e in pending] == ["pending"] and pending[0]["rule_id"] == rule_id
    assert world.get("/admin/alerts/history", rule_id=rule_id + 1).json()["events"] == []
    later = world.get("/admin/alerts/history", since=(start.replace(second=30)).isoformat()
                      ).json()["events"]
    assert "pending" not in {e["kind"] for e in later} and "firing" in {
        e["kind"] for e in later}
    earlier = world.get("/admin/alerts/history", until=(start.replace(second=30)).isoformat()
                        ).json()["events"]
    assert [e["kind"] for e in earlier] == ["pending"]
    assert world.get("/admin/alerts/history", limit=501).status_code == 400


def test_an_alert_firing_joins_the_open_incident_that_links_it(world: World) -> None:
    mail = world.channel(name="m", kind="email", to=["ops@example.com"])
    rule_id = _bots_rule(world, mail, severity="critical")
    made = world.post("/admin/incidents/create", {
        "title": "bots again", "alerts": [{"rule_id": rule_id, "group": ""}],
        "assignee": "oncall@example.com"}).json()
    assert made["alerts"] == [{"rule_id": rule_id, "group": "", "state": "linked"}]
    world.drop()
    world.tick()
    [incident] = world.get("/admin/incidents").json()
    assert incident["id"] == made["id"], "no second incident"
    assert incident["alerts"] == [{"rule_id": rule_id, "group": "", "state": "firing"}]
    assert [e["kind"] for e in incident["timeline"]] == ["opened", "alert_fired"]

    # acknowledging the incident acknowledges its firing alert
    changed = world.post(f"/admin/incidents/{made['id']}", {"status": "acknowledged"}).json()
    assert changed["status"] == "acknowledged"
    [series] = world.get("/admin/monitoring/alerts").json()["rules"][0]["series"]
    assert series["acknowledged_at"] is not None
    # an unchanged assignee writes nothing to the timeline; a resolve stamps the time
    resolved = world.post(f"/admin/incidents/{made['id']}", {
        "status": "resolved", "assignee": "oncall@example.com"}).json()
    assert [e["kind"] for e in resolved["timeline"]][-1] == "resolved"
    assert "assigned" not in [e["kind"] for e in resolved["timeline"]]
    assert resolved["resolved_at"] is not None
