"""The behaviour page (/sites/{id}/behaviour): a viewer builds a funnel, reads journeys and
retention; the numbers are the API's; CSV export; a bad funnel shown with its reason."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from tests.behaviour.data import cohorts, events, journeys
from tests.conftest import fixed_clock, grant, login, make_client, make_site, svc_of
from tests.query.rows import ingest

PASSWORD = "a long enough password"


def test_a_viewer_builds_a_funnel_and_reads_journeys_and_retention(tmp_path: Path) -> None:
    with make_client(tmp_path, clock=fixed_clock(datetime(2026, 11, 12, 18, tzinfo=UTC))
                     ) as client:
        svc = svc_of(client)
        site = make_site(client, "example.com")
        for n in range(2, 5):
            make_site(client, f"s{n}.example")
        ingest(svc.store, tmp_path / "segments", events() + journeys())
        svc.meta.create_user("vi@example.com", PASSWORD)
        grant(client, site, "vi@example.com", "viewer")
        login(client, "vi@example.com", PASSWORD)
        steps = "page /\npage /pricing\nevent Signup"
        html = client.get(f"/sites/{site.id}/behaviour", params={
            "tab": "funnel", "steps": steps, "window": "1d", "period": "7d"})
        assert html.status_code == 200, html.text
        counts = [int(c) for c in re.findall(r"<td data-count>(\d+)</td>", html.text)]
        key, _ = svc.meta.create_api_key("s", ["stats"])
        api = client.post("/api/v2/funnels", headers={"authorization": f"Bearer {key}"},
                          json={"site_id": "example.com", "date_range": "7d", "funnel": {
                              "steps": [{"type": "page", "path": "/"},
                                        {"type": "page", "path": "/pricing"},
                                        {"type": "event", "name": "Signup"}]}}).json()
        assert counts == [s["count"] for s in api["steps"]] == [7, 5, 2]  # V8 in 7 days
        csv = client.get(f"/sites/{site.id}/behaviour", params={
            "tab": "funnel", "steps": steps, "period": "7d", "format": "csv"})
        assert csv.headers["content-type"].startswith("text/csv")
        assert csv.text.splitlines()[1].startswith("1,Visit /,7,")
        bad = client.get(f"/sites/{site.id}/behaviour", params={"tab": "funnel",
                                                                "steps": "click /x"})
        assert bad.status_code == 400 and "a funnel has 2 to 8 steps" in bad.text
        retention = client.get(f"/sites/{site.id}/behaviour", params={
            "tab": "retention", "cohort": "day", "period": "7d"})
        assert retention.status_code == 200 and "data-retention" in retention.text
        assert "only same-day returns show" in retention.text
        other = client.get("/sites/4/behaviour", params={"tab": "journey", "kind": "sankey"})
        assert other.status_code == 404  # no role on site 4
        client.cookies.clear()
        admin = svc.meta.create_user("ad@example.com", PASSWORD, role="admin")
        assert admin is not None
        login(client, "ad@example.com", PASSWORD)
        sankey = client.get("/sites/4/behaviour", params={
            "tab": "journey", "kind": "sankey", "steps": "3", "k": "1", "period": "7d"})
        assert sankey.status_code == 200 and "data-sankey" in sankey.text
        assert "/ → /pricing: 2" in sankey.text.replace("&gt;", ">")


def test_the_kpi_board_page_for_instance_admins(tmp_path: Path) -> None:
    with make_client(tmp_path, clock=fixed_clock(datetime(2026, 11, 12, 18, tzinfo=UTC))
                     ) as client:
        svc = svc_of(client)
        site = make_site(client, "example.com")
        make_site(client, "other.example")
        ingest(svc.store, tmp_path / "segments", events())
        svc.kpi_targets.set(site.id, "visitors", 10)
        svc.meta.create_user("ad@example.com", PASSWORD, role="admin")
        login(client, "ad@example.com", PASSWORD)
        html = client.get("/analytics/kpi", params={"period": "7d"})
        assert html.status_code == 200, html.text
        block = html.text.split('data-kpi-site="example.com"')[1].split("</section>")[0]
        assert re.search(r'data-kpi="visitors"><td>visitors</td><td data-value>8</td>', block)
        assert "<strong data-status>behind</strong>" in block and "<polyline" in block
        assert 'data-kpi-site="All sites"' in html.text
        csv = client.get("/analytics/kpi", params={"period": "7d", "format": "csv"})
        assert "example.com,visitors,8,0,,10.0,behind" in csv.text
        assert client.get("/analytics/kpi", params={"period": "ever"}).status_code == 400


def test_every_tab_exports_the_apis_numbers_as_csv(tmp_path: Path) -> None:
    with make_client(tmp_path, clock=fixed_clock(datetime(2026, 11, 12, 18, tzinfo=UTC))
                     ) as client:
        svc = svc_of(client)
        site = make_site(client, "example.com")
        ingest(svc.store, tmp_path / "segments", events() + journeys())
        svc.meta.create_user("vi@example.com", PASSWORD)
        grant(client, site, "vi@example.com", "viewer")
        login(client, "vi@example.com", PASSWORD)
        key, _ = svc.meta.create_api_key("s", ["stats"])
        auth = {"authorization": f"Bearer {key}"}

        def csv_rows(**params: str) -> list[list[str]]:
            r = client.get(f"/sites/{site.id}/behaviour", params={**params, "format": "csv"})
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
            assert f'filename="example.com-{params["tab"]}.csv"' in r.headers[
                "content-disposition"]
            return [line.split(",") for line in r.text.splitlines()]

        nxt = client.post("/api/v2/journeys", headers=auth, json={
            "site_id": "example.com", "kind": "next", "page": "/", "steps": 2,
            "date_range": "7d"}).json()
        rows = csv_rows(tab="journey", kind="next", page="/", steps="2", period="7d")
        assert rows[0] == ["depth", "page", "visits", "percentage"]
        assert rows[1:] == [[str(d["depth"]), r["page"], str(r["visits"]), str(r["percentage"])]
                            for d in nxt["pages"] for r in d["rows"]]
        assert len(rows) > 2

        flows = client.post("/api/v2/journeys", headers=auth, json={
            "site_id": "example.com", "kind": "sankey", "steps": 3, "k": 2,
            "date_range": "7d"}).json()
        rows = csv_rows(tab="journey", kind="sankey", steps="3", k="2", period="7d")
        assert rows[0] == ["step", "source", "target", "visits"]
        assert rows[1:] == [[str(li["step"]), li["source"], li["target"], str(li["visits"])]
                            for li in flows["links"]]
        assert len(rows) > 2

        triangle = client.post("/api/v2/retention", headers=auth, json={
            "site_id": "example.com", "period": "day", "date_range": "7d"}).json()
        rows = csv_rows(tab="retention", cohort="day", period="7d")
        assert rows[0] == ["cohort", "visitors", "offset", "returning", "percentage"]
        expected = [[c["cohort"], str(c["visitors"]), str(x["offset"]), str(x["visitors"]),
                     "" if x["percentage"] is None else str(x["percentage"])]
                    for c in triangle["cohorts"] for x in c["retention"]]
        assert rows[1:] == expected and len(expected) == 28  # 7 cohorts, 7+6+...+1 cells
        assert any(int(r[1]) for r in rows[1:])


def test_the_retention_tab_counts_users_when_asked(tmp_path: Path) -> None:
    with make_client(tmp_path, clock=fixed_clock(datetime(2026, 11, 23, 18, tzinfo=UTC))
                     ) as client:
        svc = svc_of(client)
        sites = [make_site(client, f"s{n}.example") for n in range(1, 6)]
        ingest(svc.store, tmp_path / "segments", cohorts())  # site 5
        svc.meta.create_user("ad@example.com", PASSWORD, role="admin")
        login(client, "ad@example.com", PASSWORD)
        params = {"tab": "retention", "cohort": "week", "period": "28d", "identity": "user"}
        html = client.get(f"/sites/{sites[4].id}/behaviour", params=params)
        assert html.status_code == 200, html.text
        assert '<option value="user" selected>' in html.text
        assert "only same-day returns show" not in html.text  # the note is about visitor ids
        rows = client.get(f"/sites/{sites[4].id}/behaviour",
                          params={**params, "format": "csv"}).text.splitlines()
        # u1: first seen 11-02 (visitor 70), back on 11-16 (visitor 71): offset 2.
        assert "2026-11-02,1,2,1,100.0" in rows
        assert sum(int(r.split(",")[1]) for r in rows[1:] if r.split(",")[2] == "0") == 1


def test_the_visitors_tab_shows_the_user_analysis_of_the_api(tmp_path: Path) -> None:
    with make_client(tmp_path, clock=fixed_clock(datetime(2026, 11, 12, 18, tzinfo=UTC))
                     ) as client:
        svc = svc_of(client)
        site = make_site(client, "example.com")
        ingest(svc.store, tmp_path / "segments", events())
        svc.meta.create_user("vi@example.com", PASSWORD)
        grant(client, site, "vi@example.com", "viewer")
        login(client, "vi@example.com", PASSWORD)
        key, _ = svc.meta.create_api_key("s", ["stats"])
        api = client.post("/api/v2/users", headers={"authorization": f"Bearer {key}"},
                          json={"site_id": "example.com", "date_range": "7d"}).json()
        html = client.get(f"/sites/{site.id}/behaviour", params={"tab": "users",
                                                                 "period": "7d"})
        assert html.status_code == 200, html.text
        shown = dict(re.findall(r'<td data-users-value="(\w+)">(\d+)</td>', html.text))
        assert shown == {k: str(api[k]) for k in ("visitors", "new_visitors",
                                                  "returning_visitors", "visits")}
        assert api["visitors"] == 8 and "data-heatmap" in html.text
        assert "pageview → Signup" in html.text.replace("&rarr;", "→")
        rows = client.get(f"/sites/{site.id}/behaviour", params={
            "tab": "users", "period": "7d", "format": "csv"}).text.splitlines()
        assert rows[0] == "figure,bucket,count,percentage"
        assert f"visitors,,{api['visitors']}," in rows
        first = api["distributions"]["visits_per_visitor"][0]
        assert f"visits_per_visitor,1,{first['count']},{first['percentage']}" in rows
