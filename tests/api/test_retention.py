"""The retention API in a real app: the known weekly triangle, the note on daily-rotating
visitor ids, user ids, bad input; and visitors of a site with a weekly salt rotation,
coming back on another day of the week through the collector, retained."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.behaviour.data import cohorts
from tests.conftest import make_client, make_site, svc_of
from tests.query.rows import ingest

UA = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/130.0 Safari/537.36")


def _triangle(doc: dict[str, Any]) -> dict[str, list[int]]:
    return {c["cohort"]: [x["visitors"] for x in c["retention"]] for c in doc["cohorts"]}


def test_weekly_triangle_notes_and_bad_input(tmp_path: Path) -> None:
    with make_client(tmp_path) as client:
        svc = svc_of(client)
        for n in range(1, 6):
            site = make_site(client, f"s{n}.example")
        assert site.id == 5
        ingest(svc.store, tmp_path / "segments", cohorts())
        key, _ = svc.meta.create_api_key("r", ["stats"])
        auth = {"authorization": f"Bearer {key}"}
        body = {"site_id": "s5.example", "period": "week",
                "date_range": ["2026-11-02", "2026-11-22"]}
        r = client.post("/api/v2/retention", headers=auth, json=body)
        assert r.status_code == 200, r.text
        doc = r.json()
        assert _triangle(doc) == {"2026-11-02": [4, 1, 2], "2026-11-09": [2, 1],
                                  "2026-11-16": [2]}
        assert doc["cohorts"][0]["retention"][2]["percentage"] == 50.0
        assert "only same-day returns show" in doc["notes"][0]  # a daily salt
        users = client.post("/api/v2/retention", headers=auth, json={**body,
                                                                     "identity": "user"})
        assert _triangle(users.json())["2026-11-02"] == [1, 0, 1]
        assert "notes" not in users.json()
        for bad, field in (({"period": "year"}, "period"),
                           ({"period": "day", "date_range": "12mo"}, "date_range"),
                           ({"cohort": "x"}, "cohort")):
            r = client.post("/api/v2/retention", headers=auth, json={**body, **bad})
            assert r.status_code == 400 and r.json()["error"]["field"] == field, r.text


def test_a_weekly_salt_rotation_lets_retention_see_a_return(tmp_path: Path) -> None:
    now = [datetime(2026, 11, 23, 10, tzinfo=UTC)]  # a Monday
    with make_client(tmp_path, clock=lambda: now[0]) as client:
        svc = svc_of(client)
        make_site(client, "weekly.example", salt_rotation="weekly")
        make_site(client, "daily.example")
        key, _ = svc.meta.create_api_key("r", ["stats"])
        for day in (23, 25):  # Monday, then Wednesday
            now[0] = datetime(2026, 11, day, 10, tzinfo=UTC)
            for domain in ("weekly.example", "daily.example"):
                r = client.post("/api/event", json={"n": "pageview", "d": domain,
                                                    "u": f"https://{domain}/"},
                                headers={"user-agent": UA, "x-forwarded-for": "203.0.113.9"})
                assert r.status_code == 202
        assert svc.writer.flush(timeout=30)
        answers = {}
        for domain in ("weekly.example", "daily.example"):
            r = client.post("/api/v2/retention", headers={"authorization": f"Bearer {key}"},
                            json={"site_id": domain, "period": "day",
                                  "date_range": ["2026-11-23", "2026-11-25"]})
            assert r.status_code == 200, r.text
            answers[domain] = _triangle(r.json())
        assert answers["weekly.example"]["2026-11-23"] == [1, 0, 1]  # back on Wednesday
        assert answers["daily.example"] == {"2026-11-23": [1, 0, 0], "2026-11-24": [0, 0],
                                            "2026-11-25": [1]}  # a new id on Wednesday
