"""Raw event export with a cursor: every stored event exactly once, oldest first, across
pages (also when many share a millisecond), NDJSON and CSV; bad input is a 400 naming it;
an admin key of the site is needed."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from tests.conftest import make_client, make_site, stored_events, svc_of

UA = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/130.0 Safari/537.36")
NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
URL = "/api/v1/sites/a.example/export/events"


@pytest.fixture
def app(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str], list[datetime]]]:
    clock = [NOW]
    with make_client(tmp_path, clock=lambda: clock[0]) as client:
        make_site(client, "a.example")
        make_site(client, "b.example")
        key, _ = svc_of(client).meta.create_api_key("export", ["admin"], [1])
        yield client, {"authorization": f"Bearer {key}"}, clock


def _send(client: TestClient, n: int, domain: str = "a.example") -> None:
    r = client.post("/api/event", json={"n": "Signup" if n % 3 == 0 else "pageview",
                                        "u": f"https://{domain}/p{n}", "d": domain,
                                        "p": {"n": str(n)} if n % 3 == 0 else None},
                    headers={"user-agent": UA, "x-forwarded-for": f"198.51.100.{n % 200}"})
    assert r.status_code == 202, r.text


def _pages(client: TestClient, auth: dict[str, str], **params: Any) -> list[Any]:
    pages, cursor = [], None
    for _ in range(50):
        r = client.get(URL, params={**params, **({"cursor": cursor} if cursor else {})},
                       headers=auth)
        assert r.status_code == 200, r.text
        pages.append(r)
        cursor = r.headers.get("x-next-cursor")
        if cursor is None:
            return pages
        assert r.headers["link"].endswith('rel="next"')
    raise AssertionError("the export never ended")


def test_every_event_once_oldest_first_across_pages(
        app: tuple[TestClient, dict[str, str], list[datetime]]) -> None:
    client, auth, clock = app
    for n in range(12):  # 12 events in 4 distinct milliseconds: pages split ties
        clock[0] = NOW - timedelta(hours=2) + timedelta(milliseconds=n // 3)
        _send(client, n)
    _send(client, 99, "b.example")  # another site's event is never exported
    stored_events(client)
    pages = _pages(client, auth, limit="5")
    assert len(pages) == 3 and pages[0].headers["content-type"] == "application/x-ndjson"
    docs = [orjson.loads(line) for p in pages for line in p.content.splitlines()]
    assert sorted(d["pathname"] for d in docs) == sorted(f"/p{n}" for n in range(12))
    assert [d["timestamp"] for d in docs] == sorted(d["timestamp"] for d in docs)
    assert docs[0]["timestamp"] == "2026-12-05T10:00:00.000Z"
    signup = next(d for d in docs if d["pathname"] == "/p3")
    assert (signup["name"], signup["props"]) == ("Signup", {"n": "3"})
    assert set(docs[0]) >= {"visitor_id", "session_id", "browser", "country_code"}


def test_csv_has_one_header_and_the_same_events(
        app: tuple[TestClient, dict[str, str], list[datetime]]) -> None:
    client, auth, _ = app
    for n in range(7):
        _send(client, n)
    stored_events(client)
    pages = _pages(client, auth, limit="4", format="csv")
    assert pages[0].headers["content-type"].startswith("text/csv")
    text = "".join(p.text for p in pages)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert sorted(r["pathname"] for r in rows) == sorted(f"/p{n}" for n in range(7))
    assert text.count("timestamp,name") == 1


@pytest.mark.parametrize(("params", "field"), [
    ({"limit": "0"}, "limit"), ({"limit": "50001"}, "limit"), ({"format": "xml"}, "format"),
    ({"cursor": "bm9wZQ"}, "cursor"), ({"cursor": "%%%"}, "cursor"),
    ({"from": "2026-13-01"}, "from"), ({"from": "2026-12-05", "to": "2026-12-01"}, "from"),
    ({"from": "2000-01-01", "to": "2026-12-01"}, "from"),
])
def test_bad_input_is_a_400_naming_it(
        app: tuple[TestClient, dict[str, str], list[datetime]], params: dict[str, str],
        field: str) -> None:
    client, auth, _ = app
    r = client.get(URL, params=params, headers=auth)
    assert r.status_code == 400 and r.json()["error"]["field"] == field, r.text


def test_needs_an_admin_key_of_the_site(
        app: tuple[TestClient, dict[str, str], list[datetime]]) -> None:
    client, auth, _ = app
    stats, _ = svc_of(client).meta.create_api_key("stats", ["stats"])
    assert client.get(URL).status_code == 401
    assert client.get(URL, headers={"authorization": f"Bearer {stats}"}).status_code == 403
    assert client.get("/api/v1/sites/b.example/export/events",
                      headers=auth).status_code == 403  # the key covers site 1 only
