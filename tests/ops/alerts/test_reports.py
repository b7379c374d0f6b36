"""Weekly and monthly reports: the period arithmetic, and reports e-mailed through a real
SMTP server (aiosmtpd) with the site's numbers, by hand and by the evaluator's tick once due
(a fake clock moves the schedule)."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from email.message import Message
from pathlib import Path

from liveinsight.ops.alerts.reports import last_period
from tests.conftest import make_site, stored_events
from tests.ops.alerts.world import START, World, alert_world

UA = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/126.0.0.0 Safari/537.36")


def test_the_last_complete_week_and_month() -> None:
    assert last_period("weekly", date(2026, 3, 2)) == (date(2026, 2, 23), date(2026, 3, 1))
    assert last_period("weekly", date(2026, 3, 8)) == (date(2026, 2, 23), date(2026, 3, 1))
    assert last_period("weekly", date(2026, 3, 9)) == (date(2026, 3, 2), date(2026, 3, 8))
    assert last_period("monthly", date(2026, 3, 2)) == (date(2026, 2, 1), date(2026, 2, 28))
    assert last_period("monthly", date(2024, 3, 31)) == (date(2024, 2, 1), date(2024, 2, 29))
    assert last_period("monthly", date(2026, 1, 1)) == (date(2025, 12, 1), date(2025, 12, 31))


def visit(world: World, at: datetime, visitor: int, path: str,
          referrer: str = "https://news.ycombinator.com/") -> None:
    world.clock.now = at
    response = world.client.post("/api/event", content=json.dumps(
        {"n": "pageview", "d": "example.com", "u": f"https://example.com{path}",
         "r": referrer}),
        headers={"user-agent": UA.replace("126.0", f"1{visitor:02d}.0"),
                 "content-type": "text/plain"})
    assert response.status_code == 202, response.text


def body_of(mail: Message) -> str:
    payload = mail.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()


def subject_of(mail: Message) -> str:
    """The subject, unfolded (a long header comes folded over lines)."""
    return " ".join(str(mail["Subject"]).split())


def test_reports_are_mailed_once_per_period_with_the_sites_numbers(tmp_path: Path) -> None:
    with alert_world(tmp_path) as world:
        make_site(world.client, "example.com")
        # last week (23 Feb - 1 Mar): 3 visitors, 4 pageviews; the week before: 2 visitors
        saturday = START - timedelta(days=2)
        visit(world, saturday, 1, "/")
        visit(world, saturday + timedelta(minutes=1), 1, "/pricing")
        visit(world, saturday - timedelta(hours=1), 2, "/pricing")
        visit(world, saturday - timedelta(hours=2), 3, "/blog", "https://www.google.com/")
        visit(world, saturday - timedelta(days=7), 4, "/")
        visit(world, saturday - timedelta(days=7, hours=1), 5, "/")
        assert len(stored_events(world.client)) == 6
        world.clock.now = START  # Monday 2 March, noon UTC

        bad = world.post("/admin/reports", {"site_id": "example.com", "period": "daily",
                                            "recipients": ["owner@example.com"]})
        assert bad.status_code == 400 and bad.json()["error"]["field"] == "period"
        bad = world.post("/admin/reports", {"site_id": "example.com", "period": "weekly",
                                            "recipients": ["a@b.c, evil@x.y"]})
        assert bad.status_code == 400 and bad.json()["error"]["field"] == "recipients"
        bad = world.post("/admin/reports", {"site_id": "nope.example", "period": "weekly",
                                            "recipients": ["owner@example.com"]})
        assert bad.status_code in (400, 404) and bad.json()["error"]["field"] == "site_id"

        weekly = world.post("/admin/reports", {"site_id": "example.com", "period": "weekly",
                                               "recipients": ["owner@example.com",
                                                              "team@example.com"]})
        assert weekly.status_code == 201, weekly.text
        assert weekly.json()["site_id"] == "example.com"
        monthly = world.post("/admin/reports", {"site_id": "example.com",
                                                "period": "monthly",
                                                "recipients": ["boss@example.com"]})
        assert monthly.status_code == 201, monthly.text

        world.tick()  # both are due: last week's and February's
        mails = {m["To"]: m for m in world.inbox.messages}
        assert sorted(mails) == ["boss@example.com", "owner@example.com", "team@example.com"]
        week = mails["owner@example.com"]
        assert subject_of(week) == ("[LiveInsight] Weekly report for example.com: "
                                   "2026-02-23 to 2026-03-01")
        text = body_of(week)
        assert "Unique visitors: 3 (+50%)" in text, text
        assert "Pageviews:       4 (+100%)" in text, text
        pages = text.split("Top pages:")[1].split("Top sources:")[0].split()
        assert pages[:2] == ["/pricing", "2"], text
        sources = text.split("Top sources:")[1]
        assert "Hacker News  2" in sources and "Google  1" in sources, text
        month = mails["boss@example.com"]
        assert subject_of(month) == ("[LiveInsight] Monthly report for example.com: "
                                    "2026-02-01 to 2026-02-28")
        assert "Unique visitors: 5" in body_of(month)

        world.tick(3600)
        world.tick(3 * 86400)  # Thursday: nothing new is complete
        assert len(world.inbox.messages) == 3, "once per period"
        listed = world.get("/admin/reports").json()
        assert [r["last_period"] for r in listed] == ["2026-02-23", "2026-02-01"]

        world.clock.now = START + timedelta(days=7)  # the next Monday: the quiet week
        world.tick()
        assert len(world.inbox.messages) == 5
        assert "Unique visitors: 0" in body_of(world.inbox.messages[-1])
        assert subject_of(world.inbox.messages[-1]).endswith("2026-03-02 to 2026-03-08")

        sent = world.post(f"/admin/reports/{monthly.json()['id']}/send", {})
        assert sent.status_code == 200 and sent.json()["sent"] is True
        assert len(world.inbox.messages) == 6

        gone = world.client.delete(f"/admin/reports/{weekly.json()['id']}",
                                   headers=world.headers)
        assert gone.status_code == 204
        assert [r["period"] for r in world.get("/admin/reports").json()] == ["monthly"]
        assert world.client.delete(f"/admin/reports/{weekly.json()['id']}",
                                   headers=world.headers).status_code == 404


def test_a_report_no_server_took_is_tried_again_later(tmp_path: Path) -> None:
    with alert_world(tmp_path) as world:
        make_site(world.client, "example.com")
        made = world.post("/admin/reports", {"site_id": "example.com", "period": "weekly",
                                             "recipients": ["owner@example.com"]})
        assert made.status_code == 201, made.text
        world.inbox.refuse.add("owner@example.com")
        world.tick()
        assert world.inbox.messages == []
        now = world.post(f"/admin/reports/{made.json()['id']}/send", {})
        assert now.status_code == 503 and now.json()["error"]["code"] == "delivery_failed"
        world.inbox.refuse.clear()
        world.tick(60)  # within the retry delay: not yet
        assert world.inbox.messages == []
        world.tick(15 * 60)
        assert len(world.inbox.messages) == 1
        world.tick(15 * 60)
        assert len(world.inbox.messages) == 1
