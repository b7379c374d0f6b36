"""A site's export (``GET /api/v1/sites/{site}/export``, Plausible's layout) imported into
another site gives the same numbers there with include.imports: totals, days, sources,
pages, countries, devices, goals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import make_client, make_site, svc_of
from tests.query.rows import ingest, visit
from tests.support import wait_until

RANGE = ["2024-01-04", "2024-01-05"]


def _query(client: TestClient, headers: dict[str, str], site: str, imports: bool,
           **body: Any) -> list[Any]:
    answer = client.post("/api/v2/query", headers=headers, json={
        "site_id": site, "date_range": RANGE, "include": {"imports": imports}, **body})
    assert answer.status_code == 200, answer.text
    assert answer.json()["meta"]["imports_included"] is imports
    return [(*r["dimensions"], *r["metrics"]) for r in answer.json()["results"]]


def test_export_then_import_gives_the_same_numbers(tmp_path: Path) -> None:
    with make_client(tmp_path) as client:
        svc = svc_of(client)
        a = make_site(client, "a.example")
        b = make_site(client, "b.example")
        for site in (a, b):
            svc.meta.create_goal(site.id, event_name="Signup")
        svc.sites.reload()
        google = {"referrer_source": "Google", "country_code": "DE", "device": "Desktop",
                  "browser": "Chrome", "os": "Mac"}
        direct = {"country_code": "US", "device": "Mobile", "browser": "Firefox",
                  "os": "Windows"}
        ingest(svc.store, tmp_path / "segments", [
            visit(a.id, 1, [("2024-01-04T10:00:00", "pageview", "/"),
                            ("2024-01-04T10:05:00", "pageview", "/pricing")], **google),
            visit(a.id, 2, [("2024-01-04T12:00:00", "pageview", "/")], **direct),
            visit(a.id, 3, [("2024-01-05T14:00:00", "pageview", "/"),
                            ("2024-01-05T14:01:00", "Signup", "/")], **google),
            visit(a.id, 4, [("2024-01-05T15:00:00", "pageview", "/blog")], **direct),
        ])
        key = svc.meta.create_api_key("k", ["stats", "admin"], [a.id, b.id])[0]
        headers = {"authorization": f"Bearer {key}"}
        exported = client.get("/api/v1/sites/a.example/export", headers=headers,
                              params={"from": RANGE[0], "to": RANGE[1]})
        assert exported.status_code == 200, exported.text
        answer = client.post("/api/v1/sites/b.example/imports", headers=headers,
                             data={"source": "plausible"},
                             files={"file": ("a_example.zip", exported.content)})
        assert answer.status_code == 202, answer.text
        done = wait_until(lambda: (d := client.get(
            f"/api/v1/sites/b.example/imports/{answer.json()['id']}", headers=headers
        ).json())["status"] != "importing" and d, 60, "the import")
        assert done["status"] == "completed", done
        assert (done["start_date"], done["end_date"]) == tuple(RANGE)
        checks: list[dict[str, Any]] = [
            {"metrics": ["visitors", "visits", "pageviews", "bounce_rate", "visit_duration",
                         "views_per_visit"]},
            {"metrics": ["visitors", "visits", "pageviews"], "dimensions": ["time:day"]},
            {"metrics": ["visitors", "visits", "bounce_rate"], "dimensions": ["visit:source"]},
            {"metrics": ["visitors", "pageviews"], "dimensions": ["event:page"]},
            {"metrics": ["visitors", "visits"], "dimensions": ["visit:entry_page"]},
            {"metrics": ["visitors", "visits"], "dimensions": ["visit:exit_page"]},
            {"metrics": ["visitors"], "dimensions": ["visit:country"]},
            {"metrics": ["visitors", "visit_duration"], "dimensions": ["visit:device"]},
            {"metrics": ["visitors"], "dimensions": ["visit:browser"]},
            {"metrics": ["visitors"], "dimensions": ["visit:os"]},
            {"metrics": ["visitors", "events"], "dimensions": ["event:goal"]},
        ]
        for body in checks:
            native = _query(client, headers, "a.example", False, **body)
            assert native, body
            assert _query(client, headers, "b.example", True, **body) == native, body
